"""The review side of the demo: every demo initiative that went past screening gets its reviewers,
their reviews and, once decided, the committee's decision, dated along the initiative's own past.

Without them the demo showed initiatives "under review" that nobody reviewed, decisions without
reviews, and empty reviewer-load and score charts. Reviewers are chosen as the matcher would
choose them by hand: experts whose demo topics include the initiative's topic first, never a
conflicted or unavailable one, within their load. Loading is idempotent: an initiative that
already has assignments is left alone.
"""

import json
from datetime import datetime, timedelta

from initiatives.demo import DEMO
from initiatives.extensions import db
from initiatives.models import AuditEvent, ExpertProfile, Initiative, InitiativeState
from search import matching

from .models import ACTIVE_STATES, Assignment, AssignmentState, Decision, Review, ReviewScore
from .rubrics import rubric_for

S = InitiativeState
A = AssignmentState
REVIEWED_STATES = {S.REVIEWED.value, S.ACCEPTED.value, S.REJECTED.value, S.REVISION_REQUESTED.value}
# What the reviewers of each outcome tend to give (a score per criterion, around this mean).
TENDENCY = {S.ACCEPTED.value: (4, "accept"), S.REJECTED.value: (2, "reject"),
            S.REVISION_REQUESTED.value: (3, "revise"), S.REVIEWED.value: (4, "accept"),
            S.UNDER_REVIEW.value: (3, "revise")}
COMMENTS = {
    "accept": ("Giải pháp rõ ràng, nhóm có năng lực triển khai; nên công bố kết quả thí điểm.",
               "A clear solution with a capable team; publish the pilot's results."),
    "revise": ("Ý tưởng tốt nhưng cần kế hoạch thí điểm và dự toán chi tiết hơn.",
               "A good idea that needs a more detailed pilot plan and budget."),
    "reject": ("Chưa chứng minh được tính mới so với các giải pháp đã có trên thị trường.",
               "Novelty over what the market already offers is not shown."),
}
RATIONALE = {
    S.ACCEPTED.value: "Hội đồng đánh giá cao tính khả thi và tác động. / The committee values its feasibility and impact.",
    S.REJECTED.value: "Chưa đủ tính mới và bằng chứng. / Not enough novelty or evidence yet.",
    S.REVISION_REQUESTED.value: "Đề nghị bổ sung kế hoạch thí điểm. / Please add a pilot plan.",
}


def load(admin) -> int:
    """Add the reviews of the demo initiatives past screening; return how many reviews it wrote."""
    topics = _topics()
    experts = ExpertProfile.reviewers()
    written = 0
    for initiative in (Initiative.query.filter(Initiative.external_ref.like("DEMO-INI-%"),
                                               Initiative.state.in_([*REVIEWED_STATES, S.UNDER_REVIEW.value]))
                       .order_by(Initiative.id)):
        if Assignment.query.filter_by(initiative_id=initiative.id).first():
            continue
        written += _review(initiative, _reviewers(initiative, experts, topics), admin)
    db.session.flush()
    return written


def _topics() -> dict[str, set[str]]:
    """The demo topics of each expert (by e-mail) and each initiative (by reference)."""
    found: dict[str, set[str]] = {}
    for name, key, field in (("experts.json", "email", "topics"), ("initiatives.json", "external_ref", "topic")):
        with open(DEMO / name, encoding="utf-8") as f:
            for entry in json.load(f):
                value = entry.get(field) or []
                found[entry.get(key, "")] = set(value if isinstance(value, list) else [value])
    return found


def _reviewers(initiative: Initiative, experts: list[ExpertProfile], topics) -> list[ExpertProfile]:
    """Three experts for ``initiative``: on its topic first, then the least busy; none conflicted,
    unavailable or at their maximum load."""
    wanted = (initiative.call.reviewers_per_initiative if initiative.call else None) or 3
    topic = topics.get(initiative.external_ref, set())

    def load(expert):
        return Assignment.query.filter(Assignment.expert_id == expert.id,
                                       Assignment.state.in_(ACTIVE_STATES)).count()

    def reviewed(expert):  # everything they were asked, so that the work spreads over the panel
        return Assignment.query.filter_by(expert_id=expert.id).count()

    fit = [e for e in experts if e.is_available() and not matching.conflict_reason(e, initiative)
           and load(e) < e.max_load]
    email = {e.id: (e.user.email if e.user else e.email or "") for e in fit}
    fit.sort(key=lambda e: (not topics.get(email[e.id], set()) & topic, reviewed(e),
                            (e.id * 7 + initiative.id) % 11))
    return fit[:wanted]


def _review(initiative: Initiative, reviewers: list[ExpertProfile], admin) -> int:
    """Assignments, reviews and decision of round 1, dated from the initiative's audit trail."""
    events = (AuditEvent.query.filter_by(object_type="initiative", object_id=initiative.id)
              .order_by(AuditEvent.id).all())
    started = _first(events, S.UNDER_REVIEW.value) or initiative.screened_at or initiative.submitted_at
    reviewed = _first(events, S.REVIEWED.value) or started + timedelta(days=12)
    rubric = rubric_for(initiative.call)
    mean, recommendation = TENDENCY[initiative.state]
    done = initiative.state in REVIEWED_STATES
    written = 0
    for n, expert in enumerate(reviewers):
        # Under review: the first has submitted, the second is writing, the third not yet answered.
        state = A.SUBMITTED if done or n == 0 else (A.ACCEPTED if n == 1 else A.INVITED)
        invited = started + timedelta(hours=2)
        assignment = Assignment(
            initiative=initiative, expert=expert, call_id=initiative.call_id, round=initiative.round or 1,
            method="auto", state=state.value, invited_at=invited, created_at=invited, updated_at=invited,
            due_on=(invited + timedelta(days=(initiative.call.review_days if initiative.call else 21))).date(),
            accepted_at=invited + timedelta(days=1 + n) if state != A.INVITED else None)
        db.session.add(assignment)
        if state != A.SUBMITTED:
            continue
        submitted = min(invited + timedelta(days=4 + 2 * n, hours=3 * n), reviewed - timedelta(hours=1))
        # Reviewers differ a little from the tendency, and criteria from each other.
        spread = [(-1, 0, 0, 1, 1, 0, -1)[(initiative.id * 7 + n * 13 + k * 29) % 7]
                  for k in range(len(rubric.criteria))]
        scores = [ReviewScore(criterion=c, value=max(c.scale_min, min(c.scale_max, mean + d)))
                  for c, d in zip(rubric.criteria, spread, strict=True)]
        vietnamese, english = COMMENTS[recommendation]
        db.session.add(Review(
            assignment=assignment, rubric=rubric, confidence=3 + (initiative.id + n) % 3,
            recommendation=recommendation, score_rows=scores,
            comments_to_proposer=vietnamese if initiative.language == "vi" else english,
            confidential_comments="", submitted_at=submitted, created_at=invited, updated_at=submitted))
        written += 1
    decided = _first(events, initiative.state)
    if initiative.state in RATIONALE and decided is not None:
        db.session.add(Decision(initiative_id=initiative.id, round=initiative.round or 1,
                                outcome=initiative.state, rationale=RATIONALE[initiative.state],
                                decided_by_id=admin.id if admin else None, created_at=decided))
    return written


def _first(events: list[AuditEvent], state: str) -> datetime | None:
    return next((e.created_at for e in events if e.after_state == state), None)
