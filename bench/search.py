"""Benchmark the catalogue search at scale: indexing throughput and query latency per mode.

For each size N (default 10,000 and 100,000) a throw-away portal is built in a temporary
directory (SQLite, the index on disk) and filled with N generated initiatives (Vietnamese and
English text, real fields and provinces, every state but draft):

* as database rows, bulk-inserted with SQLAlchemy Core (with the folded ``search_text`` the
  models keep), with one random normalised 384-d vector each stored through
  ``search.models.Embedding`` under the configured model (so semantic and
  hybrid search read them exactly as they read real vectors; the query itself is encoded by
  the real model, whose cost does not depend on N and is also timed alone);
* as index documents, built by ``search.catalogue.initiative_doc`` from the same rows, and
  indexed with ``TextIndex.rebuild`` (timed: documents/s).

Then it times ``Catalogue.search`` as an administrator (every state visible, 20 results per page
with facet counts) in text, semantic and hybrid mode over the same generated queries, and
``search.catalogue.database_search`` (the fallback used while the index is rebuilt), and prints
markdown tables.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/search.py --sizes 10000,100000 --queries 200
    ... --budget 120        # stop a mode after 120 s at one size (reports how many ran)
    ... --profile text      # then cProfile 48 of the text queries at the largest size
    ... --torch-threads 0   # leave torch's thread count alone (default: 1, see docs)
    ... --workdir /var/tmp/bench-search   # keep the built portals; later runs reuse them
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIMENSION = 384
INSERT_BATCH = 5_000
PER_PAGE = 20
PROFILE_QUERIES = 48  # six of each kind

# Text ------------------------------------------------------------------------------------------

# (Vietnamese, English) topics: what titles, keywords and queries are made of.
TOPICS = [
    ("tưới tiêu thông minh", "smart irrigation"), ("nông nghiệp công nghệ cao", "high-tech farming"),
    ("năng lượng mặt trời", "solar energy"), ("trí tuệ nhân tạo", "artificial intelligence"),
    ("chẩn đoán hình ảnh", "medical imaging"), ("an ninh mạng", "cyber security"),
    ("chuỗi khối", "blockchain"), ("điện toán đám mây", "cloud computing"),
    ("xử lý nước thải", "wastewater treatment"), ("giám sát môi trường", "environmental monitoring"),
    ("máy bay không người lái", "drones"), ("vật liệu mới", "advanced materials"),
    ("bán dẫn", "semiconductors"), ("chuyển đổi số", "digital transformation"),
    ("dịch vụ công trực tuyến", "online public services"), ("du lịch thông minh", "smart tourism"),
    ("giáo dục trực tuyến", "online learning"), ("khám bệnh từ xa", "telemedicine"),
    ("truy xuất nguồn gốc", "traceability"), ("nuôi trồng thủy sản", "aquaculture"),
    ("giống lúa chịu mặn", "salt-tolerant rice"), ("phân bón hữu cơ", "organic fertiliser"),
    ("cảm biến độ ẩm đất", "soil moisture sensors"), ("robot công nghiệp", "industrial robots"),
    ("logistics đô thị", "urban logistics"), ("tài chính vi mô", "microfinance"),
    ("bảo tồn di sản văn hóa", "cultural heritage preservation"), ("tái chế nhựa", "plastic recycling"),
    ("pin lưu trữ năng lượng", "battery storage"), ("mạng 5G", "5G networks"),
    ("cảnh báo lũ quét", "flash flood warning"), ("sạt lở đất", "landslides"),
    ("giao thông thông minh", "intelligent transport"), ("thương mại điện tử", "e-commerce"),
    ("cà phê đặc sản", "specialty coffee"), ("chăm sóc người cao tuổi", "elderly care"),
    ("kiểm tra lỗi vải", "fabric defect inspection"), ("bảo trì dự đoán", "predictive maintenance"),
    ("lưới điện siêu nhỏ", "microgrids"), ("chống lừa đảo qua điện thoại", "phone scam protection"),
]
VI_PREFIXES = ["Hệ thống", "Nền tảng", "Giải pháp", "Ứng dụng", "Mô hình", "Thiết bị", "Dịch vụ"]
EN_PREFIXES = ["A platform for", "Low-cost", "Scalable", "Community-based", "An open system for",
               "Affordable", "Data-driven"]
VI_TARGETS = ["nông dân vùng cao", "hợp tác xã", "bệnh viện tuyến huyện", "doanh nghiệp nhỏ và vừa",
              "trường học miền núi", "ngư dân ven biển", "người cao tuổi", "chính quyền cấp xã",
              "khu công nghiệp", "làng nghề truyền thống"]
EN_TARGETS = ["upland farmers", "cooperatives", "district hospitals", "small businesses",
              "mountain schools", "coastal fishers", "older people", "commune authorities",
              "industrial parks", "craft villages"]
VI_FILLER = (
    "giải pháp hệ thống ứng dụng nghiên cứu phát triển mô hình thử nghiệm triển khai quy trình "
    "dữ liệu người dân doanh nghiệp hợp tác xã địa phương hiệu quả chi phí thấp tiết kiệm "
    "nâng cao năng suất chất lượng sản phẩm thị trường vùng đồng bằng miền núi ven biển "
    "thiết bị phần mềm nền tảng kết nối quản lý vận hành đào tạo chuyên gia cộng đồng của và "
    "cho các những được trong với một này để tại theo từ"
).split()
EN_FILLER = (
    "system platform pilot farmers cooperative province sensors data reduces costs improves "
    "yields households network operators deployment scalable affordable training experts "
    "monitoring remote villages coastal delta mountain community partners market adoption the "
    "of and to in for with a on by from that is are this"
).split()
ORGANISATIONS = ["Đại học Bách khoa Hà Nội", "Đại học Cần Thơ", "Viện Hàn lâm KH&CN Việt Nam",
                 "Công ty Cổ phần Công nghệ Sao Việt", "Trung tâm Khuyến nông tỉnh", "Đại học Huế",
                 "Hợp tác xã Nông nghiệp Xanh", "Viện Nghiên cứu Cơ khí", "FPT Software",
                 "Đại học Đà Nẵng", "Bệnh viện Đa khoa tỉnh", "Đại học Quốc gia TP.HCM"]
STATES = {"submitted": 15, "screening": 10, "under_review": 15, "reviewed": 10, "accepted": 30,
          "rejected": 10, "revision_requested": 6, "withdrawn": 4}
ENGLISH_SHARE = 0.35


def words(rng: random.Random, filler: list[str], topics: list[str], n: int) -> str:
    """``n`` filler words with a topic phrase dropped in every 25 words or so."""
    out = [rng.choice(filler) for _ in range(n)]
    for _ in range(max(1, n // 25)):
        out[rng.randrange(n)] = rng.choice(topics)
    return " ".join(out)


def generate(n: int, proposer_id: int, seed: int = 7) -> list[dict]:
    """``n`` reproducible rows of the initiative table (ids 1..n), none of them a draft."""
    from initiatives import taxonomy

    rng = random.Random(seed)
    provinces = list(taxonomy.provinces().values())
    fields = list(taxonomy.fields())
    states = list(STATES)
    weights = list(STATES.values())
    start = datetime(2021, 1, 1)
    rows = []
    for i in range(1, n + 1):
        english = rng.random() < ENGLISH_SHARE
        main, *others = rng.sample(range(len(TOPICS)), 4)
        lang = 1 if english else 0
        topics = [TOPICS[j][lang] for j in (main, *others)]
        province = rng.choice(provinces)
        place = province.name_en if english else province.name_vi
        if english:
            title = f"{rng.choice(EN_PREFIXES)} {topics[0]} for {rng.choice(EN_TARGETS)} in {place}"
            summary = (f"We bring {topics[0]} and {topics[1]} to {rng.choice(EN_TARGETS)}: "
                       + words(rng, EN_FILLER, topics, rng.randint(15, 30)) + ".")
            description = words(rng, EN_FILLER, topics, rng.randint(80, 220))
            impact = "Expected impact: " + words(rng, EN_FILLER, topics, 15)
        else:
            title = f"{rng.choice(VI_PREFIXES)} {topics[0]} cho {rng.choice(VI_TARGETS)} tại {place}"
            summary = (f"Ứng dụng {topics[0]} và {topics[1]} cho {rng.choice(VI_TARGETS)}: "
                       + words(rng, VI_FILLER, topics, rng.randint(15, 30)) + ".")
            description = words(rng, VI_FILLER, topics, rng.randint(80, 220))
            impact = "Tác động dự kiến: " + words(rng, VI_FILLER, topics, 15)
        created = start + timedelta(minutes=rng.randrange(6 * 365 * 24 * 60))
        rows.append({
            "id": i, "external_ref": f"bench-{i}", "proposer_id": proposer_id, "call_id": None,
            "title": title[:300], "summary": summary, "description": description,
            "field": rng.choice(fields), "keywords": topics[: rng.randint(2, 4)],
            "trl": rng.randint(1, 9), "ip_status": "none", "province": province.slug,
            "organisation": rng.choice(ORGANISATIONS), "team_members": [],
            "budget_vnd": rng.randrange(100, 5000) * 1_000_000, "expected_impact": impact,
            "language": "en" if english else "vi", "state": rng.choices(states, weights)[0],
            "round": 1, "submitted_at": created + timedelta(days=1), "created_at": created,
            "updated_at": created + timedelta(days=rng.randint(1, 90)),
        })
    return rows


def generate_queries(n: int, seed: int = 11) -> list[tuple[str, str]]:
    """``n`` (category, query) pairs, rotating over the kinds of query people type."""
    from initiatives import taxonomy
    from search.textfold import fold

    rng = random.Random(seed)
    provinces = list(taxonomy.provinces().values())
    makers: list[tuple[str, Callable[[], str]]] = [
        ("vi accented", lambda: rng.choice(TOPICS)[0]),
        ("vi unaccented", lambda: fold(rng.choice(TOPICS)[0])),
        ("english", lambda: rng.choice(TOPICS)[1]),
        ("topic + province", lambda: f"{rng.choice(TOPICS)[0]} {rng.choice(provinces).name_vi}"),
        ("broad word", lambda: rng.choice(["hệ thống", "platform", "dữ liệu", "nông dân", "data",
                                           "giải pháp"])),
        ("descriptive", lambda: f"how can {rng.choice(EN_TARGETS)} use {rng.choice(TOPICS)[1]} "
                                f"to reduce costs"),
        ("operators", lambda: f'"{rng.choice(TOPICS)[0]}" AND status:accepted NOT '
                              f'{rng.choice(provinces).slug.split("-")[0]}'),
        ("typo", lambda: _typo(rng, rng.choice(TOPICS)[1])),
    ]
    return [(makers[i % len(makers)][0], makers[i % len(makers)][1]()) for i in range(n)]


def _typo(rng: random.Random, text: str) -> str:
    """Drop one letter from the longest word."""
    longest = max(text.split(), key=len)
    cut = rng.randrange(1, len(longest) - 1)
    return text.replace(longest, longest[:cut] + longest[cut + 1:], 1)


# The portal ------------------------------------------------------------------------------------

def build_portal(workdir: Path, model: str):
    os.environ["PORTAL_INSTANCE_PATH"] = str(workdir / "instance")
    from initiatives import create_app

    return create_app({
        "TESTING": True, "SECRET_KEY": "bench-search", "RATELIMIT_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}", "MAIL_SERVER": None,
        "EMBEDDING_MODEL": model, "EMBED_ON_SAVE": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        # Random vectors sit at a cosine of about 0 from any query: without this, the default
        # floor (0.2) would leave semantic search nothing to rank, load or count.
        "SEMANTIC_MIN_SCORE": -1.0,
    })


def fill_database(rows: list[dict], model: str, seed: int = 3) -> float:
    """Bulk-insert the rows and one random unit vector per row; returns the seconds taken."""
    from initiatives.extensions import db
    from initiatives.models import Initiative
    from search.catalogue import search_text
    from search.models import Embedding

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    now = datetime(2026, 11, 23)
    for first in range(0, len(rows), INSERT_BATCH):
        # Core skips the ORM hook that stores the folded search text: store it the same way here.
        chunk = [{**row, "search_text": search_text("initiative", SimpleNamespace(**row))}
                 for row in rows[first:first + INSERT_BATCH]]
        db.session.execute(Initiative.__table__.insert(), chunk)
        matrix = rng.standard_normal((len(chunk), DIMENSION), dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        db.session.execute(Embedding.__table__.insert(), [
            {"kind": "initiative", "object_id": row["id"], "model": model, "text_hash": "bench",
             "dimension": DIMENSION, "vector": vector.tobytes(), "updated_at": now}
            for row, vector in zip(chunk, matrix, strict=True)])
        db.session.commit()
    return time.perf_counter() - started


def index_documents(rows: list[dict]) -> Iterator[dict]:
    """The index document of each row, made by the catalogue's own ``initiative_doc``."""
    from search.catalogue import initiative_doc

    for row in rows:
        yield initiative_doc(SimpleNamespace(**row))


