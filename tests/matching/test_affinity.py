"""Affinity aggregation, ranking with exclusions and the reasons shown next to a suggestion."""

import numpy as np
import pytest

import search.affinity as affinity_module
from search.affinity import (
    METHODS,
    GroupedTexts,
    best_text,
    centroid_affinity,
    expert_affinity,
    max_affinity,
    mean_affinity,
    quantile_affinity,
    shared_keywords,
    top_k,
    topk_mean_affinity,
)


def _text(a: float, b: float) -> list[float]:
    """A unit vector whose cosine to e0 is ``a`` and to e1 is ``b``."""
    return [a, b, float(np.sqrt(1.0 - a * a - b * b))]


INITIATIVES = np.eye(3, dtype=np.float32)[:2]  # e0 and e1
EXPERTS = [
    np.array([_text(0.9, 0.1), _text(0.1, 0.8), _text(0.5, 0.5)], dtype=np.float32),  # A
    np.zeros((0, 3), dtype=np.float32),  # B: no texts yet
    np.array([_text(0.3, -0.2)], dtype=np.float32),  # C: one text
    np.array([_text(0.6, 0.0), _text(0.2, 0.4), _text(-0.4, 0.2), _text(0.8, 0.1)],
             dtype=np.float32),  # D
]

# Similarities to e0: A [.9 .1 .5], C [.3], D [.6 .2 -.4 .8]; to e1: A [.1 .8 .5], C [-.2],
# D [0 .4 .2 .1]. Expected values worked out by hand from those lists.
HAND = [
    ("max", {}, [[0.9, 0.0, 0.3, 0.8], [0.8, 0.0, -0.2, 0.4]]),
    ("mean", {}, [[0.5, 0.0, 0.3, 0.3], [1.4 / 3, 0.0, -0.2, 0.175]]),
    ("topk_mean", {"k": 1}, [[0.9, 0.0, 0.3, 0.8], [0.8, 0.0, -0.2, 0.4]]),
    ("topk_mean", {"k": 2}, [[0.7, 0.0, 0.3, 0.7], [0.65, 0.0, -0.2, 0.3]]),
    ("topk_mean", {"k": 3}, [[0.5, 0.0, 0.3, 1.6 / 3], [1.4 / 3, 0.0, -0.2, 0.7 / 3]]),
    # k larger than every expert's text count: the mean of all texts
    ("topk_mean", {"k": 10}, [[0.5, 0.0, 0.3, 0.3], [1.4 / 3, 0.0, -0.2, 0.175]]),
    # linear interpolation between order statistics: A e0 sorted [.1 .5 .9], position 1.5
    ("quantile", {"q": 0.75}, [[0.7, 0.0, 0.3, 0.65], [0.65, 0.0, -0.2, 0.25]]),
    ("quantile", {"q": 0.5}, [[0.5, 0.0, 0.3, 0.4], [0.5, 0.0, -0.2, 0.15]]),
    ("quantile", {"q": 0.0}, [[0.1, 0.0, 0.3, -0.4], [0.1, 0.0, -0.2, 0.0]]),
    ("quantile", {"q": 1.0}, [[0.9, 0.0, 0.3, 0.8], [0.8, 0.0, -0.2, 0.4]]),
]


def _hand(method, **options):
    return next(e for m, o, e in HAND if m == method and o == options)


@pytest.mark.parametrize("method, options, expected", HAND,
                         ids=[f"{m}{o}" for m, o, _ in HAND])
def test_aggregations_match_hand_computed_values(method, options, expected):
    got = expert_affinity(INITIATIVES, EXPERTS, method, **options)
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_centroid_is_cosine_to_the_renormalised_mean():
    # Two orthogonal texts: the centroid sits halfway, at cosine 1/sqrt(2) to each.
    experts = [np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32),
               np.array([[0, 0, 1]], dtype=np.float32)]
    got = centroid_affinity(INITIATIVES, experts)
    np.testing.assert_allclose(got, [[2 ** -0.5, 0.0], [2 ** -0.5, 0.0]], atol=1e-6)
    # On the hand-made experts, against a direct computation.
    got = expert_affinity(INITIATIVES, EXPERTS, "centroid")
    for e, vecs in enumerate(EXPERTS):
        if len(vecs) == 0:
            np.testing.assert_array_equal(got[:, e], 0.0)
            continue
        mean = vecs.astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(got[:, e], INITIATIVES @ (mean / np.linalg.norm(mean)),
                                   atol=1e-6)


