"""Fold text for comparison: case, Vietnamese diacritics and spacing stop mattering."""

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
# NFD leaves đ/Đ whole: it is a letter of its own in Unicode, not d plus a mark. The look-alike
# eth (ð/Ð, U+00F0/U+00D0) often stands in for it in text converted from legacy encodings.
_D_STROKE = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})


def fold(text: str) -> str:
    """Return ``text`` lowercased, without diacritics (đ -> d) and with single spaces.

    "Đại học  Bách khoa Hà Nội" and "dai hoc bach khoa ha noi" fold to the same string.
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_D_STROKE).lower())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare).strip()


def fold_words(text: str) -> list[str]:
    """Return the folded word tokens of ``text`` (letters, digits and underscores)."""
    return _WORD.findall(fold(text))
