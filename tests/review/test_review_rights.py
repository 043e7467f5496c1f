"""The user's right is checked by the services themselves, not only by the pages: a proposer, an
expert or a demand owner calling an assignment, rubric or review operation is refused, and
nothing changes (no row, no audit event)."""

import pytest

from initiatives.models import AuditEvent, Call, Initiative, Notification, OutboxMessage
from review import assign, operations, reviewing, rubrics
from review.models import Assignment, AssignmentState, Decision, Review, Rubric
from tests.review.conftest import submit_review

A = AssignmentState

NON_ADMINS = ["proposer", "expert", "owner"]


def _counts():
    return Assignment.query.count(), AuditEvent.query.count()


@pytest.mark.parametrize("who", NON_ADMINS)
def test_assignment_operations_refuse_non_admins(make_world, people, panel, who, db):
    world = make_world(confirm=False)
    actor = people[who]
    before = _counts()
    with pytest.raises(assign.AssignmentError, match="Only an administrator"):
        assign.propose(world.call, actor=actor)
    free = panel[0]
    with pytest.raises(assign.AssignmentError, match="Only an administrator"):
        assign.add_manual(world.initiative, free, actor)
    db.session.rollback()
    assert _counts() == before

    proposal = assign.propose(world.call, actor=people["admin"])
    db.session.commit()
    assert proposal.created == 3
    row = Assignment.query.filter_by(initiative_id=world.initiative.id, state=A.PROPOSED.value).first()
    before = _counts()
    with pytest.raises(assign.AssignmentError, match="Only an administrator"):
        assign.remove_proposed(row, actor)
    with pytest.raises(assign.AssignmentError, match="Only an administrator"):
        assign.confirm(world.call, actor)
    db.session.rollback()
    assert _counts() == before
    assert Assignment.query.filter_by(initiative_id=world.initiative.id, state=A.PROPOSED.value).count() == 3


def test_the_command_line_proposes_without_an_actor_but_anonymous_users_are_refused(make_world, app, db):
    from flask_login import AnonymousUserMixin

    world = make_world(confirm=False)
    with pytest.raises(assign.AssignmentError):
        assign.propose(world.call, actor=AnonymousUserMixin())
    assert assign.propose(world.call).created == 3  # `flask review assign CALL`


@pytest.mark.parametrize("who", NON_ADMINS)
def test_rubric_operations_refuse_non_admins(world, people, who, db):
    actor = people[who]
    own = rubrics.copy_rubric(rubrics.default_rubric(), world.call, people["admin"])
    db.session.commit()
    rows = [{"id": c.id, "name_en": c.name_en + " changed", "name_vi": c.name_vi, "guidance_en": "",
             "guidance_vi": "", "weight": c.weight, "scale_min": c.scale_min, "scale_max": c.scale_max,
             "position": c.position} for c in own.criteria]
    versions = Rubric.query.filter_by(call_id=world.call.id).count()
    before = AuditEvent.query.count()
    with pytest.raises(rubrics.RubricError, match="Only an administrator"):
        rubrics.save_criteria(own, rows, actor)
    with pytest.raises(rubrics.RubricError, match="Only an administrator"):
        rubrics.copy_rubric(own, world.call, actor)
    db.session.rollback()
    db.session.refresh(own)
    assert not any(c.name_en.endswith(" changed") for c in own.criteria)
    assert AuditEvent.query.count() == before
    assert Rubric.query.filter_by(call_id=world.call.id).count() == versions == 1


def test_a_submitted_review_cannot_be_replaced(world, people, login, db):
    assignment = world.assignments[0]
    submit_review(assignment)
    db.session.refresh(assignment)
    assert assignment.status == A.SUBMITTED
    before = _counts()
    with pytest.raises(operations.ReviewError, match="cannot be replaced"):
        operations.replace_assignment(assignment, people["admin"])
    db.session.rollback()
    assert _counts() == before
    response = login(people["admin"]).post(f"/review/assignments/{assignment.id}/replace")
    assert response.status_code == 409 and "cannot be replaced" in response.get_data(as_text=True)
    db.session.expire_all()
    assert assignment.status == A.SUBMITTED
    # A non-admin is refused by the service too.
    with pytest.raises(operations.ReviewError, match="Only an administrator"):
        operations.replace_assignment(world.assignments[1], people["expert"])


# The review's admin-only services, each with the situation in which an administrator may call
# it: ``setup(world, people, panel, make_initiative, db)`` returns ``act(actor)``.

def _fresh_call(world, people, panel, make_initiative, db):
    call = operations.create_call(people["admin"], title="Empty call", reviewers_per_initiative=2,
                                  default_max_load=5, review_days=14, blind_mode="single")
    db.session.commit()
    return lambda actor: operations.delete_call(call, actor)


