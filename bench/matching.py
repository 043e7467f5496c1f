"""Benchmark the matcher: encoding, top-k expert retrieval and the assignment of a whole call.

Prints markdown tables:

1. encoding throughput (texts/s) of ``EmbeddingService.encode`` against calling
   ``SentenceTransformer.encode`` directly on the same texts (the demo data's texts), and of the
   portal's own path, ``vectors.embed`` with the glossary bridge on (Vietnamese texts encoded
   twice), against the service on the same texts;
2. top-10 expert retrieval latency for 1k, 10k and 100k experts (random normalised 384-d
   vectors) through ``search.affinity.top_k``, with and without an exclusion mask, against a bare
   numpy matrix product + argpartition (the floor); then as the portal ranks experts: a profile
   and 2-6 publications each, aggregated with the default method over the grouped matrix the
   portal keeps, against the per-expert path it replaced and the floor;
   and ``matching.experts_for_query`` end to end on a seeded SQLite database (1k and 10k
   experts), the query's encoding timed apart, with the vectors read from the database and
   from the process's cache;
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
    ... --parts retrieval,portal        # the retrieval tables only (no model load but the query's)
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

def demo_texts() -> tuple[list[str], list[str | None]]:
    """Every text the portal embeds for the demo data (initiatives, demands, experts, papers),
    and the language the portal passes with each (None: guessed, as for experts' texts)."""
    def read(name):
        return json.loads((DEMO / name).read_text(encoding="utf-8"))
    texts, languages = [], []
    for item in read("initiatives.json"):
        parts = [item["title"], item.get("summary"), ", ".join(item.get("keywords") or []),
                 (item.get("description") or "")[:1500]]
        texts.append("\n".join(p for p in parts if p))
        languages.append(item.get("language"))
    for item in read("demands.json"):
        texts.append("\n".join(p for p in (item["title"], item.get("description")) if p))
        languages.append(item.get("language"))
    for item in read("experts.json"):
        texts.append("\n".join(p for p in (", ".join(item.get("keywords") or []), item.get("bio"))
                               if p))
        texts += ["\n".join(p for p in (pub["title"], pub.get("abstract")) if p)
                  for pub in item.get("publications", [])]
        languages += [None] * (1 + len(item.get("publications", [])))
    return texts, languages


def bench_encoding(n_texts: int, repeats: int, batch_size: int = 32) -> list[dict]:
    """Return texts/s of the service and of the model called directly, alternating runs."""
    base, _languages = demo_texts()
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


def bench_portal_encoding(n_texts: int, repeats: int, batch_size: int = 32) -> list[dict]:
    """Return texts/s of the portal's own encoding path, ``vectors.embed`` with the
    ``EMBEDDING_BRIDGE`` setting on (a Vietnamese text is encoded a second time as the English
    of its glossary terms, search/glossary.py), against ``EmbeddingService.encode`` on the same
    texts, alternating runs."""
    import tempfile

    from search import vectors

    base, base_languages = demo_texts()
    texts = list(itertools.islice(itertools.cycle(base), n_texts))
    languages = list(itertools.islice(itertools.cycle(base_languages), n_texts))
    service = EmbeddingService(DEFAULT_MODEL)
    with tempfile.TemporaryDirectory() as workdir:
        app = _portal(Path(workdir), EMBEDDING_BRIDGE=True)
        with app.app_context():
            vectors.embed(texts[:batch_size], languages[:batch_size], batch_size)  # warm-up
            bridged = sum(1 for text, language in zip(texts, languages, strict=True)
                          if language != "en" and vectors.bridge(text, language))
            calls = {"EmbeddingService.encode": lambda: service.encode(texts, batch_size=batch_size),
                     "portal path, bridge on (vectors.embed)":
                         lambda: vectors.embed(texts, languages, batch_size)}
            timings = {name: [] for name in calls}
            for _ in range(repeats):
                for name, call in calls.items():
                    started = time.perf_counter()
                    call()
                    timings[name].append(time.perf_counter() - started)
    return [{"what": name, "texts": n_texts, "bridged": bridged, "median_s": statistics.median(times),
             "texts_per_s": n_texts / statistics.median(times)} for name, times in timings.items()]


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


# --- the portal's retrieval path ---------------------------------------------------------------

def _expert_blocks(rng, n: int, publications: tuple[int, int] = (2, 6)) -> list[np.ndarray]:
    """Per expert a profile vector and 2-6 publication vectors (views of one random matrix)."""
    counts = 1 + rng.integers(publications[0], publications[1] + 1, size=n)
    return np.split(_unit(rng, int(counts.sum())), np.cumsum(counts)[:-1])


def _portal_layout(blocks: list[np.ndarray]):
    """The experts' texts as search/vectors.py keeps them: every profile vector, then every
    publication vector, grouped by expert through a list of rows (``GroupedTexts``)."""
    from search.affinity import GroupedTexts

    counts = np.array([len(block) for block in blocks])
    profiles = np.stack([block[0] for block in blocks])
    publications = np.concatenate([block[1:] for block in blocks])
    first_publication = len(blocks) + np.cumsum(counts - 1) - (counts - 1)
    rows = np.concatenate([np.concatenate(([expert], first_publication[expert] + np.arange(count - 1)))
                           for expert, count in enumerate(counts)])
    owner = np.repeat(np.arange(len(blocks)), counts)
    return GroupedTexts(np.concatenate([profiles, publications]), rows, owner, len(blocks))


def bench_aggregation(sizes: list[int], seed: int = 0) -> list[dict]:
    """Return median and best latency (ms) of ranking the top 10 experts for one query with the
    default aggregation: as the portal ranks now (``GroupedTexts.affinity`` over the matrix of
    every expert text grouped once, kept per process by search/vectors.py, then the ten best
    without a full sort); as it ranked before (``expert_affinity`` over the per-expert arrays,
    stacked again on every call, then a full sort; since commit fef5a62 ``expert_affinity``
    aggregates through a throw-away ``GroupedTexts``, so this column keeps the per-call
    stacking and the full sort but no longer the old segment sort of the top-k mean); and the floor: one product over the texts
    stacked once, each expert's best text (``np.maximum.reduceat``) and argpartition. Checks
    that now and before rank the same experts with the same scores."""
    from initiatives.config import DefaultConfig
    from search.affinity import expert_affinity
    from search.matching import _best_first

    method, k = DefaultConfig.AFFINITY_METHOD, DefaultConfig.AFFINITY_TOP_K
    quantile = getattr(DefaultConfig, "AFFINITY_QUANTILE", 0.75)
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        blocks = _expert_blocks(rng, n)
        stacked = np.concatenate(blocks)
        starts = np.concatenate(([0], np.cumsum([len(b) for b in blocks])[:-1]))
        groups = _portal_layout(blocks)
        queries = _unit(rng, 16)

        def floor(query, stacked=stacked, starts=starts):
            scores = np.maximum.reduceat(stacked @ query, starts)
            best = np.argpartition(scores, scores.size - 10)[scores.size - 10:]
            return best[np.argsort(-scores[best])]

        def portal(query, groups=groups):
            scores = groups.affinity(query[None, :], method, k=k, q=quantile)[0]
            return _best_first(scores, 10), scores

        def before(query, blocks=blocks):
            scores = expert_affinity(query[None, :], blocks, method, k=k, q=quantile)[0]
            return np.argsort(-scores, kind="stable")[:10], scores

        for query in queries[:4]:
            (now_best, now_scores), (old_best, old_scores) = portal(query), before(query)
            assert now_best.tolist() == old_best.tolist()
            assert np.abs(now_scores - old_scores).max() <= 1e-6

        repeats = max(10, min(200, 2_000_000 // n))
        cycle = itertools.cycle(queries)
        timings = _interleaved_ms({
            "floor": lambda c=cycle: floor(next(c)),
            "portal": lambda c=cycle: portal(next(c)),
            "before": lambda c=cycle: before(next(c)),
        }, repeats)
        rows.append({"experts": n, "texts": int(stacked.shape[0]), "repeats": repeats,
                     "method": f"{method} (k={k})", **timings})
        print(f"  aggregation {n:,} experts: portal {timings['portal'][0]:.1f} ms, before "
              f"{timings['before'][0]:.1f} ms", file=sys.stderr)
        del blocks, stacked, groups
    return rows


def _portal(workdir: Path, **settings):
    """A portal on a fresh SQLite database in ``workdir``, with the default model's name."""
    os.environ["PORTAL_INSTANCE_PATH"] = str(workdir / "instance")
    from initiatives import create_app
    from initiatives.extensions import db

    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench-matching", "RATELIMIT_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}", "MAIL_SERVER": None,
        "EMBEDDING_MODEL": DEFAULT_MODEL, "EMBED_ON_SAVE": False, **settings})
    with app.app_context():
        db.create_all()
    return app


