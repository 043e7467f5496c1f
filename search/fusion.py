"""Reciprocal rank fusion: one ranking out of several (full-text and semantic, for hybrid search)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence


def rrf(
    rankings: Sequence[Sequence[Hashable]],
    k: float = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Fuse rankings (each best first) into one list of (key, score), best first.

    A key scores ``sum(weight_i / (k + rank_i))`` over the rankings that contain it, with ranks
    counted from 1 (Cormack, Clarke and Büttcher, 2009); a key repeated within one ranking
    counts at its best rank only. Equal scores are broken by the key's best rank in any
    ranking, then by where it first appears (earlier rankings first, then position), so the
    order never depends on hashing or on the keys being comparable.

    Raises ValueError when ``k`` is negative, or ``weights`` does not give one non-negative
    number per ranking.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, not {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    elif any(w < 0 or math.isnan(w) for w in weights):
        raise ValueError("weights must be non-negative numbers")

    contributions: dict[Hashable, list[float]] = {}
    best_rank: dict[Hashable, int] = {}
    first_seen: dict[Hashable, tuple[int, int]] = {}
    for which, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        seen_here = set()
        for rank, key in enumerate(ranking, start=1):
            if key in seen_here:
                continue
            seen_here.add(key)
            contributions.setdefault(key, []).append(weight / (k + rank))
            best_rank[key] = min(best_rank.get(key, rank), rank)
            first_seen.setdefault(key, (which, rank))
    # fsum is exactly rounded, so equal sums stay equal whatever order they were added in.
    scores = {key: math.fsum(parts) for key, parts in contributions.items()}
    order = sorted(scores, key=lambda key: (-scores[key], best_rank[key], first_seen[key]))
    return [(key, scores[key]) for key in order]