def _progress(n: int) -> Callable[[int], None]:
    started = time.perf_counter()

    def report(done: int) -> None:
        if done % 10_000 == 0 or done == n:
            print(f"  {n}: {done:,} indexed, {done / (time.perf_counter() - started):.0f}/s",
                  file=sys.stderr)
    return report


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# Timing ----------------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def time_calls(call: Callable[[str], int], queries: list[tuple[str, str]], budget: float) -> dict:
    """Run ``call`` on each query until ``budget`` seconds are spent; milliseconds per call."""
    times, totals, by_category, errors = [], [], {}, []
    spent = 0.0
    for category, text in queries:
        if spent > budget:
            break
        started = time.perf_counter()
        try:
            total = call(text)
        except Exception as error:  # reported, not hidden: a mode that fails at some size
            errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
            spent += time.perf_counter() - started
            continue
        elapsed = time.perf_counter() - started
        spent += elapsed
        times.append(elapsed * 1000)
        totals.append(total)
        by_category.setdefault(category, []).append(elapsed * 1000)
    return {"times": times, "totals": totals, "by_category": by_category, "errors": errors}


def summary(timing: dict) -> dict:
    times = timing["times"]
    if not times:
        return {"n": 0, "errors": timing["errors"]}
    return {"n": len(times), "median": statistics.median(times), "p95": percentile(times, 95),
            "max": max(times), "hits": statistics.median(timing["totals"]), "errors": timing["errors"]}


