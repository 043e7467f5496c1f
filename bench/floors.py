"""Calibrate the cosine floors of a model on the labelled sets (search/embeddings.py FLOORS).

For each floor the labelled pairs are split into relevant and not relevant, and the floor that
maximises F1 (relevant pairs kept, others cut) is printed with what it keeps and cuts:

- SEMANTIC_MIN_SCORE: typed queries (search/eval/queries.json, encoded as queries) against the
  76 demo initiatives, plus nonsense queries that must find nothing;
- DEMAND_MATCH_THRESHOLD: demo demands against the demo initiatives of their topic, and the
  held-out demands against the initiatives labelled for them;
- EXPERT_MIN_AFFINITY: the portal's affinity of the labelled relevant experts (demo labels);
- DUPLICATE_THRESHOLD: held-out translations and paraphrases against their original, and
  against every other demo initiative.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/floors.py --candidate e5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from affinity_eval import expert_texts  # noqa: E402
from model_eval import (  # noqa: E402
    CANDIDATES,
    Encoder,
    _demand_text,
    _text,
    demo_tasks,
    expert_scores,
    heldout_tasks,
)

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "search" / "eval" / "queries.json"
# Queries no initiative of the portal answers: gibberish, and topics the catalogue has none of.
NONSENSE = ["xyzzy qwerty", "asdf jkl", "lorem ipsum dolor", "bóng đá", "bong da ngoai hang anh",
            "football transfer news", "công thức nấu phở bò", "giá vàng hôm nay", "truyện kiếm hiệp",
            "celebrity gossip", "lịch chiếu phim", "kết quả xổ số miền bắc"]


def best_floor(relevant: np.ndarray, other: np.ndarray) -> tuple[float, float, float, float]:
    """The floor maximising F1 of keeping ``relevant`` scores and cutting ``other`` ones;
    returns (floor, F1, share of relevant kept, share of others kept)."""
    candidates = np.unique(np.concatenate([relevant, other]))
    best = (0.0, -1.0, 0.0, 0.0)
    for floor in candidates:
        kept = (relevant >= floor).sum()
        wrong = (other >= floor).sum()
        precision = kept / max(kept + wrong, 1)
        recall = kept / max(relevant.size, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        if f1 > best[1]:
            best = (float(floor), float(f1), float(recall), float(wrong / max(other.size, 1)))
    return best


def report(name: str, relevant: np.ndarray, other: np.ndarray, extra: str = "") -> dict:
    floor, f1, kept, leaked = best_floor(relevant, other)
    print(f"| {name} | {relevant.size} / {other.size} | {np.median(relevant):.3f} | {np.median(other):.3f} "
          f"| **{floor:.3f}** | {f1:.3f} | {kept:.2f} | {leaked:.3f} | {extra} |")
    return {"floor": floor, "f1": f1, "relevant_kept": kept, "others_kept": leaked}


def calibrate(candidate: str) -> dict:
    encoder = Encoder(candidate)
    demo = demo_tasks()
    catalogue = demo["catalogue"]
    titles = {item["title"]: n for n, item in enumerate(catalogue)}
    (catalogue_vectors,) = encoder.encode([_text(i) for i in catalogue], [i.get("language") for i in catalogue])
    out = {}
    print(f"Model {candidate}\n")
    print("| floor | pairs relevant / other | median relevant | median other | F1-best floor | F1 | "
          "relevant kept | others kept | note |")
    print("|---|---|---|---|---|---|---|---|---|")

    queries = json.loads(QUERIES.read_text(encoding="utf-8"))
    (query_vectors,) = encoder.encode_queries([q["query"] for q in queries])
    scores = query_vectors @ catalogue_vectors.T
    relevant = np.zeros_like(scores, dtype=bool)
    for row, q in enumerate(queries):
        relevant[row, [titles[t] for t in q["relevant"] if t in titles]] = True
    (nonsense_vectors,) = encoder.encode_queries(NONSENSE)
    nonsense_best = (nonsense_vectors @ catalogue_vectors.T).max(axis=1)
    entry = report("SEMANTIC_MIN_SCORE", scores[relevant], scores[~relevant])
    entry["nonsense_best"] = nonsense_best.tolist()
    out["SEMANTIC_MIN_SCORE"] = entry
    print(f"|  nonsense queries | {len(NONSENSE)} | | best cosine {nonsense_best.max():.3f} (median "
          f"{np.median(nonsense_best):.3f}) | | | | | a floor above {nonsense_best.max():.3f} answers them nothing |")

    demand_vectors = encoder.encode([_demand_text(d) for d in demo["demands"]],
                                    [d.get("language") for d in demo["demands"]])[0]
    demand_scores = demand_vectors @ catalogue_vectors.T
    relevant_d = demo["demand_relevant"]
    rel, oth = [demand_scores[relevant_d]], [demand_scores[~relevant_d]]
    heldout = heldout_tasks(demo)
    if heldout:
        held_vectors = encoder.encode([_demand_text(d) for d in heldout["demands"]],
                                      [d.get("language") for d in heldout["demands"]])[0]
        held_scores = held_vectors @ catalogue_vectors.T
        rel.append(held_scores[heldout["demand_relevant"]])
        oth.append(held_scores[~heldout["demand_relevant"]])
    out["DEMAND_MATCH_THRESHOLD"] = report("DEMAND_MATCH_THRESHOLD", np.concatenate(rel), np.concatenate(oth))

    groups = expert_texts(demo["experts"])
    single = Encoder(candidate)
    affinity = expert_scores(single, [_text(i) for i in demo["initiatives"]],
                             [i.get("language", "vi") for i in demo["initiatives"]], groups)
    out["EXPERT_MIN_AFFINITY"] = report("EXPERT_MIN_AFFINITY", affinity[demo["relevant"]],
                                        affinity[~demo["relevant"]])

    if heldout:
        items = heldout["duplicates"]
        (dup_vectors,) = encoder.encode([_text(d) for d in items], [d.get("language") for d in items])
        dup_scores = dup_vectors @ catalogue_vectors.T
        target = np.zeros_like(dup_scores, dtype=bool)
        target[np.arange(len(items)), heldout["duplicate_of"]] = True
        kinds = np.array([d["kind"] for d in items])
        translations = dup_scores[target][kinds == "translation"]
        out["DUPLICATE_THRESHOLD"] = report(
            "DUPLICATE_THRESHOLD", dup_scores[target], dup_scores[~target],
            f"translations: median {np.median(translations):.3f}, lowest {translations.min():.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", default="e5", choices=[c for c in CANDIDATES if c != "fused"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = calibrate(args.candidate)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