def seed_experts(n: int, rng, batch: int = 5000) -> int:
    """Bulk-insert ``n`` imported expert profiles with 2-6 publications each and one random
    vector per profile and publication; returns how many texts. Each bio is one sentence, so
    the reason of a profile match needs no encoding (it is the sentence itself)."""
    from datetime import datetime

    from initiatives.extensions import db
    from initiatives.models import ExpertProfile, Publication
    from search.models import Embedding

    now = datetime(2026, 11, 23)
    profiles, publications = [], []
    for i in range(1, n + 1):
        profiles.append({"id": i, "user_id": None, "external_ref": f"bench-{i}", "name": f"Expert {i}",
                         "email": None, "organisation": f"Institute {i % 997}", "fields": [],
                         "keywords": ["irrigation", f"topic {i % 50}"],
                         "bio": f"Works on topic {i % 50} in the Mekong delta", "languages": ["en"],
                         "max_load": 5, "available": True, "unavailable_until": None,
                         "created_at": now, "updated_at": now})
        for _ in range(int(rng.integers(2, 7))):
            publications.append({"id": len(publications) + 1, "expert_id": i,
                                 "title": f"Study {len(publications) + 1} of topic {i % 50}",
                                 "abstract": "", "year": 2020, "venue": ""})
    vectors = _unit(rng, len(profiles) + len(publications))
    embeddings = [{"kind": kind, "object_id": row["id"], "model": DEFAULT_MODEL, "text_hash": "bench",
                   "dimension": DIMENSION, "vector": vector.tobytes(), "updated_at": now}
                  for (kind, row), vector in zip(
                      [("expert", r) for r in profiles] + [("publication", r) for r in publications],
                      vectors, strict=True)]
    for table, rows in ((ExpertProfile.__table__, profiles), (Publication.__table__, publications),
                        (Embedding.__table__, embeddings)):
        for first in range(0, len(rows), batch):
            db.session.execute(table.insert(), rows[first:first + batch])
    db.session.commit()
    return len(embeddings)


