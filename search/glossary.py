"""A bridge from Vietnamese to English for the embedding model.

The default model, all-MiniLM-L6-v2, was trained on English: Vietnamese reaches it as word
pieces with their accents stripped, so "tưới tiêu thông minh" lands nowhere near "smart
irrigation" (docs/matching.md). Until a multilingual model can be installed, a Vietnamese text
is embedded together with the English of the terms it contains, from a bilingual glossary of
science, technology and innovation (``search/data/glossary.tsv``): dictionary-based query
translation, applied to the documents as well so that both sides meet in English. The text and
its English are encoded apart and their vectors averaged (search/vectors.py): appended to a long
Vietnamese text, a few English words would hardly move its vector.

Terms match on whole words, longest first. Terms of two or more syllables also match without
diacritics ("tuoi tieu" is "tưới tiêu"); a single syllable matches only with its accents, since
"lua" may be "lúa" (rice), "lửa" (fire) or "lụa" (silk).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import numpy as np

from search.analysis import guess_query_language
from search.textfold import fold

GLOSSARY = Path(__file__).parent / "data" / "glossary.tsv"
LONGEST_TERM = 6  # syllables
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text.lower()))


@cache
def _terms() -> tuple[dict[tuple[str, ...], str], dict[tuple[str, ...], str]]:
    """The glossary as two lookups: by the accented words, and by the folded words of terms of
    two or more syllables."""
    exact: dict[tuple[str, ...], str] = {}
    folded: dict[tuple[str, ...], str] = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        vietnamese, english = (part.strip() for part in line.split("\t", 1))
        words = tuple(_words(vietnamese))
        if not words or len(words) > LONGEST_TERM:
            raise ValueError(f"glossary term {vietnamese!r} must have 1 to {LONGEST_TERM} words")
        exact.setdefault(words, english)
        if len(words) > 1:
            folded.setdefault(tuple(fold(word) for word in words), english)
    return exact, folded


def english_terms(text: str) -> list[str]:
    """The English of the glossary terms in ``text``, longest match first, each once, in order."""
    exact, folded = _terms()
    words = _words(text)
    bare = [fold(word) for word in words]
    found: list[str] = []
    position = 0
    while position < len(words):
        for length in range(min(LONGEST_TERM, len(words) - position), 0, -1):
            english = exact.get(tuple(words[position:position + length]))
            if english is None and length > 1:
                english = folded.get(tuple(bare[position:position + length]))
            if english is not None:
                if english not in found:
                    found.append(english)
                position += length
                break
        else:
            position += 1
    return found


def is_vietnamese(text: str) -> bool:
    return guess_query_language(text) != "en"


def bridge(text: str, assume_vietnamese: bool = False) -> str:
    """The English of ``text``'s terms when it is (or is said to be) Vietnamese, else ""."""
    if not text or not (assume_vietnamese or is_vietnamese(text)):
        return ""
    return "; ".join(english_terms(text))


def encode_bridged(service, texts: list[str], languages: list[str | None] | None = None,
                   batch_size: int = 64, query: bool = False) -> np.ndarray:
    """One L2-normalised vector per text from ``service``: a Vietnamese text's vector is the
    mean of its own and of its English terms' (``languages`` "vi" or "en" skips guessing)."""
    languages = languages or [None] * len(texts)
    english = ["" if language == "en" else bridge(text, assume_vietnamese=language == "vi")
               for text, language in zip(texts, languages, strict=True)]
    vectors = service.encode(list(texts), batch_size=batch_size, query=query)
    bridged = [row for row, words in enumerate(english) if words]
    if bridged:
        vectors[bridged] += service.encode([english[row] for row in bridged], batch_size=batch_size,
                                           query=query)
        vectors[bridged] /= np.linalg.norm(vectors[bridged], axis=1, keepdims=True)
    return vectors
