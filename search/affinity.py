"""Affinity of experts to initiatives: aggregate text similarities, rank, explain."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.textfold import fold

METHODS = ("max", "mean", "topk_mean", "quantile", "centroid")

# Similarity blocks are cut to about this many cells so a call with thousands of experts and
# their publications never needs one huge (initiatives x texts) matrix in memory.
_BLOCK_CELLS = 4_000_000


class _Profiles:
    """All experts' text vectors stacked into one matrix, with who owns which row."""

    def __init__(self, expert_text_vecs: Sequence[np.ndarray], dimension: int):
        """Stack the per-expert ``(m_e, d)`` arrays; raise ValueError on a wrong shape."""
        counts = np.zeros(len(expert_text_vecs), dtype=np.int64)
        blocks = []
        for expert, vecs in enumerate(expert_text_vecs):
            vecs = np.asarray(vecs, dtype=np.float32)
            if vecs.ndim == 1 and vecs.size == 0:
                vecs = vecs.reshape(0, dimension)
            if vecs.ndim != 2 or vecs.shape[1] != dimension:
                raise ValueError(f"expert {expert}: text vectors must have shape (m, {dimension}), "
                                 f"got {vecs.shape}")
            counts[expert] = vecs.shape[0]
            blocks.append(vecs)
        self.counts = counts
        self.texts = (np.concatenate(blocks) if blocks
                      else np.zeros((0, dimension), dtype=np.float32))
        self.starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.owner = np.repeat(np.arange(len(counts)), counts)
        # reduceat cannot express an empty segment, so only experts with texts take part.
        self.with_texts = np.flatnonzero(counts > 0)
        self.segment_starts = self.starts[self.with_texts]


def _as_matrix(init_vecs: np.ndarray) -> np.ndarray:
    """Return ``init_vecs`` as a 2-D float32 array; raise ValueError otherwise."""
    init_vecs = np.asarray(init_vecs, dtype=np.float32)
    if init_vecs.ndim != 2:
        raise ValueError(f"initiative vectors must be a 2-D array, got shape {init_vecs.shape}")
    return init_vecs


def _check_options(method: str, k: int, q: float) -> None:
    """Raise ValueError on an unknown aggregation or an option out of range."""
    if method not in METHODS:
        raise ValueError(f"unknown affinity method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "topk_mean" and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if method == "quantile" and not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, got {q}")


def _blocks(n_rows: int, n_cols: int):
    """Yield row slices covering ``n_rows`` rows, each about ``_BLOCK_CELLS`` cells."""
    step = max(1, _BLOCK_CELLS // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def expert_affinity(init_vecs: np.ndarray, expert_text_vecs: Sequence[np.ndarray],
                    method: str = "max", *, k: int = 3, q: float = 0.75,
                    empty: float = 0.0) -> np.ndarray:
    """Return the ``(n_i, n_e)`` affinity of each initiative to each expert.

    ``init_vecs`` is ``(n_i, d)``; ``expert_text_vecs`` holds one ``(m_e, d)`` array per expert
    (keywords and bio, each publication); all rows L2-normalised, so products are cosines.
    ``method`` aggregates an expert's similarities: ``max``, ``mean``, ``topk_mean`` (mean of the
    ``k`` best), ``quantile`` (the ``q`` quantile) or ``centroid`` (cosine to the renormalised
    mean of the expert's vectors). An expert without texts gets ``empty``. Raises ValueError on
    an unknown method, a bad option or mismatched shapes.
    """
    _check_options(method, k, q)
    init_vecs = _as_matrix(init_vecs)
    groups = GroupedTexts.from_blocks(expert_text_vecs, init_vecs.shape[1])
    return groups.affinity(init_vecs, method, k=k, q=q, empty=empty)


def max_affinity(init_vecs: np.ndarray, expert_text_vecs: Sequence[np.ndarray]) -> np.ndarray:
    """Return the best similarity over each expert's texts, ``(n_i, n_e)``."""
    return expert_affinity(init_vecs, expert_text_vecs, "max")


