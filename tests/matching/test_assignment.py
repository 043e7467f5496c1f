"""Reviewer assignment of a call: exact (checked by brute force and an independent MILP), every
constraint kept, shortfalls named with their reason, and the maximin option."""

import itertools

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from search.assignment import (
    LOAD_EXHAUSTED,
    NOT_ENOUGH_EXPERTS,
    AssignmentProblem,
    AssignmentResult,
    Uncovered,
    solve_assignment,
)

# Costs are rounded to 1e-6 per pair, so totals of a few dozen pairs agree to about 1e-5.
TOL = 1e-5


# --- independent checks ---------------------------------------------------------------------------

def check_feasible(problem: AssignmentProblem, result: AssignmentResult) -> None:
    """Assert every constraint of the call holds for ``result``."""
    n_init, n_expert = problem.shape
    pairs = list(zip(result.init_idx.tolist(), result.expert_idx.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs), "an expert reviews the same initiative twice"
    for i, e in pairs:
        assert problem.allowed[i, e], f"forbidden pair ({i}, {e}) used"
    counts = np.bincount(result.init_idx, minlength=n_init)
    load = np.bincount(result.expert_idx, minlength=n_expert)
    assert (counts <= problem.k).all(), "an initiative got more than k reviewers"
    assert (load <= problem.capacity).all(), "an expert got more than their remaining load"
    np.testing.assert_array_equal(result.counts, counts)
    np.testing.assert_allclose(result.score, problem.affinity[result.init_idx, result.expert_idx])
    np.testing.assert_allclose(result.totals, np.bincount(result.init_idx, weights=result.score,
                                                          minlength=n_init), atol=1e-9)
    assert result.objective == pytest.approx(result.score.sum(), abs=1e-9)
    if problem.diverse:
        for i in range(n_init):
            orgs = problem.organisation[result.reviewers(i)]
            orgs = orgs[orgs >= 0]
            assert len(orgs) == len(set(orgs.tolist())), f"two reviewers of one organisation on {i}"
    short = {u.init_idx: u.missing for u in result.uncovered}
    assert short == {i: int(problem.k[i] - counts[i]) for i in range(n_init)
                     if counts[i] < problem.k[i]}


def brute_force(problem: AssignmentProblem, maximin: bool = False):
    """Enumerate every assignment; return the best (coverage, [worst,] total) and one argmax.

    Options per initiative are the subsets of at most k allowed experts (at most one per
    organisation with ``diverse``); every combination of options is scored at once with numpy.
    """
    n_init, n_expert = problem.shape
    options = []
    for i in range(n_init):
        allowed = np.flatnonzero(problem.allowed[i])
        subsets = []
        for size in range(int(problem.k[i]) + 1):
            for subset in itertools.combinations(allowed.tolist(), size):
                if problem.diverse:
                    orgs = [problem.organisation[e] for e in subset if problem.organisation[e] >= 0]
                    if len(orgs) != len(set(orgs)):
                        continue
                subsets.append(subset)
        load = np.zeros((len(subsets), n_expert), dtype=np.int64)
        total = np.zeros(len(subsets))
        for s, subset in enumerate(subsets):
            load[s, list(subset)] = 1
            total[s] = problem.affinity[i, list(subset)].sum()
        size = np.array([len(s) for s in subsets])
        options.append((subsets, load, total, size))
    grids = np.meshgrid(*[np.arange(len(o[0])) for o in options], indexing="ij")
    choice = [g.ravel() for g in grids]
    load = sum(options[i][1][choice[i]] for i in range(n_init))
    per_init = np.stack([options[i][2][choice[i]] for i in range(n_init)], axis=1)
    coverage = sum(options[i][3][choice[i]] for i in range(n_init))
    total = per_init.sum(axis=1)
    feasible = (load <= problem.capacity).all(axis=1)
    best_cover = coverage[feasible].max()
    keep = feasible & (coverage == best_cover)
    if not maximin:
        best = np.flatnonzero(keep)[np.argmax(total[keep])]
        return best_cover, total[best], [options[i][0][choice[i][best]] for i in range(n_init)]
    # The worst total runs over initiatives that want reviewers and have a usable expert.
    has_candidate = (problem.allowed & (problem.capacity[None, :] > 0)).any(axis=1) & (
        problem.k > 0)
    worst = per_init[:, has_candidate].min(axis=1)
    best_worst = worst[keep].max()
    keep &= worst >= best_worst - 1e-9
    best = np.flatnonzero(keep)[np.argmax(total[keep])]
    return best_cover, best_worst, total[best]


def milp_optimum(problem: AssignmentProblem) -> tuple[int, float]:
    """Solve the same call with scipy's MILP (HiGHS): max coverage, then max total affinity."""
    n_init, n_expert = problem.shape
    usable = problem.allowed & (problem.capacity[None, :] > 0) & (problem.k[:, None] > 0)
    init, expert = np.nonzero(usable)
    n = init.size
    score = problem.affinity[init, expert]
    # Every extra pair is worth more than any difference in total affinity.
    big = 2.0 * np.abs(score).sum() + 1.0
    rows = [coo_matrix((np.ones(n), (init, np.arange(n))), shape=(n_init, n)),
            coo_matrix((np.ones(n), (expert, np.arange(n))), shape=(n_expert, n))]
    upper = [problem.k, problem.capacity]
    if problem.diverse:
        org = problem.organisation[expert]
        keyed = org >= 0
        keys, group = np.unique(init[keyed] * (org.max() + 1) + org[keyed], return_inverse=True)
        rows.append(coo_matrix((np.ones(keyed.sum()), (group.ravel(), np.flatnonzero(keyed))),
                               shape=(keys.size, n)))
        upper.append(np.ones(keys.size))
    from scipy.sparse import vstack
    constraint = LinearConstraint(vstack(rows).tocsr(), -np.inf, np.concatenate(upper))
    solution = milp(-(big + score), constraints=constraint, integrality=np.ones(n),
                    bounds=Bounds(0, 1))
    assert solution.success
    x = np.rint(solution.x).astype(bool)
    return int(x.sum()), float(score[x].sum())


def random_problem(rng, n_init, n_expert, k=2, forbid=0.2, load=(1, 3), diverse=False,
                   n_orgs=3, maximin=False):
    affinity = rng.uniform(-0.2, 1.0, size=(n_init, n_expert))
    allowed = rng.random((n_init, n_expert)) >= forbid
    affinity[~allowed & (rng.random((n_init, n_expert)) < 0.5)] = np.nan  # "no score" is masked
    capacity = rng.integers(load[0], load[1] + 1, size=n_expert)
    organisation = rng.integers(-1, n_orgs, size=n_expert)
    return AssignmentProblem(affinity=affinity, capacity=capacity, k=k, allowed=allowed,
                             organisation=organisation, diverse=diverse, maximin=maximin)


# --- optimality -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(30))
def test_min_cost_flow_is_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    # 4 initiatives x 5 experts, k=2; tight loads and conflicts make some cases short.
    problem = random_problem(rng, 4, 5, k=2, forbid=0.25, load=(0, 3), diverse=seed % 3 == 0)
    result = solve_assignment(problem)
    check_feasible(problem, result)
    cover, total, _ = brute_force(problem)
    assert result.counts.sum() == cover
    assert result.objective == pytest.approx(total, abs=TOL)
    assert result.optimal and result.method == "min_cost_flow"


@pytest.mark.parametrize("seed", range(12))
def test_min_cost_flow_optimal_with_mixed_k_against_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    k = rng.integers(0, 4, size=4)
    problem = random_problem(rng, 4, 5, k=k, forbid=0.3, load=(0, 2), diverse=bool(seed % 2))
    result = solve_assignment(problem)
    check_feasible(problem, result)
    cover, total, _ = brute_force(problem)
    assert result.counts.sum() == cover
    assert result.objective == pytest.approx(total, abs=TOL)


@pytest.mark.parametrize("seed", range(8))
def test_maximin_is_optimal_against_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    problem = random_problem(rng, 4, 5, k=2, forbid=0.2, load=(1, 2), diverse=seed % 2 == 0,
                             maximin=True)
    result = solve_assignment(problem)
    check_feasible(problem, result)
    cover, worst, total = brute_force(problem, maximin=True)
    assert result.method == "maximin" and result.optimal
    assert result.counts.sum() == cover
    considered = (problem.allowed & (problem.capacity[None, :] > 0)).any(axis=1)
    assert result.totals[considered].min() == pytest.approx(worst, abs=TOL)
    assert result.objective == pytest.approx(total, abs=TOL)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("diverse", [False, True])
def test_larger_random_calls_match_an_independent_milp(seed, diverse):
    rng = np.random.default_rng(300 + seed)
    problem = random_problem(rng, 40, 70, k=3, forbid=0.3, load=(0, 3), diverse=diverse,
                             n_orgs=12)
    result = solve_assignment(problem)
    check_feasible(problem, result)
    cover, total = milp_optimum(problem)
    assert result.counts.sum() == cover
    assert result.objective == pytest.approx(total, abs=1e-4)


def test_tiny_and_close_scores_stay_assignable_and_distinguishable():
    # Pairs under 0.01 are still assigned (no truncation to hundredths) ...
    problem = AssignmentProblem(affinity=np.array([[0.004, 0.002]]), capacity=np.array([1, 1]),
                                k=2)
    assert solve_assignment(problem).counts.tolist() == [2]
    # ... and scores 1e-5 apart are told apart.
    problem = AssignmentProblem(affinity=np.array([[0.00500, 0.00501, 0.00499]]),
                                capacity=np.array([1, 1, 1]), k=1)
    assert solve_assignment(problem).expert_idx.tolist() == [1]
    # A negative affinity is a poor match, not a forbidden one.
    problem = AssignmentProblem(affinity=np.array([[-0.3, -0.1]]), capacity=np.array([1, 1]),
                                k=2)
    result = solve_assignment(problem)
    assert result.counts.tolist() == [2] and not result.uncovered
    assert result.objective == pytest.approx(-0.4)


def test_coverage_comes_before_total_affinity():
    # Giving A its great expert X would leave B without anyone: both must be covered.
    affinity = np.array([[0.95, 0.10], [0.90, np.nan]])
    allowed = np.array([[True, True], [True, False]])
    problem = AssignmentProblem(affinity=affinity, allowed=allowed, capacity=np.array([1, 1]), k=1)
    result = solve_assignment(problem)
    pairs = zip(result.init_idx.tolist(), result.expert_idx.tolist(), strict=True)
    assert sorted(pairs) == [(0, 1), (1, 0)]
    assert not result.uncovered


# --- constraints on random calls ----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(10))
def test_every_constraint_holds_on_random_calls(seed):
    rng = np.random.default_rng(400 + seed)
    n_init, n_expert = rng.integers(20, 80), rng.integers(30, 120)
    k = rng.integers(1, 5, size=n_init)
    max_load = rng.integers(0, 6, size=n_expert)
    held = rng.integers(0, 4, size=n_expert)  # assignments the experts already hold
    capacity = np.maximum(max_load - held, 0)
    allowed = rng.random((n_init, n_expert)) > 0.35
    problem = AssignmentProblem(affinity=rng.uniform(0, 1, (n_init, n_expert)), capacity=capacity,
                                k=k, allowed=allowed, diverse=True,
                                organisation=rng.integers(-1, 15, size=n_expert))
    result = solve_assignment(problem)
    check_feasible(problem, result)
    load = np.bincount(result.expert_idx, minlength=n_expert)
    assert (held + load <= np.maximum(max_load, held)).all()
    assert not result.expert_idx[np.isin(result.expert_idx, np.flatnonzero(capacity == 0))].size
    for u in result.uncovered:
        assert u.reason in (NOT_ENOUGH_EXPERTS, LOAD_EXHAUSTED)


def test_forbidden_pairs_are_never_used_even_when_they_score_best():
    rng = np.random.default_rng(5)
    affinity = rng.uniform(0, 0.5, (15, 25))
    allowed = np.ones_like(affinity, dtype=bool)
    # Every initiative's conflicted experts are the ones with the best score.
    affinity[:, :5] = 0.99
    allowed[:, :5] = False
    result = solve_assignment(AssignmentProblem(affinity=affinity, allowed=allowed,
                                                capacity=np.full(25, 3), k=3))
    assert not np.isin(result.expert_idx, np.arange(5)).any()
    assert result.counts.tolist() == [3] * 15


def test_diversity_keeps_one_reviewer_per_organisation():
    # Three strong experts from one university (written differently upstream, one group id
    # here) and two weaker ones from elsewhere; k=3.
    affinity = np.array([[0.9, 0.85, 0.8, 0.3, 0.2]])
    organisation = np.array([7, 7, 7, 2, -1])
    plain = solve_assignment(AssignmentProblem(affinity=affinity, capacity=np.ones(5, int), k=3,
                                               organisation=organisation))
    assert sorted(plain.expert_idx.tolist()) == [0, 1, 2]
    diverse = solve_assignment(AssignmentProblem(affinity=affinity, capacity=np.ones(5, int), k=3,
                                                 organisation=organisation, diverse=True))
    assert sorted(diverse.expert_idx.tolist()) == [0, 3, 4]
    assert diverse.objective == pytest.approx(1.4)
    # Experts without an organisation (-1) never count as one group.
    alone = solve_assignment(AssignmentProblem(affinity=affinity, capacity=np.ones(5, int), k=3,
                                               organisation=np.full(5, -1), diverse=True))
    assert sorted(alone.expert_idx.tolist()) == [0, 1, 2]


# --- shortfalls ---------------------------------------------------------------------------------

def test_not_enough_non_conflicted_experts_is_named():
    affinity = np.full((3, 4), 0.5)
    allowed = np.array([[True, True, True, True],
                        [True, False, False, False],  # one usable expert, k=2
                        [False, False, False, False]])  # nobody at all
    result = solve_assignment(AssignmentProblem(affinity=affinity, allowed=allowed,
                                                capacity=np.full(4, 5), k=2))
    assert result.uncovered == [Uncovered(1, 1, NOT_ENOUGH_EXPERTS),
                                Uncovered(2, 2, NOT_ENOUGH_EXPERTS)]
    assert result.counts.tolist() == [2, 1, 0]


def test_load_exhausted_is_named():
    # Four initiatives want 2 reviewers each; three experts have 2 slots left in total... 6 < 8.
    affinity = np.array([[0.9, 0.8, 0.1], [0.7, 0.6, 0.5], [0.4, 0.3, 0.2], [0.5, 0.5, 0.5]])
    result = solve_assignment(AssignmentProblem(affinity=affinity, capacity=np.array([2, 2, 2]),
                                                k=2))
    assert result.counts.sum() == 6
    assert {u.reason for u in result.uncovered} == {LOAD_EXHAUSTED}
    assert sum(u.missing for u in result.uncovered) == 2
    # Experts at their maximum load (capacity 0) are non-conflicted but loaded.
    result = solve_assignment(AssignmentProblem(affinity=affinity[:1], capacity=np.zeros(3, int),
                                                k=2))
    assert result.uncovered == [Uncovered(0, 2, LOAD_EXHAUSTED)]


def test_reasons_tell_conflicts_from_load_in_one_call():
    affinity = np.full((2, 3), 0.5)
    allowed = np.array([[True, False, False], [True, True, True]])
    capacity = np.array([1, 0, 0])
    result = solve_assignment(AssignmentProblem(affinity=affinity, allowed=allowed,
                                                capacity=capacity, k=2))
    by_init = {u.init_idx: u for u in result.uncovered}
    assert by_init[0].reason == NOT_ENOUGH_EXPERTS  # only one expert is allowed at all
    assert by_init[1].reason == LOAD_EXHAUSTED  # three allowed, none with load left
    assert result.counts.sum() == 1


def test_diversity_shortfall_counts_an_organisation_once():
    affinity = np.full((1, 3), 0.5)
    result = solve_assignment(AssignmentProblem(affinity=affinity, capacity=np.ones(3, int), k=2,
                                                organisation=np.array([4, 4, 4]), diverse=True))
    assert result.uncovered == [Uncovered(0, 1, NOT_ENOUGH_EXPERTS)]


@pytest.mark.parametrize("maximin", [False, True])
@pytest.mark.parametrize("shape, k, capacity", [
    ((0, 0), 3, np.zeros(0, int)),
    ((0, 4), 3, np.ones(4, int)),
    ((3, 0), 2, np.zeros(0, int)),
    ((3, 4), 0, np.ones(4, int)),
    ((3, 4), 2, np.zeros(4, int)),
])
def test_degenerate_calls_do_not_crash(shape, k, capacity, maximin):
    problem = AssignmentProblem(affinity=np.full(shape, 0.5), capacity=capacity, k=k,
                                maximin=maximin)
    result = solve_assignment(problem)
    check_feasible(problem, result)
    assert result.init_idx.size == 0 and result.objective == 0.0
    assert len(result.uncovered) == (shape[0] if k and shape[0] else 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"affinity": np.zeros(3), "capacity": np.ones(3, int)}, "2-D"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(2, int)}, "capacity must have shape"),
    ({"affinity": np.zeros((2, 3)), "capacity": 2}, "capacity must have shape"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.array([1, -1, 1])}, "negative"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(3), "k": 1.5}, "whole numbers"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(3, int), "k": [1, 2, 3]}, "k must"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(3, int), "allowed": np.ones((3, 2))},
     "allowed must"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(3, int), "allowed": np.full((2, 3), 2)},
     "boolean"),
    ({"affinity": np.full((2, 3), np.nan), "capacity": np.ones(3, int)}, "finite"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(3, int), "diverse": True},
     "organisation"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(3, int),
      "organisation": np.array([0, -2, 1])}, "organisation"),
    ({"affinity": np.zeros((2, 3)), "capacity": np.ones(3, int), "time_limit": 0}, "time_limit"),
])
def test_bad_problems_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AssignmentProblem(**kwargs)