def run_size(n: int, args) -> dict:
    """Build, fill and index a portal of ``n`` initiatives in a temporary directory; time it."""
    from flask import Flask

    from initiatives.extensions import db
    from search import vectors
    from search.catalogue import catalogue, database_search

    if args.workdir:
        workdir = Path(args.workdir) / f"portal-{n}-seed{args.seed}"
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-search-{n}-", dir=args.tmp))
    app: Flask = build_portal(workdir, args.model)
    result: dict = {"n": n}
    try:
        with app.app_context():
            cat = catalogue(app)
            admin = reused_admin(n, cat) if args.workdir else None
            if admin is None:
                admin = build_catalogue(n, args, cat, result)
            else:
                result["reused"] = str(workdir)
                result["indexed"] = cat.index.doc_count()
                result["index_mb"] = directory_size(Path(app.config["SEARCH_INDEX_PATH"])) / 1e6
                print(f"  {n}: reusing the portal built in {workdir}", file=sys.stderr)
            if args.from_db:
                started = time.perf_counter()
                result["rebuild_db_docs"] = cat.rebuild()
                result["rebuild_db_s"] = time.perf_counter() - started

            queries = generate_queries(args.queries, seed=args.seed + 1)
            service = vectors.service()
            service.encode(["warm up"])  # the model is loaded once per process, not per query
            started = time.perf_counter()
            cat.search("hệ thống", admin, mode="text")  # the first search reads the facet columns
            result["first_text_ms"] = (time.perf_counter() - started) * 1000

            def text(q: str) -> int:
                return cat.search(q, admin, mode="text", per_page=PER_PAGE).total

            def semantic(q: str) -> int:
                return cat.search(q, admin, mode="semantic", per_page=PER_PAGE).total

            def hybrid(q: str) -> int:
                return cat.search(q, admin, mode="hybrid", per_page=PER_PAGE).total

            def fallback(q: str) -> int:
                answer = database_search(q, ["initiative"], {}, 1, PER_PAGE)
                db.session.remove()
                return answer.total

            def encode(q: str) -> int:
                service.encode([q])
                return 1

            def vector_scan(q: str) -> int:
                # The semantic step fed directly: every vector already in memory, one product.
                scores = matrix @ service.encode([q])[0]
                top = np.argpartition(-scores, 100)[:100]
                return len(top)

            timings = {}
            for name, call in (("text", text), ("semantic", semantic), ("hybrid", hybrid),
                               ("database fallback", fallback), ("query encoding alone", encode)):
                if name in args.skip:
                    continue
                timings[name] = time_calls(call, queries, args.budget)
                if args.profile == name and n == max(args.sizes):
                    # A second pass, so the profiler's overhead stays out of the timings above.
                    profiler = cProfile.Profile()
                    profiler.enable()
                    time_calls(call, queries[:PROFILE_QUERIES], args.budget)
                    profiler.disable()
                    stream = io.StringIO()
                    pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(45)
                    result["profile"] = stream.getvalue()
                db.session.remove()
                print(f"  {n}: {name} done ({len(timings[name]['times'])} queries)", file=sys.stderr)
            _, matrix = vectors.matrix("initiative") if "vector scan" not in args.skip else ([], None)
            if matrix is not None:
                timings["semantic step alone (vectors in memory)"] = time_calls(vector_scan, queries,
                                                                                args.budget)
            result["timings"] = {name: summary(t) for name, t in timings.items()}
            result["text_by_category"] = {c: {"n": len(v), "median": statistics.median(v),
                                              "p95": percentile(v, 95)}
                                          for c, v in timings.get("text", {}).get("by_category", {}).items()}
            cat.close()
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def reused_admin(n: int, cat):
    """The administrator of a portal of ``n`` initiatives built by an earlier run, or None
    when the directory holds no complete one (then it is built afresh)."""
    from sqlalchemy.exc import OperationalError

    from initiatives.extensions import db
    from initiatives.models import Initiative, User
    from search.models import Embedding
    from search.textindex import IndexUnavailable

    try:
        admin = User.query.filter_by(email="bench-admin@example.org").one_or_none()
        complete = (admin is not None and Initiative.query.count() == n
                    and Embedding.query.count() == n and cat.index.doc_count() == n)
    except (IndexUnavailable, OperationalError):  # no tables or no index yet
        db.session.rollback()
        return None
    return admin if complete else None