def bench_portal_query(sizes: list[int], repeats: int, seed: int = 0,
                       query: str = "Tưới tiêu thông minh cho lúa ở đồng bằng sông Cửu Long") -> list[dict]:
    """Return median and best latency (ms) of ``matching.experts_for_query`` end to end on a
    seeded SQLite database, the query's encoding (``vectors.embed``, the model) timed apart and
    left out of the end-to-end time; and how much of that time goes to the matrix of every
    expert text (``vectors.cached_expert_texts``: reading the vectors and which publication is
    whose, or only checking their stamps) when the vectors are read from the database
    (``forget_matrices`` before each call) and when they come from the process's cache."""
    import tempfile

    from search import matching, vectors

    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as workdir:
            app = _portal(Path(workdir))
            with app.app_context():
                started = time.perf_counter()
                texts = seed_experts(n, rng)
                seeded = time.perf_counter() - started
                encode_ms = _interleaved_ms({"encode": lambda: vectors.embed([query])}, 10)["encode"]
                vector = vectors.embed([query])
                real_embed = vectors.embed
                vectors.embed = lambda texts, languages=None, batch_size=64, vector=vector: vector
                try:
                    def cold(call):
                        def run():
                            vectors.forget_matrices()
                            return call()
                        return run
                    found = matching.experts_for_query(query)
                    assert len(found) == 10, found
                    timings = _interleaved_ms({
                        "query_cold": cold(lambda: matching.experts_for_query(query)),
                        "query_warm": lambda: matching.experts_for_query(query),
                        "texts_cold": cold(vectors.cached_expert_texts),
                        "texts_warm": vectors.cached_expert_texts,
                    }, repeats)
                finally:
                    vectors.embed = real_embed
            from initiatives.extensions import db

            with app.app_context():
                db.engine.dispose()
        rows.append({"experts": n, "texts": texts, "seed_s": seeded, "repeats": repeats,
                     "encode": encode_ms, **timings})
        print(f"  experts_for_query {n:,} experts: {timings['query_warm'][0]:.0f} ms "
              f"(cold {timings['query_cold'][0]:.0f} ms)", file=sys.stderr)
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
    parser.add_argument("--portal-texts", type=int,
                        help="texts for the portal encoding path (default 128, quick 64)")
    parser.add_argument("--portal-experts",
                        help="comma-separated expert counts for experts_for_query on a seeded "
                             "SQLite database (default 1000,10000)")
    parser.add_argument("--portal-repeats", type=int, default=10,
                        help="runs of each experts_for_query variant")
    parser.add_argument("--parts", default="encode,retrieval,portal,assign",
                        help="which tables to print: encode, retrieval (top_k and the portal's "
                             "aggregation), portal (experts_for_query on a database), assign "
                             "(assignment, optimality and maximin)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_texts = args.texts or (128 if args.quick else 512)
    experts = [int(n) for n in (args.experts or ("1000,10000" if args.quick
                                                 else "1000,10000,100000")).split(",")]
    if args.maximin is None:
        args.maximin = "100x250" if args.quick else "100x250,200x500"
    assign = _sizes(args.assign or ("200x500" if args.quick else "200x500,1000x2000,2000x5000"))
    portal_texts = args.portal_texts or (64 if args.quick else 128)
    portal_experts = [int(n) for n in (args.portal_experts or "1000,10000").split(",")]
    parts = set(args.parts.split(","))

    import torch
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); load average at start "
          f"{os.getloadavg()[0]:.1f}.\n")

    if not args.no_encode and "encode" in parts:
        rows = bench_encoding(n_texts, args.repeats)
        print(f"### Encoding ({DEFAULT_MODEL}, CPU, {rows[0]['texts']} demo texts of which "
              f"{rows[0]['unique']} distinct, batch {rows[0]['batch']}, median of "
              f"{args.repeats} runs; model load {rows[0]['load_s']:.1f} s)\n")
        print("| call | texts | median time (s) | texts/s |")
        print("|---|---|---|---|")
        for row in rows:
            print(f"| {row['what']} | {row['texts']} | {row['median_s']:.2f} | "
                  f"{row['texts_per_s']:.1f} |")
        max_diff = rows[0]["max_abs_diff"]
        rows = bench_portal_encoding(portal_texts, args.repeats)
        for row in rows:
            print(f"| {row['what']} | {row['texts']} | {row['median_s']:.2f} | "
                  f"{row['texts_per_s']:.1f} |")
        print(f"\nLargest difference between the service's and the direct call's outputs: "
              f"{max_diff:.1e}. The last two rows compare the service and the portal's path on "
              f"the same first {portal_texts} texts, {rows[1]['bridged']} of which are Vietnamese "
              f"with glossary terms and so are encoded twice.\n")

    if "retrieval" in parts:
        print_retrieval(experts, args.seed)
    if "portal" in parts and portal_experts:
        print_portal_query(portal_experts, args.portal_repeats, args.seed)
    if "assign" in parts:
        print_assignment(args, assign)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.")
    return 0