def test_centroid_of_texts_that_cancel_out_is_zero_not_nan():
    experts = [np.array([[1, 0, 0], [-1, 0, 0]], dtype=np.float32)]
    got = centroid_affinity(INITIATIVES, experts)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, 0.0)


@pytest.mark.parametrize("method", METHODS)
def test_expert_without_texts_gets_the_empty_value(method):
    got = expert_affinity(INITIATIVES, EXPERTS, method, empty=-5.0)
    np.testing.assert_array_equal(got[:, 1], -5.0)
    assert (got[:, [0, 2, 3]] > -1.0001).all()
    # every expert without texts, and no experts at all
    none = expert_affinity(INITIATIVES, [np.zeros((0, 3)), np.zeros(0)], method, empty=0.25)
    np.testing.assert_array_equal(none, 0.25)
    assert expert_affinity(INITIATIVES, [], method).shape == (2, 0)
    assert expert_affinity(np.zeros((0, 3)), EXPERTS, method).shape == (0, 4)


def test_convenience_functions_are_the_general_function():
    np.testing.assert_array_equal(max_affinity(INITIATIVES, EXPERTS),
                                  expert_affinity(INITIATIVES, EXPERTS, "max"))
    np.testing.assert_array_equal(mean_affinity(INITIATIVES, EXPERTS),
                                  expert_affinity(INITIATIVES, EXPERTS, "mean"))
    np.testing.assert_array_equal(topk_mean_affinity(INITIATIVES, EXPERTS, k=2),
                                  expert_affinity(INITIATIVES, EXPERTS, "topk_mean", k=2))
    np.testing.assert_array_equal(quantile_affinity(INITIATIVES, EXPERTS, q=0.3),
                                  expert_affinity(INITIATIVES, EXPERTS, "quantile", q=0.3))
    np.testing.assert_array_equal(centroid_affinity(INITIATIVES, EXPERTS),
                                  expert_affinity(INITIATIVES, EXPERTS, "centroid"))
    # the defaults the docstrings promise: topk_mean k=3, quantile q=0.75
    np.testing.assert_allclose(topk_mean_affinity(INITIATIVES, EXPERTS), _hand("topk_mean", k=3),
                               atol=1e-6)
    np.testing.assert_allclose(quantile_affinity(INITIATIVES, EXPERTS), _hand("quantile", q=0.75),
                               atol=1e-6)


def _reference(init_vecs, expert_vecs, method, k=3, q=0.75, empty=0.0):
    """Per-expert loop: the obvious, slow definition of each aggregation."""
    out = np.full((len(init_vecs), len(expert_vecs)), empty)
    for e, vecs in enumerate(expert_vecs):
        if len(vecs) == 0:
            continue
        sims = init_vecs.astype(np.float64) @ vecs.astype(np.float64).T
        if method == "max":
            out[:, e] = sims.max(axis=1)
        elif method == "mean":
            out[:, e] = sims.mean(axis=1)
        elif method == "topk_mean":
            out[:, e] = -np.sort(-sims, axis=1)[:, :k].mean(axis=1)
        elif method == "quantile":
            out[:, e] = np.quantile(sims, q, axis=1)
        else:
            mean = vecs.astype(np.float64).sum(axis=0)
            out[:, e] = init_vecs @ (mean / np.linalg.norm(mean))
    return out


def _random_unit(rng, n, d):
    vecs = rng.normal(size=(n, d)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method, options", [("max", {}), ("mean", {}), ("topk_mean", {"k": 2}),
                                             ("topk_mean", {"k": 3}), ("quantile", {"q": 0.75}),
                                             ("quantile", {"q": 0.1}), ("centroid", {})])