def mean_affinity(init_vecs: np.ndarray, expert_text_vecs: Sequence[np.ndarray]) -> np.ndarray:
    """Return the mean similarity over each expert's texts, ``(n_i, n_e)``."""
    return expert_affinity(init_vecs, expert_text_vecs, "mean")


def topk_mean_affinity(init_vecs: np.ndarray, expert_text_vecs: Sequence[np.ndarray],
                       k: int = 3) -> np.ndarray:
    """Return the mean of each expert's ``k`` best similarities (all if fewer), ``(n_i, n_e)``."""
    return expert_affinity(init_vecs, expert_text_vecs, "topk_mean", k=k)


def quantile_affinity(init_vecs: np.ndarray, expert_text_vecs: Sequence[np.ndarray],
                      q: float = 0.75) -> np.ndarray:
    """Return the ``q`` quantile of each expert's similarities, ``(n_i, n_e)``."""
    return expert_affinity(init_vecs, expert_text_vecs, "quantile", q=q)


def centroid_affinity(init_vecs: np.ndarray,
                      expert_text_vecs: Sequence[np.ndarray]) -> np.ndarray:
    """Return the cosine to each expert's renormalised mean text vector, ``(n_i, n_e)``."""
    return expert_affinity(init_vecs, expert_text_vecs, "centroid")


