"""Script payloads in every text field an attacker controls come back as text, never as markup.

Every field gets its own payload, labelled with the field's name, stored through the forms where a
person types it (registration, the initiative form, the connection forms) and through the services
elsewhere. Each page that shows the field must contain the escaped payload, and no page may carry
the raw one, an event-handler attribute or a script the portal did not write. (That no dialog
opens in a real browser is checked in tests/e2e/.)"""

import io
import re
from html.parser import HTMLParser

import pytest
from markupsafe import escape

from initiatives.models import Role, User
from tests.conftest import PASSWORD, sign_in
from tests.hostile.conftest import PDF

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'


def payload(field: str) -> str:
    return f"{field}{SCRIPT}{BREAKOUT}"


def escaped(field: str) -> str:
    return str(escape(payload(field)))


class InjectedMarkup(HTMLParser):
    """Collects what an injection would add: event-handler attributes, javascript: links and
    scripts with a body (the portal's own scripts are files with a src)."""

    def __init__(self):
        super().__init__()
        self.found, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"<script>{data.strip()[:40]}")


def assert_defused(page: str, where: str) -> None:
    assert SCRIPT not in page and BREAKOUT not in page, where
    assert "<img src=x" not in page, where
    parser = InjectedMarkup()
    parser.feed(page)
    assert parser.found == [], where