def print_retrieval(experts: list[int], seed: int) -> None:
    """The top_k table against the floor, then the portal's aggregation against the floor."""
    rows = bench_retrieval(experts, seed)
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

    rows = bench_aggregation(experts, seed)
    print(f"### Top-10 experts as the portal ranks them (each expert: a profile and 2-6 "
          f"publications, random 384-d vectors; aggregation {rows[0]['method']}, the default; "
          f"median / best of the interleaved runs)\n")
    print("| experts | texts | runs | floor: stacked product + max + argpartition (ms) | "
          "portal: grouped matrix + top 10 (ms) | before: expert_affinity + sort (ms) | "
          "portal / floor (median) | before / floor (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = " | ".join(f"{row[name][0]:.2f} / {row[name][1]:.2f}"
                           for name in ("floor", "portal", "before"))
        print(f"| {row['experts']:,} | {row['texts']:,} | {row['repeats']} | {cells} | "
              f"{row['portal'][0] / row['floor'][0]:.1f} | {row['before'][0] / row['floor'][0]:.1f} |")
    print()


def print_portal_query(sizes: list[int], repeats: int, seed: int) -> None:
    """``experts_for_query`` end to end on a seeded database, vectors read or cached."""
    rows = bench_portal_query(sizes, repeats, seed)
    print(f"### Finding experts for a query, end to end (``matching.experts_for_query`` on "
          f"SQLite, experts with 2-6 publications, median / best of {repeats} interleaved runs; "
          f"the query's encoding apart)\n")
    print("| experts | texts | encoding the query (ms) | experts_for_query, vectors read from "
          "the database (ms) | experts_for_query, vectors cached (ms) | of which the expert text "
          "matrix: read / cached (ms) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['experts']:,} | {row['texts']:,} | {row['encode'][0]:.0f} / "
              f"{row['encode'][1]:.0f} | {row['query_cold'][0]:.0f} / {row['query_cold'][1]:.0f} | "
              f"{row['query_warm'][0]:.0f} / {row['query_warm'][1]:.0f} | "
              f"{row['texts_cold'][0]:.0f} / {row['texts_warm'][0]:.0f} |")
    print()


def print_assignment(args, assign: list[tuple[int, int]]) -> None:
    """The assignment tables: solve times and objectives, optimality, maximin."""
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


if __name__ == "__main__":
    sys.exit(main())
