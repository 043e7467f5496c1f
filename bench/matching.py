"""Benchmark the matcher: encoding, top-k expert retrieval and the assignment of a whole call.

Prints markdown tables:

1. encoding throughput (texts/s) of ``EmbeddingService.encode`` against calling
   ``SentenceTransformer.encode`` directly on the same texts (the demo data's texts);
2. top-10 expert retrieval latency for 1k, 10k and 100k experts (random normalised 384-d
   vectors) through ``search.affinity.top_k``, with and without an exclusion mask, against a bare
   numpy matrix product + argpartition (the floor);
3. assignment solve time and objective (k=3, loads 3-6, uniform random affinities, 5% of pairs
   excluded) for 200 x 500, 1,000 x 2,000 and 2,000 x 5,000 initiatives x experts, with a greedy
   baseline for scale; optimality is checked against an independent solve on the smaller cases:
   the LP relaxation (``scipy.optimize.linprog``, integral for this network) and brute force;
4. the maximin option (CP-SAT) against plain min-cost flow: time, weakest initiative, total.

Two affinity generators: ``uniform`` (independent U(0, 1) scores, as the issue asks) and
``clustered`` (topic-clustered cosines where popular topics exhaust their experts' loads, the
case where an exact solver matters).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/matching.py            # full sizes
    HF_HUB_OFFLINE=1 .venv/bin/python bench/matching.py --quick    # about 2-3 minutes
    ... --assign 200x500,1000x2000 --experts 1000,10000 --texts 256 --no-encode
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search.affinity import top_k  # noqa: E402
from search.assignment import AssignmentProblem, solve_assignment  # noqa: E402
from search.embeddings import DEFAULT_MODEL, EmbeddingService  # noqa: E402

DEMO = ROOT / "initiatives" / "data" / "demo"
DIMENSION = 384


# --- encoding -----------------------------------------------------------------------------------

def demo_texts() -> list[str]:
    """Every text the portal embeds for the demo data (initiatives, demands, experts, papers)."""
    def read(name):
        return json.loads((DEMO / name).read_text(encoding="utf-8"))
    texts = []
    for item in read("initiatives.json"):
        parts = [item["title"], item.get("summary"), ", ".join(item.get("keywords") or []),
                 (item.get("description") or "")[:1500]]
        texts.append("\n".join(p for p in parts if p))
    for item in read("demands.json"):
        texts.append("\n".join(p for p in (item["title"], item.get("description")) if p))
    for item in read("experts.json"):
        texts.append("\n".join(p for p in (", ".join(item.get("keywords") or []), item.get("bio"))
                               if p))
        texts += ["\n".join(p for p in (pub["title"], pub.get("abstract")) if p)
                  for pub in item.get("publications", [])]
    return texts


def bench_encoding(n_texts: int, repeats: int, batch_size: int = 32) -> list[dict]:
    """Return texts/s of the service and of the model called directly, alternating runs."""
    base = demo_texts()
    texts = list(itertools.islice(itertools.cycle(base), n_texts))
    service = EmbeddingService(DEFAULT_MODEL)
    started = time.perf_counter()
    model = service.model
    load_seconds = time.perf_counter() - started
    service.encode(texts[:batch_size])  # warm-up: first call allocates and compiles
    model.encode(texts[:batch_size], batch_size=batch_size)

    def service_call():
        return service.encode(texts, batch_size=batch_size)

    def direct_call():
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False)

    timings = {"EmbeddingService.encode": [], "SentenceTransformer.encode (direct)": []}
    outputs = {}
    for _ in range(repeats):
        for name, call in zip(timings, (service_call, direct_call), strict=True):
            started = time.perf_counter()
            outputs[name] = call()
            timings[name].append(time.perf_counter() - started)
    a, b = outputs.values()
    max_diff = float(np.abs(a - b).max())
    return [{"what": name, "texts": n_texts, "unique": len(set(texts)),
             "batch": batch_size, "median_s": statistics.median(times),
             "texts_per_s": n_texts / statistics.median(times), "max_abs_diff": max_diff,
             "load_s": load_seconds} for name, times in timings.items()]


# --- retrieval ----------------------------------------------------------------------------------

def _unit(rng, n: int, d: int = DIMENSION) -> np.ndarray:
    vectors = rng.standard_normal((n, d), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _floor_top10(query: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    scores = matrix @ query
    best = np.argpartition(scores, scores.size - 10)[scores.size - 10:]
    return best[np.argsort(-scores[best])]


def _interleaved_ms(calls: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Time the calls in turn, ``repeats`` rounds; return (median, minimum) ms per call.

    Interleaving keeps the comparison fair when the machine's load changes during the run.
    """
    times = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(1000 * (time.perf_counter() - started))
    return {name: (statistics.median(values), min(values)) for name, values in times.items()}


