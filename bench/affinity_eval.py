"""Compare expert-affinity aggregations on the labelled demo set with the real model.

For each of the 67 labelled initiatives in ``search/eval/expert_labels.json`` the 40 demo experts
are ranked by ``search.affinity.expert_affinity`` with each aggregation, and the ranking is
scored against the experts labelled relevant (MAP, P@5, R-precision, nDCG@10, MRR). Texts are
built as the portal builds them (``search/vectors.py``): an initiative from its title, summary,
keywords and the start of its description; an expert from keywords and bio, and each publication
(title and abstract) as a text of its own. Conflicts are not applied: they are a separate rule,
and an expert conflicted on an initiative is still a relevant expert for its topic.

A paired bootstrap over the initiatives gives a 95% interval for each method's MAP minus the
current default's, so "better" means more than the noise of 67 queries.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/affinity_eval.py [--model NAME] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search import vectors  # noqa: E402
from search.affinity import expert_affinity  # noqa: E402
from search.embeddings import DEFAULT_MODEL, get_service  # noqa: E402
from search.glossary import encode_bridged  # noqa: E402

DEMO = ROOT / "initiatives" / "data" / "demo"
LABELS = ROOT / "search" / "eval" / "expert_labels.json"

# (label, method, options); the default of initiatives/config.py is marked in the table.
METHODS = [
    ("max", "max", {}),
    ("mean", "mean", {}),
    ("topk_mean k=2", "topk_mean", {"k": 2}),
    ("topk_mean k=3", "topk_mean", {"k": 3}),
    ("quantile q=0.75", "quantile", {"q": 0.75}),
    ("quantile q=0.5", "quantile", {"q": 0.5}),
    ("centroid", "centroid", {}),
]
DEFAULT = "topk_mean k=2"


# The demo data are dicts; the portal's text builders read attributes. Wrapping each dict lets
# the evaluation embed exactly what the portal embeds, so the two cannot drift apart.

def _as_object(item: dict, *fields: str) -> SimpleNamespace:
    """``item``'s ``fields`` as attributes (None where missing), as the text builders read them."""
    return SimpleNamespace(**{name: item.get(name) for name in fields})


def initiative_text(item: dict) -> str:
    """Title, summary, keywords and the start of the description, as the portal embeds them."""
    return vectors.initiative_text(_as_object(item, "title", "summary", "keywords", "description"))


def load_demo() -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """Return the demo experts, initiatives, demands and the expert labels."""
    def read(path: Path):
        return json.loads(path.read_text(encoding="utf-8"))
    return (read(DEMO / "experts.json"), read(DEMO / "initiatives.json"),
            read(DEMO / "demands.json"), read(LABELS))


def expert_texts(experts: list[dict]) -> list[list[str]]:
    """Each expert's texts: the profile (keywords and bio) first, then each publication."""
    return [[vectors.expert_text(_as_object(e, "keywords", "bio"))]
            + [vectors.publication_text(_as_object(p, "title", "abstract")) for p in e.get("publications", [])]
            for e in experts]


def encoder(service, bridge: bool):
    """``texts, languages -> vectors``: as the portal encodes, with or without the glossary bridge."""
    if bridge:
        return lambda texts, languages=None: encode_bridged(service, texts, languages)
    return lambda texts, languages=None: service.encode(texts)


def encode_experts(encode, experts: list[dict]) -> list[np.ndarray]:
    """Return one ``(m_e, d)`` array per expert, encoding all texts in one batched call."""
    texts = expert_texts(experts)
    flat = encode([t for group in texts for t in group])
    bounds = np.cumsum([0] + [len(group) for group in texts])
    return [flat[bounds[e]:bounds[e + 1]] for e in range(len(experts))]


def ranking_metrics(scores: np.ndarray, relevant: np.ndarray) -> dict[str, float]:
    """Score one ranking (higher score = ranked first) against a boolean relevance vector."""
    order = np.argsort(-scores, kind="stable")
    hits = relevant[order].astype(float)
    n_rel = int(relevant.sum())
    ranks = np.flatnonzero(hits) + 1
    precision_at = np.cumsum(hits) / np.arange(1, hits.size + 1)
    gains = hits[:10] / np.log2(np.arange(2, min(10, hits.size) + 2))
    ideal = (1 / np.log2(np.arange(2, min(10, n_rel) + 2))).sum()
    return {
        "AP": float(precision_at[ranks - 1].sum() / n_rel),
        "P@5": float(hits[:5].mean()),
        "R-prec": float(hits[:n_rel].mean()),
        "nDCG@10": float(gains.sum() / ideal),
        "MRR": float(1.0 / ranks[0]),
        "mean rank": float(ranks.mean()),
    }


