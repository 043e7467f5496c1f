"""Fold text for comparison: case, Vietnamese diacritics and spacing stop mattering."""

import re
import unicodedata

from sqlalchemy import String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

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


def compose(text: str) -> str:
    """Return ``text`` lowercased in Unicode NFC form, accents kept: how a word typed with
    accents is compared ("Lúa" and "lúa" written decomposed are both "lúa"; "lừa" stays apart)."""
    return unicodedata.normalize("NFC", text.lower())


def fold_words(text: str) -> list[str]:
    """Return the folded word tokens of ``text`` (letters, digits and underscores)."""
    return _WORD.findall(fold(text))


# Between the fields of a stored search text: spaces and a line break, which no query word (only
# letters, digits and underscores) can span, so two fields never make a word together.
FIELD_SEPARATOR = " \n "


def folded_fields(*values) -> str:
    """Return the stored search text of ``values``: each text, or each text of a list, folded and
    joined by ``FIELD_SEPARATOR``; None and empty values are left out."""
    texts = []
    for value in values:
        texts.extend(value if isinstance(value, list | tuple) else [value])
    return FIELD_SEPARATOR.join(folded for text in texts if text and (folded := fold(str(text))))


# The same folding inside SQL, for the database search that answers while the index is rebuilt.
# PostgreSQL: translate() with a table of every accented Latin letter; SQLite has no translate(),
# so the application registers fold() as the function portal_fold on each connection.

def _accent_table() -> tuple[str, str]:
    accented, bare = [], []
    for code in range(0x00C0, 0x1F00):
        char = chr(code)
        plain = fold(char)
        if len(plain) == 1 and plain.isascii() and plain.isalpha() and plain != char.lower():
            accented.append(char)
            bare.append(plain)
    return "".join(accented), "".join(bare)


ACCENTED, UNACCENTED = _accent_table()


def _case_table() -> tuple[str, str]:
    """Every upper-case Latin letter with accents and its lower case (for PostgreSQL, whose
    lower() leaves them alone under the C locale)."""
    upper, lower = [], []
    for code in range(0x00C0, 0x1F00):
        char = chr(code)
        small = char.lower()
        if len(small) == 1 and small != char and fold(char) != char.lower():
            upper.append(char)
            lower.append(small)
    return "".join(upper), "".join(lower)


UPPER_ACCENTED, LOWER_ACCENTED = _case_table()


class sql_fold(FunctionElement):  # noqa: N801 (an SQL function, named as SQLAlchemy's are)
    """``fold(column)`` in SQL: lowercased, without diacritics (đ -> d). Spacing is left alone."""

    type = String()
    inherit_cache = True
    name = "portal_fold"


@compiles(sql_fold)
def _fold_sqlite(element, compiler, **kw):
    return f"portal_fold({compiler.process(element.clauses, **kw)})"


@compiles(sql_fold, "postgresql")
def _fold_postgresql(element, compiler, **kw):
    table = compiler.process(literal(ACCENTED), **kw), compiler.process(literal(UNACCENTED), **kw)
    return f"lower(translate({compiler.process(element.clauses, **kw)}, {table[0]}, {table[1]}))"


class sql_compose(FunctionElement):  # noqa: N801 (an SQL function, named as SQLAlchemy's are)
    """``compose(column)`` in SQL: lowercased, NFC, accents kept (see :func:`compose`)."""

    type = String()
    inherit_cache = True
    name = "portal_compose"


@compiles(sql_compose)
def _compose_sqlite(element, compiler, **kw):
    return f"portal_compose({compiler.process(element.clauses, **kw)})"


@compiles(sql_compose, "postgresql")
def _compose_postgresql(element, compiler, **kw):
    table = compiler.process(literal(UPPER_ACCENTED), **kw), compiler.process(literal(LOWER_ACCENTED), **kw)
    text = compiler.process(element.clauses, **kw)
    return f"lower(translate(normalize({text}, NFC), {table[0]}, {table[1]}))"


def register_sqlite_fold(dbapi_connection) -> None:
    """Make ``portal_fold`` and ``portal_compose`` callable in SQL on an SQLite connection."""
    dbapi_connection.create_function("portal_fold", 1, lambda text: None if text is None else fold(text),
                                     deterministic=True)
    dbapi_connection.create_function("portal_compose", 1, lambda text: None if text is None else compose(text),
                                     deterministic=True)
