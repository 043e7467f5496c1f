"""Scoring arithmetic of a round's reviews: weighted, confidence-weighted and calibrated totals,
spreads and the disagreement flag (DESIGN section 3, step 5). Pure: no database, no Flask.

Every total is first computed on [0, 1] (each score normalised by its criterion's scale, so
rubrics with different scales compare) and only shown on the rubric's scale at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import fmean, stdev

RECOMMENDATION_STEP = {"accept": 0, "revise": 1, "reject": 2}
MIN_HISTORY = 3          # reviews a reviewer needs before their scores are standardised
SPREAD_THRESHOLD = 0.25  # a spread above a quarter of the scale flags a disagreement
_EPS = 1e-9


@dataclass(frozen=True)
class CriterionSpec:
    """What the arithmetic needs of a criterion."""

    key: str
    name: str
    weight: float
    scale_min: int
    scale_max: int


@dataclass
class ScoredReview:
    """One submitted review: who (an opaque reviewer key and a display label) and what."""

    reviewer: object
    label: str
    scores: dict[str, float]
    confidence: int | None = None
    recommendation: str | None = None
    review_id: int | None = None


@dataclass
class CriterionResult:
    spec: CriterionSpec
    values: list[tuple[str, float]]  # (reviewer label, score)
    mean: float | None
    spread: float
    flagged: bool


@dataclass
class ReviewTotals:
    review: ScoredReview
    weighted: float | None       # on [0, 1]
    calibrated: float | None     # on [0, 1]
    calibrated_with_history: bool


@dataclass
class RoundResult:
    """Everything the results page and the ranking table show for one initiative's round."""

    scale: tuple[float, float]
    criteria: list[CriterionResult]
    reviews: list[ReviewTotals]
    weighted: float | None = None
    confidence_weighted: float | None = None
    calibrated: float | None = None
    spread: float = 0.0
    recommendations: dict[str, int] = field(default_factory=dict)
    disagreement: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.reviews)


def normalise(value: float, low: float, high: float) -> float:
    """``value`` on [low, high] as a fraction of the scale, clipped to [0, 1]."""
    if high <= low:
        return 0.0
    return min(1.0, max(0.0, (value - low) / (high - low)))


def to_scale(fraction: float | None, scale: tuple[float, float]) -> float | None:
    """A [0, 1] fraction shown on ``scale``."""
    if fraction is None:
        return None
    low, high = scale
    return low + fraction * (high - low)


def display_scale(criteria: list[CriterionSpec]) -> tuple[float, float]:
    """The scale totals are shown on: the criteria's common scale, else 0-100."""
    scales = {(c.scale_min, c.scale_max) for c in criteria}
    if len(scales) == 1:
        low, high = scales.pop()
        return float(low), float(high)
    return 0.0, 100.0


def spread(values: list[float]) -> float:
    """The sample standard deviation (0 for fewer than two values)."""
    return stdev(values) if len(values) >= 2 else 0.0


def weighted_total(scores: dict[str, float], criteria: list[CriterionSpec]) -> float | None:
    """The weighted mean of the normalised scores given (None when nothing is scored)."""
    total = weights = 0.0
    for spec in criteria:
        value = scores.get(spec.key)
        if value is None or spec.weight <= 0:
            continue
        total += spec.weight * normalise(value, spec.scale_min, spec.scale_max)
        weights += spec.weight
    return total / weights if weights > 0 else None


@dataclass(frozen=True)
class History:
    """A reviewer's own scoring habit: mean and spread of their weighted totals."""

    count: int
    mean: float
    std: float


def histories(totals_by_reviewer: dict[object, list[float]]) -> dict[object, History]:
    """Each reviewer's history from every weighted total ([0, 1]) they ever submitted."""
    result = {}
    for reviewer, totals in totals_by_reviewer.items():
        if totals:
            result[reviewer] = History(len(totals), fmean(totals), spread(totals))
    return result