def bench_retrieval(sizes: list[int], seed: int = 0) -> list[dict]:
    """Return median and best latency (ms) of one top-10 query for each number of experts."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        matrix = _unit(rng, n)
        queries = _unit(rng, 64)
        allowed = rng.random(n) > 0.05  # conflicted or fully loaded experts
        repeats = max(30, min(500, 3_000_000 // n))
        cycle = itertools.cycle(queries)
        timings = _interleaved_ms({
            "floor": lambda c=cycle, m=matrix: _floor_top10(next(c), m),
            "top_k": lambda c=cycle, m=matrix: top_k(next(c), m, 10),
            "top_k_masked": lambda c=cycle, m=matrix, a=allowed: top_k(next(c), m, 10, allowed=a),
        }, repeats)
        for query in queries[:8]:  # same answer as the floor
            assert top_k(query, matrix, 10)[0].tolist() == _floor_top10(query, matrix).tolist()
        rows.append({"experts": n, "repeats": repeats, **timings})
    return rows


# --- assignment ---------------------------------------------------------------------------------

def clustered_affinity(rng, n_init: int, n_expert: int, n_topics: int = 40,
                       d: int = 64) -> np.ndarray:
    """Cosines of topic-clustered vectors: initiatives crowd into a few popular topics while
    experts spread evenly, so the best experts of popular topics run out of load."""
    centres = _unit(rng, n_topics, d)
    popularity = 1.0 / np.arange(1, n_topics + 1)  # Zipf: topic 1 is 40 times topic 40
    init_topic = rng.choice(n_topics, size=n_init, p=popularity / popularity.sum())
    expert_topic = rng.integers(0, n_topics, size=n_expert)
    inits = centres[init_topic] + 0.6 * _unit(rng, n_init, d)
    experts = centres[expert_topic] + 0.6 * _unit(rng, n_expert, d)
    inits /= np.linalg.norm(inits, axis=1, keepdims=True)
    experts /= np.linalg.norm(experts, axis=1, keepdims=True)
    return (inits @ experts.T).astype(np.float64)


def random_call(n_init: int, n_expert: int, seed: int, k: int = 3, load=(3, 6),
                excluded: float = 0.05, kind: str = "uniform") -> AssignmentProblem:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        affinity = rng.random((n_init, n_expert))
    else:
        affinity = clustered_affinity(rng, n_init, n_expert)
    allowed = rng.random((n_init, n_expert)) >= excluded
    capacity = rng.integers(load[0], load[1] + 1, size=n_expert)
    return AssignmentProblem(affinity=affinity, capacity=capacity, k=k, allowed=allowed)


def greedy(problem: AssignmentProblem) -> tuple[float, int]:
    """Best pair first while k and load allow: the baseline peers warn against."""
    init, expert = np.nonzero(problem.allowed)
    score = problem.affinity[init, expert]
    order = np.argsort(-score, kind="stable")
    need = problem.k.copy()
    load = problem.capacity.copy()
    total, count = 0.0, 0
    for i, e, s in zip(init[order].tolist(), expert[order].tolist(), score[order].tolist(),
                       strict=True):
        if need[i] and load[e]:
            need[i] -= 1
            load[e] -= 1
            total += s
            count += 1
    return total, count


def lp_relaxation(problem: AssignmentProblem) -> tuple[float, float]:
    """Return the LP optimum (max coverage, then total) and how far x is from integral."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    n_init, n_expert = problem.shape
    init, expert = np.nonzero(problem.allowed)
    n = init.size
    score = problem.affinity[init, expert]
    big = 2.0 * np.abs(score).sum() + 1.0  # one more pair outweighs any total
    a_ub = vstack([coo_matrix((np.ones(n), (init, np.arange(n))), shape=(n_init, n)),
                   coo_matrix((np.ones(n), (expert, np.arange(n))), shape=(n_expert, n))])
    b_ub = np.concatenate([problem.k, problem.capacity])
    solution = linprog(-(big + score), A_ub=a_ub.tocsr(), b_ub=b_ub, bounds=(0, 1),
                       method="highs")
    if solution.status != 0:
        raise RuntimeError(solution.message)
    x = solution.x
    return float(score @ x), float(np.abs(x - np.rint(x)).max())


