"""Evaluate the catalogue search on the labelled queries: nDCG@10 and recall@20 per mode.

Builds a throw-away portal (SQLite and an index in a temporary directory), loads the demo
catalogue, encodes it with the real model (all-MiniLM-L6-v2), rebuilds the text index, then runs
every query of ``search/eval/queries.json`` in text, semantic and hybrid mode through
``Catalogue.search`` as an administrator (every initiative but drafts is visible), and prints
markdown tables: overall and per kind of query.

It also replays the rankings hybrid fuses (the first 100 full-text hits of all the words, of
any of them when all find fewer than 10, and the semantic ranking) under other fusions:
reciprocal-rank fusion with other k, weights and lists, a convex combination of normalised
scores, "one list first, then the other", and other semantic score floors
(``SEMANTIC_MIN_SCORE``). The row of the default fusion must equal the hybrid mode of the
first table (it is checked).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/search_eval.py
    ... --json results.json      # also write every query's rankings and scores
    ... --adjacent-boost 0       # without the boost of query words found side by side
    ... --segmenter pyvi         # also index the words a Vietnamese segmenter finds (pyvi or
                                 # underthesea, installed or on PYTHONPATH) and boost them

With ``--segmenter``, each document's multi-syllable words as the segmenter cuts them
("nước_thải") are indexed in a field of their own, and two or three query words side by side
that form one of them add its score (``--segmenter-boost``), on top of the adjacent-word boost:
what word segmentation would add to the portal, measured without adding it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = ROOT / "search" / "eval" / "queries.json"
KINDS = {  # the kinds of query in the labelled set, in the order of the tables
    "vi_diacritics": "Vietnamese, diacritics",
    "vi_no_diacritics": "Vietnamese, no diacritics",
    "en": "English",
    "cross_language": "cross-language",
    "keyword": "keyword",
    "natural_language": "natural (descriptive)",
    "typo": "typo",
}
MODES = ("text", "semantic", "hybrid")
NDCG_AT, RECALL_AT = 10, 20
FUSION_DEPTH = 100  # as search.catalogue.FUSION_DEPTH
FEW = 10  # "when AND finds < 10": HYBRID_ANY_WORD_BELOW as it was before the glossary bridge
FLOORS = (None, 0.0, 0.1, 0.15, 0.2, 0.25, 0.3)  # semantic score floors compared (None: none)
BOOTSTRAP = 10_000


# Metrics ---------------------------------------------------------------------------------------

def ndcg(ranking: Sequence, relevant: set, at: int = NDCG_AT) -> float:
    """Binary-gain nDCG: sum of 1/log2(rank+1) over relevant hits in the first ``at``, over the
    same sum for a perfect ranking."""
    if not relevant:
        return 0.0
    dcg = sum(1 / math.log2(rank + 1) for rank, key in enumerate(ranking[:at], 1) if key in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), at) + 1))
    return dcg / ideal


def recall(ranking: Sequence, relevant: set, at: int = RECALL_AT) -> float:
    return len(set(ranking[:at]) & relevant) / len(relevant) if relevant else 0.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# The portal ------------------------------------------------------------------------------------

def build_portal(workdir: Path, model: str, bridge: bool = True):
    """A portal over the demo catalogue in ``workdir``: encoded and indexed. Returns the app."""
    os.environ["PORTAL_INSTANCE_PATH"] = str(workdir / "instance")
    from initiatives import create_app

    return create_app({
        "TESTING": True,
        "SECRET_KEY": "bench-search-eval",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'eval.db'}",
        "RATELIMIT_ENABLED": False,
        "MAIL_SERVER": None,
        "EMBEDDING_MODEL": model,
        "EMBED_ON_SAVE": False,
        "EMBEDDING_BRIDGE": bridge,
    })


def load_catalogue(app) -> dict:
    """Create the tables, load the demo, encode it and rebuild the index; returns timings."""
    from initiatives import demo
    from initiatives.extensions import db
    from search import vectors
    from search.catalogue import catalogue

    timings = {}
    started = time.perf_counter()
    db.create_all()
    created = demo.load()
    timings["demo"] = time.perf_counter() - started
    started = time.perf_counter()
    encoded = vectors.sync()
    timings["encode"] = time.perf_counter() - started
    started = time.perf_counter()
    catalogue(app).flush()  # the after-commit updates of the demo load, before the rebuild
    timings["indexed"] = catalogue(app).rebuild()
    timings["rebuild"] = time.perf_counter() - started
    timings["created"], timings["encoded"] = created, encoded
    timings["floor"] = app.config.get("SEMANTIC_MIN_SCORE")
    return timings


def any_word_ranking(index, text: str, kinds, filters: dict, depth: int = FUSION_DEPTH) -> Ranking:
    """The documents holding any of the words of ``text``, ranked with the boosts the query of
    all the words gives words side by side (``search.textindex._adjacent_boosts``)."""
    from whoosh import query

    from search import textindex
    from search.analysis import guess_query_language

    clauses = index._restriction(kinds, filters)
    with index._searcher() as searcher:
        every = index._plain_words(text)
        if every is query.NullQuery:
            return []
        either = index._rewrite(query.Or(list(every.subqueries)), searcher, guess_query_language(text))
        q = textindex._Query.split(either.normalize(), plain=True, extra_boosts=textindex._adjacent_boosts(every))
        found = index._top(searcher, q, index._columns(searcher).restriction(clauses), depth)
        return [((searcher.stored_fields(d)["kind"], int(searcher.stored_fields(d)["id"])), score)
                for d, score in found]


def set_adjacent_boost(boost: float) -> None:
    """Weigh the boost of query words found side by side (search.textindex.ADJACENT_BOOST)."""
    from search import textindex

    textindex.ADJACENT_BOOST = boost


SEGMENT_FIELD = "segmented"


def segmenter(name: str) -> Callable[[str], list[str]]:
    """The multi-syllable words of a text as the segmenter ``name`` cuts them ("nước_thải")."""
    if name == "pyvi":
        from pyvi import ViTokenizer

        def cut(text: str) -> str:
            return ViTokenizer.tokenize(text)
    elif name == "underthesea":
        from underthesea import word_tokenize

        def cut(text: str) -> str:
            return word_tokenize(text, format="text")
    else:
        raise SystemExit(f"unknown segmenter {name!r}")

    def words(text: str) -> list[str]:
        return [w for line in text.splitlines() if line.strip() for w in cut(line).split() if "_" in w]
    return words


def use_segmenter(name: str, boost: float) -> None:
    """Index each document's multi-syllable words (``segmenter``) in a field of their own and
    add, for two or three query words side by side, the score of the word they make together."""
    from whoosh import query
    from whoosh.fields import TEXT

    from search import textindex
    from search.analysis import text_analyzer

    words_of = segmenter(name)
    build_schema, prepare, adjacent = textindex.build_schema, textindex.TextIndex._prepare, textindex._adjacent_boosts

    def schema(*args, **kwargs):
        built = build_schema(*args, **kwargs)
        built.add(SEGMENT_FIELD, TEXT(analyzer=text_analyzer()))
        return built

    def prepared(self, doc):
        fields = prepare(self, doc)
        fields[SEGMENT_FIELD] = " ".join(words_of(fields[textindex.MATCH_FIELD]))
        return fields

    def boosts(q):
        found = adjacent(q)
        if type(q) is query.And:
            texts = [textindex._match_text(child) for child in q.subqueries]
            for size in (2, 3):
                for start in range(len(texts) - size + 1):
                    run = texts[start:start + size]
                    if all(run):
                        found.append(query.Term(SEGMENT_FIELD, "_".join(run), boost=boost))
        return found

    textindex.build_schema, textindex.TextIndex._prepare = schema, prepared
    textindex._adjacent_boosts = boosts


def admin_user():
    from initiatives.models import User

    admin = next((u for u in User.query.order_by(User.id) if u.is_admin), None)
    if admin is None:
        raise SystemExit("the demo has no administrator")
    return admin


# Fusions to compare ----------------------------------------------------------------------------

Ranking = list[tuple[tuple[str, int], float]]  # (kind, id), score; best first


def rrf_fusion(k: float = 60, weights: Sequence[float] = (1.0, 1.0), lists=("text", "semantic")) -> Callable:
    from search.fusion import rrf

    def fuse(lists_: dict[str, Ranking]) -> list:
        return [key for key, _ in rrf([[key for key, _ in lists_[name]] for name in lists],
                                      k=k, weights=list(weights))]
    return fuse


def convex_fusion(alpha: float) -> Callable:
    """alpha * semantic + (1 - alpha) * text, each min-max normalised over its own list; a
    document absent from a list scores 0 there."""

    def normalised(ranking: Ranking) -> dict:
        if not ranking:
            return {}
        scores = [score for _, score in ranking]
        low, high = min(scores), max(scores)
        span = high - low or 1.0
        return {key: (score - low) / span for key, score in ranking}

    def fuse(lists: dict[str, Ranking]) -> list:
        text, semantic = lists["text"], lists["semantic"]
        t, s = normalised(text), normalised(semantic)
        order = {key: i for i, key in enumerate([k for k, _ in text] + [k for k, _ in semantic])}
        keys = sorted(set(t) | set(s), key=lambda key: (-(alpha * s.get(key, 0.0)
                                                          + (1 - alpha) * t.get(key, 0.0)), order[key]))
        return keys
    return fuse


def first_then(first: str, limit: int | None = None) -> Callable:
    """The ``first`` list's hits (at most ``limit``) in its order, then the rest of the other."""

    def fuse(lists: dict[str, Ranking]) -> list:
        text, semantic = lists["text"], lists["semantic"]
        lead, rest = (text, semantic) if first == "text" else (semantic, text)
        head = [key for key, _ in lead][:limit]
        seen = set(head)
        return head + [key for key, _ in rest if key not in seen]
    return fuse


