"""Reviewing: the form follows the rubric, drafts save any number of times, a review is submitted
once (even from two tabs or two threads at the same moment), only an admin reopens it, and the
initiative is reviewed when every review of its round is in."""

import threading

import pytest

from initiatives.extensions import db as _db
from initiatives.models import AuditEvent, InitiativeState, Notification
from review import operations, reviewing
from review.models import Assignment, AssignmentState, Review
from tests.review.conftest import SCORES, accept, form_for, fresh, submit_review

S = InitiativeState
A = AssignmentState


def test_the_form_is_generated_from_the_rubric_with_guidance(world, login):
    assignment = world.assignments[0]
    accept(assignment)
    page = login(assignment.expert.user).get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
    for name, guidance in (("Novelty", "How new is the idea"), ("Team capacity", "Does the team have the skills")):
        assert name in page and guidance in page
    assert "Your confidence" in page and "Confidential comments to the committee" in page
    assert 'name="save"' in page and 'name="submit"' in page
    # In Vietnamese, the criteria speak Vietnamese.
    client = login(assignment.expert.user)
    client.get("/lang/vi")
    assert "Tính khả thi" in client.get(f"/review/assignments/{assignment.id}").get_data(as_text=True)


def test_drafts_save_repeatedly_then_submit_once(world, login, db):
    assignment = world.assignments[0]
    accept(assignment)
    client = login(assignment.expert.user)
    url = f"/review/assignments/{assignment.id}/review"
    rubric = reviewing.review_for(assignment, create=True).rubric
    db.session.commit()
    assert client.post(url, data=form_for(rubric, scores={"novelty": 2}, confidence=None, recommendation=None,
                                          to_proposer="First thoughts")).status_code == 302
    assert client.post(url, data=form_for(rubric, scores={"novelty": 3, "impact": 5}, confidence=3,
                                          recommendation="revise", to_proposer="Second thoughts")).status_code == 302
    review = Review.query.filter_by(assignment_id=assignment.id).one()
    db.session.refresh(review)
    assert review.submitted_at is None and review.comments_to_proposer == "Second thoughts"
    assert review.scores_by_key() == {"novelty": 3, "impact": 5}
    page = client.get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
    assert "Second thoughts" in page and "draft" in client.get("/review/mine").get_data(as_text=True)

    # An incomplete submission is refused with what is missing.
    incomplete = client.post(url, data=form_for(rubric, scores={"novelty": 3}, action="submit"))
    assert incomplete.status_code == 400 and "Please complete before submitting" in incomplete.get_data(as_text=True)
    # Out of the scale: refused by the form.
    out_of_range = client.post(url, data={**form_for(rubric, action="submit"), f"score_{rubric.criteria[0].id}": "9"})
    assert out_of_range.status_code == 400
    assert fresh(review).submitted_at is None

    assert client.post(url, data=form_for(rubric, action="submit", to_proposer="Final")).status_code == 302
    fresh(review)
    assert review.is_submitted and fresh(assignment).status == A.SUBMITTED
    assert review.scores_by_key() == SCORES
    # The second submission (another tab) changes nothing.
    again = client.post(url, data=form_for(rubric, scores={**SCORES, "novelty": 1}, action="submit", to_proposer="Changed"))
    assert again.status_code == 409 and "already submitted" in again.get_data(as_text=True)
    fresh(review)
    assert review.comments_to_proposer == "Final" and review.scores_by_key()["novelty"] == 4
    assert Review.query.filter_by(assignment_id=assignment.id).count() == 1
    assert AuditEvent.query.filter_by(action="review.submitted").count() == 1


def test_two_sessions_double_submit_create_no_duplicate(world, login, db):
    assignment = world.assignments[0]
    accept(assignment)
    rubric = reviewing.review_for(assignment, create=True).rubric
    db.session.commit()
    tab_one, tab_two = login(assignment.expert.user), login(assignment.expert.user)
    url = f"/review/assignments/{assignment.id}/review"
    statuses = sorted(c.post(url, data=form_for(rubric, action="submit")).status_code for c in (tab_one, tab_two))
    assert statuses == [302, 409]
    assert Review.query.filter_by(assignment_id=assignment.id).count() == 1
    assert AuditEvent.query.filter_by(action="review.submitted").count() == 1
    assert AuditEvent.query.filter_by(action="assignment.submitted", object_id=assignment.id).count() == 1


def _submit_in_thread(app, assignment_id, barrier, outcomes):
    with app.app_context():
        try:
            assignment = _db.session.get(Assignment, assignment_id)
            review = reviewing.review_for(assignment)
            by_key = {c.key: c.id for c in review.rubric.criteria}
            user = assignment.expert.user
            barrier.wait(timeout=10)
            reviewing.save_review(assignment, user, scores={by_key[k]: v for k, v in SCORES.items()},
                                  confidence=4, recommendation="accept", submit=True)
            _db.session.commit()
            outcomes.append("submitted")
        except operations.ReviewError as error:
            _db.session.rollback()
            outcomes.append(f"refused: {error}")
        except Exception as error:  # pragma: no cover - a failure the test reports
            _db.session.rollback()
            outcomes.append(f"error: {error!r}")
        finally:
            _db.session.remove()


def _run_concurrently(app, assignment_ids):
    barrier = threading.Barrier(len(assignment_ids))
    outcomes: list[str] = []
    threads = [threading.Thread(target=_submit_in_thread, args=(app, i, barrier, outcomes)) for i in assignment_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_one_review_submitted_twice_at_the_same_moment(world, app, db):
    assignment = world.assignments[0]
    accept(assignment)
    reviewing.review_for(assignment, create=True)
    db.session.commit()
    outcomes = _run_concurrently(app, [assignment.id, assignment.id])
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "submitted"], outcomes
    db.session.expire_all()
    assert Review.query.filter_by(assignment_id=assignment.id).count() == 1
    assert AuditEvent.query.filter_by(action="review.submitted").count() == 1


