"""Reciprocal rank fusion of the full-text and semantic rankings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from search.fusion import rrf


def test_hand_worked_example():
    # text ranks a, b, c; semantic ranks b, c, d; k = 60:
    #   a = 1/61              = 0.0163934
    #   b = 1/62 + 1/61       = 0.0325224
    #   c = 1/63 + 1/62       = 0.0320020
    #   d = 1/63              = 0.0158730
    fused = rrf([["a", "b", "c"], ["b", "c", "d"]])
    assert [key for key, _ in fused] == ["b", "c", "a", "d"]
    scores = dict(fused)
    assert scores["a"] == pytest.approx(0.0163934, abs=1e-7)
    assert scores["b"] == pytest.approx(0.0325224, abs=1e-7)
    assert scores["c"] == pytest.approx(0.0320020, abs=1e-7)
    assert scores["d"] == pytest.approx(0.0158730, abs=1e-7)


def test_weights_and_a_small_k():
    # k = 1, text weighted 2, semantic 1:
    #   x = 2/(1+1) + 1/(1+3) = 1.25
    #   y = 2/(1+2)           = 0.6667
    #   z = 1/(1+1)           = 0.5
    #   w = 1/(1+2)           = 0.3333
    fused = rrf([["x", "y"], ["z", "w", "x"]], k=1, weights=[2, 1])
    assert fused == [
        ("x", pytest.approx(1.25)),
        ("y", pytest.approx(2 / 3)),
        ("z", pytest.approx(0.5)),
        ("w", pytest.approx(1 / 3)),
    ]


def test_a_key_repeated_in_one_ranking_counts_once_at_its_best_rank():
    assert rrf([["a", "b", "a"]], k=0) == [("a", 1.0), ("b", 0.5)]


def test_ties_break_on_best_rank_then_first_appearance():
    # a and b swap places: equal scores, equal best rank; a was seen first.
    assert [key for key, _ in rrf([["a", "b"], ["b", "a"]])] == ["a", "b"]
    assert [key for key, _ in rrf([["b", "a"], ["a", "b"]])] == ["b", "a"]
    # c and f both score 1/61, e and d both 1/62: the earlier ranking goes first.
    fused = rrf([["c", "e"], ["f", "d"]], weights=[1, 1])
    assert [key for key, _ in fused] == ["c", "f", "e", "d"]


def test_a_tie_goes_to_the_key_ranked_first_somewhere():
    # k = 0: x = 1/2 + 1/2 = 1 and p = q = y = 1/1 = 1; x was seen second but never ranked 1.
    fused = rrf([["p", "x"], ["q", "x"], ["y"]], k=0)
    assert fused == [("p", 1.0), ("q", 1.0), ("y", 1.0), ("x", 1.0)]


def test_three_way_ties_stay_exact_whatever_the_order_of_addition():
    rankings = [["p", "q", "r"], ["q", "r", "p"], ["r", "p", "q"]]
    fused = rrf(rankings)
    assert len({score for _, score in fused}) == 1
    assert [key for key, _ in fused] == ["p", "q", "r"]


def test_keys_need_not_be_comparable():
    text = [("initiative", 3), ("expert", "x-7")]
    semantic = [("expert", "x-7"), ("demand", None)]
    fused = rrf([text, semantic])
    assert [key for key, _ in fused] == [("expert", "x-7"), ("initiative", 3), ("demand", None)]


def test_order_does_not_depend_on_hash_seed():
    script = (
        "from search.fusion import rrf;"
        "print([k for k, _ in rrf([list('abcdefgh'), list('hgfedcba'), list('aceg')])])"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root))
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_empty_rankings():
    assert rrf([]) == []
    assert rrf([[], []]) == []


def test_a_zero_weight_ranking_only_adds_keys_at_the_end():
    fused = rrf([["a"], ["b"]], weights=[1, 0])
    assert fused == [("a", pytest.approx(1 / 61)), ("b", 0.0)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": -1}, "k must be"),
        ({"weights": [1]}, "1 weights for 2 rankings"),
        ({"weights": [1, -1]}, "non-negative"),
        ({"weights": [1, float("nan")]}, "non-negative"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rrf([["a"], ["b"]], **kwargs)