def text_reranked_by_semantic() -> Callable:
    """Text matches ordered by their semantic score, then the other semantic results."""

    def fuse(lists: dict[str, Ranking]) -> list:
        text, semantic = lists["text"], lists["semantic"]
        position = {key: i for i, (key, _) in enumerate(semantic)}
        matched = sorted((key for key, _ in text), key=lambda key: position.get(key, len(position)))
        seen = set(matched)
        return matched + [key for key, _ in semantic if key not in seen]
    return fuse


VARIANTS: dict[str, Callable] = {
    "rrf k=60 of text AND and semantic (the default)": rrf_fusion(60),
    "rrf k=60, AND + OR (when AND finds < 10) + semantic (the default before)": rrf_fusion(
        60, (1.0, 1.0, 1.0), lists=("text", "text_or_if_few", "semantic")),
    "rrf k=10": rrf_fusion(10),
    "rrf k=20": rrf_fusion(20),
    "rrf k=120": rrf_fusion(120),
    "rrf k=60, text x2": rrf_fusion(60, (2.0, 1.0)),
    "rrf k=60, semantic x2": rrf_fusion(60, (1.0, 2.0)),
    "rrf k=60, semantic x1.5": rrf_fusion(60, (1.0, 1.5)),
    "rrf k=20, semantic x1.5": rrf_fusion(20, (1.0, 1.5)),
    "convex 0.5 (min-max scores)": convex_fusion(0.5),
    "convex 0.7 semantic": convex_fusion(0.7),
    "convex 0.3 semantic": convex_fusion(0.3),
    "text first, then semantic": first_then("text"),
    "text top 3, then semantic": first_then("text", 3),
    "semantic first, then text": first_then("semantic"),
    "text matches by semantic order": text_reranked_by_semantic(),
    "rrf k=60, text AND then OR": rrf_fusion(60, lists=("text_and_or", "semantic")),
    "rrf k=60, text AND then OR, text x2": rrf_fusion(60, (2.0, 1.0), lists=("text_and_or", "semantic")),
    "rrf k=60, text AND + text OR + semantic": rrf_fusion(60, (1.0, 1.0, 1.0),
                                                          lists=("text", "text_or", "semantic")),
    "rrf k=60, AND + OR + semantic, no floor": rrf_fusion(60, (1.0, 1.0, 1.0),
                                                          lists=("text", "text_or", "semantic@none")),
    # Any of the words, ranked with the boost of words side by side (and of segmented words):
    # a long list of matches, where the order among them is all the boost can change.
    "text OR, adjacent words boosted": rrf_fusion(60, (1.0,), lists=("text_or_adjacent",)),
}
for _floor in FLOORS:
    _name = "none" if _floor is None else f"{_floor:g}"
    VARIANTS[f"semantic alone, floor {_name}"] = rrf_fusion(60, (1.0,), lists=(f"semantic@{_name}",))
    VARIANTS[f"rrf k=60 of text AND and semantic, floor {_name}"] = rrf_fusion(
        60, lists=("text", f"semantic@{_name}"))
    VARIANTS[f"hybrid (AND + OR when few + semantic), floor {_name}"] = rrf_fusion(
        60, (1.0, 1.0, 1.0), lists=("text", "text_or_if_few", f"semantic@{_name}"))
