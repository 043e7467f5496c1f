"""The review's whole story on the demo data, in the browser where people act: the admin screens
a submission and confirms the matcher's proposal; experts accept, score and submit, one declines
and is replaced in one click; the admin reads the calibrated ranking and asks for a revision; the
proposer revises; the round-2 reviewers see what changed; the admin accepts."""

import re

import pytest

from initiatives.demo import DEMO_PASSWORD
from initiatives.models import Call, InitiativeState, User
from review import operations
from review.models import Assignment, AssignmentState
from tests.review.conftest import submit_review

S = InitiativeState
A = AssignmentState


@pytest.fixture
def settings():
    return {"EMBED_SYNC": True}


def browser(app, email):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, email
    client.get("/lang/en")  # the demo people read Vietnamese; the test reads English
    return client


def fill_review(page: str, score: int, recommendation: str, comment: str, action: str) -> dict:
    """What a reviewer types into the form the page shows: every criterion scored."""
    fields = re.findall(r'<select[^>]*name="(score_\d+)"', page)
    assert len(fields) == 5, "the demo call uses the default rubric"
    data = {name: str(score) for name in fields}
    data.update(confidence="4", recommendation=recommendation, comments_to_proposer=comment,
                confidential_comments="For the committee only.")
    data[action] = "1"
    return data


