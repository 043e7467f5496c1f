"""Results read from the database: a round's scores through ``review.calibration``, a call's ranking
table and its CSV exports; reviewers are named for admins and lettered for everyone else."""

from __future__ import annotations

import csv
import io
import string
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from initiatives.models import Call, Initiative, InitiativeState
from review import calibration
from review.calibration import CriterionSpec, RoundResult, ScoredReview
from review.models import COUNTED_STATES, Assignment, Decision, Review, ReviewScore, Rubric

S = InitiativeState
SORT_KEYS = ("weighted", "confidence_weighted", "calibrated", "spread", "reviews", "title")


def letter(index: int) -> str:
    """A, B, ... Z, AA, AB ... for the reviewer at ``index``."""
    letters = string.ascii_uppercase
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = letters[rest] + name
    return name


def reviewer_label(letter_: str) -> str:
    """"Reviewer A" in the interface language."""
    return _("Reviewer %(letter)s", letter=letter_)


def reviewer_labels(initiative: Initiative) -> dict[int, str]:
    """expert id -> "A", "B"...: stable across rounds (the order reviewers were first asked)."""
    rows = (Assignment.query.filter(Assignment.initiative_id == initiative.id,
                                    Assignment.state.in_(COUNTED_STATES))
            .order_by(Assignment.id).all())
    labels: dict[int, str] = {}
    for row in rows:
        if row.expert_id not in labels:
            labels[row.expert_id] = letter(len(labels))
    return labels


def _submitted_reviews():
    return (Review.query.filter(Review.submitted_at.isnot(None))
            .options(selectinload(Review.score_rows).selectinload(ReviewScore.criterion),
                     selectinload(Review.rubric).selectinload(Rubric.criteria),
                     selectinload(Review.assignment)))


def specs(rubric: Rubric) -> list[CriterionSpec]:
    return [CriterionSpec(c.key, c.name, c.weight, c.scale_min, c.scale_max) for c in rubric.criteria]


def scored(review: Review, label: str) -> ScoredReview:
    return ScoredReview(reviewer=review.assignment.expert_id, label=label, scores=review.scores_by_key(),
                        confidence=review.confidence, recommendation=review.recommendation, review_id=review.id)


@dataclass
class Ruler:
    """Every reviewer's history and the common ruler calibrated totals map back to."""

    histories: dict
    common: tuple[float, float]


def ruler() -> Ruler:
    """Read every submitted review once: each reviewer's weighted totals."""
    totals: dict[int, list[float]] = {}
    for review in _submitted_reviews():
        total = calibration.weighted_total(review.scores_by_key(), specs(review.rubric))
        if total is not None:
            totals.setdefault(review.assignment.expert_id, []).append(total)
    return Ruler(calibration.histories(totals), calibration.population(totals))


def latest_round(initiative: Initiative) -> int:
    """The newest round with a submitted review (else the initiative's current round)."""
    rounds = [r.assignment.round for r in round_reviews(initiative, None)]
    return max(rounds) if rounds else (initiative.round or 1)


def round_reviews(initiative: Initiative, round_number: int | None) -> list[Review]:
    """The submitted reviews of one round (every round when None), in assignment order."""
    query = _submitted_reviews().join(Assignment, Review.assignment_id == Assignment.id).filter(
        Assignment.initiative_id == initiative.id)
    if round_number is not None:
        query = query.filter(Assignment.round == round_number)
    return query.order_by(Assignment.id).all()


def round_criteria(reviews: list[Review], fallback: Rubric | None = None) -> list[CriterionSpec]:
    """The criteria of a round: those of the newest rubric used, then any others by key."""
    rubrics_used = sorted({r.rubric for r in reviews}, key=lambda r: (r.call_id or 0, r.version), reverse=True)
    if not rubrics_used and fallback is not None:
        rubrics_used = [fallback]
    result, seen = [], set()
    for rubric in rubrics_used:
        for spec in specs(rubric):
            if spec.key not in seen:
                seen.add(spec.key)
                result.append(spec)
    return result


def round_result(initiative: Initiative, round_number: int | None = None, scale_ruler: Ruler | None = None,
                 labels: dict[int, str] | None = None) -> tuple[list[Review], RoundResult | None]:
    """The submitted reviews of the round and their results (None when there is no review yet)."""
    round_number = round_number or latest_round(initiative)
    reviews = round_reviews(initiative, round_number)
    if not reviews:
        return [], None
    labels = labels if labels is not None else reviewer_labels(initiative)
    scale_ruler = scale_ruler or ruler()
    config = current_app.config
    result = calibration.summarise(
        round_criteria(reviews), [scored(r, labels.get(r.assignment.expert_id, "?")) for r in reviews],
        scale_ruler.histories, scale_ruler.common,
        threshold=config.get("REVIEW_SPREAD_THRESHOLD", calibration.SPREAD_THRESHOLD),
        min_history=config.get("REVIEW_CALIBRATION_MIN_REVIEWS", calibration.MIN_HISTORY))
    return reviews, result