def population(totals_by_reviewer: dict[object, list[float]]) -> tuple[float, float]:
    """Mean and spread of all weighted totals: the common ruler calibrated scores map back to."""
    everything = [t for totals in totals_by_reviewer.values() for t in totals]
    if not everything:
        return 0.5, 0.0
    return fmean(everything), spread(everything)


def calibrate(total: float, history: History | None, common: tuple[float, float],
              min_history: int = MIN_HISTORY) -> tuple[float, bool]:
    """``total`` standardised against the reviewer's history and mapped back onto the common
    ruler: (calibrated on [0, 1], whether a history was used). A reviewer with fewer than
    ``min_history`` reviews keeps their raw total; one who always gives the same total has no
    spread to divide by, so only their habitual offset is removed."""
    if history is None or history.count < min_history:
        return total, False
    common_mean, common_std = common
    if history.std < _EPS or common_std < _EPS:
        calibrated = common_mean + (total - history.mean)
    else:
        calibrated = common_mean + common_std * (total - history.mean) / history.std
    return min(1.0, max(0.0, calibrated)), True


def recommendations_apart(recommendations: list[str | None]) -> bool:
    """Whether two recommendations are two steps apart (accept against reject)."""
    steps = [RECOMMENDATION_STEP[r] for r in recommendations if r in RECOMMENDATION_STEP]
    return bool(steps) and max(steps) - min(steps) >= 2


def summarise(criteria: list[CriterionSpec], reviews: list[ScoredReview],
              history_of: dict[object, History] | None = None,
              common: tuple[float, float] = (0.5, 0.0), *,
              threshold: float = SPREAD_THRESHOLD, min_history: int = MIN_HISTORY) -> RoundResult:
    """The results of one round: per criterion the individual scores, mean and spread; the
    weighted, confidence-weighted and calibrated totals; the disagreement flag and its reasons.

    ``threshold`` is a fraction of the scale: spreads are compared after normalisation."""
    history_of = history_of or {}
    scale = display_scale(criteria)
    criterion_results = []
    for spec in criteria:
        values = [(r.label, float(r.scores[spec.key])) for r in reviews if r.scores.get(spec.key) is not None]
        numbers = [v for _, v in values]
        normalised = [normalise(v, spec.scale_min, spec.scale_max) for v in numbers]
        criterion_spread = spread(numbers)
        criterion_results.append(CriterionResult(
            spec, values, fmean(numbers) if numbers else None, criterion_spread,
            spread(normalised) > threshold))
    totals = []
    for review in reviews:
        weighted = weighted_total(review.scores, criteria)
        calibrated, used = (None, False) if weighted is None else calibrate(
            weighted, history_of.get(review.reviewer), common, min_history)
        totals.append(ReviewTotals(review, weighted, calibrated, used))
    result = RoundResult(scale, criterion_results, totals)
    scored = [t for t in totals if t.weighted is not None]
    if scored:
        result.weighted = fmean(t.weighted for t in scored)
        weights = [max(t.review.confidence or 0, 0) for t in scored]
        if sum(weights) > 0:
            result.confidence_weighted = sum(w * t.weighted for w, t in zip(weights, scored, strict=True)) / sum(weights)
        else:
            result.confidence_weighted = result.weighted
        result.calibrated = fmean(t.calibrated for t in scored)
        result.spread = spread([t.weighted for t in scored])
    for review in reviews:
        if review.recommendation:
            result.recommendations[review.recommendation] = result.recommendations.get(review.recommendation, 0) + 1
    if result.spread > threshold:
        result.reasons.append("spread")
    if recommendations_apart([r.recommendation for r in reviews]):
        result.reasons.append("recommendations")
    result.disagreement = bool(result.reasons)
    return result


def shown(fraction: float | None, scale: tuple[float, float], digits: int = 2) -> float | None:
    """A [0, 1] total on ``scale``, rounded for display and export."""
    value = to_scale(fraction, scale)
    return None if value is None or math.isnan(value) else round(value, digits)
