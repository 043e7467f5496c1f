"""Screening: an admin passes a submission on to review or rejects it as ineligible with a reason
its proposer reads; only passed submissions wait for reviewers."""

import pytest

from initiatives.models import AuditEvent, InitiativeState, Notification, OutboxMessage
from review import assign, operations

S = InitiativeState


@pytest.fixture
def submission(people, make_initiative, db):
    call = operations.create_call(people["admin"], title="Screening call", reviewers_per_initiative=3,
                                  default_max_load=5, review_days=21, blind_mode="single")
    db.session.commit()
    return make_initiative(people["proposer"], submitted=True, call_id=call.id)


def test_the_queue_lists_what_waits_and_passing_sends_it_to_assignment(submission, people, login, db):
    call = submission.call
    assert submission.status == S.SCREENING and assign.screened(call) == []
    # Every administrator's bell announces it, linking to the queue; the proposer's does not.
    announced = Notification.query.filter(Notification.message.contains("waits in the screening queue")).all()
    assert [(n.user_id, n.link) for n in announced] == [(people["admin"].id, "/review/screening")]
    assert submission.title in announced[0].message
    admin = login(people["admin"])
    page = admin.get("/review/screening").get_data(as_text=True)
    assert submission.title in page and "Pass screening" in page
    assert "1 submission(s) of this call still wait for screening" in admin.get(
        f"/review/calls/{call.id}/assignment").get_data(as_text=True)
    assert admin.post(f"/review/screening/{submission.id}/pass").status_code == 302
    db.session.refresh(submission)
    assert submission.screened_at is not None and submission.status == S.SCREENING
    assert assign.screened(call) == [submission]
    assert "screening-empty" in admin.get("/review/screening").get_data(as_text=True)
    event = AuditEvent.query.filter_by(action="initiative.screening_passed", object_id=submission.id).one()
    assert event.actor_id == people["admin"].id
    # Passing twice is refused.
    assert admin.post(f"/review/screening/{submission.id}/pass").status_code == 409


def test_rejecting_needs_a_reason_the_proposer_then_reads(submission, people, login, db):
    admin = login(people["admin"])
    empty = admin.post(f"/review/screening/{submission.id}/reject", data={f"r{submission.id}-reason": " "})
    assert empty.status_code == 400 and "Give the reason" in empty.get_data(as_text=True)
    db.session.refresh(submission)
    assert submission.status == S.SCREENING
    reason = "The call is for agriculture in the Central Highlands only."
    response = admin.post(f"/review/screening/{submission.id}/reject", data={f"r{submission.id}-reason": reason})
    assert response.status_code == 302
    db.session.refresh(submission)
    assert submission.status == S.REJECTED and submission.screening_note == reason
    assert AuditEvent.query.filter_by(action="initiative.screening_rejected", object_id=submission.id).count() == 1
    proposer = people["proposer"]
    assert Notification.query.filter_by(user_id=proposer.id).filter(
        Notification.message.contains("not admitted")).count() == 1
    mail = OutboxMessage.query.filter_by(recipient=proposer.email).one()
    assert reason in mail.body
    page = login(proposer).get(f"/initiatives/{submission.id}").get_data(as_text=True)
    assert "not admitted to review" in page and reason in page
    # Nothing more can happen to it in screening.
    assert admin.post(f"/review/screening/{submission.id}/pass").status_code == 409


@pytest.mark.parametrize("role", ["proposer", "expert", "owner"])
def test_only_admins_screen(submission, people, login, role, db):
    client = login(people[role])
    assert client.get("/review/screening").status_code == 403
    assert client.post(f"/review/screening/{submission.id}/pass").status_code == 403
    assert client.post(f"/review/screening/{submission.id}/reject", data={"reason": "x"}).status_code == 403
    with pytest.raises(operations.ReviewError):
        operations.pass_screening(submission, people[role])
    db.session.rollback()
    db.session.refresh(submission)
    assert submission.screened_at is None


def test_a_draft_cannot_be_screened(people, make_initiative):
    draft = make_initiative(people["proposer"])
    with pytest.raises(operations.ReviewError):
        operations.pass_screening(draft, people["admin"])
    with pytest.raises(operations.ReviewError):
        operations.reject_screening(draft, people["admin"], "Not eligible")


def test_unknown_initiatives_are_404(people, login):
    admin = login(people["admin"])
    assert admin.post("/review/screening/99999/pass").status_code == 404
    assert admin.get("/review/initiatives/99999").status_code == 404


def test_invitations_wait_for_screening(submission, people, panel, db):
    with pytest.raises(operations.ReviewError, match="Pass the screening"):
        operations.invite_expert(submission, panel[0], people["admin"])