class GroupedTexts:
    """Every expert's text vectors as rows of one matrix, listed expert by expert.

    Stacking the per-expert arrays on each call and sorting every expert's similarities for the
    top-k mean made ranking 100,000 experts ten times the cost of the matrix product
    (docs/benchmarks.md). Built once and kept (search/vectors.py keeps one per process), this
    answers a query with one product and a few vectorised passes; ``expert_affinity`` builds a
    throw-away one from per-expert arrays.
    """

    def __init__(self, vectors: np.ndarray, rows: np.ndarray, owner: np.ndarray, n_experts: int):
        """``vectors`` is ``(M, d)``, L2-normalised; ``rows[t]`` is the row of the ``t``-th listed
        text and ``owner[t]`` (non-decreasing) the index of the expert it belongs to. Rows in no
        list (a deleted publication's vector, say) take no part. Raises ValueError on
        inconsistent arrays."""
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.owner = np.asarray(owner, dtype=np.int64)
        self.n_experts = int(n_experts)
        if self.vectors.ndim != 2 or self.rows.ndim != 1 or self.rows.shape != self.owner.shape:
            raise ValueError("vectors must be 2-D and rows and owner 1-D of the same length")
        if self.rows.size and (self.rows.min() < 0 or self.rows.max() >= self.vectors.shape[0]):
            raise ValueError("a listed row is outside the vectors")
        if self.owner.size and (np.any(np.diff(self.owner) < 0) or self.owner[0] < 0
                                or self.owner[-1] >= self.n_experts):
            raise ValueError("owner must be non-decreasing expert indices below n_experts")
        self.counts = np.bincount(self.owner, minlength=self.n_experts).astype(np.int64)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.int64)
        # reduceat cannot express an empty segment, so only experts with texts take part.
        self.with_texts = np.flatnonzero(self.counts > 0)
        self.segment_starts = self.starts[self.with_texts]
        self.segment = np.repeat(np.arange(self.with_texts.size), self.counts[self.with_texts])
        # Listing every row in order spares gathering the similarities on each call.
        self.in_order = (self.rows.size == self.vectors.shape[0]
                         and bool(np.array_equal(self.rows, np.arange(self.rows.size))))
        self._centroids: np.ndarray | None = None

    @classmethod
    def from_blocks(cls, expert_text_vecs: Sequence[np.ndarray], dimension: int) -> GroupedTexts:
        """The per-expert ``(m_e, d)`` arrays of ``expert_affinity`` as one grouped matrix."""
        profiles = _Profiles(expert_text_vecs, dimension)
        return cls(profiles.texts, np.arange(profiles.texts.shape[0]), profiles.owner,
                   len(profiles.counts))

    def centroids(self) -> np.ndarray:
        """The renormalised mean text vector of each expert, ``(n_e, d)`` float32 (zeros for an
        expert without texts or whose texts cancel out), computed once."""
        if self._centroids is None:
            centroids = np.zeros((self.n_experts, self.vectors.shape[1]), dtype=np.float32)
            if self.with_texts.size:
                sums = np.add.reduceat(self.vectors[self.rows], self.segment_starts, axis=0,
                                       dtype=np.float64)
                norms = np.linalg.norm(sums, axis=1, keepdims=True)
                centroids[self.with_texts] = np.divide(sums, norms, out=np.zeros_like(sums),
                                                       where=norms > 0)
            self._centroids = centroids
        return self._centroids

    def affinity(self, init_vecs: np.ndarray, method: str = "max", *, k: int = 3,
                 q: float = 0.75, empty: float = 0.0,
                 experts: np.ndarray | None = None) -> np.ndarray:
        """Return the ``(n_i, n_e)`` affinity of each initiative to each expert, as
        ``expert_affinity`` computes it (same methods and options), or only to the expert
        indices ``experts`` in that order (-1: an expert without texts, who gets ``empty``).
        Raises ValueError on an unknown method, a bad option or mismatched shapes."""
        _check_options(method, k, q)
        init_vecs = _as_matrix(init_vecs)
        wanted = (np.arange(self.n_experts) if experts is None
                  else np.asarray(experts, dtype=np.int64).reshape(-1))
        if wanted.size and wanted.max() >= self.n_experts:
            raise ValueError("an expert index is outside the grouped experts")
        affinity = np.full((init_vecs.shape[0], wanted.size), empty, dtype=np.float64)
        scored = np.flatnonzero(wanted >= 0)
        scored = scored[self.counts[wanted[scored]] > 0]
        if scored.size == 0 or init_vecs.shape[0] == 0:
            return affinity
        if init_vecs.shape[1] != self.vectors.shape[1]:
            raise ValueError(f"initiative vectors must have {self.vectors.shape[1]} columns, "
                             f"got {init_vecs.shape[1]}")
        if method == "centroid":
            affinity[:, scored] = init_vecs @ self.centroids()[wanted[scored]].T
            return affinity
        chosen = np.unique(wanted[scored])
        groups = self
        if experts is not None and 2 * self.counts[chosen].sum() < self.rows.size:
            # A few experts (one pair's affinity, say): compare with their texts only.
            groups = self._subset(chosen)
            columns = np.searchsorted(chosen, wanted[scored])
        else:
            columns = np.searchsorted(self.with_texts, wanted[scored])
        for rows in _blocks(init_vecs.shape[0], groups.rows.size):
            aggregated = groups._aggregate(init_vecs[rows], method, k, q)
            affinity[rows, scored] = aggregated[:, columns]
        return affinity

    def _subset(self, chosen: np.ndarray) -> GroupedTexts:
        """The texts of the experts ``chosen`` (ascending indices with texts), regrouped."""
        counts = self.counts[chosen]
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = self.rows[np.repeat(self.starts[chosen], counts) + offsets]
        return GroupedTexts(self.vectors[rows], np.arange(rows.size),
                            np.repeat(np.arange(chosen.size), counts), chosen.size)

    def _aggregate(self, init_vecs: np.ndarray, method: str, k: int, q: float) -> np.ndarray:
        """Aggregate the similarities of a few initiatives, ``(b, n_with_texts)``."""
        sims = init_vecs @ self.vectors.T
        if not self.in_order:
            sims = sims[:, self.rows]
        starts = self.segment_starts
        counts = self.counts[self.with_texts]
        if method == "max":
            return np.maximum.reduceat(sims, starts, axis=1)
        if method == "mean":
            return np.add.reduceat(sims, starts, axis=1, dtype=np.float64) / counts
        if method == "topk_mean":
            return self._top_k_sum(sims, min(k, int(counts.max()))) / np.minimum(counts, k)
        # quantile, interpolated linearly between order statistics as np.quantile does
        order = np.lexsort((sims, np.broadcast_to(self.owner, sims.shape)), axis=-1)
        ordered = np.take_along_axis(sims, order, axis=1).astype(np.float64)
        position = q * (counts - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, counts - 1)
        below = ordered[:, starts + low]
        above = ordered[:, starts + high]
        return below + (above - below) * (position - low)

    def _top_k_sum(self, sims: np.ndarray, rounds: int) -> np.ndarray:
        """The sum of each expert's ``rounds`` best similarities (all, if fewer).

        Each round takes every expert's best and knocks one occurrence of it out: for the
        small k the portal uses, a few linear passes instead of a sort of every text."""
        starts, segment = self.segment_starts, self.segment
        counts = self.counts[self.with_texts]
        work = sims.copy() if rounds > 1 else sims
        total = np.zeros((sims.shape[0], starts.size), dtype=np.float64)
        for taken in range(rounds):
            best = np.maximum.reduceat(work, starts, axis=1)
            total += np.where(counts > taken, best, 0.0)
            if taken + 1 < rounds:
                # Ties: only the first occurrence in each expert's segment goes.
                hit = work == best[:, segment]
                seen = np.cumsum(hit, axis=1)
                before = np.where(starts > 0, seen[:, starts - 1], 0)
                work[hit & (seen == before[:, segment] + 1)] = -np.inf
        return total