def test_random_profiles_match_a_per_expert_loop(seed, method, options, monkeypatch):
    """Segmented reductions agree with the loop, with empty experts anywhere and small blocks."""
    rng = np.random.default_rng(seed)
    init_vecs = _random_unit(rng, 23, 16)
    counts = rng.integers(0, 6, size=40)
    counts[[0, -1]] = 0  # empty experts at both ends too
    expert_vecs = [_random_unit(rng, c, 16) for c in counts]
    # Blocks of a handful of rows: the initiative matrix is cut into several pieces.
    monkeypatch.setattr(affinity_module, "_BLOCK_CELLS", 5 * int(counts.sum()))
    got = expert_affinity(init_vecs, expert_vecs, method, empty=-2.0, **options)
    np.testing.assert_allclose(got, _reference(init_vecs, expert_vecs, method, empty=-2.0,
                                               **options), atol=1e-5)


def test_experts_do_not_leak_into_each_other_when_sorting():
    """A strong expert after a weak one must not lend its texts to the weak one's top-k."""
    init = np.array([[1.0, 0.0]], dtype=np.float32)
    weak = np.array([[0.0, 1.0], [0.0, -1.0]], dtype=np.float32)  # cosines 0, 0
    strong = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)  # cosines 1, 1, 1
    for method in ("topk_mean", "quantile"):
        got = expert_affinity(init, [weak, strong, weak], method, k=2, q=1.0)
        np.testing.assert_allclose(got, [[0.0, 1.0, 0.0]], atol=1e-6)


# --- the grouped matrix the portal ranks with ------------------------------------------------

OPTIONS = [("max", {}), ("mean", {}), ("topk_mean", {"k": 1}), ("topk_mean", {"k": 2}),
           ("topk_mean", {"k": 3}), ("topk_mean", {"k": 8}), ("quantile", {"q": 0.75}),
           ("quantile", {"q": 0.0}), ("quantile", {"q": 0.3}), ("quantile", {"q": 1.0}),
           ("centroid", {})]


def _scattered(rng, expert_vecs, extra: int = 5) -> GroupedTexts:
    """The experts' texts as the portal keeps them: rows in another order than the experts,
    among vectors no expert owns (a deleted publication's)."""
    stacked = np.concatenate([*expert_vecs, _random_unit(rng, extra, expert_vecs[0].shape[1])])
    listed = sum(len(vecs) for vecs in expert_vecs)
    place = rng.permutation(stacked.shape[0])  # listed text t lives in row place[t]
    vectors = np.empty_like(stacked)
    vectors[place] = stacked
    owner = np.repeat(np.arange(len(expert_vecs)), [len(vecs) for vecs in expert_vecs])
    return GroupedTexts(vectors, place[:listed], owner, len(expert_vecs))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("method, options", OPTIONS, ids=[f"{m}{o}" for m, o in OPTIONS])
def test_grouped_texts_give_what_a_per_expert_loop_gives(seed, method, options, monkeypatch):
    """One product over the grouped matrix and vectorised aggregation equal a plain loop over
    each expert's texts, for every aggregation, experts of one to seven texts."""
    rng = np.random.default_rng(seed)
    init_vecs = _random_unit(rng, 17, 24)
    counts = rng.integers(1, 8, size=60)
    counts[[0, 7, -1]] = 1  # experts with one text, at both ends too
    counts[3] = 4
    expert_vecs = [_random_unit(rng, c, 24) for c in counts]
    expert_vecs[3][1] = expert_vecs[3][0]  # a tie inside an expert's texts
    expected = _reference(init_vecs, expert_vecs, method, empty=-2.0, **options)
    # Blocks of a few initiatives: the similarities are cut into several pieces.
    monkeypatch.setattr(affinity_module, "_BLOCK_CELLS", 3 * int(counts.sum()))
    for groups in (GroupedTexts.from_blocks(expert_vecs, 24), _scattered(rng, expert_vecs)):
        got = groups.affinity(init_vecs, method, empty=-2.0, **options)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        # Some experts only, in any order, -1 for one without texts: the few-experts path.
        few = np.array([5, -1, 0, 59, 5])
        got = groups.affinity(init_vecs, method, empty=-2.0, experts=few, **options)
        np.testing.assert_allclose(got, np.where(few >= 0, expected[:, few], -2.0), rtol=0, atol=1e-6)
        # Most experts: the whole matrix is compared and the columns picked.
        most = np.arange(59, 0, -1)
        got = groups.affinity(init_vecs, method, empty=-2.0, experts=most, **options)
        np.testing.assert_allclose(got, expected[:, most], rtol=0, atol=1e-6)