def evaluate(model: str = DEFAULT_MODEL, bootstrap: int = 10_000, seed: int = 0, bridge: bool = True) -> dict:
    """Run every aggregation; return per-method means, paired bootstrap intervals and timings."""
    experts, initiatives, _, labels = load_demo()
    by_title = {item["title"]: item for item in initiatives}
    email_index = {e["email"]: n for n, e in enumerate(experts)}
    encode = encoder(get_service(model), bridge)
    started = time.perf_counter()
    expert_vecs = encode_experts(encode, experts)
    labelled = [by_title[label["initiative"]] for label in labels]
    init_vecs = encode([initiative_text(item) for item in labelled],
                       [item.get("language", "vi") for item in labelled])
    encode_seconds = time.perf_counter() - started
    language = np.array([item.get("language", "vi") for item in labelled])
    relevant = np.zeros((len(labels), len(experts)), dtype=bool)
    for row, label in enumerate(labels):
        relevant[row, [email_index[email] for email in label["relevant_experts"]]] = True

    per_query: dict[str, dict[str, np.ndarray]] = {}
    for name, method, options in METHODS:
        affinity = expert_affinity(init_vecs, expert_vecs, method, **options)
        rows = [ranking_metrics(affinity[q], relevant[q]) for q in range(len(labels))]
        per_query[name] = {metric: np.array([r[metric] for r in rows]) for metric in rows[0]}

    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(labels), size=(bootstrap, len(labels)))
    base = per_query[DEFAULT]["AP"]
    summary = {}
    for name, _, _ in METHODS:
        diff = per_query[name]["AP"] - base
        boot = diff[samples].mean(axis=1)
        summary[name] = {metric: float(values.mean())
                         for metric, values in per_query[name].items()}
        summary[name]["MAP"] = summary[name].pop("AP")
        for lang in ("vi", "en"):
            summary[name][f"MAP_{lang}"] = float(per_query[name]["AP"][language == lang].mean())
        summary[name]["dMAP"] = float(diff.mean())
        summary[name]["dMAP_ci"] = (float(np.quantile(boot, 0.025)),
                                    float(np.quantile(boot, 0.975)))
        summary[name]["wins"] = int((diff > 1e-12).sum())
        summary[name]["losses"] = int((diff < -1e-12).sum())
    n_texts = sum(len(v) for v in expert_vecs) + len(labelled)
    return {"model": model, "bridge": bridge, "queries": len(labels), "experts": len(experts),
            "relevant_per_query": float(relevant.sum(axis=1).mean()),
            "by_language": {lang: int((language == lang).sum()) for lang in ("vi", "en")},
            "texts_encoded": n_texts, "encode_seconds": encode_seconds, "methods": summary}


def markdown(result: dict) -> str:
    """Return the results as a markdown table."""
    lines = [
        f"Model `{result['model']}`{' with the glossary bridge' if result.get('bridge') else ''}, "
        f"{result['queries']} labelled initiatives, "
        f"{result['experts']} experts, {result['relevant_per_query']:.2f} relevant experts per "
        f"initiative (chance P@5 = "
        f"{result['relevant_per_query'] / result['experts']:.3f}).",
        "",
        "| aggregation | MAP | P@5 | R-prec | nDCG@10 | MRR | mean rank of relevant | "
        f"MAP vi ({result['by_language']['vi']}) | MAP en ({result['by_language']['en']}) | "
        f"MAP vs {DEFAULT} [95% CI] | wins/losses (AP) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in result["methods"].items():
        label = f"**{name}** (default)" if name == DEFAULT else name
        low, high = row["dMAP_ci"]
        delta = "—" if name == DEFAULT else f"{row['dMAP']:+.3f} [{low:+.3f}, {high:+.3f}]"
        record = "—" if name == DEFAULT else f"{row['wins']}/{row['losses']}"
        lines.append(f"| {label} | {row['MAP']:.3f} | {row['P@5']:.3f} | {row['R-prec']:.3f} | "
                     f"{row['nDCG@10']:.3f} | {row['MRR']:.3f} | {row['mean rank']:.2f} | "
                     f"{row['MAP_vi']:.3f} | {row['MAP_en']:.3f} | {delta} | {record} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="sentence-transformers model name or path (default: %(default)s)")
    parser.add_argument("--no-bridge", action="store_true",
                        help="encode Vietnamese without the English of its terms (search/glossary.py)")
    parser.add_argument("--bootstrap", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    args = parser.parse_args(argv)
    result = evaluate(args.model, args.bootstrap, bridge=not args.no_bridge)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
