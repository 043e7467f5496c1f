"""The scoring arithmetic: weighted and confidence-weighted totals, calibration against each
reviewer's own history, spreads and the disagreement flag."""

import pytest

from review import calibration
from review.calibration import CriterionSpec, History, ScoredReview

CRITERIA = [CriterionSpec("novelty", "Novelty", 2.0, 1, 5), CriterionSpec("impact", "Impact", 1.0, 1, 5)]


def review(reviewer, novelty, impact, confidence=3, recommendation="accept"):
    return ScoredReview(reviewer, reviewer, {"novelty": novelty, "impact": impact}, confidence, recommendation)


def test_scores_are_normalised_by_their_scale():
    assert calibration.normalise(1, 1, 5) == 0 and calibration.normalise(5, 1, 5) == 1
    assert calibration.normalise(3, 1, 5) == 0.5 and calibration.normalise(9, 1, 5) == 1
    assert calibration.to_scale(0.5, (1, 5)) == 3


def test_weighted_total_follows_the_weights():
    # novelty 5 (1.0, weight 2), impact 1 (0.0, weight 1): 2/3 of the scale
    assert calibration.weighted_total({"novelty": 5, "impact": 1}, CRITERIA) == pytest.approx(2 / 3)
    assert calibration.weighted_total({"impact": 5}, CRITERIA) == 1.0  # only what is scored counts
    assert calibration.weighted_total({}, CRITERIA) is None


def test_mixed_scales_are_shown_on_0_to_100():
    mixed = [CriterionSpec("a", "A", 1, 1, 5), CriterionSpec("b", "B", 1, 0, 10)]
    assert calibration.display_scale(mixed) == (0.0, 100.0)
    assert calibration.display_scale(CRITERIA) == (1.0, 5.0)
    assert calibration.weighted_total({"a": 5, "b": 0}, mixed) == 0.5


def test_confidence_weighted_total_leans_to_the_confident():
    result = calibration.summarise(CRITERIA, [review("A", 5, 5, confidence=5), review("B", 1, 1, confidence=1)])
    assert result.weighted == pytest.approx(0.5)
    assert result.confidence_weighted == pytest.approx(5 / 6)
    assert calibration.shown(result.weighted, result.scale) == 3.0


def test_per_criterion_scores_mean_and_spread():
    result = calibration.summarise(CRITERIA, [review("A", 4, 2), review("B", 2, 2), review("C", 3, 2)])
    novelty, impact = result.criteria
    assert novelty.values == [("A", 4.0), ("B", 2.0), ("C", 3.0)]
    assert novelty.mean == 3.0 and novelty.spread == pytest.approx(1.0)
    assert impact.spread == 0.0 and not impact.flagged


def test_calibration_needs_three_reviews_of_history():
    common = (0.5, 0.25)
    assert calibration.calibrate(0.9, History(2, 0.9, 0.05), common) == (0.9, False)
    assert calibration.calibrate(0.9, None, common) == (0.9, False)
    value, used = calibration.calibrate(0.9, History(3, 0.8, 0.1), common)
    assert used and value == pytest.approx(0.5 + 0.25 * 1.0)


def test_a_generous_and_a_harsh_reviewer_are_brought_to_one_ruler():
    generous = [0.9, 0.95, 1.0, 0.85]   # gives everything high marks
    harsh = [0.1, 0.2, 0.15, 0.05]      # gives everything low marks
    histories = calibration.histories({"generous": generous, "harsh": harsh})
    common = calibration.population({"generous": generous, "harsh": harsh})
    # Each one's best-liked initiative ends up above the common mean, whoever scored it.
    top_generous, _ = calibration.calibrate(1.0, histories["generous"], common)
    top_harsh, _ = calibration.calibrate(0.2, histories["harsh"], common)
    assert top_generous > common[0] and top_harsh > common[0]
    assert abs(top_generous - top_harsh) < 0.05
    # A reviewer who always gives the same total keeps only their offset removed.
    flat = History(4, 0.8, 0.0)
    assert calibration.calibrate(0.8, flat, common)[0] == pytest.approx(common[0])


def test_calibrated_totals_are_clipped_to_the_scale():
    value, _ = calibration.calibrate(1.0, History(5, 0.1, 0.01), (0.5, 0.4))
    assert value == 1.0


def test_disagreement_by_spread_or_recommendations():
    calm = calibration.summarise(CRITERIA, [review("A", 4, 4), review("B", 4, 3, recommendation="revise")])
    assert not calm.disagreement and calm.reasons == []
    spread = calibration.summarise(CRITERIA, [review("A", 5, 5), review("B", 1, 1)])
    assert spread.disagreement and "spread" in spread.reasons
    apart = calibration.summarise(CRITERIA, [review("A", 4, 4, recommendation="accept"),
                                             review("B", 4, 4, recommendation="reject")])
    assert apart.disagreement and apart.reasons == ["recommendations"]
    assert apart.recommendations == {"accept": 1, "reject": 1}
    assert calibration.recommendations_apart(["accept", "revise"]) is False
    assert calibration.recommendations_apart(["reject", None, "accept"]) is True


def test_the_threshold_is_a_setting():
    reviews = [review("A", 4, 4), review("B", 3, 3)]
    assert not calibration.summarise(CRITERIA, reviews).disagreement
    assert calibration.summarise(CRITERIA, reviews, threshold=0.1).disagreement


def test_no_review_no_totals():
    result = calibration.summarise(CRITERIA, [])
    assert result.weighted is None and result.calibrated is None and not result.disagreement
    assert calibration.shown(None, (1, 5)) is None