DEFAULT_VARIANT = "rrf k=60 of text AND and semantic (the default)"


# Running ---------------------------------------------------------------------------------------

def evaluate(app, queries: list[dict]) -> dict:
    """Every query in every mode; returns per-query rankings and metrics."""
    from initiatives.models import Initiative, InitiativeState
    from search.catalogue import catalogue, scope

    cat = catalogue(app)
    admin = admin_user()
    by_title: dict[str, list[int]] = {}
    for item in Initiative.query.filter(Initiative.state != InitiativeState.DRAFT.value):
        by_title.setdefault(item.title, []).append(item.id)
    kinds, forced = scope(admin, None)
    rows = []
    for q in queries:
        relevant = {("initiative", i) for title in q["relevant"] for i in by_title.get(title, [])}
        unknown = [title for title in q["relevant"] if title not in by_title]
        row = {"id": q["id"], "query": q["query"], "kind": q["kind"], "lang": q["lang"],
               "relevant": sorted(relevant), "unknown": unknown, "rankings": {}, "ms": {}}
        for mode in MODES:
            started = time.perf_counter()
            answer = cat.search(q["query"], admin, mode=mode, per_page=RECALL_AT)
            row["ms"][mode] = (time.perf_counter() - started) * 1000
            if answer.notice:
                raise SystemExit(f"{q['id']}: answered from the database ({answer.notice})")
            row["rankings"][mode] = [(r.kind, int(r.id)) for r in answer.results]
        # The lists hybrid fuses, as search.catalogue.Catalogue._fused builds them.
        found = cat.index.search(q["query"], kinds=kinds, filters=dict(forced), page=1,
                                 per_page=FUSION_DEPTH, facets=False)
        text = [((h.kind, int(h.id)), h.score) for h in found.hits]
        text_rankings = cat._text_rankings(q["query"], kinds, dict(forced), any_word_below=FEW)
        if [key for key, _ in text] != text_rankings[0]:
            print(f"warning: {q['id']}: the index's search and ranked_keys differ", file=sys.stderr)
        # Any of the words instead of all of them: what a descriptive query needs.
        either = cat.index.search(" OR ".join(re.findall(r"\w+", q["query"])), kinds=kinds,
                                  filters=dict(forced), page=1, per_page=FUSION_DEPTH, facets=False)
        text_or = [((h.kind, int(h.id)), h.score) for h in either.hits]
        matched = {key for key, _ in text}
        floor = app.config.get("SEMANTIC_MIN_SCORE", 0.0)
        app.config["SEMANTIC_MIN_SCORE"] = -1.0  # every vector, however far
        try:
            unfloored = cat._semantic_ranking(q["query"], kinds, dict(forced))
        finally:
            app.config["SEMANTIC_MIN_SCORE"] = floor
        lists = {"text": text, "semantic": cat._semantic_ranking(q["query"], kinds, dict(forced)),
                 "text_or": text_or,
                 "text_or_adjacent": any_word_ranking(cat.index, q["query"], kinds, dict(forced)),
                 "text_or_if_few": [(key, 0.0) for key in text_rankings[1]] if len(text_rankings) > 1 else [],
                 "text_and_or": (text + [(key, score) for key, score in text_or if key not in matched])
                 [:FUSION_DEPTH]}
        for f in FLOORS:
            # The floored ranking is the start of the unfloored one (both best first).
            lists["semantic@" + ("none" if f is None else f"{f:g}")] = [
                (key, score) for key, score in unfloored if f is None or score >= f]
        for name, fuse in VARIANTS.items():
            row["rankings"][name] = fuse(lists)
        row["text_total"] = found.total
        rows.append(row)
    for row in rows:
        relevant = set(map(tuple, row["relevant"]))
        row["ndcg"] = {name: ndcg(r, relevant) for name, r in row["rankings"].items()}
        row["recall"] = {name: recall(r, relevant) for name, r in row["rankings"].items()}
        fused = row["rankings"][DEFAULT_VARIANT][:RECALL_AT]
        if fused != row["rankings"]["hybrid"]:
            print(f"warning: {row['id']}: the replayed default fusion differs from hybrid mode", file=sys.stderr)
    return {"rows": rows}