def top_k(query_vec: np.ndarray, matrix: np.ndarray, k: int,
          allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices and scores of the ``k`` rows of ``matrix`` closest to ``query_vec``.

    Scores are dot products (cosines for normalised rows), best first. ``allowed`` (bool per
    row) excludes rows, for example conflicted or fully loaded experts; fewer than ``k`` results
    come back when fewer rows are allowed. Raises ValueError on mismatched shapes or negative k.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    if k < 0:
        raise ValueError(f"k must not be negative, got {k}")
    # Casting the query, not the matrix, keeps a float32 matrix from being copied to float64.
    query_vec = np.asarray(query_vec, dtype=matrix.dtype if matrix.dtype.kind == "f" else None)
    if query_vec.shape != (matrix.shape[1],):
        raise ValueError(f"query must have shape ({matrix.shape[1]},), got {query_vec.shape}")
    scores = matrix @ query_vec
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape != scores.shape:
            raise ValueError(f"allowed must have shape {scores.shape}, got {allowed.shape}")
        scores = np.where(allowed, scores, -np.inf)
        k = min(k, int(allowed.sum()))
    k = min(k, scores.shape[0])
    if k == 0:
        return np.zeros(0, dtype=np.int64), scores[:0]
    best = np.argpartition(scores, scores.shape[0] - k)[scores.shape[0] - k:]
    best = best[np.argsort(-scores[best], kind="stable")]
    return best, scores[best]


def best_text(init_vec: np.ndarray, expert_text_vecs: np.ndarray) -> int:
    """Return the index of the expert text closest to the initiative, shown as the reason.

    Raises ValueError when the expert has no texts or the shapes do not match.
    """
    expert_text_vecs = np.asarray(expert_text_vecs)
    init_vec = np.asarray(init_vec, dtype=expert_text_vecs.dtype)
    if expert_text_vecs.ndim != 2 or expert_text_vecs.shape[0] == 0:
        raise ValueError("the expert has no texts to compare with")
    if init_vec.shape != (expert_text_vecs.shape[1],):
        raise ValueError(f"initiative vector must have shape ({expert_text_vecs.shape[1]},), "
                         f"got {init_vec.shape}")
    return int(np.argmax(expert_text_vecs @ init_vec))


def shared_keywords(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """Return the keywords of ``a`` also in ``b``, ignoring case, spacing and diacritics.

    Keeps ``a``'s spelling and order, each folded keyword once.
    """
    wanted = {fold(keyword) for keyword in b} - {""}
    shared, seen = [], set()
    for keyword in a:
        folded = fold(keyword)
        if folded in wanted and folded not in seen:
            seen.add(folded)
            shared.append(keyword)
    return shared