def test_scores_too_wide_for_integer_costs_raise_value_error():
    problem = AssignmentProblem(affinity=np.array([[1e12, -1e12], [0.0, 1.0]]),
                                capacity=np.array([2, 2]), k=1)
    with pytest.raises(ValueError, match="too wide"):
        solve_assignment(problem)


# --- maximin ------------------------------------------------------------------------------------

def test_maximin_raises_the_weakest_initiative_on_a_crafted_call():
    # X is the better reviewer for both, with one slot. The best total gives X to A and leaves B
    # with a poor reviewer; maximin hands X to B.
    affinity = np.array([[0.9, 0.2],   # A
                         [0.5, 0.1]])  # B
    capacity = np.array([1, 1])
    plain = solve_assignment(AssignmentProblem(affinity=affinity, capacity=capacity, k=1))
    fair = solve_assignment(AssignmentProblem(affinity=affinity, capacity=capacity, k=1,
                                              maximin=True))
    assert plain.totals.tolist() == pytest.approx([0.9, 0.1])
    assert fair.totals.tolist() == pytest.approx([0.2, 0.5])
    assert fair.totals.min() > plain.totals.min()
    assert fair.objective < plain.objective
    assert fair.method == "maximin" and fair.optimal


def test_maximin_breaks_ties_on_the_minimum_by_total():
    # Both assignments give the weakest initiative 0.3; the better total must win.
    affinity = np.array([[0.3, 0.3, 0.0], [0.9, 0.4, 0.0]])
    fair = solve_assignment(AssignmentProblem(affinity=affinity, capacity=np.array([1, 1, 1]), k=1,
                                              maximin=True))
    assert fair.totals.tolist() == pytest.approx([0.3, 0.9])


@pytest.mark.parametrize("seed", range(8))
def test_maximin_never_lowers_the_minimum_or_coverage(seed):
    rng = np.random.default_rng(500 + seed)
    problem = random_problem(rng, 20, 35, k=3, forbid=0.3, load=(1, 3), diverse=bool(seed % 2),
                             n_orgs=8)
    plain = solve_assignment(problem)
    problem.maximin = True
    problem.time_limit = 60.0
    fair = solve_assignment(problem)
    check_feasible(problem, fair)
    assert fair.counts.sum() == plain.counts.sum()
    considered = (problem.allowed & (problem.capacity[None, :] > 0)).any(axis=1)
    assert fair.totals[considered].min() >= plain.totals[considered].min() - TOL
    assert fair.objective <= plain.objective + TOL