def _unscreened(world, people, panel, make_initiative, db):
    return make_initiative(people["other"], submitted=True, call_id=world.call.id, title="Chưa sàng lọc")


def _free_expert(world, panel):
    return [p for p in panel if p.id not in {a.expert_id for a in world.assignments}][0]


def _reopen(world, people, panel, make_initiative, db):
    review = submit_review(world.assignments[0])
    return lambda actor: reviewing.reopen_review(review, actor, "Please explain.")


def _short_round(world, people, panel, make_initiative, db):
    """One reviewer declined, the two others submitted: only an admin's closing ends the round."""
    declined = world.assignments[0]
    operations.decline_assignment(declined, declined.expert.user, "Too busy")
    db.session.commit()
    for assignment in world.assignments[1:]:
        submit_review(assignment)
    return lambda actor: operations.close_round(world.initiative, actor)


def _reviewed(world, people, panel, make_initiative, db):
    for assignment in world.assignments:
        submit_review(assignment)
    return lambda actor: operations.record_decision(world.initiative, "accepted", "Strong reviews.", actor)


def _screening(verb):
    def setup(world, people, panel, make_initiative, db):
        initiative = _unscreened(world, people, panel, make_initiative, db)
        if verb == "pass":
            return lambda actor: operations.pass_screening(initiative, actor, "Eligible.")
        return lambda actor: operations.reject_screening(initiative, actor, "Outside the call's topic.")
    return setup


ADMIN_SERVICES = {
    "create_call": lambda w, p, panel, mi, db: lambda actor: operations.create_call(
        actor, title="A call of one's own", reviewers_per_initiative=3, default_max_load=5, review_days=14,
        blind_mode="single"),
    "update_call": lambda w, p, panel, mi, db: lambda actor: operations.update_call(
        w.call, actor, title="A renamed call", slug=w.call.slug, reviewers_per_initiative=2, default_max_load=1),
    "delete_call": _fresh_call,
    "pass_screening": _screening("pass"),
    "reject_screening": _screening("reject"),
    "invite_expert": lambda w, p, panel, mi, db: lambda actor: operations.invite_expert(
        w.initiative, _free_expert(w, panel), actor),
    "invite_next_best": lambda w, p, panel, mi, db: lambda actor: operations.invite_next_best(w.initiative, actor),
    "cancel_assignment": lambda w, p, panel, mi, db: lambda actor: operations.cancel_assignment(
        w.assignments[0], actor, "Changed plans"),
    "replace_assignment": lambda w, p, panel, mi, db: lambda actor: operations.replace_assignment(
        w.assignments[0], actor),
    "reopen_review": _reopen,
    "close_round": _short_round,
    "record_decision": _reviewed,
}


def _everything():
    """What a refused call must leave as it was: rows, states, audit events, bells and e-mails."""
    return {
        "calls": [(c.id, c.title, c.slug, c.reviewers_per_initiative, c.default_max_load)
                  for c in Call.query.order_by(Call.id)],
        "initiatives": [(i.id, i.state, i.screened_at, i.screening_note) for i in Initiative.query.order_by(Initiative.id)],
        "assignments": [(a.id, a.state, a.cancel_reason) for a in Assignment.query.order_by(Assignment.id)],
        "reviews": [(r.id, r.submitted_at, r.reopened_at) for r in Review.query.order_by(Review.id)],
        "decisions": Decision.query.count(),
        "audit": AuditEvent.query.count(),
        "bells": Notification.query.count(),
        "mails": OutboxMessage.query.count(),
    }


@pytest.mark.parametrize("service", list(ADMIN_SERVICES))
def test_every_admin_service_refuses_non_admins_and_changes_nothing(make_world, people, panel, make_initiative,
                                                                    service, db):
    """Each service checks the right itself (the pages' 403 is not the only guard): a proposer,
    an expert and a demand owner are refused and nothing is written; then the administrator,
    in the same situation, succeeds."""
    world = make_world()
    act = ADMIN_SERVICES[service](world, people, panel, make_initiative, db)
    db.session.commit()
    before = _everything()
    for who in NON_ADMINS:
        with pytest.raises(operations.ReviewError, match="Only an administrator"):
            act(people[who])
        db.session.rollback()
        assert _everything() == before, who
    act(people["admin"])
    db.session.commit()
    assert AuditEvent.query.count() > before["audit"]


def test_the_table_lists_every_admin_service():
    """A new admin-only service joins the table above, or this fails."""
    import ast
    from pathlib import Path

    guarded = set()
    for module in (operations, reviewing):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for function in tree.body:
            if isinstance(function, ast.FunctionDef) and any(
                    isinstance(node, ast.Call) and getattr(node.func, "id", "") == "require_admin"
                    for node in ast.walk(function)):
                guarded.add(function.name)
    assert guarded == set(ADMIN_SERVICES)
