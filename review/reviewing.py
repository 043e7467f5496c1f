"""Writing reviews: drafts saved any number of times, one submission, an admin's reopening, and
who may read which review. The operations never commit."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from initiatives import audit
from initiatives.extensions import db
from initiatives.models import Initiative, InitiativeState
from initiatives.models.user import utcnow
from review import rubrics
from review.models import (
    REVIEWABLE_STATES,
    Assignment,
    AssignmentState,
    Decision,
    Recommendation,
    Review,
    ReviewScore,
)
from review.operations import (
    ReviewError,
    app_link,
    complete_round,
    mail_expert,
    move,
    notify_expert,
    portal_url,
    require_admin,
)

S = InitiativeState
A = AssignmentState
OPEN_FOR_REVIEW = (S.UNDER_REVIEW, S.REVIEWED)
CONFIDENCE = range(1, 6)


def lock_initiative(initiative_id: int) -> Initiative:
    """The initiative, re-read and locked for this transaction (PostgreSQL; SQLite serialises
    writers itself), so two reviewers finishing at once both see each other's submission."""
    return (Initiative.query.filter_by(id=initiative_id).with_for_update(of=Initiative)
            .populate_existing().one())


def review_for(assignment: Assignment, create: bool = False) -> Review | None:
    """The assignment's review; with ``create``, started against the call's current rubric."""
    review = Review.query.filter_by(assignment_id=assignment.id).first()
    if review is None and create:
        rubric = rubrics.rubric_for(assignment.call or assignment.initiative.call)
        review = Review(assignment=assignment, rubric=rubric)
        db.session.add(review)
        db.session.flush()
    return review


def _check_values(review: Review, scores: dict, confidence, recommendation, submit: bool) -> list[str]:
    """Refuse out-of-range values; return what a submission still lacks."""
    missing = []
    for criterion in review.rubric.criteria:
        value = scores.get(criterion.id)
        if value is None:
            missing.append(criterion.name)
        elif not criterion.scale_min <= value <= criterion.scale_max:
            raise ReviewError(_l("“%(name)s” is scored from %(low)d to %(high)d.", name=criterion.name,
                                 low=criterion.scale_min, high=criterion.scale_max))
    if confidence is not None and confidence not in CONFIDENCE:
        raise ReviewError(_l("Confidence runs from 1 to 5."))
    if recommendation and recommendation not in {r.value for r in Recommendation}:
        raise ReviewError(_l("Recommend accept, revise or reject."))
    if confidence is None:
        missing.append(str(_l("Confidence")))
    if not recommendation:
        missing.append(str(_l("Recommendation")))
    return missing


def save_review(assignment: Assignment, user, *, scores: dict[int, int | None], confidence: int | None = None,
                recommendation: str | None = None, comments_to_proposer: str = "",
                confidential_comments: str = "", submit: bool = False) -> Review:
    """Save the reviewer's draft, or submit it (complete, and exactly once: a second submission,
    from another tab or at the same moment, is refused and changes nothing)."""
    if not assignment.is_reviewer(user):
        raise ReviewError(_l("Only the assigned expert can write this review."))
    initiative = lock_initiative(assignment.initiative_id)
    if assignment.status == A.SUBMITTED:
        raise ReviewError(_l("This review is already submitted; only an administrator can reopen it."))
    if assignment.state not in REVIEWABLE_STATES:
        raise ReviewError(_l("Accept the invitation before writing the review.") if assignment.status == A.INVITED
                          else _l("This review is no longer open."))
    if initiative.status not in OPEN_FOR_REVIEW:
        raise ReviewError(_l("This initiative is no longer under review."))
    review = review_for(assignment, create=True)
    if review.is_submitted:
        raise ReviewError(_l("This review is already submitted; only an administrator can reopen it."))
    missing = _check_values(review, scores, confidence, recommendation or None, submit)
    if submit and missing:
        raise ReviewError(_l("Please complete before submitting: %(fields)s.", fields=", ".join(missing)))
    now = utcnow()
    if submit:
        # The claim: only one transaction turns this draft into a submission.
        claimed = db.session.execute(
            update(Review).where(Review.id == review.id, Review.submitted_at.is_(None))
            .values(submitted_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            raise ReviewError(_l("This review is already submitted; only an administrator can reopen it."))
        review.submitted_at = now
    held = {score.criterion_id: score for score in review.score_rows}
    for criterion in review.rubric.criteria:
        value = scores.get(criterion.id)
        if value is None:
            if criterion.id in held:
                review.score_rows.remove(held[criterion.id])
        elif criterion.id in held:
            held[criterion.id].value = value
        else:
            review.score_rows.append(ReviewScore(criterion=criterion, value=value))
    review.confidence = confidence
    review.recommendation = recommendation or None
    review.comments_to_proposer = (comments_to_proposer or "").strip()
    review.confidential_comments = (confidential_comments or "").strip()
    review.updated_at = now
    if submit:
        move(assignment, A.SUBMITTED, user)
        audit.record("review.submitted", review, actor=user, assignment=assignment.id,
                     recommendation=review.recommendation)
        complete_round(initiative, user)
    return review


def reopen_review(review: Review, actor, reason: str = "") -> Review:
    """An admin sends a submitted review back to its reviewer for changes."""
    require_admin(actor)
    assignment = review.assignment
    if not review.is_submitted:
        raise ReviewError(_l("Only a submitted review can be reopened."))
    initiative = assignment.initiative
    if Decision.query.filter_by(initiative_id=initiative.id, round=assignment.round).first():
        raise ReviewError(_l("This round is decided: its reviews are closed."))
    move(assignment, A.ACCEPTED, actor, reason=(reason or "")[:500])
    review.submitted_at = None
    review.reopened_at = utcnow()
    assignment.due_on = max(assignment.due_on or date.today(), date.today() + timedelta(days=7))
    audit.record("review.reopened", review, actor=actor, reason=(reason or "")[:500])
    link = app_link("review.assignment_page", assignment_id=assignment.id)
    notify_expert(assignment.expert, _l("Your review of “%(title)s” was reopened for changes.",
                                        title=initiative.title), link)
    mail_expert(assignment.expert, _l("Review reopened: %(title)s", title=initiative.title),
                "mail/review_reopened.txt", assignment=assignment, initiative=initiative,
                reason=(reason or "").strip(), link=portal_url("review.assignment_page", assignment_id=assignment.id))
    return review


def own_submitted(initiative_id: int, round_number: int, user) -> bool:
    """Whether ``user`` submitted their own review of this initiative's round."""
    from initiatives.models import ExpertProfile

    return db.session.query(Assignment.query.join(ExpertProfile, Assignment.expert_id == ExpertProfile.id)
                            .filter(Assignment.initiative_id == initiative_id, Assignment.round == round_number,
                                    Assignment.state == A.SUBMITTED.value,
                                    ExpertProfile.user_id == user.id).exists()).scalar()


def can_see_review(review: Review, user) -> bool:
    """Admins read every review; a reviewer their own; a co-reviewer another's only once it and
    their own are submitted, and only when the call lets reviewers see each other's."""
    if not (user and user.is_authenticated):
        return False
    if user.is_admin or review.assignment.is_reviewer(user):
        return True
    assignment = review.assignment
    call = assignment.initiative.call
    return bool(review.is_submitted and call and call.reviewers_see_others
                and own_submitted(assignment.initiative_id, assignment.round, user))