def paired_bootstrap(differences: Sequence[float], seed: int = 5) -> tuple[float, float, float]:
    """The mean of per-query differences and its 95% percentile-bootstrap interval."""
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(BOOTSTRAP))
    return mean(differences), means[int(0.025 * BOOTSTRAP)], means[int(0.975 * BOOTSTRAP) - 1]


def table(rows: list[dict], names: Sequence[str], label: str = "mode") -> str:
    """One row per name: overall nDCG@10 and recall@20, how many queries it ranks better and
    worse than the default hybrid (nDCG@10), then nDCG@10 per kind of query."""
    kinds = [k for k in KINDS if any(r["kind"] == k for r in rows)]
    head = [label, f"nDCG@{NDCG_AT}", f"recall@{RECALL_AT}", "better / worse than hybrid",
            "nDCG@10 - hybrid [95% CI]"]
    head += [KINDS[k] for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for name in names:
        better = sum(r["ndcg"][name] > r["ndcg"]["hybrid"] + 1e-9 for r in rows)
        worse = sum(r["ndcg"][name] < r["ndcg"]["hybrid"] - 1e-9 for r in rows)
        delta, low, high = paired_bootstrap([r["ndcg"][name] - r["ndcg"]["hybrid"] for r in rows])
        cells = [name, f"{mean([r['ndcg'][name] for r in rows]):.3f}",
                 f"{mean([r['recall'][name] for r in rows]):.3f}", f"{better} / {worse}",
                 f"{delta:+.3f} [{low:+.3f}, {high:+.3f}]"]
        cells += [f"{mean([r['ndcg'][name] for r in rows if r['kind'] == k]):.3f}" for k in kinds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_kind_table(rows: list[dict], names: Sequence[str]) -> str:
    """One row per kind of query: nDCG@10 / recall@20 of each name."""
    head = ["query kind", "queries"] + [f"{name} nDCG@{NDCG_AT} / R@{RECALL_AT}" for name in names]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    groups = [(KINDS[k], [r for r in rows if r["kind"] == k]) for k in KINDS] + [("**all**", rows)]
    for label, group in groups:
        if not group:
            continue
        cells = [label, str(len(group))]
        cells += [f"{mean([r['ndcg'][n] for r in group]):.3f} / {mean([r['recall'][n] for r in group]):.3f}"
                  for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(result: dict, timings: dict, model: str, settings: str = "") -> str:
    rows = result["rows"]
    out = [f"# Catalogue search evaluation ({date.today().isoformat()})", "",
           f"Python {platform.python_version()} on {platform.machine()}; model {model}; {settings}"
           f"{len(rows)} labelled queries, {sum(len(r['relevant']) for r in rows)} relevant "
           f"(query, initiative) pairs; {timings['indexed']} documents indexed "
           f"(initiatives but drafts, demands, experts); searched as an administrator; "
           f"SEMANTIC_MIN_SCORE {timings['floor']}.", ""]
    unknown = sorted({t for r in rows for t in r["unknown"]})
    if unknown:
        out += ["Relevant titles not found among the visible initiatives: " + "; ".join(unknown), ""]
    out += ["## Modes (Catalogue.search)", "", per_kind_table(rows, MODES), "",
            "## Fusions of the same two rankings (nDCG@10 per kind of query)", "",
            table(rows, ["text", "semantic"] + list(VARIANTS), "ranking"), ""]
    medians = {m: sorted(r["ms"][m] for r in rows)[len(rows) // 2] for m in MODES}
    out += ["Median time per query (ms, demo catalogue, model loaded): "
            + ", ".join(f"{m} {medians[m]:.1f}" for m in MODES), ""]
    worst = sorted(rows, key=lambda r: r["ndcg"]["hybrid"])[:10]
    out += ["## Hardest queries for hybrid", "",
            "| id | kind | query | relevant | text | semantic | hybrid |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in worst:
        out.append(f"| {r['id']} | {r['kind']} | {r['query']} | {len(r['relevant'])} | "
                   + " | ".join(f"{r['ndcg'][m]:.2f}" for m in MODES) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--json", type=Path, help="write every query's rankings and metrics here")
    parser.add_argument("--no-bridge", action="store_true",
                        help="embed Vietnamese without the English of its terms (search/glossary.py)")
    parser.add_argument("--adjacent-boost", type=float,
                        help="weight of query words found side by side (default: the portal's)")
    parser.add_argument("--segmenter", choices=("pyvi", "underthesea"),
                        help="also index the words this Vietnamese segmenter finds, and boost them")
    parser.add_argument("--segmenter-boost", type=float, default=1.0,
                        help="weight of a segmented word the query's words make (default 1)")
    args = parser.parse_args(argv)
    from search import textindex

    if args.adjacent_boost is not None:
        set_adjacent_boost(args.adjacent_boost)
    if args.segmenter:
        use_segmenter(args.segmenter, args.segmenter_boost)
    settings = f"adjacent-word boost {textindex.ADJACENT_BOOST:g}; " + (
        f"segmenter {args.segmenter} (boost {args.segmenter_boost:g}); " if args.segmenter else "")
    queries = json.loads(args.queries.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="search-eval-") as workdir:
        app = build_portal(Path(workdir), args.model, bridge=not args.no_bridge)
        with app.app_context():
            from initiatives.extensions import db
            from search.catalogue import catalogue

            try:
                timings = load_catalogue(app)
                print(f"demo loaded in {timings['demo']:.1f} s, encoded {timings['encoded']} in "
                      f"{timings['encode']:.1f} s, {timings['indexed']} documents indexed in "
                      f"{timings['rebuild']:.1f} s", file=sys.stderr)
                result = evaluate(app, queries)
            finally:
                catalogue(app).close()
                db.session.remove()
                db.engine.dispose()
    print(report(result, timings, args.model, settings))
    if args.json:
        for row in result["rows"]:
            row["rankings"] = {name: [list(k) for k in r[:RECALL_AT]] for name, r in row["rankings"].items()}
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