def fill_portal(n: int, seed: int, model: str, result: dict):
    """Create the tables, the benchmark's administrator and ``n`` initiatives with their vectors
    (generation and insert timed into ``result``). Returns the administrator and the rows."""
    from initiatives.accounts import operations as accounts
    from initiatives.extensions import db
    from initiatives.models import Role

    db.drop_all()
    db.create_all()
    admin = accounts.register_user("bench-admin@example.org", "Bench Admin", "bench-password-1",
                                   [Role.ADMIN], allow_admin=True)
    db.session.commit()
    started = time.perf_counter()
    rows = generate(n, admin.id, seed=seed)
    result["generate_s"] = time.perf_counter() - started
    result["insert_s"] = fill_database(rows, model)
    return admin, rows


def build_catalogue(n: int, args, cat, result: dict):
    """Create the tables, fill them with ``n`` initiatives and vectors, and index them (timed).
    Returns the administrator."""
    admin, rows = fill_portal(n, args.seed, args.model, result)
    started = time.perf_counter()
    result["indexed"] = cat.index.rebuild(index_documents(rows), progress=_progress(n))
    result["rebuild_s"] = time.perf_counter() - started
    result["index_mb"] = directory_size(Path(cat.app.config["SEARCH_INDEX_PATH"])) / 1e6
    return admin


