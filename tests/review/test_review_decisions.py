"""Decisions and revisions: the admin decides with a rationale; the proposer is told and reads the
comments to them from Reviewer A, B, C (never names, never the confidential comments); a revision
resubmitted starts round 2 with the same reviewers, who see what changed."""

import pytest

from initiatives.models import (
    AuditEvent,
    InitiativeState,
    InitiativeVersion,
    Notification,
    OutboxMessage,
)
from initiatives.proposals import operations as proposals
from review import diff, operations, results
from review.models import Assignment, AssignmentState, Decision
from tests.review.conftest import submit_review

S = InitiativeState
A = AssignmentState
COMMENTS = ("Clarify the sensor cost.", "Pilot in two provinces first.", "Strong impact on water use.")
CONFIDENTIAL = ("Team seems thin.", "I know a similar project.", "Budget padded.")


@pytest.fixture
def reviewed(world, db):
    for assignment, comment, secret, recommendation in zip(world.assignments, COMMENTS, CONFIDENTIAL,
                                                           ("revise", "revise", "accept"), strict=True):
        submit_review(assignment, to_proposer=comment, confidential=secret, recommendation=recommendation)
    db.session.refresh(world.initiative)
    assert world.initiative.status == S.REVIEWED
    return world


def test_decision_before_all_reviews_is_refused(world, people, login):
    submit_review(world.assignments[0])
    response = login(people["admin"]).post(f"/review/initiatives/{world.initiative.id}/decision",
                                           data={"outcome": "accepted", "rationale": "Good."})
    assert response.status_code == 409 and "once all reviews of the round are in" in response.get_data(as_text=True)
    assert Decision.query.count() == 0


@pytest.mark.parametrize("data, status", [
    ({"outcome": "accepted", "rationale": ""}, 400),
    ({"outcome": "promoted", "rationale": "Why not"}, 400),
])
def test_bad_decisions_are_refused(reviewed, people, login, data, status, db):
    response = login(people["admin"]).post(f"/review/initiatives/{reviewed.initiative.id}/decision", data=data)
    assert response.status_code == status
    db.session.refresh(reviewed.initiative)
    assert reviewed.initiative.status == S.REVIEWED and Decision.query.count() == 0


def test_only_admins_decide(reviewed, people, login):
    for user in (people["proposer"], reviewed.assignments[0].expert.user):
        response = login(user).post(f"/review/initiatives/{reviewed.initiative.id}/decision",
                                    data={"outcome": "accepted", "rationale": "Mine."})
        assert response.status_code == 403
    with pytest.raises(operations.ReviewError):
        operations.record_decision(reviewed.initiative, "accepted", "Mine.", people["proposer"])


def test_accepted_with_rationale_and_lettered_comments(reviewed, people, login, db):
    initiative = reviewed.initiative
    admin = login(people["admin"])
    response = admin.post(f"/review/initiatives/{initiative.id}/decision",
                          data={"outcome": "accepted", "rationale": "Clear need and a credible team."})
    assert response.status_code == 302
    db.session.refresh(initiative)
    assert initiative.status == S.ACCEPTED and initiative.decided_at is not None
    decision = Decision.query.one()
    assert (decision.outcome, decision.round, decision.decided_by_id) == ("accepted", 1, people["admin"].id)
    assert AuditEvent.query.filter_by(action="initiative.accepted", object_id=initiative.id).count() == 1
    assert AuditEvent.query.filter_by(action="decision.recorded", object_id=decision.id).count() == 1
    proposer = people["proposer"]
    assert Notification.query.filter_by(user_id=proposer.id).filter(Notification.message.contains("decision")).count() == 1
    mail = OutboxMessage.query.filter_by(recipient=proposer.email).one()
    assert "Clear need and a credible team." in mail.body and "Accepted" in mail.body
    page = login(proposer).get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "Clear need and a credible team." in page
    for letter, comment in zip("ABC", COMMENTS, strict=True):
        assert f"Reviewer {letter}" in page and comment in page
    for secret in CONFIDENTIAL:
        assert secret not in page
    for assignment in reviewed.assignments:
        assert assignment.expert.name not in page and assignment.expert.organisation not in page
    # A second decision on the same round is refused.
    again = admin.post(f"/review/initiatives/{initiative.id}/decision", data={"outcome": "rejected", "rationale": "No."})
    assert again.status_code == 409


def test_comments_stay_hidden_until_the_decision(reviewed, people, login):
    page = login(people["proposer"]).get(f"/initiatives/{reviewed.initiative.id}").get_data(as_text=True)
    for comment in COMMENTS:
        assert comment not in page
    assert login(people["proposer"]).get(f"/review/initiatives/{reviewed.initiative.id}/reviews.csv").status_code == 404