def brute_force(problem: AssignmentProblem) -> float:
    """Exhaustive best total over every full assignment of a tiny call."""
    n_init, _ = problem.shape
    options = [list(itertools.combinations(np.flatnonzero(problem.allowed[i]).tolist(),
                                           int(problem.k[i]))) for i in range(n_init)]
    best = -np.inf
    for choice in itertools.product(*options):
        load = np.bincount([e for subset in choice for e in subset],
                           minlength=problem.shape[1])
        if (load <= problem.capacity).all():
            best = max(best, sum(problem.affinity[i, list(s)].sum()
                                 for i, s in enumerate(choice)))
    return float(best)


def bench_assignment(sizes: list[tuple[int, int]], lp_up_to: int, seed: int = 0,
                     kinds: tuple[str, ...] = ("uniform",)) -> list[dict]:
    rows = []
    for (n_init, n_expert), kind in itertools.product(sizes, kinds):
        problem = random_call(n_init, n_expert, seed, kind=kind)
        result = solve_assignment(problem)
        greedy_total, greedy_count = greedy(problem)
        row = {"size": f"{n_init} x {n_expert}", "kind": kind,
               "pairs": int(problem.allowed.sum()),
               "seconds": result.solve_time, "objective": result.objective,
               "assigned": int(result.counts.sum()), "wanted": int(problem.k.sum()),
               "uncovered": len(result.uncovered), "greedy": greedy_total,
               "greedy_assigned": greedy_count, "check": "—"}
        if n_init * n_expert <= lp_up_to:
            started = time.perf_counter()
            lp_total, frac = lp_relaxation(problem)
            row["check"] = (f"LP {lp_total:.4f} (gap {lp_total - result.objective:+.1e}, "
                            f"{time.perf_counter() - started:.1f} s)")
            assert abs(lp_total - result.objective) < 1e-6 * n_init * 3 + 1e-6, row
        rows.append(row)
        print(f"  assignment {row['size']} {kind}: {row['seconds']:.2f} s", file=sys.stderr)
    return rows


def optimality_checks(seed: int = 0) -> list[dict]:
    """Small calls solved exactly three ways: min-cost flow, LP relaxation, brute force."""
    rows = []
    for case, (n_init, n_expert, k, load) in enumerate([(4, 5, 2, (1, 2)), (5, 6, 2, (1, 2)),
                                                       (30, 60, 3, (1, 3)),
                                                       (100, 200, 3, (1, 2))]):
        problem = random_call(n_init, n_expert, seed + case, k=k, load=load, excluded=0.2)
        result = solve_assignment(problem)
        lp_total, frac = lp_relaxation(problem)
        brute = brute_force(problem) if n_init * n_expert <= 30 else None
        rows.append({"size": f"{n_init} x {n_expert}, k={k}, load {load[0]}-{load[1]}",
                     "objective": result.objective, "lp": lp_total, "fractional": frac,
                     "brute": brute, "assigned": int(result.counts.sum())})
        assert abs(lp_total - result.objective) < 1e-5, rows[-1]
        if brute is not None and result.counts.sum() == problem.k.sum():
            assert abs(brute - result.objective) < 1e-5, rows[-1]
    return rows


def bench_maximin(n_init: int, n_expert: int, seed: int = 0) -> dict:
    # Clustered affinities: with uniform ones every initiative finds good reviewers anyway.
    problem = random_call(n_init, n_expert, seed, kind="clustered")
    plain = solve_assignment(problem)
    problem.maximin = True
    problem.time_limit = 120.0
    fair = solve_assignment(problem)
    return {"size": f"{n_init} x {n_expert}", "plain_s": plain.solve_time,
            "maximin_s": fair.solve_time, "plain_min": float(plain.totals.min()),
            "maximin_min": float(fair.totals.min()), "plain_total": plain.objective,
            "maximin_total": fair.objective, "optimal": fair.optimal}


# --- output -------------------------------------------------------------------------------------

