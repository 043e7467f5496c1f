"""The user's right is checked by the services themselves, not only by the pages: a proposer, an
expert or a demand owner calling an assignment or rubric operation is refused, and nothing
changes (no row, no audit event)."""

import pytest

from initiatives.models import AuditEvent
from review import assign, operations, rubrics
from review.models import Assignment, AssignmentState, Rubric
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
