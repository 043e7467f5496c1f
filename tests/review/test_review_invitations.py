"""Invitations: confirmed proposals reach the experts in the app and by e-mail; experts accept or
decline; a decline frees the slot and the admin invites the next best in one click; cancel and
replace; reminders and overdue flags from the command line."""

import re
from datetime import date, timedelta

import pytest

from initiatives.models import (
    AuditEvent,
    InitiativeConflict,
    InitiativeState,
    Notification,
    OutboxMessage,
)
from review import operations
from review.models import Assignment, AssignmentState
from search import matching
from tests.review.conftest import accept, fresh

S = InitiativeState
A = AssignmentState


def test_confirmed_proposal_invites_each_expert_in_the_app_and_by_mail(world, people):
    initiative = world.initiative
    assert initiative.status == S.UNDER_REVIEW
    assert len(world.assignments) == 3
    for assignment in world.assignments:
        assert assignment.status == A.INVITED and assignment.invited_at is not None
        assert assignment.due_on == date.today() + timedelta(days=14)
        user = assignment.expert.user
        note = Notification.query.filter_by(user_id=user.id).one()
        assert initiative.title in note.message and f"/review/assignments/{assignment.id}" == note.link
        mail = OutboxMessage.query.filter_by(recipient=user.email).one()
        assert initiative.title in mail.subject
        assert initiative.summary in mail.body and assignment.due_on.isoformat() in mail.body
        assert f"/review/assignments/{assignment.id}" in mail.body
        assert initiative.organisation in mail.body  # single-blind: the organisation is shown
        assert people["proposer"].name not in mail.body  # never the proposer's name


def test_double_blind_invitations_hide_the_proposer(make_world, people):
    world = make_world(blind="double")
    for assignment in world.assignments:
        mail = OutboxMessage.query.filter_by(recipient=assignment.expert.user.email).one()
        for hidden in (people["proposer"].name, world.initiative.organisation, *world.initiative.team_members):
            assert hidden not in mail.body and hidden not in mail.subject
        assert "double-blind" in mail.body


def test_expert_accepts_on_the_page(world, login):
    assignment = world.assignments[0]
    client = login(assignment.expert.user)
    page = client.get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
    assert "Will you review this initiative?" in page and world.initiative.summary in page
    response = client.post(f"/review/assignments/{assignment.id}/accept")
    assert response.status_code == 302
    assert fresh(assignment).status == A.ACCEPTED
    assert AuditEvent.query.filter_by(action="assignment.accepted", object_id=assignment.id).count() == 1
    # Accepting twice is refused with a message and a 409.
    again = client.post(f"/review/assignments/{assignment.id}/accept")
    assert again.status_code == 409 and "cannot become" in again.get_data(as_text=True)


def test_only_the_invited_expert_answers(world, login, people):
    first, second = world.assignments[:2]
    intruder = login(second.expert.user)
    assert intruder.get(f"/review/assignments/{first.id}").status_code == 403
    assert intruder.post(f"/review/assignments/{first.id}/accept").status_code == 403
    assert login(people["proposer"]).get(f"/review/assignments/{first.id}").status_code == 403
    with pytest.raises(operations.ReviewError):
        operations.accept_assignment(first, second.expert.user)
    assert fresh(first).status == A.INVITED


def test_decline_needs_a_reason(world, login):
    assignment = world.assignments[0]
    response = login(assignment.expert.user).post(f"/review/assignments/{assignment.id}/decline", data={"reason": ""})
    assert response.status_code == 400 and "give a reason" in response.get_data(as_text=True)
    assert fresh(assignment).status == A.INVITED