def _sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in part.lower().split("x")) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: 128 texts, 1k/10k experts, 200x500 only")
    parser.add_argument("--texts", type=int, help="texts to encode (default 512, quick 128)")
    parser.add_argument("--repeats", type=int, default=3, help="encoding runs per variant")
    parser.add_argument("--experts", help="comma-separated expert counts for retrieval")
    parser.add_argument("--assign", help="comma-separated IxE assignment sizes, e.g. 200x500")
    parser.add_argument("--lp-up-to", type=int, default=100_000,
                        help="check sizes with at most this many pairs against the LP")
    parser.add_argument("--maximin", help="comma-separated IxE sizes for the maximin comparison "
                        "(default 100x250,200x500, quick 100x250; '' to skip)")
    parser.add_argument("--kinds", default="uniform,clustered",
                        help="affinity generators for the assignment: uniform (independent "
                             "U(0,1) scores) and/or clustered (topic-clustered cosines where "
                             "popular topics exhaust their experts' loads)")
    parser.add_argument("--no-encode", action="store_true", help="skip the model benchmark")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_texts = args.texts or (128 if args.quick else 512)
    experts = [int(n) for n in (args.experts or ("1000,10000" if args.quick
                                                 else "1000,10000,100000")).split(",")]
    if args.maximin is None:
        args.maximin = "100x250" if args.quick else "100x250,200x500"
    assign = _sizes(args.assign or ("200x500" if args.quick else "200x500,1000x2000,2000x5000"))

    import torch
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); load average at start "
          f"{os.getloadavg()[0]:.1f}.\n")

    if not args.no_encode:
        rows = bench_encoding(n_texts, args.repeats)
        print(f"### Encoding ({DEFAULT_MODEL}, CPU, {rows[0]['texts']} demo texts of which "
              f"{rows[0]['unique']} distinct, batch {rows[0]['batch']}, median of "
              f"{args.repeats} runs; model load {rows[0]['load_s']:.1f} s)\n")
        print("| call | median time (s) | texts/s |")
        print("|---|---|---|")
        for row in rows:
            print(f"| {row['what']} | {row['median_s']:.2f} | {row['texts_per_s']:.1f} |")
        print(f"\nLargest difference between the two outputs: {rows[0]['max_abs_diff']:.1e}.\n")

    rows = bench_retrieval(experts, args.seed)
    print("### Top-10 expert retrieval (one 384-d float32 query; median / best of the "
          "interleaved runs)\n")
    print("| experts | runs | numpy floor (ms) | top_k (ms) | top_k with 5% excluded (ms) | "
          "top_k / floor (median) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        cells = " | ".join(f"{row[name][0]:.3f} / {row[name][1]:.3f}"
                           for name in ("floor", "top_k", "top_k_masked"))
        print(f"| {row['experts']:,} | {row['repeats']} | {cells} | "
              f"{row['top_k'][0] / row['floor'][0]:.2f} |")
    print()

    rows = bench_assignment(assign, args.lp_up_to, args.seed, tuple(args.kinds.split(",")))
    print("### Assignment of a call (k=3, load 3-6, 5% of pairs excluded at random)\n")
    print("| initiatives x experts | affinity | allowed pairs | build + solve (s) | objective | "
          "assigned / wanted | uncovered | greedy objective | greedy assigned | "
          "independent check |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['size']} | {row['kind']} | {row['pairs']:,} | {row['seconds']:.2f} | "
              f"{row['objective']:.4f} | {row['assigned']:,} / {row['wanted']:,} | "
              f"{row['uncovered']} | {row['greedy']:.4f} | {row['greedy_assigned']:,} | "
              f"{row['check']} |")
    print()

    rows = optimality_checks(args.seed)
    print("### Optimality on small calls (20% pairs excluded, tight loads)\n")
    print("| call | min-cost flow | LP relaxation | max fractional part of LP x | brute force |")
    print("|---|---|---|---|---|")
    for row in rows:
        brute = "—" if row["brute"] is None else f"{row['brute']:.6f}"
        print(f"| {row['size']} | {row['objective']:.6f} | {row['lp']:.6f} | "
              f"{row['fractional']:.1e} | {brute} |")
    print()

    if args.maximin:
        print("### Maximin option (CP-SAT, 120 s limit) against plain min-cost flow (clustered "
              "affinity, k=3, load 3-6)\n")
        print("| call | min-cost flow (s) | maximin (s) | weakest initiative: plain → maximin | "
              "total: plain → maximin | proven optimal |")
        print("|---|---|---|---|---|---|")
        for n_init, n_expert in _sizes(args.maximin):
            row = bench_maximin(n_init, n_expert, args.seed)
            print(f"| {row['size']} | {row['plain_s']:.2f} | {row['maximin_s']:.2f} | "
                  f"{row['plain_min']:.4f} → {row['maximin_min']:.4f} | "
                  f"{row['plain_total']:.4f} → {row['maximin_total']:.4f} | {row['optimal']} |",
                  flush=True)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