@pytest.fixture
def stage(app, people, make_user, db):
    """A whole story told by attackers: every text field holds its payload."""
    from initiatives.connections import operations as connections
    from initiatives.demands import operations as demands
    from initiatives.experts import operations as experts
    from initiatives.models import Initiative
    from initiatives.proposals import operations as proposals
    from review import operations as review
    from review import reviewing

    admin = people["admin"]
    # The proposer registers and writes the initiative through the forms.
    proposer_client = app.test_client()
    response = proposer_client.post("/register", data={
        "name": payload("name"), "email": "attacker@example.org", "organisation": payload("organisation"),
        "password": PASSWORD, "confirm": PASSWORD, "roles": ["proposer"], "locale": "en"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    proposer = User.query.filter_by(email="attacker@example.org").one()

    call = review.create_call(admin, title=payload("call_title"), description=payload("call_description"),
                              reviewers_per_initiative=1, default_max_load=5, review_days=14,
                              blind_mode="single", reviewers_see_others=False)
    db.session.commit()
    response = proposer_client.post("/initiatives/new", data={
        "title": payload("title"), "summary": payload("summary"), "description": payload("description"),
        "field": "agriculture", "keywords": payload("keyword"), "trl": "5", "ip_status": "filed",
        "province": "can-tho", "organisation": payload("initiative_org"),
        "team_members": payload("team_member"), "budget_vnd": "1000", "expected_impact": payload("impact"),
        "language": "en", "call_id": str(call.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    initiative = Initiative.query.filter_by(proposer_id=proposer.id).one()
    response = proposer_client.post(f"/initiatives/{initiative.id}/attachments", content_type="multipart/form-data",
                                    data={"file": (io.BytesIO(PDF), "file_name<img src=x onerror=alert(1)>.pdf")})
    assert response.status_code == 302
    proposals.submit(initiative, proposer)
    db.session.commit()

    reviewer = make_user(Role.EXPERT, name=payload("expert_name"), organisation=payload("expert_org"))
    profile = experts.profile_for(reviewer)
    experts.update_profile(profile, reviewer, name=payload("expert_name"), organisation=payload("expert_org"),
                           bio=payload("bio"), keywords=payload("expert_keyword"), max_load=5, available=True)
    experts.add_publication(profile, reviewer, payload("publication"), payload("abstract"))
    experts.declare_conflict(profile, reviewer, payload("conflict_org"), payload("conflict_reason"))
    experts.declare_person_conflict(profile, reviewer, payload("person_name"), "kin@example.org", "relative",
                                    payload("person_reason"))
    db.session.commit()

    review.pass_screening(initiative, admin, note=payload("screening_note"))
    assignment = review.invite_expert(initiative, profile, admin)
    review.accept_assignment(assignment, reviewer)
    db.session.commit()
    scores = {c.id: 4 for c in reviewing.review_for(assignment).rubric.criteria}
    row = reviewing.save_review(assignment, reviewer, scores=scores, confidence=4, recommendation="accept",
                                comments_to_proposer=payload("to_proposer"),
                                confidential_comments=payload("confidential"), submit=True)
    db.session.commit()
    review.complete_round(initiative, admin)
    review.record_decision(initiative, "accepted", payload("rationale"), admin)
    db.session.commit()

    owner = make_user(Role.DEMAND_OWNER, name=payload("owner_name"), organisation=payload("owner_org"))
    demand = demands.create_demand(owner, title=payload("demand_title"), description=payload("demand_description"),
                                   field="agriculture", province="lao-cai")
    db.session.commit()
    owner_client = sign_in(app.test_client(), owner)
    response = owner_client.post("/connections/request", data={
        "demand_id": demand.id, "initiative_id": initiative.id, "message": payload("message")})
    assert response.status_code == 302
    connection = connections.find(demand, initiative)
    assert proposer_client.post(f"/connections/{connection.id}/accept",
                                data={"note": payload("reply")}).status_code == 302
    return {"proposer": proposer_client, "owner": owner_client,
            "reviewer": sign_in(app.test_client(), reviewer), "admin": sign_in(app.test_client(), admin),
            "anonymous": app.test_client(), "other": sign_in(app.test_client(), people["other"]),
            "ids": {"initiative": initiative.id, "demand": demand.id, "connection": connection.id,
                    "assignment": assignment.id, "review": row.id, "expert": profile.id, "call": call.id,
                    "user": proposer.id}}


# (who, page): the fields whose escaped payload the page must show.
PAGES = {
    ("anonymous", "/initiatives/{initiative}"): ["title", "keyword"],
    # Who proposed it: shown to the demand owner whose connection the proposer accepted.
    ("owner", "/initiatives/{initiative}"): ["title", "initiative_org", "team_member", "name"],
    ("owner", "/catalogue"): ["initiative_org"],
    ("anonymous", "/"): ["title"],
    ("anonymous", "/catalogue"): [],
    ("anonymous", "/catalogue?q=alert"): [],
    ("proposer", "/initiatives/{initiative}"): ["title", "team_member", "rationale", "to_proposer"],
    ("proposer", "/initiatives/mine"): ["title"],
    ("proposer", "/account"): ["name", "organisation"],
    ("proposer", "/notifications"): [],
    ("proposer", "/connections/{connection}"): ["demand_title", "message", "reply", "owner_name"],
    ("proposer", "/connections/mine"): ["demand_title"],
    ("owner", "/connections/{connection}"): ["title", "message", "reply", "name"],
    ("owner", "/demands/{demand}"): ["demand_title"],
    ("owner", "/demands/mine"): ["demand_title"],
    ("other", "/demands/{demand}"): ["demand_title"],
    ("other", "/demands/open"): ["demand_title"],
    ("reviewer", "/review/mine"): ["title"],
    ("reviewer", "/review/assignments/{assignment}"): ["title"],
    ("reviewer", "/review/reviews/{review}"): ["to_proposer", "confidential"],
    ("reviewer", "/expert/profile"): ["publication", "conflict_org", "person_name", "person_reason"],
    ("admin", "/initiatives/{initiative}"): ["title", "name"],
    ("admin", "/initiatives/all"): ["title"],
    ("admin", "/admin/users"): ["name", "expert_name", "owner_name"],
    ("admin", "/admin/users/{user}"): ["name", "organisation"],
    ("admin", "/admin/audit"): [],
    ("admin", "/admin/outbox"): [],
    ("admin", "/expert/all"): ["expert_name"],
    ("admin", "/expert/{expert}"): ["expert_name", "publication", "person_name", "person_reason"],
    ("admin", "/demands/all"): ["demand_title"],
    ("admin", "/connections/"): ["title", "demand_title"],
    ("admin", "/review/calls"): ["call_title"],
    ("admin", "/review/calls/{call}/edit"): ["call_title", "call_description"],
    ("admin", "/review/calls/{call}/ranking"): ["title"],
    ("admin", "/review/initiatives/{initiative}"): ["title", "expert_name"],
    ("admin", "/review/reviews/{review}"): ["to_proposer", "confidential"],
    ("admin", "/review/screening"): [],
    ("admin", "/matching/experts?q=rice"): [],
}


def test_every_payload_comes_back_escaped(stage):
    problems = []
    for (who, template), fields in PAGES.items():
        path = template.format(**stage["ids"])
        response = stage[who].get(path)
        where = f"{path} as {who}"
        if response.status_code != 200:
            problems.append(f"{where}: {response.status_code}")
            continue
        page = response.get_data(as_text=True)
        try:
            assert_defused(page, where)
        except AssertionError as error:
            problems.append(f"{where}: raw markup {error}")
        problems += [f"{where}: {field} not shown escaped" for field in fields if escaped(field) not in page]
    assert problems == [], "\n".join(problems)


def test_the_file_name_is_shown_escaped(stage):
    page = stage["proposer"].get("/initiatives/{initiative}".format(**stage["ids"])).get_data(as_text=True)
    assert "file_name&lt;img src=x onerror=alert(1)&gt;.pdf" in page
    assert_defused(page, "initiative page")


# Markdown fields are sanitised rather than escaped: the text stays, the markup goes.
MARKDOWN = {("anonymous", "/initiatives/{initiative}"): ["summary", "description", "impact"],
            ("admin", "/expert/{expert}"): ["bio"]}


def test_markdown_fields_keep_their_text_and_lose_their_markup(stage):
    for (who, template), fields in MARKDOWN.items():
        page = stage[who].get(template.format(**stage["ids"])).get_data(as_text=True)
        assert_defused(page, template)
        for field in fields:
            assert f"<p>{field}&#34;&gt;</p>" in page or f'<p>{field}"&gt;</p>' in page, field


def test_exports_and_api_carry_the_text_as_data(stage, app, db):
    """CSV and JSON are not HTML: the payload travels as plain data with a non-HTML content type,
    and CSV cells that a spreadsheet would run as formulas are not produced from it."""
    admin = stage["admin"]
    csv_answer = admin.get("/connections/export.csv")
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    api = admin.get("/api/v1/initiatives/{initiative}".format(**stage["ids"]))
    assert api.mimetype == "application/json"
    assert re.search(r'"title": ?"title<script>', api.get_data(as_text=True)) or \
        api.json["title"] == payload("title")
