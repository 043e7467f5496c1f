"""Benchmark of the full-text engine alone: indexing throughput and query latency.

Usage: python bench/search_engine.py [N] [--queries Q] [--dir PATH]

Builds an index of N generated initiatives, demands and experts (default 5000; Vietnamese with
and without accents, and English), then times Q queries (default 200) of every kind the portal
sends, and prints a Markdown report.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.textfold import fold  # noqa: E402
from search.textindex import TextIndex  # noqa: E402

VI_PHRASES = [
    "tưới tiêu thông minh", "nông nghiệp công nghệ cao", "năng lượng mặt trời", "trí tuệ nhân tạo",
    "chẩn đoán hình ảnh", "an ninh mạng", "chuỗi khối", "điện toán đám mây", "xử lý nước thải",
    "giám sát môi trường", "phương tiện bay không người lái", "vật liệu mới", "bán dẫn",
    "chuyển đổi số", "dịch vụ công trực tuyến", "du lịch thông minh", "giáo dục trực tuyến",
    "y tế từ xa", "truy xuất nguồn gốc", "nuôi trồng thủy sản", "giống lúa chịu mặn",
    "phân bón hữu cơ", "cảm biến độ ẩm", "robot công nghiệp", "logistics đô thị",
    "tài chính vi mô", "bảo tồn di sản văn hóa", "tái chế nhựa", "pin lưu trữ", "mạng 5G",
]
VI_FILLER = (
    "giải pháp hệ thống ứng dụng nghiên cứu phát triển mô hình thử nghiệm triển khai quy trình "
    "dữ liệu người dân doanh nghiệp hợp tác xã địa phương hiệu quả chi phí thấp tiết kiệm "
    "nâng cao năng suất chất lượng sản phẩm thị trường vùng đồng bằng miền núi ven biển "
    "thiết bị phần mềm nền tảng kết nối quản lý vận hành đào tạo chuyên gia cộng đồng"
).split()
EN_PHRASES = [
    "smart irrigation", "precision agriculture", "solar energy", "machine learning",
    "medical imaging", "cyber security", "blockchain traceability", "cloud platform",
    "wastewater treatment", "environmental monitoring", "drone mapping", "new materials",
    "semiconductor packaging", "digital government", "online learning", "telemedicine",
    "aquaculture feed", "salt tolerant rice", "organic fertiliser", "battery storage",
]
EN_FILLER = (
    "system platform pilot farmers cooperative province sensors data reduces costs improves "
    "yields households network operators deployment scalable affordable training experts "
    "monitoring remote villages coastal delta mountain community partners market adoption"
).split()
FIELDS = [
    "artificial-intelligence", "blockchain", "cloud-data", "robotics", "biotechnology",
    "semiconductors", "telecoms", "cybersecurity", "uav-aerospace", "new-materials",
    "agriculture", "health", "education", "energy", "environment", "transport",
    "digital-government", "finance", "tourism-culture", "manufacturing",
]
PROVINCES = [
    "ha-noi", "ho-chi-minh", "da-nang", "hai-phong", "can-tho", "hue", "lao-cai", "dak-lak",
    "khanh-hoa", "nghe-an", "thanh-hoa", "quang-ninh", "lam-dong", "an-giang", "gia-lai",
]
STATES = ["draft", "submitted", "screening", "under_review", "reviewed", "accepted", "rejected"]
KINDS = ["initiative"] * 8 + ["demand", "expert"]


def generate(n: int, seed: int = 42) -> list[dict]:
    """Return ``n`` reproducible catalogue documents: 60% Vietnamese (a fifth of them typed
    without accents), 40% English."""
    rng = random.Random(seed)
    start = datetime(2021, 1, 1)
    docs = []
    for i in range(n):
        if rng.random() < 0.6:
            topic, other = rng.sample(VI_PHRASES, 2)
            title = f"{topic.capitalize()} cho {other}"
            words = [rng.choice(VI_FILLER) for _ in range(rng.randint(50, 150))]
            words[rng.randrange(len(words))] = topic
            body = " ".join(words) + "."
            keywords = [topic, other]
            lang = "vi"
            if rng.random() < 0.2:
                title, body, keywords = fold(title), fold(body), [fold(k) for k in keywords]
        else:
            topic, other = rng.sample(EN_PHRASES, 2)
            title = f"{topic.capitalize()} for {other}"
            words = [rng.choice(EN_FILLER) for _ in range(rng.randint(50, 150))]
            words[rng.randrange(len(words))] = topic
            body = " ".join(words) + "."
            keywords = [topic, other]
            lang = "en"
        docs.append(
            {
                "kind": rng.choice(KINDS),
                "id": i,
                "title": title,
                "body": body,
                "keywords": keywords,
                "organisation": f"Organisation {rng.randrange(300)}",
                "field": rng.choice(FIELDS),
                "province": rng.choice(PROVINCES),
                "state": rng.choice(STATES),
                "lang": lang,
                "updated_at": start + timedelta(hours=rng.randrange(5 * 365 * 24)),
            }
        )
    return docs


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :]


def make_queries(count: int, seed: int = 7) -> list[tuple[str, str, dict]]:
    """Return (kind of query, text, search keyword arguments) in a fixed rotation of kinds."""
    rng = random.Random(seed)
    makers = [
        ("vi accented", lambda: (rng.choice(VI_PHRASES), {})),
        ("vi unaccented", lambda: (fold(rng.choice(VI_PHRASES)), {})),
        ("english", lambda: (rng.choice(EN_PHRASES), {})),
        ("typo", lambda: (typo(max(rng.choice(EN_PHRASES).split(), key=len), rng), {})),
        ("prefix*", lambda: (rng.choice(EN_PHRASES).split()[0][:5] + "*", {})),
        ("\"phrase\"", lambda: (f'"{rng.choice(VI_PHRASES)}"', {})),
        ("boolean", lambda: (f"{rng.choice(EN_FILLER)} OR {rng.choice(EN_FILLER)} NOT pilot", {})),
        (
            "filtered",
            lambda: (
                fold(rng.choice(VI_PHRASES)).split()[0],
                {
                    "kinds": ["initiative"],
                    "filters": {"state": "accepted", "province": rng.sample(PROVINCES, 3)},
                },
            ),
        ),
    ]
    queries = []
    for i in range(count):
        name, make = makers[i % len(makers)]
        text, options = make()
        queries.append((name, text, options))
    return queries


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(n: int, query_count: int, directory: Path) -> str:
    docs = generate(n)
    ix = TextIndex(directory / "index")
    try:
        started, cpu = time.perf_counter(), time.process_time()
        ix.rebuild(docs)
        rebuild_seconds = time.perf_counter() - started
        rebuild_cpu = time.process_time() - cpu

        # Live updates: 4 threads each upserting single documents, as after-commit hooks would.
        updates = generate(min(1000, n), seed=99)
        for doc in updates:
            doc["id"] = f"live-{doc['id']}"
        started, cpu = time.perf_counter(), time.process_time()
        threads = [
            threading.Thread(target=lambda part: [ix.upsert([d]) for d in part], args=(updates[i::4],))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ix.flush()
        upsert_seconds = time.perf_counter() - started
        upsert_cpu = time.process_time() - cpu

        started = time.perf_counter()
        health = ix.check()
        check_seconds = time.perf_counter() - started

        queries = make_queries(query_count)
        for _, text, options in queries[:20]:  # warm the searcher pool and the OS cache
            ix.search(text, **options)
        timings: dict[str, list[float]] = {}
        cpu_timings: dict[str, list[float]] = {}
        totals: dict[str, list[int]] = {}
        for name, text, options in queries:
            started, cpu = time.perf_counter(), time.process_time()
            results = ix.search(text, per_page=20, **options)
            timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            cpu_timings.setdefault(name, []).append((time.process_time() - cpu) * 1000)
            totals.setdefault(name, []).append(results.total)
        size = directory_size(directory / "index")
    finally:
        ix.close()

    everything = [t for values in timings.values() for t in values]
    all_cpu = [t for values in cpu_timings.values() for t in values]
    lines = [
        f"Documents: {n} generated ({n + len(updates)} after the live updates), "
        f"index on disk {size / 1e6:.1f} MB, check(): {health.state} in {check_seconds:.2f} s",
        "",
        "Wall-clock time, and the CPU time of this process (steadier on a shared machine).",
        "",
        "| indexing | documents | seconds | documents/s | CPU seconds | documents/CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| rebuild (bulk, one writer) | {n} | {rebuild_seconds:.2f} | "
        f"{n / rebuild_seconds:,.0f} | {rebuild_cpu:.2f} | {n / rebuild_cpu:,.0f} |",
        f"| live upserts (4 threads, one document per call) | {len(updates)} | "
        f"{upsert_seconds:.2f} | {len(updates) / upsert_seconds:,.0f} | {upsert_cpu:.2f} | "
        f"{len(updates) / upsert_cpu:,.0f} |",
        "",
        f"Queries: {len(everything)}, 20 hits per page with snippets and facet counts "
        "(kind, field, province, state, year).",
        "",
        "| query kind | queries | median hits | p50 ms | p95 ms | max ms | p50 CPU ms | p95 CPU ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, values in timings.items():
        cpu = cpu_timings[name]
        lines.append(
            f"| {name} | {len(values)} | {statistics.median(totals[name]):.0f} | "
            f"{percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} | {max(values):.1f} | "
            f"{percentile(cpu, 0.5):.1f} | {percentile(cpu, 0.95):.1f} |"
        )
    lines.append(
        f"| **all** | {len(everything)} | | **{percentile(everything, 0.5):.1f}** | "
        f"**{percentile(everything, 0.95):.1f}** | {max(everything):.1f} | "
        f"**{percentile(all_cpu, 0.5):.1f}** | **{percentile(all_cpu, 0.95):.1f}** |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=5000, help="documents to index")
    parser.add_argument("--queries", type=int, default=200, help="queries to time")
    parser.add_argument("--dir", type=Path, help="where to build the index (default: a temp dir)")
    args = parser.parse_args(argv)
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}\n")
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        print(run(args.n, args.queries, args.dir))
    else:
        with tempfile.TemporaryDirectory() as directory:
            print(run(args.n, args.queries, Path(directory)))


if __name__ == "__main__":
    main()
