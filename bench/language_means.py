"""Write search/data/language_means.npz: the mean vector of Vietnamese and of English texts for
each half of the fused model (search/embeddings.py ``FusedEmbedder``).

Both models, E5 most, put any two texts of one language closer than two of different languages
on the same topic (docs/matching.md, "Language centring"). The fused embedder subtracts from
each vector the mean vector of its text's language, so that what is left is the topic. The means
are taken once, from the demo catalogue's initiatives, demands, expert profiles and
publications (written in both languages across every field), and shipped as data: stored
vectors stay comparable whatever the catalogue holds.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/language_means.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from affinity_eval import _as_object, expert_texts, initiative_text, load_demo  # noqa: E402

from search import vectors  # noqa: E402
from search.embeddings import DEFAULT_MODEL, E5_MODEL, LANGUAGE_MEANS, get_service, text_language  # noqa: E402
from search.glossary import encode_bridged  # noqa: E402


def corpus() -> list[str]:
    experts, initiatives, demands, _labels = load_demo()
    return ([initiative_text(item) for item in initiatives]
            + [vectors.demand_text(_as_object(d, "title", "description")) for d in demands]
            + [text for group in expert_texts(experts) for text in group])


def main() -> int:
    texts = corpus()
    languages = np.array([text_language(text) for text in texts])
    english_half = encode_bridged(get_service(DEFAULT_MODEL), texts, [None] * len(texts))
    multilingual_half = get_service(E5_MODEL).encode(texts, batch_size=32)
    means = {}
    for name, matrix in (("minilm", english_half), ("e5", multilingual_half)):
        for language in ("vi", "en"):
            means[f"{name}_{language}"] = matrix[languages == language].mean(axis=0).astype(np.float32)
    np.savez(LANGUAGE_MEANS, **means)
    print(f"Wrote {LANGUAGE_MEANS} from {len(texts)} texts "
          f"({(languages == 'vi').sum()} Vietnamese, {(languages == 'en').sum()} English).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