def test_decline_for_a_conflict_is_recorded_and_the_admin_invites_the_next_best(world, login, people, db):
    initiative = world.initiative
    declined = world.assignments[0]
    expert = declined.expert
    response = login(expert.user).post(f"/review/assignments/{declined.id}/decline",
                                       data={"reason": "I co-authored with the team.", "conflict": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert declined.status == A.DECLINED and declined.declined_for_conflict
    conflict = InitiativeConflict.query.filter_by(expert_id=expert.id, initiative_id=initiative.id).one()
    assert conflict.source == "decline"
    assert "declined earlier for a conflict" in matching.conflict_reason(expert, initiative)
    note = Notification.query.filter_by(user_id=people["admin"].id).filter(Notification.message.contains("declined")).one()
    assert note.link == f"/review/initiatives/{initiative.id}"

    admin = login(people["admin"])
    page = admin.get(f"/review/initiatives/{initiative.id}").get_data(as_text=True)
    asked = {a.expert_id for a in world.assignments}
    expected = operations.next_best_expert(initiative)
    assert expected is not None and expected.expert.id not in asked
    assert "next best expert" in page and f"Invite {expected.expert.name}" in page
    # One click.
    assert admin.post(f"/review/initiatives/{initiative.id}/next-best").status_code == 302
    db.session.expire_all()
    new = Assignment.query.filter_by(initiative_id=initiative.id, expert_id=expected.expert.id).one()
    assert new.status == A.INVITED and new.method == "auto"
    assert OutboxMessage.query.filter_by(recipient=expected.expert.user.email).count() == 1
    # The declined expert is never proposed again for this initiative.
    following = operations.next_best_expert(initiative)
    assert following is None or following.expert.id not in asked | {expected.expert.id}


def test_next_best_skips_the_unavailable_and_the_full(world, people, panel, db):
    outside = [p for p in panel if p.id not in {a.expert_id for a in world.assignments}]
    assert len(outside) == 2
    outside[0].available = False
    outside[1].max_load = 0
    db.session.commit()
    assert operations.next_best_expert(world.initiative) is None
    with pytest.raises(operations.ReviewError):
        operations.invite_next_best(world.initiative, people["admin"])


def test_admin_adds_a_reviewer_by_hand_and_conflicts_are_refused(world, people, panel, login, db, make_user):
    from tests.review.conftest import make_expert

    colleague = make_expert(make_user, "Đồng Nghiệp Cần Thơ", "dai hoc can tho", "Rice sensors.", "rice")
    admin = login(people["admin"])
    page = admin.get(f"/review/initiatives/{world.initiative.id}?q=Cần Thơ").get_data(as_text=True)
    assert "Đồng Nghiệp Cần Thơ" in page and "same organisation" in page
    refused = admin.post(f"/review/initiatives/{world.initiative.id}/invite", data={"expert_id": colleague.id})
    assert refused.status_code == 409 and "cannot review this initiative" in refused.get_data(as_text=True)
    free = [p for p in panel if p.id not in {a.expert_id for a in world.assignments}][0]
    page = admin.get(f"/review/initiatives/{world.initiative.id}?q=irrigation").get_data(as_text=True)
    assert free.name in page
    row = page[page.index(free.name):].split("</tr>")[0]
    assert re.search(r"<td>-?\d\.\d\d</td>", row), row  # its affinity to this initiative
    assert admin.post(f"/review/initiatives/{world.initiative.id}/invite", data={"expert_id": free.id}).status_code == 302
    added = Assignment.query.filter_by(expert_id=free.id, state="invited", method="manual").one()
    assert added.affinity is not None
    # The same expert twice is refused.
    again = admin.post(f"/review/initiatives/{world.initiative.id}/invite", data={"expert_id": free.id})
    assert again.status_code == 409
    assert admin.post(f"/review/initiatives/{world.initiative.id}/invite", data={"expert_id": 99999}).status_code == 404


def test_cancel_and_replace(world, people, login, db):
    admin = login(people["admin"])
    first, second = world.assignments[:2]
    response = admin.post(f"/review/assignments/{first.id}/cancel", data={"reason": "Changed plans"})
    assert response.status_code == 302
    db.session.expire_all()
    assert first.status == A.CANCELLED and first.cancel_reason == "Changed plans"
    assert Notification.query.filter_by(user_id=first.expert.user_id).filter(
        Notification.message.contains("no longer needed")).count() == 1
    response = admin.post(f"/review/assignments/{second.id}/replace")
    assert response.status_code == 302
    db.session.expire_all()
    assert second.status == A.CANCELLED
    active = operations.round_assignments(world.initiative)
    assert len(active) == 2 and second.expert_id not in {a.expert_id for a in active}
    # A cancelled one cannot be cancelled again; non-admins cannot cancel.
    assert admin.post(f"/review/assignments/{first.id}/cancel").status_code == 409
    third = world.assignments[2]
    assert login(third.expert.user).post(f"/review/assignments/{third.id}/cancel").status_code == 403


def test_cancelling_a_slow_reviewer_keeps_the_round_open_for_a_replacement(world, people, login, db):
    """Two reviews are in and the third reviewer is slow: cancelling them must not close the
    round behind the admin's back. It stays open, the page says so and offers the next best and
    the close button; the replacement is invited and the round closes with their review."""
    from tests.review.conftest import submit_review

    first, second, slow = world.assignments
    submit_review(first)
    submit_review(second)
    admin = login(people["admin"])
    response = admin.post(f"/review/assignments/{slow.id}/cancel", data={"reason": "No answer"},
                          follow_redirects=True)
    page = response.get_data(as_text=True)
    db.session.expire_all()
    assert slow.status == A.CANCELLED and world.initiative.status == S.UNDER_REVIEW
    assert "round now lacks 1 reviewer(s)" in page and 'id="next-best"' in page
    assert "Close the round with the reviews submitted" in page
    replacement = operations.invite_next_best(world.initiative, people["admin"])
    db.session.commit()
    assert replacement.status == A.INVITED and world.initiative.status == S.UNDER_REVIEW
    submit_review(replacement)
    db.session.expire_all()
    assert world.initiative.status == S.REVIEWED


def test_cancelling_leaves_the_choice_to_close_the_round_to_the_admin(world, people, db):
    from tests.review.conftest import submit_review

    first, second, slow = world.assignments
    submit_review(first)
    submit_review(second)
    operations.cancel_assignment(slow, people["admin"], "No answer")
    db.session.commit()
    # The cron's safety net does not close it either: the slot waits for the admin.
    operations.send_reminders()
    db.session.commit()
    assert fresh(world.initiative).status == S.UNDER_REVIEW
    operations.close_round(world.initiative, people["admin"])
    db.session.commit()
    assert fresh(world.initiative).status == S.REVIEWED


def test_cancelling_an_extra_reviewer_closes_a_round_whose_reviews_are_in(world, people, panel, login, db):
    """A fourth reviewer added by hand is cancelled once the call's three reviews are in: the
    round has its reviewers, so it is reviewed at once and the admin is told."""
    from tests.review.conftest import submit_review

    extra_expert = [p for p in panel if p.id not in {a.expert_id for a in world.assignments}][0]
    extra = operations.invite_expert(world.initiative, extra_expert, people["admin"])
    db.session.commit()
    for assignment in world.assignments:
        submit_review(assignment)
    assert fresh(world.initiative).status == S.UNDER_REVIEW
    response = login(people["admin"]).post(f"/review/assignments/{extra.id}/cancel", follow_redirects=True)
    assert "the round is closed and waits for a decision" in response.get_data(as_text=True)
    assert fresh(world.initiative).status == S.REVIEWED


def test_remind_emails_near_due_reviewers_and_flags_overdue(world, runner, db, people, login):
    near, late, far = world.assignments
    accept(near)
    near.due_on = date.today() + timedelta(days=2)
    late.due_on = date.today() - timedelta(days=1)
    far.due_on = date.today() + timedelta(days=10)
    db.session.commit()
    before = OutboxMessage.query.count()
    result = runner.invoke(args=["review", "remind", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "Reminded 1 reviewer(s)" in result.output and "marked 1 assignment(s) overdue" in result.output
    assert f"OVERDUE #{late.id}" in result.output
    db.session.expire_all()
    assert late.status == A.OVERDUE and near.status == A.ACCEPTED and far.status == A.INVITED
    assert near.reminded_on == date.today()
    assert OutboxMessage.query.count() == before + 3  # the reminder, the overdue notice, the admin's summary
    reminder = OutboxMessage.query.filter_by(recipient=near.expert.user.email).order_by(OutboxMessage.id.desc()).first()
    assert "Reminder" in reminder.subject and near.due_on.isoformat() in reminder.body
    assert AuditEvent.query.filter_by(action="assignment.overdue", object_id=late.id).count() == 1
    # Run again the same day: nobody is reminded twice, nothing is marked twice.
    again = runner.invoke(args=["review", "remind", "--days", "3"])
    assert "Reminded 0 reviewer(s)" in again.output and "marked 0 assignment(s) overdue" in again.output
    # The admin sees the overdue one highlighted; the expert too.
    page = login(people["admin"]).get(f"/review/initiatives/{world.initiative.id}").get_data(as_text=True)
    assert f'table-danger overdue" id="assignment-{late.id}"' in page
    mine = login(late.expert.user).get("/review/mine").get_data(as_text=True)
    assert "table-danger" in mine and "Overdue" in mine
    # An overdue reviewer may still decline.
    operations.decline_assignment(late, late.expert.user, "Too busy")
    db.session.commit()
    assert late.status == A.DECLINED


def test_admins_are_told_once_per_run_of_reviews_newly_overdue(world, runner, people, db):
    """One bell and one e-mail per admin summarise what a run flagged; a later run that flags
    nothing new tells nobody, and one that flags another review names only that one."""
    first, second, third = world.assignments
    admin = people["admin"]
    for assignment in (first, second):
        assignment.due_on = date.today() - timedelta(days=2)
    db.session.commit()

    def told():
        bells = (Notification.query.filter_by(user_id=admin.id)
                 .filter(Notification.message.contains("became overdue")).order_by(Notification.id).all())
        mails = (OutboxMessage.query.filter_by(recipient=admin.email)
                 .filter(OutboxMessage.subject.contains("Overdue reviews")).order_by(OutboxMessage.id).all())
        return bells, mails

    result = runner.invoke(args=["review", "remind"])
    assert "marked 2 assignment(s) overdue" in result.output, result.output
    bells, mails = told()
    assert len(bells) == 1 and len(mails) == 1
    assert "2 review(s) became overdue" in bells[0].message and world.initiative.title in bells[0].message
    assert bells[0].link == f"/review/calls/{world.call.id}/ranking#overdue"
    assert mails[0].subject == "Overdue reviews: 2"
    assert first.expert.name in mails[0].body and second.expert.name in mails[0].body
    assert third.expert.name not in mails[0].body
    assert f"/review/initiatives/{world.initiative.id}" in mails[0].body
    assert f"/review/calls/{world.call.id}/ranking#overdue" in mails[0].body
    # The reviewers are told as before; the admin's summary does not replace that.
    assert OutboxMessage.query.filter_by(recipient=first.expert.user.email).filter(
        OutboxMessage.subject.contains("Overdue review:")).count() == 1

    runner.invoke(args=["review", "remind"])
    assert [len(found) for found in told()] == [1, 1]

    fresh(third).due_on = date.today() - timedelta(days=1)
    db.session.commit()
    runner.invoke(args=["review", "remind"])
    bells, mails = told()
    assert len(bells) == 2 and len(mails) == 2
    assert "1 review(s) became overdue" in bells[1].message
    assert third.expert.name in mails[1].body and first.expert.name not in mails[1].body


def test_a_run_over_several_calls_points_to_the_calls_list(make_world, people, db):
    worlds = [make_world(), make_world(blind="double", title="Cảm biến độ mặn cho ruộng lúa")]
    for world in worlds:
        world.assignments[0].due_on = date.today() - timedelta(days=1)
    db.session.commit()
    run = operations.send_reminders()
    db.session.commit()
    assert len(run.overdue) == 2
    bell = Notification.query.filter_by(user_id=people["admin"].id).filter(
        Notification.message.contains("became overdue")).one()
    assert bell.link == "/review/calls#overdue"
    assert all(world.initiative.title in bell.message for world in worlds)


def test_admins_see_overdue_reviews_per_call_and_in_its_ranking(world, people, login, db):
    """Overdue counts on the calls list, linking to the call's ranking, which lists the
    initiatives concerned with their late reviewers; a review past due that the cron has not
    flagged yet counts too."""
    first, second, third = world.assignments
    first.due_on = date.today() - timedelta(days=3)
    db.session.commit()
    operations.send_reminders()
    second.due_on = date.today() - timedelta(days=1)  # late, not flagged yet
    db.session.commit()
    assert first.status == A.OVERDUE and second.status == A.INVITED
    admin = login(people["admin"])
    page = admin.get("/review/calls").get_data(as_text=True)
    row = page[page.index(f'id="call-{world.call.id}"'):].split("</tr>")[0]
    assert 'table-danger overdue' in row and f'/review/calls/{world.call.id}/ranking#overdue">2</a>' in row
    ranking = admin.get(f"/review/calls/{world.call.id}/ranking").get_data(as_text=True)
    alert = ranking[ranking.index('id="overdue"'):].split("</div>")[0]
    assert "Overdue reviews: 2" in alert
    assert f'href="/review/initiatives/{world.initiative.id}"' in alert and world.initiative.title in alert
    assert first.expert.name in alert and second.expert.name in alert and third.expert.name not in alert
    assert "2 overdue" in ranking
    # A call without late reviews shows none.
    for assignment in (first, second):
        operations.cancel_assignment(assignment, people["admin"], "Too late")
    db.session.commit()
    assert 'id="overdue"' not in admin.get(f"/review/calls/{world.call.id}/ranking").get_data(as_text=True)
    row = admin.get("/review/calls").get_data(as_text=True)
    assert "table-danger overdue" not in row


def test_remind_rejects_a_bad_option(runner, db):
    result = runner.invoke(args=["review", "remind", "--days", "-1"])
    assert result.exit_code != 0 and "Traceback" not in result.output


# state: may the expert accept, may the expert decline, may an admin cancel
ANSWERS = {
    A.PROPOSED: (False, False, True),
    A.INVITED: (True, True, True),
    A.ACCEPTED: (False, False, True),
    A.OVERDUE: (False, True, True),
    A.SUBMITTED: (False, False, False),
    A.DECLINED: (False, False, False),
    A.CANCELLED: (False, False, False),
}
ACTIONS = {
    "accept": lambda a, people: operations.accept_assignment(a, a.expert.user),
    "decline": lambda a, people: operations.decline_assignment(a, a.expert.user, "Busy"),
    "cancel": lambda a, people: operations.cancel_assignment(a, people["admin"], "No longer needed"),
}
CASES = [(state, action, ANSWERS[state][n]) for state in ANSWERS for n, action in enumerate(ACTIONS)]


@pytest.mark.parametrize("state, action, allowed", CASES, ids=[f"{a} when {s.value}" for s, a, _ in CASES])
def test_assignment_transitions_follow_the_machine(world, people, state, action, allowed, db):
    assignment = world.assignments[0]
    assignment.state = state.value
    db.session.commit()
    events = AuditEvent.query.filter_by(object_type="assignment", object_id=assignment.id).count()
    if allowed:
        ACTIONS[action](assignment, people)
        db.session.commit()
        assert AuditEvent.query.filter_by(object_type="assignment", object_id=assignment.id).count() == events + 1
    else:
        with pytest.raises(operations.ReviewError):
            ACTIONS[action](assignment, people)
        db.session.rollback()
        db.session.refresh(assignment)
        assert assignment.status == state
        assert AuditEvent.query.filter_by(object_type="assignment", object_id=assignment.id).count() == events


def test_the_calls_maximum_load_caps_each_expert_within_the_call(people, panel, make_initiative, db):
    """Five experts, each free for five reviews overall, but the call allows one per expert:
    two initiatives wanting three reviewers each get five proposals, and the sixth slot is
    reported uncovered."""
    from review import assign

    admin = people["admin"]
    call = operations.create_call(admin, title="Small call", reviewers_per_initiative=3,
                                  default_max_load=1, review_days=14, blind_mode="single",
                                  reviewers_see_others=False)
    db.session.commit()
    for title in ("Cảm biến độ ẩm đất", "Tưới tiết kiệm cho ruộng lúa"):
        initiative = make_initiative(people["proposer"], submitted=True, call_id=call.id, title=title)
        operations.pass_screening(initiative, admin)
    db.session.commit()
    proposal = assign.propose(call, actor=admin)
    proposed = Assignment.query.filter_by(call_id=call.id, state="proposed").all()
    assert proposal.created == len(proposed) == 5
    per_expert = {}
    for assignment in proposed:
        per_expert[assignment.expert_id] = per_expert.get(assignment.expert_id, 0) + 1
    assert set(per_expert.values()) == {1}
    assert len(proposal.uncovered) == 1


def test_the_calls_maximum_load_caps_the_one_click_replacement(world, people, make_initiative, db):
    """The call allows one review per expert: the next best expert who already reviews another
    initiative of the call is passed over, both for ``invite_next_best`` and for a replacement
    without a chosen expert, though their own maximum load (five) would allow more."""
    admin = people["admin"]
    operations.update_call(world.call, admin, title=world.call.title, slug=world.call.slug, default_max_load=1)
    other = make_initiative(people["other"], submitted=True, call_id=world.call.id, title="Tưới nhỏ giọt")
    operations.pass_screening(other, admin)
    db.session.commit()
    first_choice = operations.next_best_expert(world.initiative)
    assert first_choice is not None
    operations.invite_expert(other, first_choice.expert, admin)  # by hand: the admin's own choice
    db.session.commit()
    assert matching.current_loads([first_choice.expert.id])[first_choice.expert.id] == 1 < first_choice.expert.max_load

    second_choice = operations.next_best_expert(world.initiative)
    assert second_choice is not None and second_choice.expert.id != first_choice.expert.id
    invited = operations.invite_next_best(world.initiative, admin)
    db.session.commit()
    assert invited.expert_id == second_choice.expert.id

    # Every expert outside the initiative now holds the call's one review: nobody is left.
    assert operations.next_best_expert(world.initiative) is None
    before = (Assignment.query.count(), AuditEvent.query.count())
    with pytest.raises(operations.ReviewError, match="No further expert"):
        operations.invite_next_best(world.initiative, admin)
    with pytest.raises(operations.ReviewError, match="No further expert"):
        operations.replace_assignment(world.assignments[0], admin)
    db.session.rollback()
    assert (Assignment.query.count(), AuditEvent.query.count()) == before
    assert fresh(world.assignments[0]).status == A.INVITED
    in_call = [a.expert_id for a in Assignment.query.filter_by(call_id=world.call.id)
               .filter(Assignment.state.in_(["invited", "accepted", "overdue"]))
               if a.expert_id in {first_choice.expert.id, second_choice.expert.id}]
    assert sorted(in_call) == sorted([first_choice.expert.id, second_choice.expert.id])


@pytest.mark.parametrize("change", ["expert role taken away", "account deactivated"])
def test_only_active_experts_are_proposed_or_added_by_hand(make_world, people, panel, db, change):
    from review import assign

    world = make_world(confirm=False)
    leaving = panel[0]  # the matcher's first choice for this initiative
    if change == "account deactivated":
        leaving.user.active = False
    else:
        leaving.user.set_roles(["proposer"])
    db.session.commit()
    proposal = assign.propose(world.call, actor=people["admin"])
    proposed = {a.expert_id for a in Assignment.query.filter_by(call_id=world.call.id, state="proposed")}
    assert proposal.created == 3 and leaving.id not in proposed
    with pytest.raises(assign.AssignmentError, match="does not review"):
        assign.add_manual(world.initiative, leaving, people["admin"])


def test_an_admin_who_opens_the_expert_page_is_not_a_reviewer(people, login, db):
    from initiatives.models import ExpertProfile

    assert login(people["admin"]).get("/expert/profile").status_code == 200
    admin_profile = ExpertProfile.query.filter_by(user_id=people["admin"].id).one()
    assert admin_profile.id not in {e.id for e in ExpertProfile.reviewers()}
    assert login(people["expert"]).get("/expert/profile").status_code == 200
    assert people["expert"].id in {e.user_id for e in ExpertProfile.reviewers()}