@dataclass
class RankingRow:
    initiative: Initiative
    round: int
    reviews: list[Review]
    result: RoundResult | None
    decision: Decision | None
    rank: int | None = None

    def value(self, key: str):
        if key == "title":
            return self.initiative.title.lower()
        if key == "reviews":
            return len(self.reviews)
        if self.result is None:
            return None
        return getattr(self.result, key)


def ranking(call: Call, *, sort: str = "weighted", descending: bool = True, state: str = "",
            flagged: bool = False, query: str = "") -> list[RankingRow]:
    """The call's initiatives that reached review, ranked by ``sort`` (unscored ones last)."""
    scale_ruler = ruler()
    reviewed = select(Assignment.initiative_id).where(Assignment.state.in_(COUNTED_STATES))
    initiatives = (Initiative.query.filter(Initiative.call_id == call.id, Initiative.id.in_(reviewed))
                   .order_by(Initiative.id).all())
    rows = []
    for initiative in initiatives:
        round_number = latest_round(initiative)
        reviews, result = round_result(initiative, round_number, scale_ruler)
        decision = Decision.query.filter_by(initiative_id=initiative.id, round=round_number).first()
        rows.append(RankingRow(initiative, round_number, reviews, result, decision))
    # The rank follows the total the table is sorted by (the weighted total otherwise).
    sort = sort if sort in SORT_KEYS else "weighted"
    rank_key = sort if sort in ("weighted", "confidence_weighted", "calibrated") else "weighted"
    ranked = sorted((r for r in rows if r.value(rank_key) is not None), key=lambda r: -r.value(rank_key))
    for position, row in enumerate(ranked, start=1):
        row.rank = position
    if state:
        rows = [r for r in rows if r.initiative.state == state]
    if flagged:
        rows = [r for r in rows if r.result is not None and r.result.disagreement]
    if query:
        rows = [r for r in rows if query.lower() in r.initiative.title.lower()]
    present = [r for r in rows if r.value(sort) is not None]
    absent = [r for r in rows if r.value(sort) is None]
    present.sort(key=lambda r: (r.value(sort), r.initiative.id), reverse=descending)
    return present + absent


def _shown(row_result: RoundResult | None, fraction: float | None):
    return "" if row_result is None or fraction is None else calibration.shown(fraction, row_result.scale)


def ranking_csv(rows: list[RankingRow], *, with_names: bool) -> str:
    """The ranking, one line per review: reviewer names for admins, letters otherwise. Comments
    never leave through this export."""
    keys: list[tuple[str, str]] = []
    for row in rows:
        for spec in (row.result.criteria if row.result else []):
            if spec.spec.key not in [k for k, _ in keys]:
                keys.append((spec.spec.key, spec.spec.name))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "initiative_id", "initiative_ref", "title", "state", "round", "reviews",
                     "weighted_total", "confidence_weighted_total", "calibrated_total", "disagreement",
                     "reviewer", *[name for _, name in keys], "confidence", "recommendation"])
    for row in rows:
        labels = reviewer_labels(row.initiative)
        head = [row.rank or "", row.initiative.id, row.initiative.external_ref or "", row.initiative.title,
                row.initiative.state, row.round, len(row.reviews),
                _shown(row.result, row.result.weighted if row.result else None),
                _shown(row.result, row.result.confidence_weighted if row.result else None),
                _shown(row.result, row.result.calibrated if row.result else None),
                "yes" if row.result and row.result.disagreement else "no"]
        if not row.reviews:
            writer.writerow(head + [""] * (len(keys) + 3))
        for review in row.reviews:
            expert = review.assignment.expert
            who = expert.name if with_names else reviewer_label(labels.get(expert.id, "?"))
            by_key = review.scores_by_key()
            writer.writerow(head + [who, *[by_key.get(k, "") for k, _ in keys], review.confidence or "",
                                    review.recommendation or ""])
    return out.getvalue()


def proposer_csv(initiative: Initiative) -> str:
    """What the proposer may take away after each decided round: per reviewer letter, the scores,
    the recommendation and the comments to the proposer; never names, never confidential comments."""
    labels = reviewer_labels(initiative)
    decided = {d.round for d in Decision.query.filter_by(initiative_id=initiative.id)}
    reviews = [r for r in round_reviews(initiative, None) if r.assignment.round in decided]
    criteria = round_criteria(reviews)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["round", "reviewer", *[c.name for c in criteria], "recommendation", "comments_to_proposer"])
    for review in reviews:
        by_key = review.scores_by_key()
        writer.writerow([review.assignment.round, reviewer_label(labels.get(review.assignment.expert_id, "?")),
                         *[by_key.get(c.key, "") for c in criteria], review.recommendation or "",
                         review.comments_to_proposer])
    return out.getvalue()