def test_revision_resubmission_and_round_two_with_the_same_reviewers(reviewed, people, login, db):
    initiative = reviewed.initiative
    admin = login(people["admin"])
    assert admin.post(f"/review/initiatives/{initiative.id}/decision", data={
        "outcome": "revision_requested", "rationale": "Please add a pilot plan."}).status_code == 302
    db.session.refresh(initiative)
    assert initiative.status == S.REVISION_REQUESTED
    proposer = login(people["proposer"])
    page = proposer.get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "Please add a pilot plan." in page and "Resubmit" in page
    # While the proposer revises, the reviewers do not see the work in progress.
    assert login(reviewed.assignments[0].expert.user).get(f"/initiatives/{initiative.id}").status_code == 403

    response = proposer.post(f"/initiatives/{initiative.id}/edit", data={
        "title": initiative.title, "summary": initiative.summary,
        "description": initiative.description + "\n\nA pilot in Cần Thơ and Sóc Trăng in 2027.",
        "field": initiative.field, "keywords": "rice, irrigation, IoT, pilot", "trl": "6",
        "ip_status": initiative.ip_status, "province": initiative.province, "organisation": initiative.organisation,
        "team_members": "\n".join(initiative.team_members), "budget_vnd": str(initiative.budget_vnd),
        "expected_impact": initiative.expected_impact, "language": initiative.language, "call_id": str(initiative.call_id)})
    assert response.status_code == 302
    assert proposer.post(f"/initiatives/{initiative.id}/submit").status_code == 302
    db.session.expire_all()
    assert initiative.round == 2 and initiative.status == S.UNDER_REVIEW
    assert InitiativeVersion.query.filter_by(initiative_id=initiative.id).count() == 2
    round_two = Assignment.query.filter_by(initiative_id=initiative.id, round=2).order_by(Assignment.id).all()
    assert [a.expert_id for a in round_two] == [a.expert_id for a in reviewed.assignments]
    assert {a.state for a in round_two} == {"invited"} and {a.method for a in round_two} == {"rerun"}
    # Invited again at once: nothing waits for the administrators.
    assert Notification.query.filter_by(user_id=people["admin"].id).filter(
        Notification.message.contains("waits for reviewers")).count() == 0
    for assignment in round_two:
        mail = OutboxMessage.query.filter_by(recipient=assignment.expert.user.email).order_by(OutboxMessage.id.desc()).first()
        assert "review again" in mail.subject and "round 2" in mail.body

    # The round-2 reviewer sees what changed since the round they reviewed.
    reviewer = login(round_two[0].expert.user)
    page = reviewer.get(f"/review/assignments/{round_two[0].id}").get_data(as_text=True)
    assert "What changed since round 1" in page
    assert '<ins class="diff-added">' in page and "pilot" in page
    assert "Technology readiness level" in page  # 5 -> 6
    # Labels stay with the reviewer across rounds.
    assert results.reviewer_labels(initiative) == {a.expert_id: letter for a, letter in zip(reviewed.assignments, "ABC", strict=True)}

    for assignment in round_two:
        submit_review(assignment, recommendation="accept", to_proposer=f"Round two by {assignment.id}")
    db.session.refresh(initiative)
    assert initiative.status == S.REVIEWED
    assert admin.post(f"/review/initiatives/{initiative.id}/decision", data={
        "outcome": "accepted", "rationale": "The pilot plan convinces."}).status_code == 302
    db.session.refresh(initiative)
    assert initiative.status == S.ACCEPTED
    page = proposer.get(f"/initiatives/{initiative.id}").get_data(as_text=True)
    assert "Decision on round 1" in page and "Decision on round 2" in page


def test_resubmission_without_reviewers_left_waits_for_the_assignment_page(reviewed, people, db):
    initiative = reviewed.initiative
    operations.record_decision(initiative, "revision_requested", "Revise.", people["admin"])
    db.session.commit()
    # Every former reviewer now has a conflict.
    from initiatives.models import InitiativeConflict

    for assignment in reviewed.assignments:
        db.session.add(InitiativeConflict(expert_id=assignment.expert_id, initiative_id=initiative.id,
                                          source="declared"))
    db.session.commit()
    proposals.submit(initiative, people["proposer"])
    db.session.commit()
    db.session.expire_all()
    from review import assign

    assert initiative.status == S.SUBMITTED and initiative.round == 2
    assert assign.screened(initiative.call) == [initiative]
    # The administrators' bell says it waits for reviewers, with a link to its review page.
    waiting = Notification.query.filter_by(user_id=people["admin"].id).filter(
        Notification.message.contains("waits for reviewers")).one()
    assert initiative.title in waiting.message and waiting.link == f"/review/initiatives/{initiative.id}"


def test_the_diff_is_readable_and_respects_double_blind():
    before = {"title": "Rice sensors", "description": "Sensors for the delta.", "trl": 5, "keywords": ["rice"],
              "organisation": "Đại học Cần Thơ", "team_members": ["An"], "province": "can-tho"}
    after = {"title": "Rice sensors", "description": "Solar sensors for the whole delta.", "trl": 6,
             "keywords": ["rice", "solar"], "organisation": "Đại học Cần Thơ mới", "team_members": ["An", "Bình"],
             "province": "can-tho"}
    changes = {c.name: c for c in diff.changes(before, after)}
    assert set(changes) == {"description", "trl", "keywords", "organisation", "team_members"}
    assert '<ins class="diff-added">whole </ins>' in changes["description"].html
    assert changes["keywords"].added == ["solar"] and changes["trl"].before == "5" and changes["trl"].after == "6"
    hidden = {c.name for c in diff.changes(before, after, hide_identity=True)}
    assert "organisation" not in hidden and "team_members" not in hidden
    escaped = diff.inline_diff("a", "<script>alert(1)</script>")
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped
