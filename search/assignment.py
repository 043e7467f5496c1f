"""Exact reviewer assignment for a whole call: min-cost flow, or maximin with CP-SAT."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

# Scores become integer costs at this resolution: 1e-6 keeps every pair distinguishable
# (truncating to 1e-2 made pairs under 0.01 unassignable and lost optimality in other matchers)
# while realistic costs stay many orders of magnitude inside int64.
SCORE_SCALE = 1_000_000
# OR-Tools' cost scaling multiplies costs by the number of nodes; stay well below 2**63.
_COST_LIMIT = 2**62

NOT_ENOUGH_EXPERTS = "not enough non-conflicted experts"
LOAD_EXHAUSTED = "load exhausted"


class Uncovered(NamedTuple):
    """An initiative that did not get all its reviewers, how many are missing, and why."""

    init_idx: int
    missing: int
    reason: str


@dataclass
class AssignmentProblem:
    """What the assignment of one call needs, as arrays indexed by initiative and expert.

    ``affinity`` is ``(n_i, n_e)``; ``allowed`` masks out conflicts, declines and unavailable
    experts (a low or negative score is still assignable; only the mask forbids a pair; None
    allows every pair); ``k`` is the reviewers wanted per initiative (an int or one per
    initiative); ``capacity`` is each expert's remaining load (max load minus assignments
    already held); ``organisation`` is a group id per expert (-1 for none), and ``diverse``
    allows at most one reviewer per organisation on an initiative. ``maximin`` maximises the
    worst initiative's total affinity before the overall total, within ``time_limit`` seconds.
    The arrays are validated and normalised on construction; a bad input raises ValueError.
    """

    affinity: np.ndarray
    capacity: np.ndarray
    k: int | np.ndarray = 3
    allowed: np.ndarray | None = None
    organisation: np.ndarray | None = None
    diverse: bool = False
    maximin: bool = False
    time_limit: float = 60.0

    def __post_init__(self):
        """Check shapes and values, and turn the inputs into arrays of fixed dtypes."""
        affinity = np.asarray(self.affinity, dtype=np.float64)
        if affinity.ndim != 2:
            raise ValueError(f"affinity must be a 2-D (initiatives x experts) array, "
                             f"got shape {affinity.shape}")
        n_init, n_expert = affinity.shape
        self.affinity = affinity

        if self.allowed is None:
            allowed = np.ones(affinity.shape, dtype=bool)
        else:
            allowed = np.asarray(self.allowed)
            if allowed.shape != affinity.shape:
                raise ValueError(f"allowed must have the affinity's shape {affinity.shape}, "
                                 f"got {allowed.shape}")
            if allowed.dtype != bool:
                if not np.isin(allowed, (0, 1)).all():
                    raise ValueError("allowed must be a boolean mask")
                allowed = allowed.astype(bool)
        if not np.isfinite(affinity[allowed]).all():
            raise ValueError("affinity must be finite on every allowed pair "
                             "(mask pairs without a score out through allowed)")
        self.allowed = allowed

        self.k = _counts(self.k, n_init, "k", scalar_ok=True)
        self.capacity = _counts(self.capacity, n_expert, "capacity", scalar_ok=False)

        if self.organisation is not None:
            organisation = np.asarray(self.organisation)
            if organisation.shape != (n_expert,):
                raise ValueError(f"organisation must have shape ({n_expert},), "
                                 f"got {organisation.shape}")
            if organisation.size and (not np.issubdtype(organisation.dtype, np.integer)
                                      or organisation.min() < -1):
                raise ValueError("organisation must hold integer group ids, -1 for none")
            self.organisation = organisation.astype(np.int64)
        elif self.diverse:
            raise ValueError("diverse=True needs an organisation per expert")
        if not self.time_limit > 0:
            raise ValueError(f"time_limit must be positive, got {self.time_limit}")

    @property
    def shape(self) -> tuple[int, int]:
        """Return ``(n_initiatives, n_experts)``."""
        return self.affinity.shape


def _counts(values, length: int, name: str, scalar_ok: bool) -> np.ndarray:
    """Return ``values`` as a non-negative int64 array of ``length``; raise ValueError."""
    array = np.asarray(values)
    if array.ndim == 0 and scalar_ok:
        array = np.full(length, array)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {array.shape}")
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or (np.issubdtype(array.dtype, np.floating)
                                       and np.all(array == np.round(array)))):
        raise ValueError(f"{name} must hold whole numbers")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must not be negative, got {array.min()}")
    return array.astype(np.int64)


@dataclass
class AssignmentResult:
    """The chosen pairs and what they add up to.

    ``init_idx``, ``expert_idx`` and ``score`` are parallel arrays, one entry per assignment;
    ``totals`` and ``counts`` are per initiative; ``objective`` is the sum of the scores;
    ``uncovered`` names each initiative short of its k; ``optimal`` is False only when a
    maximin solve hit its time limit and returned the best assignment found.
    """

    init_idx: np.ndarray
    expert_idx: np.ndarray
    score: np.ndarray
    totals: np.ndarray
    counts: np.ndarray
    objective: float
    uncovered: list[Uncovered] = field(default_factory=list)
    solve_time: float = 0.0
    optimal: bool = True
    method: str = "min_cost_flow"

    def reviewers(self, init_idx: int) -> np.ndarray:
        """Return the expert indices assigned to one initiative."""
        return self.expert_idx[self.init_idx == init_idx]


class _Pairs(NamedTuple):
    """The pairs that can carry an assignment, and their diversity groups."""

    init: np.ndarray
    expert: np.ndarray
    score: np.ndarray
    group: np.ndarray  # index into group_init for pairs sharing an (initiative, organisation)
    group_init: np.ndarray  # initiative of each group needing the at-most-one rule


def _candidate_pairs(problem: AssignmentProblem) -> _Pairs:
    """Return the allowed pairs whose initiative wants reviewers and whose expert has load."""
    usable = problem.allowed & (problem.k[:, None] > 0) & (problem.capacity[None, :] > 0)
    init, expert = np.nonzero(usable)
    score = problem.affinity[init, expert]
    group = np.full(init.shape, -1, dtype=np.int64)
    group_init = np.zeros(0, dtype=np.int64)
    if problem.diverse:
        _, org_code = np.unique(problem.organisation, return_inverse=True)
        org_code = np.where(problem.organisation >= 0, org_code.ravel(), -1)
        org = org_code[expert]
        in_org = org >= 0
        n_orgs = int(org_code.max(initial=-1)) + 1
        key = init[in_org] * n_orgs + org[in_org]
        keys, inverse, sizes = np.unique(key, return_inverse=True, return_counts=True)
        # A group of one expert cannot break the rule, so it needs no node in the network.
        shared = sizes >= 2
        group_of_key = np.where(shared, np.cumsum(shared) - 1, -1)
        group[np.flatnonzero(in_org)] = group_of_key[inverse.ravel()]
        group_init = keys[shared] // n_orgs
    return _Pairs(init, expert, score, group, group_init)


def _reach(problem: AssignmentProblem) -> np.ndarray:
    """Return per initiative how many reviewers the mask allows, ignoring load.

    With ``diverse`` an organisation counts once, experts without one count each.
    """
    if not problem.diverse:
        return problem.allowed.sum(axis=1)
    init, expert = np.nonzero(problem.allowed)
    org = problem.organisation[expert]
    alone = np.bincount(init[org < 0], minlength=problem.shape[0])
    n_orgs = int(org.max(initial=0)) + 1
    distinct = np.unique(init[org >= 0] * n_orgs + org[org >= 0])
    return alone + np.bincount(distinct // n_orgs, minlength=problem.shape[0])


def _result(problem: AssignmentProblem, pairs: _Pairs, chosen: np.ndarray, started: float,
            optimal: bool, method: str) -> AssignmentResult:
    """Assemble the result from a boolean choice over the candidate pairs."""
    n_init = problem.shape[0]
    init, expert, score = pairs.init[chosen], pairs.expert[chosen], pairs.score[chosen]
    counts = np.bincount(init, minlength=n_init).astype(np.int64)
    totals = np.bincount(init, weights=score, minlength=n_init)
    missing = problem.k - counts
    reach = _reach(problem)
    uncovered = [Uncovered(int(i), int(missing[i]),
                           NOT_ENOUGH_EXPERTS if reach[i] < problem.k[i] else LOAD_EXHAUSTED)
                 for i in np.flatnonzero(missing > 0)]
    return AssignmentResult(init_idx=init, expert_idx=expert, score=score, totals=totals,
                            counts=counts, objective=float(score.sum()), uncovered=uncovered,
                            solve_time=time.perf_counter() - started, optimal=optimal,
                            method=method)


def _min_cost_flow(problem: AssignmentProblem, pairs: _Pairs) -> np.ndarray:
    """Return the chosen candidate pairs of a max-coverage, max-affinity assignment.

    Network: source -> initiative (capacity k) -> [initiative x organisation node (capacity 1)
    when ``diverse``] -> expert (cost from the score) -> sink (capacity = load), plus an overflow
    arc initiative -> sink per initiative whose cost exceeds any set of real paths, so the flow
    is always feasible and only uses overflow where no reviewer can be found.
    """
    from ortools.graph.python import min_cost_flow

    n_init, n_expert = problem.shape
    demand = int(problem.k.sum())
    if demand == 0 or pairs.init.size == 0:
        return np.zeros(pairs.init.size, dtype=bool)
    # Shift so the best pair costs 0: all costs are non-negative and, at a fixed number of
    # assignments, minimising the cost is maximising the total score.
    cost = np.rint((pairs.score.max() - pairs.score) * SCORE_SCALE).astype(np.int64)
    overflow_cost = demand * int(cost.max()) + 1

    source, sink = 0, n_init + n_expert + 1
    init_node = 1 + np.arange(n_init)
    expert_node = 1 + n_init + np.arange(n_expert)
    group_node = sink + 1 + np.arange(pairs.group_init.size)
    num_nodes = sink + 1 + pairs.group_init.size
    if overflow_cost * (num_nodes + 1) >= _COST_LIMIT or overflow_cost * demand >= _COST_LIMIT:
        raise ValueError("affinity scores span too wide a range for exact integer costs; "
                         "rescale them (cosine similarities in [-1, 1] are far inside)")

    wants = np.flatnonzero(problem.k > 0)
    has_load = np.flatnonzero(problem.capacity > 0)
    grouped = pairs.group >= 0
    pair_tail = init_node[pairs.init]
    pair_tail[grouped] = group_node[pairs.group[grouped]]
    tails = [np.full(wants.size, source), init_node[wants], init_node[pairs.group_init],
             pair_tail, expert_node[has_load]]
    heads = [init_node[wants], np.full(wants.size, sink), group_node,
             expert_node[pairs.expert], np.full(has_load.size, sink)]
    capacities = [problem.k[wants], problem.k[wants], np.ones(group_node.size, np.int64),
                  np.ones(pairs.init.size, np.int64), problem.capacity[has_load]]
    costs = [np.zeros(wants.size, np.int64), np.full(wants.size, overflow_cost, np.int64),
             np.zeros(group_node.size, np.int64), cost, np.zeros(has_load.size, np.int64)]
    first_pair_arc = 2 * wants.size + group_node.size

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails).astype(np.int32), np.concatenate(heads).astype(np.int32),
        np.concatenate(capacities).astype(np.int64), np.concatenate(costs).astype(np.int64))
    flow.set_nodes_supplies(np.array([source, sink], dtype=np.int32),
                            np.array([demand, -demand], dtype=np.int64))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status!r}")
    pair_arcs = first_pair_arc + np.arange(pairs.init.size, dtype=np.int32)
    return np.asarray(flow.flows(pair_arcs)) > 0


def _maximin(problem: AssignmentProblem, pairs: _Pairs, start: np.ndarray,
             deadline: float) -> tuple[np.ndarray, bool]:
    """Return the chosen pairs maximising the worst initiative's total, then the total.

    Exact CP-SAT model on one boolean per candidate pair, at the min-cost flow's coverage
    (coverage still comes first). The minimum runs over initiatives that want reviewers and
    have at least one candidate expert, since the others' totals are fixed at 0. ``start`` (the
    min-cost flow answer) is the first hint. Returns the choice and whether both phases were
    proven optimal before the deadline.
    """
    from ortools.sat.python import cp_model

    n_init, n_expert = problem.shape
    weight = np.rint(pairs.score * SCORE_SCALE).astype(np.int64)
    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"x{p}") for p in range(pairs.init.size)]

    def total(indices: np.ndarray, coefficients=None):
        """Return the linear expression summing the chosen pairs at ``indices``."""
        variables = [chosen[p] for p in indices]
        if coefficients is None:
            return cp_model.LinearExpr.sum(variables)
        return cp_model.LinearExpr.weighted_sum(variables, coefficients.tolist())

    by_init = np.split(np.arange(pairs.init.size),
                       np.searchsorted(pairs.init, np.arange(1, n_init)))
    order = np.argsort(pairs.expert, kind="stable")
    by_expert = np.split(order, np.searchsorted(pairs.expert[order], np.arange(1, n_expert)))
    for i, indices in enumerate(by_init):
        if indices.size > problem.k[i]:
            model.add(total(indices) <= int(problem.k[i]))
    for e, indices in enumerate(by_expert):
        if indices.size > problem.capacity[e]:
            model.add(total(indices) <= int(problem.capacity[e]))
    grouped = np.flatnonzero(pairs.group >= 0)
    order = grouped[np.argsort(pairs.group[grouped], kind="stable")]
    for indices in np.split(order, np.flatnonzero(np.diff(pairs.group[order])) + 1):
        if indices.size:
            model.add_at_most_one(chosen[p] for p in indices)
    model.add(cp_model.LinearExpr.sum(chosen) == int(start.sum()))

    bound = int(np.abs(weight).max(initial=0)) * int(problem.k.max(initial=0)) + 1
    worst = model.new_int_var(-bound, bound, "worst")
    considered = [indices for indices in by_init if indices.size]
    for indices in considered:
        model.add(worst <= total(indices, weight[indices]))
    for p in np.flatnonzero(start):
        model.add_hint(chosen[p], True)
    for p in np.flatnonzero(~start):
        model.add_hint(chosen[p], False)

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = max(1, min(8, os.cpu_count() or 1))
    solver.parameters.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
    model.maximize(worst)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # Unreachable in practice: the min-cost flow answer is a feasible hint.
        return start, False
    optimal = status == cp_model.OPTIMAL
    best = np.array([solver.boolean_value(x) for x in chosen], dtype=bool)

    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        return best, False
    for indices in considered:
        model.add(total(indices, weight[indices]) >= int(solver.value(worst)))
    model.clear_hints()
    for p, value in enumerate(best):
        model.add_hint(chosen[p], bool(value))
    model.maximize(total(np.arange(pairs.init.size), weight))
    solver.parameters.max_time_in_seconds = remaining
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return best, False
    best = np.array([solver.boolean_value(x) for x in chosen], dtype=bool)
    return best, optimal and status == cp_model.OPTIMAL


def solve_assignment(problem: AssignmentProblem) -> AssignmentResult:
    """Assign reviewers to every initiative of a call, exactly.

    Covers as many (initiative, reviewer) slots as the mask, loads and diversity allow, then
    maximises the total affinity (min-cost flow, OR-Tools, network built and read as arrays).
    With ``problem.maximin`` the worst initiative's total comes before the overall total; that
    is solved exactly with CP-SAT for moderate sizes (about a hundred initiatives), and when the
    time limit is hit the best assignment found is returned with ``optimal=False``.
    Initiatives left short are listed in ``uncovered`` with the reason.
    """
    started = time.perf_counter()
    pairs = _candidate_pairs(problem)
    chosen = _min_cost_flow(problem, pairs)
    if not problem.maximin or not chosen.any():
        return _result(problem, pairs, chosen, started, True, "min_cost_flow")
    chosen, optimal = _maximin(problem, pairs, chosen, started + problem.time_limit)
    return _result(problem, pairs, chosen, started, optimal, "maximin")
