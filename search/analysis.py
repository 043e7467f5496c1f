"""Whoosh analyzers that let Vietnamese and English text be found with or without diacritics."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

from whoosh.analysis import Filter, RegexTokenizer, StopFilter, Token
from whoosh.analysis.analyzers import CompositeAnalyzer
from whoosh.lang.porter2 import stem as porter2_stem

from search.textfold import fold, fold_words

# Words are letters and digits, with combining marks kept inside the word (so text that arrives
# decomposed, "ê" as "e" + U+0302, is not cut in two) and dotted parts kept together ("4.0").
_MARK = "\u0300-\u036f"
TOKEN_PATTERN = rf"[\w{_MARK}]+(?:\.[\w{_MARK}]+)*"
TOKEN_RE = re.compile(TOKEN_PATTERN)

# One Vietnamese syllable once folded: an optional initial consonant, one to four vowels (glides
# included) and an optional final consonant. English words of this shape carry no suffix worth
# stemming, so the test costs English nothing and keeps every Vietnamese syllable intact.
_VIETNAMESE_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,4}(?:ng|nh|ch|[cmnpt])?"
)

ENGLISH_STOP_WORDS = frozenset(
    """a about above after also an and are as at be been before being between both but by can
    could did do does for from had has have her his how however if in into is it its may more
    most not of on or other our over such than that the their them then there these they this
    those through to under upon us was we were what when where which while who will with within
    would yet you your""".split()
)

# Accented, so they are unambiguous: folded, nearly every one of them collides with a content
# word ("của" and "cua" crab, "được" and "dược" pharmacy, "cho" and "chợ" market, "trong" and
# "trồng" to plant).
VIETNAMESE_STOP_WORDS = frozenset(
    """bởi các cho chỉ có của cũng đã đang để đến đó được hay hoặc khi là lại mà một nào này nên
    nhằm như những nhưng ở rất rằng sẽ tại theo thì trên trong từ và vào về vì với""".split()
)

# English stop words that are also Vietnamese syllables once folded ("may" is "máy" machine, "an"
# is "an" safe, "the" is "thẻ" card, "in" is "in" to print): never removed from the index.
AMBIGUOUS_STOP_WORDS = frozenset(w for w in ENGLISH_STOP_WORDS if _VIETNAMESE_SYLLABLE.fullmatch(w))
# Removed from both the index and the queries: they cannot be a Vietnamese word.
HARD_STOP_WORDS = ENGLISH_STOP_WORDS - AMBIGUOUS_STOP_WORDS
# Folded Vietnamese function words whose other readings are rare enough to treat as optional in
# an unaccented Vietnamese query.
_UNACCENTED_VIETNAMESE_OPTIONAL = frozenset({"cua", "va", "cac", "nhung"})


def looks_vietnamese(folded_word: str) -> bool:
    """Return True when ``folded_word`` has the shape of one Vietnamese syllable."""
    return _VIETNAMESE_SYLLABLE.fullmatch(folded_word) is not None


def has_diacritics(word: str) -> bool:
    """Return True when folding ``word`` changes more than its case (it carries accents or đ)."""
    decomposed = unicodedata.normalize("NFD", word)
    return any(unicodedata.combining(ch) for ch in decomposed) or "đ" in decomposed.lower()


@lru_cache(maxsize=100_000)
def stem_word(folded_word: str) -> str:
    """Return the English stem of a folded word, or the word itself where stemming is unsafe.

    Only plain ASCII words longer than three letters that could not be a Vietnamese syllable are
    stemmed (Porter2): "irrigation", "irrigating" and "irrigated" meet at "irrig", while "thuy",
    "nghiep" or "minh" stay as they are.
    """
    if len(folded_word) <= 3 or not (folded_word.isascii() and folded_word.isalpha()):
        return folded_word
    if looks_vietnamese(folded_word):
        return folded_word
    return porter2_stem(folded_word)


# Words repeat a great deal, and folding one is the costliest step of indexing: remember them.
_fold_token = lru_cache(maxsize=200_000)(fold)


@lru_cache(maxsize=200_000)
def _compose_token(text: str) -> str:
    return unicodedata.normalize("NFC", text.lower())


def index_form(token: str) -> str:
    """Return the term the folded analyzer makes of one token (stop words aside).

    Lets a snippet find the words a query matched without running the whole analyzer.
    """
    return stem_word(_fold_token(token))


def accented_form(token: str) -> str | None:
    """Return ``token`` lowercased and NFC-composed when folding changes more than its case (it
    carries accents or đ), else None."""
    composed = _compose_token(token)
    return composed if composed != _fold_token(token) else None


def index_forms(token: str) -> tuple[str, ...]:
    """Return the terms :func:`text_analyzer` indexes for one token (stop words aside): the
    folded one and, for a word with accents, the accented one too."""
    accented = accented_form(token)
    return (index_form(token), accented) if accented else (index_form(token),)


def _letters_and_marks(word: str) -> list[tuple[str, str]]:
    """Each letter of ``word`` (lowercased, decomposed; đ stays a letter) with its marks."""
    letters: list[tuple[str, str]] = []
    for ch in unicodedata.normalize("NFD", word.lower()):
        if unicodedata.combining(ch) and letters:
            letters[-1] = (letters[-1][0], letters[-1][1] + ch)
        else:
            letters.append((ch, ""))
    return letters


def adds_marks(typed: str, candidate: str) -> bool:
    """Return True when ``candidate`` is ``typed`` with one or more marks added and none changed:
    a mark left out ("đât" for "đất"), not another word ("lửa" is not "lúa")."""
    a, b = _letters_and_marks(typed), _letters_and_marks(candidate)
    return (a != b and len(a) == len(b)
            and all(x[0] == y[0] and set(x[1]) <= set(y[1]) for x, y in zip(a, b, strict=True)))


def same_marks(first: str, second: str) -> bool:
    """Return True when two words carry the same marks (đ counted as one), whatever their
    letters: a slip of a letter that left the accents as typed."""

    def marks(word: str) -> list[str]:
        return sorted(m for _, letter_marks in _letters_and_marks(word) for m in letter_marks) + [
            "đ"] * word.lower().count("đ")

    return marks(first) == marks(second)


def query_form(word: str) -> str:
    """Return the term :func:`text_analyzer` looks one query word up by: the accented form
    when it is typed with accents (only those accents match), else the folded one (every
    accented form matches)."""
    return accented_form(word) or index_form(word)


class FoldFilter(Filter):
    """Fold each token with :func:`search.textfold.fold` (case, diacritics, đ -> d)."""

    def __call__(self, tokens: Iterable[Token]) -> Iterator[Token]:
        for token in tokens:
            token.text = _fold_token(token.text)
            yield token


class RememberAccentsFilter(Filter):
    """Fold each token like :class:`FoldFilter`, keeping its accented form (None without
    accents) in ``token.accented`` for :class:`AccentTwinFilter`."""

    def __call__(self, tokens: Iterable[Token]) -> Iterator[Token]:
        for token in tokens:
            # Whoosh reuses one Token object: the attribute is set afresh for every word.
            token.accented = accented_form(token.text)
            token.text = _fold_token(token.text)
            yield token


class AccentTwinFilter(Filter):
    """Give a word with accents its accented term besides its folded one.

    Indexing, the accented form follows the folded one at the same position, so phrases work
    with either. In a query, a word typed with accents is looked up by its accented form alone:
    "lúa" then matches "lúa" and not "lừa", while "lua" (folded) matches both.
    """

    def __call__(self, tokens: Iterable[Token]) -> Iterator[Token]:
        for token in tokens:
            accented = getattr(token, "accented", None)
            if accented is None or token.stopped:
                yield token
            elif token.mode == "query":
                token.text = accented
                yield token
            else:
                yield token
                token.text = accented
                yield token


class ComposeFilter(Filter):
    """Lowercase each token in Unicode NFC form, so composed and decomposed accents compare
    equal."""

    def __call__(self, tokens: Iterable[Token]) -> Iterator[Token]:
        for token in tokens:
            token.text = _compose_token(token.text)
            yield token


class SafeStemFilter(Filter):
    """Stem English words with :func:`stem_word`; Vietnamese syllables pass through untouched."""

    is_morph = True

    def __call__(self, tokens: Iterable[Token]) -> Iterator[Token]:
        for token in tokens:
            if not token.stopped:
                token.text = stem_word(token.text)
            yield token


def folded_analyzer() -> CompositeAnalyzer:
    """Return the analyzer of the searchable text fields.

    Tokens are lowercased, folded (so "Đà Nẵng", "ĐÀ NẴNG" and "da nang" give the same terms),
    rid of the English stop words that cannot be Vietnamese, and stemmed where safe.
    """
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | FoldFilter()
        | StopFilter(stoplist=HARD_STOP_WORDS, minsize=1)
        | SafeStemFilter()
    )


def text_analyzer() -> CompositeAnalyzer:
    """Return the analyzer of the searchable text fields: :func:`folded_analyzer`, and each
    word with accents indexed under its accented form too.

    A query word typed without accents is folded and matches every accented form of it ("lua":
    "lúa", "lừa", "lua"); one typed with accents matches only the same accents ("lúa", and
    "đa" is not "da").
    """
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | RememberAccentsFilter()
        | StopFilter(stoplist=HARD_STOP_WORDS, minsize=1)
        | SafeStemFilter()
        | AccentTwinFilter()
    )


def exact_analyzer() -> CompositeAnalyzer:
    """Return the analyzer of the accent-preserving field: lowercased and composed, not folded.

    A query typed with its accents matches this field only where the text has the same accents,
    which is what lets an exact-accent match rank above a merely folded one.
    """
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | ComposeFilter()
        | StopFilter(stoplist=HARD_STOP_WORDS, minsize=1)
    )


def guess_query_language(text: str) -> str:
    """Guess how a query is written: "vi" (Vietnamese with its accents), "vi-unaccented" or "en".

    A query with diacritics is "vi"; an unaccented one whose every alphabetic word has the shape
    of a Vietnamese syllable ("tuoi tieu thong minh", "da nang") is "vi-unaccented"; anything
    else is "en".
    """
    if has_diacritics(text):
        return "vi"
    words = [w for w in fold_words(text) if w.isalpha()]
    if words and all(looks_vietnamese(w) for w in words):
        return "vi-unaccented"
    return "en"


def is_optional_query_word(word: str, language: str) -> bool:
    """Return True when a query word should only raise the score, not be required.

    Stop words stay in the index whenever they might be Vietnamese content words, so a query
    that required them would miss documents that merely do not contain them. ``language`` is
    what :func:`guess_query_language` says of the whole query. Typed with accents, a Vietnamese
    function word is unambiguous ("cho" beside "bệnh viện" is "for", not "chợ"); without them
    only a few whose other readings are rare are optional; in English the stop words that could
    also be Vietnamese.
    """
    lowered = unicodedata.normalize("NFC", word.lower())
    if language == "vi":
        return lowered in VIETNAMESE_STOP_WORDS
    if language == "vi-unaccented":
        return fold(lowered) in _UNACCENTED_VIETNAMESE_OPTIONAL
    return fold(lowered) in AMBIGUOUS_STOP_WORDS