def test_grouped_top_k_counts_tied_texts_once_each():
    """Tied best texts: each is one of the k best, as in a sort."""
    init = np.array([[1.0, 0.0]], dtype=np.float32)
    tied = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    mixed = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    groups = GroupedTexts.from_blocks([mixed, tied, mixed[:2]], 2)
    for k, expected in ((1, [1.0, 1.0, 1.0]), (2, [1.0, 1.0, 0.5]), (3, [2 / 3, 1.0, 0.5])):
        np.testing.assert_allclose(groups.affinity(init, "topk_mean", k=k), [expected], atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_grouped_texts_with_experts_without_texts(method):
    """Experts without texts get the empty value, wherever they are; none at all is fine."""
    groups = GroupedTexts.from_blocks(EXPERTS, 3)
    np.testing.assert_allclose(groups.affinity(INITIATIVES, method, k=2, empty=-5.0),
                               expert_affinity(INITIATIVES, EXPERTS, method, k=2, empty=-5.0),
                               rtol=0, atol=1e-6)
    nobody = GroupedTexts.from_blocks([np.zeros((0, 3)), np.zeros((0, 3))], 3)
    np.testing.assert_array_equal(nobody.affinity(INITIATIVES, method, empty=0.25), 0.25)
    assert GroupedTexts.from_blocks([], 3).affinity(INITIATIVES, method).shape == (2, 0)


@pytest.mark.parametrize("call, message", [
    (lambda: GroupedTexts(np.ones((2, 3)), [0, 1], [1, 0], 2), "non-decreasing"),
    (lambda: GroupedTexts(np.ones((2, 3)), [0, 2], [0, 0], 1), "outside the vectors"),
    (lambda: GroupedTexts(np.ones((2, 3)), [0, 1], [0, 1], 1), "non-decreasing"),
    (lambda: GroupedTexts.from_blocks(EXPERTS, 3).affinity(INITIATIVES, "median"), "unknown"),
    (lambda: GroupedTexts.from_blocks(EXPERTS, 3).affinity(INITIATIVES, experts=[4]), "outside"),
    (lambda: GroupedTexts.from_blocks(EXPERTS, 3).affinity(np.ones((1, 4))), "columns"),
])
def test_grouped_texts_bad_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: expert_affinity(INITIATIVES, EXPERTS, "median"), "unknown affinity method"),
    (lambda: expert_affinity(INITIATIVES, EXPERTS, "topk_mean", k=0), "k must be"),
    (lambda: expert_affinity(INITIATIVES, EXPERTS, "quantile", q=1.5), "q must be"),
    (lambda: expert_affinity(INITIATIVES, EXPERTS, "quantile", q=-0.1), "q must be"),
    (lambda: expert_affinity(INITIATIVES[0], EXPERTS, "max"), "2-D"),
    (lambda: expert_affinity(INITIATIVES, [np.ones((2, 4))], "max"), "expert 0"),
    (lambda: expert_affinity(INITIATIVES, [np.ones(3)], "max"), "expert 0"),
])
def test_bad_inputs_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- top_k --------------------------------------------------------------------------------------

MATRIX = np.array([[0.1, 0.0], [0.9, 0.0], [0.5, 0.0], [0.7, 0.0], [0.3, 0.0], [-0.2, 0.0]],
                  dtype=np.float32)
QUERY = np.array([1.0, 0.0])


