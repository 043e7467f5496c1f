"""What the fault tests have a proposer do, through the same pages a browser uses."""

import io
import re
from types import MappingProxyType

from initiatives.accounts import operations as accounts
from initiatives.extensions import db
from initiatives.models import Attachment, AuditEvent, Initiative, Role
from tests.conftest import COMPLETE_INITIATIVE, PASSWORD

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>"
       b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

# Read-only: the test client adds its CSRF token to the dict it is given, so pass a copy.
DRAFT_FORM = MappingProxyType({**COMPLETE_INITIATIVE, "keywords": "rice, irrigation, IoT",
                               "team_members": "Nguyễn Văn An\nTrần Thị Bình"})


def make_proposer(email="proposer@example.org"):
    """A committed proposer account (inside an app context)."""
    user = accounts.register_user(email, "Nguyễn Văn An", PASSWORD, [Role.PROPOSER], locale="en")
    db.session.commit()
    return user


def _main_text(response) -> str:
    """The main part of a page, for assertion messages."""
    page = response.get_data(as_text=True)
    return f"{response.status_code}: " + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.split("<main", 1)[-1]))[:500]


def sign_in(client, email="proposer@example.org"):
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, _main_text(response)
    return client


def create_draft(client, **overrides) -> int:
    """Save a complete draft through the form; returns its id."""
    response = client.post("/initiatives/new", data={**DRAFT_FORM, **overrides})
    assert response.status_code == 302, _main_text(response)
    return int(re.search(r"/initiatives/(\d+)", response.headers["Location"]).group(1))


def attach(client, initiative_id, content=PDF, name="đề xuất.pdf"):
    return client.post(f"/initiatives/{initiative_id}/attachments",
                       data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def submit(client, initiative_id):
    return client.post(f"/initiatives/{initiative_id}/submit", data={})


def actions(initiative_id) -> list[str]:
    """The audit trail of an initiative, as action names, oldest first."""
    return [e.action for e in AuditEvent.query.filter_by(object_type="initiative", object_id=initiative_id)
            .order_by(AuditEvent.id)]


def counts() -> dict:
    return {"initiatives": Initiative.query.count(), "attachments": Attachment.query.count(),
            "audit_events": AuditEvent.query.count()}