# Report ----------------------------------------------------------------------------------------

def report(results: list[dict], args, started: datetime, load: tuple) -> str:
    out = [f"Date: {started.date().isoformat()}; Python {platform.python_version()} on "
           f"{platform.machine()}, {os.cpu_count()} CPUs; load average {load[0]:.2f} before, "
           f"{os.getloadavg()[0]:.2f} after; model {args.model} (query encoding, torch threads: "
           f"{args.torch_threads or 'default'}).", "",
           "| indexing | documents | rebuild s | documents/s | index MB | DB insert s |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        if "reused" in r:
            out.append(f"| reused ({r['reused']}) | {r['indexed']:,} | | | {r['index_mb']:.0f} | |")
            continue
        out.append(f"| TextIndex.rebuild | {r['indexed']:,} | {r['rebuild_s']:.1f} | "
                   f"{r['indexed'] / r['rebuild_s']:.0f} | {r['index_mb']:.0f} | {r['insert_s']:.1f} |")
        if "rebuild_db_s" in r:
            out.append(f"| Catalogue.rebuild (from the database) | {r['rebuild_db_docs']:,} | "
                       f"{r['rebuild_db_s']:.1f} | {r['rebuild_db_docs'] / r['rebuild_db_s']:.0f} | | |")
    out += ["", f"Queries: {args.queries} generated (8 kinds, rotating), {PER_PAGE} results per page "
            f"with facet counts, as an administrator; at most {args.budget:.0f} s per mode and size.",
            "", "| documents | mode | queries | median ms | p95 ms | max ms | median total |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        out.append(f"| {r['n']:,} | first text search (reads the facet columns) | 1 | "
                   f"{r['first_text_ms']:.0f} | | | |")
        for name, s in r["timings"].items():
            if s["n"]:
                out.append(f"| {r['n']:,} | {name} | {s['n']} | {s['median']:.1f} | {s['p95']:.1f} | "
                           f"{s['max']:.1f} | {s['hits']:,.0f} |")
            if s["errors"]:
                out.append(f"| {r['n']:,} | {name}: **{len(s['errors'])} failed** | | | | | "
                           f"{s['errors'][0]} |")
    out += ["", "Text queries by kind:", "", "| documents | kind | queries | median ms | p95 ms |",
            "| ---: | --- | ---: | ---: | ---: |"]
    for r in results:
        for category, s in r["text_by_category"].items():
            out.append(f"| {r['n']:,} | {category} | {s['n']} | {s['median']:.1f} | {s['p95']:.1f} |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000",
                        type=lambda s: [int(x) for x in s.replace("_", "").split(",") if x])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per mode and size")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for query encoding (0: torch's default)")
    parser.add_argument("--from-db", action="store_true",
                        help="also time Catalogue.rebuild() reading the database")
    parser.add_argument("--skip", default="", type=lambda s: set(filter(None, s.split(","))),
                        help="modes to leave out, e.g. 'semantic,hybrid'")
    parser.add_argument("--profile", default="", help="cProfile this mode at the largest size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp", default=None, help="where the temporary portals go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary portals")
    parser.add_argument("--workdir", default=None,
                        help="build each portal in WORKDIR/portal-<size>-seed<seed> and keep it; "
                             "a later run with the same WORKDIR, size and seed reuses it "
                             "(no generation, insert or rebuild)")
    args = parser.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    started, load = datetime.now(), os.getloadavg()
    results = []
    for n in args.sizes:
        print(f"{n} initiatives ...", file=sys.stderr)
        results.append(run_size(n, args))
    print(report(results, args, started, load))
    for r in results:
        if "profile" in r:
            print(f"\ncProfile of {PROFILE_QUERIES} {args.profile} queries at {r['n']:,} documents:\n\n```\n{r['profile']}```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
