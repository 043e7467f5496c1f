"""A full or read-only upload folder: the proposer is told clearly (507 when out of space, 503
otherwise, with the attach form shown again), the draft's text is all there, and nothing of the
failed file is left behind. Tests run as root, where chmod stops no write, so the operating
system's refusal is simulated at the lowest write the portal makes."""

import errno
import os
from pathlib import Path

import pytest

from initiatives import uploads
from initiatives.extensions import db
from initiatives.models import Attachment, Initiative

from .story import DRAFT_FORM, actions, attach, create_draft, make_proposer, sign_in


def _refuse_write(code):
    def write(path, content):
        open(path, "xb").close()  # as on a full disk: the file is created, the bytes do not fit
        raise OSError(code, os.strerror(code), str(path))
    return write


def _refuse_folder(code):
    def folder():
        raise OSError(code, os.strerror(code), "attachments-incoming")
    return folder


@pytest.mark.parametrize("target, refusal, code, status", [
    ("_write_file", _refuse_write, errno.ENOSPC, 507),
    ("_write_file", _refuse_write, errno.EDQUOT, 507),
    ("_write_file", _refuse_write, errno.EROFS, 503),
    ("_write_file", _refuse_write, errno.EACCES, 503),
    ("incoming_dir", _refuse_folder, errno.EROFS, 503),
])
def test_a_refused_upload_keeps_the_draft_and_says_so(app, monkeypatch, target, refusal, code, status):
    make_proposer()
    client = sign_in(app.test_client())
    draft = create_draft(client)
    trail = actions(draft)

    monkeypatch.setattr(uploads, target, refusal(code))
    response = attach(client, draft, name="kế hoạch.pdf")
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert "The file was not attached" in page and "Your text is saved" in page
    assert "try to attach the file again later" in page
    assert 'type="file"' in page  # the attach form is there to try again
    assert DRAFT_FORM["summary"] in page  # and the draft itself
    assert ("Retry-After" in response.headers) == (status == 503)
    assert "Traceback" not in page

    db.session.remove()
    initiative = db.session.get(Initiative, draft)
    for name in ("title", "summary", "description", "expected_impact", "organisation"):
        assert getattr(initiative, name) == DRAFT_FORM[name]
    assert Attachment.query.count() == 0 and actions(draft) == trail
    for folder in ("attachments", uploads.INCOMING):
        assert list((Path(app.instance_path) / folder).glob("*")) == []

    # Text keeps saving while the folder is refused; the file goes in once it is back.
    edited = client.post(f"/initiatives/{draft}/edit", data={**DRAFT_FORM, "description": "Revised text."})
    assert edited.status_code == 302
    monkeypatch.undo()
    assert attach(client, draft).status_code == 302
    db.session.remove()
    assert db.session.get(Initiative, draft).description == "Revised text."
    assert Attachment.query.count() == 1
