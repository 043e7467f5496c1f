"""Time the database search that answers while the index is rebuilt (``database_search``).

Builds (or reuses) a throw-away SQLite portal filled by ``bench/search.py``'s own generator and
bulk insert, without the Whoosh rebuild or the model that ``bench/search.py`` needs, then times
``search.catalogue.database_search`` over the same generated queries and prints the median and
p95 per size:

    .venv/bin/python bench/search_fallback.py --size 10000 --workdir /var/tmp/bench-fallback
    .venv/bin/python bench/search_fallback.py --size 100000 --workdir /var/tmp/bench-fallback
    ... --null-search-text   # an older database: add the column empty (rows saved around the ORM)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_search_bench():
    """``bench/search.py`` as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_search", ROOT / "bench" / "search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, required=True, help="generated initiatives")
    parser.add_argument("--workdir", required=True, help="keeps WORKDIR/portal-<size> for later runs")
    parser.add_argument("--queries", type=int, default=24)
    parser.add_argument("--budget", type=float, default=600, help="seconds at most")
    parser.add_argument("--null-search-text", action="store_true",
                        help="add an empty search_text column to a database built before it existed")
    args = parser.parse_args(argv)
    bench = load_search_bench()
    workdir = Path(args.workdir) / f"portal-{args.size}"
    workdir.mkdir(parents=True, exist_ok=True)
    app = bench.build_portal(workdir, "all-MiniLM-L6-v2")
    with app.app_context():
        from sqlalchemy import inspect, text

        from initiatives.extensions import db
        from initiatives.models import Initiative
        from search.catalogue import database_search

        tables = inspect(db.engine).get_table_names()
        if "initiative" not in tables or Initiative.query.with_entities(Initiative.id).count() != args.size:
            built: dict = {}
            bench.fill_portal(args.size, 7, "all-MiniLM-L6-v2", built)
            print(f"built {args.size} rows: generate {built['generate_s']:.1f} s, "
                  f"insert {built['insert_s']:.1f} s", file=sys.stderr)
        columns = {c["name"] for c in inspect(db.engine).get_columns("initiative")}
        if args.null_search_text and "search_text" not in columns:
            with db.engine.begin() as connection:
                connection.execute(text("ALTER TABLE initiative ADD COLUMN search_text TEXT"))
            columns.add("search_text")
        if "search_text" in columns:
            filled = db.session.execute(
                text("SELECT count(*) FROM initiative WHERE search_text IS NOT NULL")).scalar()
            print(f"search_text filled on {filled} of {args.size} rows", file=sys.stderr)
        db.session.remove()
        queries = bench.generate_queries(args.queries, seed=8)  # bench/search.py uses --seed + 1

        def fallback(q: str) -> int:
            answer = database_search(q, ["initiative"], {}, 1, bench.PER_PAGE)
            db.session.remove()
            return answer.total

        fallback(queries[0][1])  # warm the page cache and the connection
        timing = bench.time_calls(fallback, queries, args.budget)
        times = timing["times"]
        print(f"size {args.size}: {len(times)} queries, median {statistics.median(times):.1f} ms, "
              f"p95 {bench.percentile(times, 95):.1f} ms, max {max(times):.1f} ms, "
              f"median hits {statistics.median(timing['totals'])}, errors {timing['errors']}, "
              f"load average {os.getloadavg()[0]:.1f}")
        for (category, q), total in zip(queries, timing["totals"], strict=False):
            print(f"  {category:18} {total:6} {q}")
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