def test_the_review_story_on_the_demo_data(app, runner, db):
    assert runner.invoke(args=["demo"]).exit_code == 0
    call = Call.query.filter_by(slug="green-agriculture-2027").one()
    admin = browser(app, "admin@demo.vn")

    # 1. The admin screens the submission waiting in the call.
    queue = admin.get(f"/review/screening?call={call.id}").get_data(as_text=True)
    waiting = operations.screening_queue(call)
    assert len(waiting) == 1
    target = waiting[0]
    assert target.title in queue
    assert admin.post(f"/review/screening/{target.id}/pass").status_code == 302

    # 2. The matcher proposes reviewers for the whole call; the admin confirms.
    before = {a.id for a in Assignment.query}  # the demo's reviews of the call's older initiatives
    assert admin.post(f"/review/calls/{call.id}/assignment/run").status_code == 302
    proposal = admin.get(f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    assert "Total affinity" in proposal and target.title in proposal
    assert admin.post(f"/review/calls/{call.id}/assignment/confirm").status_code == 302
    db.session.expire_all()
    reviewed_together = sorted({a.initiative for a in Assignment.query.filter_by(call_id=call.id)
                                if a.id not in before}, key=lambda i: i.id)
    assert target in reviewed_together and len(reviewed_together) == 3
    assert {i.status for i in reviewed_together} == {S.UNDER_REVIEW}
    invited = Assignment.query.filter_by(initiative_id=target.id, state=A.INVITED.value).order_by(Assignment.id).all()
    assert len(invited) == call.reviewers_per_initiative == 3

    # 3. One expert declines; the admin replaces them in one click; the three accept, score, submit.
    decliner = invited[2]
    client = browser(app, decliner.expert.user.email)
    assert client.post(f"/review/assignments/{decliner.id}/decline", data={"reason": "Travelling all month."}).status_code == 302
    initiative_page = admin.get(f"/review/initiatives/{target.id}").get_data(as_text=True)
    assert 'id="next-best"' in initiative_page
    assert admin.post(f"/review/initiatives/{target.id}/next-best").status_code == 302
    db.session.expire_all()
    reviewers = Assignment.query.filter(Assignment.initiative_id == target.id,
                                        Assignment.state == A.INVITED.value).order_by(Assignment.id).all()
    assert len(reviewers) == 3 and decliner not in reviewers
    for n, assignment in enumerate(reviewers):
        client = browser(app, assignment.expert.user.email)
        assert f"/review/assignments/{assignment.id}" in client.get("/review/mine").get_data(as_text=True)
        assert client.post(f"/review/assignments/{assignment.id}/accept").status_code == 302
        page = client.get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
        draft = fill_review(page, 3, "revise", "A first impression.", "save")
        assert client.post(f"/review/assignments/{assignment.id}/review", data=draft).status_code == 302
        final = fill_review(page, 3 + n % 2, "revise", f"Please add a field pilot ({n}).", "submit")
        assert client.post(f"/review/assignments/{assignment.id}/review", data=final).status_code == 302
    db.session.expire_all()
    assert target.status == S.REVIEWED

    # The call's other initiatives are reviewed too (through the services), so the ranking compares.
    for other in reviewed_together:
        if other.id == target.id:
            continue
        for assignment in operations.round_assignments(other):
            submit_review(assignment, recommendation="accept")
    # 4. The calibrated ranking, then a revision is asked for.
    ranking = admin.get(f"/review/calls/{call.id}/ranking?sort=calibrated").get_data(as_text=True)
    assert "Calibrated" in ranking and target.title in ranking
    # One row per initiative of the call with submitted reviews: these three and the demo's older ones.
    with_reviews = {a.initiative_id for a in Assignment.query.filter_by(call_id=call.id, state=A.SUBMITTED.value)}
    assert {i.id for i in reviewed_together} < with_reviews
    assert ranking.count('class="ranking-row') == len(with_reviews)
    results = admin.get(f"/review/initiatives/{target.id}").get_data(as_text=True)
    assert "Calibrated total" in results and "Confidence-weighted total" in results
    assert admin.post(f"/review/initiatives/{target.id}/decision", data={
        "outcome": "revision_requested", "rationale": "Promising; a field pilot plan is needed."}).status_code == 302

    # 5. The proposer reads the comments (lettered) and revises.
    proposer_user = db.session.get(User, target.proposer_id)
    proposer = browser(app, proposer_user.email)
    page = proposer.get(f"/initiatives/{target.id}").get_data(as_text=True)
    assert "Promising; a field pilot plan is needed." in page and "Reviewer A" in page
    assert "Please add a field pilot (0)." in page and "For the committee only." not in page
    for assignment in reviewers:
        assert assignment.expert.name not in page
    edit = proposer.get(f"/initiatives/{target.id}/edit").get_data(as_text=True)
    assert "Save draft" in edit
    db.session.refresh(target)
    values = {"title": target.title, "summary": target.summary,
              "description": target.description + "\n\nField pilot: 20 ha in Sóc Trăng, 2027.",
              "field": target.field, "keywords": ", ".join(target.keywords), "trl": str(target.trl),
              "ip_status": target.ip_status, "province": target.province, "organisation": target.organisation,
              "team_members": "\n".join(target.team_members), "budget_vnd": str(target.budget_vnd or ""),
              "expected_impact": target.expected_impact, "language": target.language, "call_id": str(call.id)}
    assert proposer.post(f"/initiatives/{target.id}/edit", data=values).status_code == 302
    assert proposer.post(f"/initiatives/{target.id}/submit").status_code == 302
    db.session.expire_all()
    assert target.round == 2 and target.status == S.UNDER_REVIEW

    # 6. The same reviewers are invited to round 2 and see what changed.
    round_two = Assignment.query.filter_by(initiative_id=target.id, round=2).order_by(Assignment.id).all()
    assert [a.expert_id for a in round_two] == [a.expert_id for a in reviewers]
    for assignment in round_two:
        client = browser(app, assignment.expert.user.email)
        assert client.post(f"/review/assignments/{assignment.id}/accept").status_code == 302
        page = client.get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
        assert "What changed since round 1" in page and "Field pilot: 20 ha in Sóc Trăng" in page
        final = fill_review(page, 5, "accept", "The pilot convinces.", "submit")
        assert client.post(f"/review/assignments/{assignment.id}/review", data=final).status_code == 302
    db.session.expire_all()
    assert target.status == S.REVIEWED

    # 7. The admin accepts; the proposer is told and the initiative is public.
    assert admin.post(f"/review/initiatives/{target.id}/decision", data={
        "outcome": "accepted", "rationale": "Accepted with the pilot plan."}).status_code == 302
    db.session.expire_all()
    assert target.status == S.ACCEPTED
    page = proposer.get(f"/initiatives/{target.id}").get_data(as_text=True)
    assert "Accepted with the pilot plan." in page and "The pilot convinces." in page
    assert "A decision on" in proposer.get("/notifications").get_data(as_text=True)
    assert app.test_client().get(f"/initiatives/{target.id}").status_code == 200