def test_top_k_returns_best_rows_first():
    idx, scores = top_k(QUERY, MATRIX, 3)
    assert idx.tolist() == [1, 3, 2]
    np.testing.assert_allclose(scores, [0.9, 0.7, 0.5], atol=1e-7)
    assert scores.dtype == np.float32  # a float32 matrix is not promoted


def test_top_k_with_exclusions_skips_excluded_rows():
    allowed = np.array([True, False, True, False, True, True])  # the two best are conflicted
    idx, scores = top_k(QUERY, MATRIX, 3, allowed=allowed)
    assert idx.tolist() == [2, 4, 0]
    np.testing.assert_allclose(scores, [0.5, 0.3, 0.1], atol=1e-7)
    assert not set(idx.tolist()) & {1, 3}


def test_top_k_returns_fewer_when_fewer_rows_are_allowed():
    allowed = np.array([False, False, False, False, True, True])
    idx, scores = top_k(QUERY, MATRIX, 5, allowed=allowed)
    assert idx.tolist() == [4, 5]
    assert np.isfinite(scores).all()
    idx, scores = top_k(QUERY, MATRIX, 5, allowed=np.zeros(6, dtype=bool))
    assert idx.size == 0 and scores.size == 0


def test_top_k_edges():
    idx, _ = top_k(QUERY, MATRIX, 100)
    assert idx.tolist() == [1, 3, 2, 4, 0, 5]
    idx, scores = top_k(QUERY, MATRIX, 0)
    assert idx.size == 0 and scores.size == 0
    idx, _ = top_k(QUERY, np.zeros((0, 2), dtype=np.float32), 5)
    assert idx.size == 0


def test_top_k_agrees_with_a_full_sort_on_random_vectors():
    rng = np.random.default_rng(7)
    matrix = _random_unit(rng, 2000, 32)
    query = _random_unit(rng, 1, 32)[0]
    allowed = rng.random(2000) > 0.3
    idx, scores = top_k(query, matrix, 10, allowed=allowed)
    full = np.where(allowed, matrix @ query, -np.inf)
    expected = np.argsort(-full, kind="stable")[:10]
    assert idx.tolist() == expected.tolist()
    np.testing.assert_allclose(scores, full[expected])
    assert allowed[idx].all()


@pytest.mark.parametrize("call", [
    lambda: top_k(QUERY, MATRIX[0], 1),
    lambda: top_k(np.ones(3), MATRIX, 1),
    lambda: top_k(QUERY, MATRIX, -1),
    lambda: top_k(QUERY, MATRIX, 1, allowed=np.ones(5, dtype=bool)),
])
def test_top_k_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


# --- reasons ------------------------------------------------------------------------------------

def test_best_text_is_the_closest_text():
    assert best_text(np.array([1.0, 0.0, 0.0]), EXPERTS[0]) == 0
    assert best_text(np.array([0.0, 1.0, 0.0]), EXPERTS[0]) == 1
    assert best_text(np.array([1.0, 0.0, 0.0]), EXPERTS[3]) == 3
    with pytest.raises(ValueError, match="no texts"):
        best_text(np.array([1.0, 0.0, 0.0]), EXPERTS[1])
    with pytest.raises(ValueError):
        best_text(np.array([1.0, 0.0]), EXPERTS[0])


def test_shared_keywords_ignore_case_spacing_and_diacritics():
    initiative = ["Lúa chịu mặn", "Thương mại điện tử", "IoT", "lúa  CHỊU mặn", "  "]
    expert = ["lua chiu man", "thuong mai dien tu", "viễn thám", ""]
    # the initiative's spelling and order, each keyword once, blank keywords never shared
    assert shared_keywords(initiative, expert) == ["Lúa chịu mặn", "Thương mại điện tử"]
    assert shared_keywords(expert, initiative) == ["lua chiu man", "thuong mai dien tu"]
    assert shared_keywords(["Đồng bằng sông Cửu Long"], ["dong bang song cuu long"]) == [
        "Đồng bằng sông Cửu Long"]
    assert shared_keywords(["IoT"], ["internet of things"]) == []
    assert shared_keywords([], ["x"]) == [] and shared_keywords(["x"], []) == []