def test_the_last_two_reviewers_submitting_together_close_the_round(world, app, db):
    first, second, third = world.assignments
    submit_review(first)
    for assignment in (second, third):
        accept(assignment)
        reviewing.review_for(assignment, create=True)
    db.session.commit()
    outcomes = _run_concurrently(app, [second.id, third.id])
    assert outcomes == ["submitted", "submitted"], outcomes
    db.session.expire_all()
    assert {a.status for a in world.assignments} == {A.SUBMITTED}
    assert world.initiative.status == S.REVIEWED
    assert AuditEvent.query.filter_by(action="initiative.reviewed").count() == 1


def test_all_reviews_in_means_reviewed_and_the_admins_are_told(world, people, db):
    for assignment in world.assignments[:2]:
        submit_review(assignment)
        assert world.initiative.status == S.UNDER_REVIEW
    submit_review(world.assignments[2])
    db.session.refresh(world.initiative)
    assert world.initiative.status == S.REVIEWED
    assert Notification.query.filter_by(user_id=people["admin"].id).filter(
        Notification.message.contains("a decision is needed")).count() == 1


def test_a_reviewer_sees_nobody_elses_review_before_submitting_their_own(make_world, login, db):
    world = make_world(see_others=True)
    first, second, third = world.assignments
    submitted = submit_review(first, to_proposer="Reviewer one writes this.")
    accept(second)
    client = login(second.expert.user)
    assert client.get(f"/review/reviews/{submitted.id}").status_code == 403
    page = client.get(f"/review/assignments/{second.id}").get_data(as_text=True)
    assert "Reviewer one writes this." not in page
    submit_review(second)
    page = client.get(f"/review/assignments/{second.id}").get_data(as_text=True)
    assert "Reviewer one writes this." in page and "The other reviews" in page
    assert first.expert.name not in page  # lettered, never named
    other = client.get(f"/review/reviews/{submitted.id}").get_data(as_text=True)
    assert "Reviewer one writes this." in other and "Solid team." not in other  # not the confidential part
    # Someone not assigned never sees it; nor does the proposer.
    assert login(world.people["proposer"]).get(f"/review/reviews/{submitted.id}").status_code == 403
    assert login(world.people["expert"]).get(f"/review/reviews/{submitted.id}").status_code == 403


def test_calls_that_keep_reviews_apart(world, login):
    first, second, _third = world.assignments
    submitted = submit_review(first, to_proposer="Kept apart.")
    submit_review(second)
    client = login(second.expert.user)
    assert client.get(f"/review/reviews/{submitted.id}").status_code == 403
    assert "Kept apart." not in client.get(f"/review/assignments/{second.id}").get_data(as_text=True)


def test_only_an_admin_reopens_a_submitted_review(world, login, people, db):
    assignment = world.assignments[0]
    review = submit_review(assignment)
    reviewer = login(assignment.expert.user)
    assert reviewer.post(f"/review/reviews/{review.id}/reopen").status_code == 403
    with pytest.raises(operations.ReviewError):
        reviewing.reopen_review(review, assignment.expert.user)
    admin = login(people["admin"])
    assert admin.post(f"/review/reviews/{review.id}/reopen", data={"reason": "Please justify novelty"}).status_code == 302
    db.session.expire_all()
    assert review.submitted_at is None and review.reopened_at is not None and assignment.status == A.ACCEPTED
    assert AuditEvent.query.filter_by(action="review.reopened", object_id=review.id).count() == 1
    page = reviewer.get(f"/review/assignments/{assignment.id}").get_data(as_text=True)
    assert "reopened your review" in page
    rubric = review.rubric
    url = f"/review/assignments/{assignment.id}/review"
    assert reviewer.post(url, data=form_for(rubric, action="submit", to_proposer="Justified")).status_code == 302
    db.session.expire_all()
    assert review.is_submitted and review.comments_to_proposer == "Justified"
    # Reopening a draft is refused.
    assert admin.post(f"/review/reviews/{review.id}/reopen").status_code == 302
    assert admin.post(f"/review/reviews/{review.id}/reopen").status_code == 409


@pytest.mark.parametrize("state", [A.INVITED, A.DECLINED, A.CANCELLED, A.PROPOSED])
def test_no_review_outside_an_accepted_assignment(world, state, db):
    assignment = world.assignments[0]
    assignment.state = state.value
    db.session.commit()
    with pytest.raises(operations.ReviewError):
        reviewing.save_review(assignment, assignment.expert.user, scores={}, submit=False)
    db.session.rollback()
    assert Review.query.count() == 0


def test_no_review_once_the_initiative_left_review(world, db):
    from initiatives.proposals import operations as proposals

    assignment = world.assignments[0]
    accept(assignment)
    proposals.withdraw(world.initiative, world.people["proposer"], "No longer needed")
    db.session.commit()
    with pytest.raises(operations.ReviewError, match="no longer under review"):
        reviewing.save_review(assignment, assignment.expert.user, scores={}, submit=False)


def test_someone_else_cannot_write_the_review(world, login, db):
    first, second, _ = world.assignments
    accept(first)
    rubric = reviewing.review_for(first, create=True).rubric
    db.session.commit()
    response = login(second.expert.user).post(f"/review/assignments/{first.id}/review", data=form_for(rubric))
    assert response.status_code == 403
    with pytest.raises(operations.ReviewError):
        reviewing.save_review(first, second.expert.user, scores={}, submit=False)
