"""The catalogue search of the portal: what goes into the index, who may see what, the three
modes (text, semantic, hybrid), and an index that follows the database and heals itself.

The database is the source of truth. Each committed change is sent to the index after the
commit; a missing, emptied or corrupt index is rebuilt in the background while searches are
answered from the database with a notice.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, event, inspect, or_
from sqlalchemy.orm import Session

from initiatives import taxonomy
from initiatives.extensions import db
from initiatives.models import Demand, ExpertProfile, Initiative, InitiativeState
from initiatives.models.user import utcnow
from search import vectors
from search.analysis import accented_form
from search.embeddings import EmbeddingService
from search.fusion import rrf
from search.textfold import fold, folded_fields, sql_compose, sql_fold
from search.textindex import IndexUnavailable, IndexWriteError, TextIndex

log = logging.getLogger(__name__)
S = InitiativeState

FACETS = ("field", "province", "state", "year", "call", "trl")
FACET_ALIASES = {"status": "state"}  # other names a filter may be given by (as in status:accepted)
FILTER_NAMES = FACETS + tuple(FACET_ALIASES)
MODES = ("text", "semantic", "hybrid")
SORTS = ("relevance", "date")
FUSION_DEPTH = 100          # how many of each ranking hybrid fuses
SEMANTIC_DEPTH = 100        # semantic mode answers with at most this many results
SEMANTIC_BATCH = 400        # best-scoring vectors checked for visibility at a time
SNIPPET_CHARS = 240
# After a rebuild, objects changed since this long before it began are indexed again: another
# process may have written them to the old generation, and a change is stamped when its
# transaction writes it, which may be a while before it commits.
REBUILD_CATCH_UP = timedelta(minutes=5)
_QUERY_SYNTAX = re.compile(r'["():*]|\b(?:AND|OR|NOT)\b')


# Comparisons in the query language: trl:>=6, year:<2026 (the index holds exact values) ----

_COMPARISON = re.compile(r"(trl|year):(>=|<=|>|<)(\d{1,4})", re.IGNORECASE)
_RANGES = {"trl": range(1, 10), "year": range(1990, 2101)}
# What the query parser reads as one unit: a quoted phrase (perhaps unclosed), a parenthesis, a word.
_QUERY_TOKEN = re.compile(r'"[^"]*"?|[()]|[^\s()"]+')
# A comparison right after these, or right before the second set, is not required of every
# result (it is negated, optional or an alternative): it is left to the parser.
_NOT_A_CONJUNCT_AFTER = {"NOT", "ANDNOT", "ANDMAYBE", "OR"}
_NOT_A_CONJUNCT_BEFORE = {"OR", "ANDNOT", "ANDMAYBE"}


def take_comparisons(text: str) -> tuple[str, dict[str, list[str]]]:
    """Turn ``trl:>=6``-style comparisons every result must pass into lists of allowed values;
    return the rest of the text.

    Only top-level conjuncts are taken: not inside quotes or parentheses, not after NOT, not
    an operand of OR (an explicit AND binds tighter than OR, so beside AND only when the query
    has no OR). The others stay in the text for the query parser, which reads them as ranges.
    """
    tokens, depth = [], 0
    for match in _QUERY_TOKEN.finditer(text):
        piece = match.group()
        depth = max(0, depth - 1) if piece == ")" else depth
        tokens.append((match, depth))
        depth += piece == "("
    words = [match.group() for match, _ in tokens]
    has_or = any(match.group() == "OR" and not depth for match, depth in tokens)
    allowed: dict[str, set[int]] = {}
    taken: set[int] = set()
    for i, (match, depth) in enumerate(tokens):
        comparison = _COMPARISON.fullmatch(match.group())
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        if (comparison is None or depth or before in _NOT_A_CONJUNCT_AFTER or after in _NOT_A_CONJUNCT_BEFORE
                or (has_or and "AND" in (before, after))):
            continue
        taken.add(i)
        if before == "AND":  # the AND that joined it would be left dangling
            taken.add(i - 1)
        elif after == "AND":
            taken.add(i + 1)
        name, operator, number = comparison.groups()
        name, number = name.lower(), int(number)
        test = {">=": number.__le__, "<=": number.__ge__, ">": number.__lt__, "<": number.__gt__}[operator]
        values = {v for v in _RANGES[name] if test(v)}
        allowed[name] = allowed[name] & values if name in allowed else values
    rest, position = [], 0
    for i in sorted(taken):
        match = tokens[i][0]
        rest.append(text[position:match.start()])
        position = match.end()
    rest.append(text[position:])
    return " ".join("".join(rest).split()), {name: [str(v) for v in sorted(values)] for name, values in allowed.items()}


# Documents ---------------------------------------------------------------------------------

def _places(slug: str | None) -> str:
    """A province's names in both languages and the units merged into it, so old names find it."""
    province = taxonomy.provinces().get(slug or "")
    if province is None:
        return ""
    return "; ".join([province.name_vi, province.name_en, *province.merged_from])


def _field_names(slug: str | None) -> str:
    field_ = taxonomy.fields().get(slug or "")
    return f"{field_.name_vi}; {field_.name_en}" if field_ else ""


def initiative_doc(item: Initiative) -> dict:
    stamp = item.submitted_at or item.created_at
    return {
        "kind": "initiative", "id": item.id, "title": item.title,
        "keywords": list(item.keywords or []), "organisation": item.organisation,
        "summary": item.summary,
        "body": "\n".join(part for part in (item.description, item.expected_impact,
                                            _places(item.province), _field_names(item.field)) if part),
        "lang": item.language, "updated_at": item.updated_at,
        "field": item.field, "province": item.province, "state": item.state,
        "year": stamp.year if stamp else None, "call": item.call_id, "trl": item.trl,
    }


def demand_doc(item: Demand) -> dict:
    return {
        "kind": "demand", "id": item.id, "title": item.title, "keywords": [],
        "organisation": item.organisation,
        "body": "\n".join(p for p in (item.description, _places(item.province), _field_names(item.field)) if p),
        "lang": item.language, "updated_at": item.updated_at, "field": item.field,
        "province": item.province, "state": item.state, "year": item.created_at.year,
    }


def expert_doc(item: ExpertProfile) -> dict:
    publications = "\n".join(f"{p.title}. {p.abstract}" for p in item.publications)
    return {
        "kind": "expert", "id": item.id, "title": item.name, "keywords": list(item.keywords or []),
        "organisation": item.organisation,
        "body": "\n".join(p for p in (item.bio, publications, "; ".join(_field_names(f) for f in item.fields or [])) if p),
        "updated_at": item.updated_at, "state": "available" if item.available else "unavailable",
    }


MODELS = {"initiative": Initiative, "demand": Demand, "expert": ExpertProfile}
DOCS = {"initiative": initiative_doc, "demand": demand_doc, "expert": expert_doc}
# What plain words match in the database fallback, by kind: never the organisation (see
# PRIVATE_FIELDS). Their folded text is stored in each object's ``search_text``.
SEARCH_TEXT_FIELDS = {"initiative": ("title", "summary", "keywords"), "demand": ("title", "description"),
                      "expert": ("name", "bio", "keywords")}


def search_text(kind: str, item) -> str:
    """The stored search text of ``item`` (a model object, or anything with its attributes)."""
    return folded_fields(*(getattr(item, name, None) for name in SEARCH_TEXT_FIELDS[kind]))


@event.listens_for(Session, "before_flush")
def _store_search_text(session, flush_context, instances) -> None:
    """Recompute ``search_text`` of each new or changed initiative, demand and expert before it is
    written, whichever form, service, import or script changed it."""
    kinds = {model: kind for kind, model in MODELS.items()}
    for item in (*session.new, *session.dirty):
        kind = kinds.get(type(item))
        if kind is None:
            continue
        state = inspect(item)
        changed = state.pending or any(state.attrs[name].history.has_changes() for name in SEARCH_TEXT_FIELDS[kind])
        # A row inserted around the ORM has none yet: it gets one the first time it is saved.
        if changed or item.search_text is None:
            text = search_text(kind, item)
            if item.search_text != text:
                item.search_text = text


def indexable(kind: str, item) -> bool:
    """Drafts stay out of the catalogue; everything else is in it (visibility is per query)."""
    return not (kind == "initiative" and item.state == S.DRAFT.value)


def all_docs(progress=None):
    """Every indexable document, read in batches."""
    for kind, model in MODELS.items():
        for item in db.session.query(model).order_by(model.id).yield_per(500):
            if indexable(kind, item):
                yield DOCS[kind](item)
                if progress:
                    progress(1)


def count_docs() -> int:
    return (Initiative.query.filter(Initiative.state != S.DRAFT.value).count()
            + Demand.query.count() + ExpertProfile.query.count())


# Visibility --------------------------------------------------------------------------------

# Index fields only admins may query: the organisation of a proposer (or a demand owner) is a
# contact detail (``Initiative.identity_visible_to``), and matching it would tell who proposed
# the initiatives a search lists even though no result shows it.
PRIVATE_FIELDS = ("organisation",)


def _is_admin(user) -> bool:
    return user is not None and user.is_authenticated and user.is_admin


def scope(user, kind: str | None) -> tuple[list[str], dict]:
    """The kinds and forced filters a user's search runs under: the public catalogue for
    everyone, every kind and state for admins."""
    if _is_admin(user):
        kinds = [kind] if kind in MODELS else ["initiative"]
        return kinds, {}
    return ["initiative"], {"state": S.ACCEPTED.value}


def hidden_fields(user) -> tuple[str, ...]:
    """The index fields a user's queries may not look into (``org:...`` is then read as plain
    words): none for admins, the organisation for everyone else."""
    return () if _is_admin(user) else PRIVATE_FIELDS


# Results -----------------------------------------------------------------------------------

@dataclass
class Result:
    kind: str
    id: int
    score: float
    title_html: str
    snippet: str
    item: object = None


@dataclass
class Answer:
    results: list[Result]
    total: int
    page: int
    per_page: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    mode: str = "hybrid"
    notice: str = ""
    plain: bool = False
    exact: bool = True  # False: more matched than were counted; total and facets are lower bounds

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _escape_snippet(text: str) -> str:
    text = " ".join((text or "").split())
    return html.escape(text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else ""))


def _load(results: list[Result]) -> list[Result]:
    """Attach the database objects; drop results whose object is gone."""
    by_kind: dict[str, list[int]] = {}
    for result in results:
        by_kind.setdefault(result.kind, []).append(int(result.id))
    objects = {}
    for kind, ids in by_kind.items():
        model = MODELS[kind]
        objects.update({(kind, o.id): o for o in model.query.filter(model.id.in_(ids))})
    kept = []
    for result in results:
        result.item = objects.get((result.kind, int(result.id)))
        if result.item is not None:
            kept.append(result)
    return kept


def _summary(item) -> str:
    return getattr(item, "summary", None) or getattr(item, "description", None) or getattr(item, "bio", "") or ""


# The database: filters, facets, the fallback -----------------------------------------------

def _db_query(kind: str, filters: dict):
    model = MODELS[kind]
    query = model.query
    if kind == "initiative":
        query = query.filter(Initiative.state != S.DRAFT.value)
    for name, value in filters.items():
        if value in (None, "", []):
            continue
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        numbers = [int(v) for v in values if v.isdigit()]
        if name == "year" and kind != "expert":
            column = Initiative.submitted_at if kind == "initiative" else Demand.created_at
            query = query.filter(db.extract("year", column).in_(numbers))
        elif name == "call" and kind == "initiative":
            query = query.filter(Initiative.call_id.in_(numbers))
        elif name == "trl" and kind == "initiative":
            query = query.filter(Initiative.trl.in_(numbers))
        elif name == "state" and kind == "expert":
            query = query.filter(ExpertProfile.available.is_("available" in values))
        elif hasattr(model, name):
            query = query.filter(getattr(model, name).in_(values))
    return query


def _db_facets(items: list) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        doc = DOCS[_kind_of(item)](item)
        for name in FACETS:
            value = doc.get(name)
            if value not in (None, ""):
                counts.setdefault(name, {})
                counts[name][str(value)] = counts[name].get(str(value), 0) + 1
    return counts


def _facet_counts(keys: list[tuple[str, int]]) -> dict[str, dict[str, int]]:
    """Facet counts of the objects ``keys`` (as ``_db_facets`` counts them), reading only the
    facet columns."""
    counts: dict[str, dict[str, int]] = {}

    def add(name: str, value) -> None:
        if value not in (None, ""):
            counts.setdefault(name, {})
            counts[name][str(value)] = counts[name].get(str(value), 0) + 1

    by_kind: dict[str, list[int]] = {}
    for kind, object_id in keys:
        by_kind.setdefault(kind, []).append(int(object_id))
    for kind, ids in by_kind.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            if kind == "initiative":
                rows = db.session.query(Initiative.field, Initiative.province, Initiative.state,
                                        Initiative.submitted_at, Initiative.created_at, Initiative.call_id,
                                        Initiative.trl).filter(Initiative.id.in_(chunk))
                for field_, province, state, submitted, created, call, trl in rows:
                    stamp = submitted or created
                    for name, value in (("field", field_), ("province", province), ("state", state),
                                        ("year", stamp.year if stamp else None), ("call", call), ("trl", trl)):
                        add(name, value)
            elif kind == "demand":
                rows = db.session.query(Demand.field, Demand.province, Demand.state, Demand.created_at).filter(
                    Demand.id.in_(chunk))
                for field_, province, state, created in rows:
                    for name, value in (("field", field_), ("province", province), ("state", state),
                                        ("year", created.year)):
                        add(name, value)
            else:
                for (available,) in db.session.query(ExpertProfile.available).filter(ExpertProfile.id.in_(chunk)):
                    add("state", "available" if available else "unavailable")
    return {name: dict(sorted(values.items(), key=lambda item: (-item[1], item[0])))
            for name, values in counts.items()}


def _any_word_query(text: str) -> str | None:
    """The query matching any of the words of ``text`` (``a OR b OR c``), for plain words
    only: a query written with syntax (quotes, fields, operators) says what it wants."""
    if _QUERY_SYNTAX.search(text):
        return None
    words = re.findall(r"\w+", text)
    return " OR ".join(words) if words else None


_encoding_threads_set = False


def _encode_query(text: str) -> np.ndarray:
    """The query's vector. Encoding one short query gains nothing from torch's intra-op
    threads, which only contend with the other processes (docs/benchmarks.md): the process
    keeps ``QUERY_ENCODING_THREADS`` of them (0: torch's default)."""
    global _encoding_threads_set
    service = vectors.service()
    threads = int(current_app.config.get("QUERY_ENCODING_THREADS", 1) or 0)
    if threads and not _encoding_threads_set and isinstance(service, EmbeddingService):
        import torch

        torch.set_num_threads(threads)
        _encoding_threads_set = True
    return vectors.embed_query(text)


MARGIN_MIN_VECTORS = 20


def semantic_floor(scores: np.ndarray) -> float:
    """The lowest cosine a semantic result may have for this query: above the absolute floor
    (``SEMANTIC_MIN_SCORE``) and standing ``SEMANTIC_MIN_MARGIN`` above the query's mean cosine
    over the catalogue. Every cosine of a nonsense query sits close to that mean; a real match
    stands out (docs/search.md, "Relevance floor"; bench/floors.py measures both per model).
    Under MARGIN_MIN_VECTORS vectors the mean says little (the matches themselves make most of
    it), and only the absolute floor holds."""
    floor = vectors.floor("SEMANTIC_MIN_SCORE")
    if scores.size < MARGIN_MIN_VECTORS:
        return floor
    return max(floor, float(scores.mean()) + vectors.floor("SEMANTIC_MIN_MARGIN"))


def _visible_best(kind: str, filters: dict, ids: np.ndarray, scores: np.ndarray, floor: float,
                  depth: int, leave_out: int | None = None) -> list[tuple[tuple[str, int], float]]:
    """The ``depth`` best-scoring objects (score at least ``floor``, ties by id) that pass
    ``filters``, best first. Visibility is checked in the database for the best candidates
    only, a batch at a time, so a query never sends every visible id."""
    above = np.flatnonzero(scores >= floor)
    order = above[np.argsort(-scores[above], kind="stable")]  # ids ascend: ties by id
    model = MODELS[kind]
    found: list[tuple[tuple[str, int], float]] = []
    start, batch = 0, SEMANTIC_BATCH
    while start < len(order) and len(found) < depth:
        chunk = order[start:start + batch]
        candidates = [int(i) for i in ids[chunk] if i != leave_out]
        visible = {row[0] for row in _db_query(kind, filters).with_entities(model.id)
                   .filter(model.id.in_(candidates))} if candidates else set()
        found.extend(((kind, int(ids[j])), float(scores[j])) for j in chunk if int(ids[j]) in visible)
        start, batch = start + batch, batch * 4
    return found[:depth]


def _kind_of(item) -> str:
    return {Initiative: "initiative", Demand: "demand", ExpertProfile: "expert"}[type(item)]


# How the database fallback reads a query: an optional field name, then a quoted phrase (perhaps
# unclosed) or a bare word; or a parenthesis.
_FALLBACK_TOKEN = re.compile(r'[()]|(?:(\w+):)?("[^"]*"?|[^\s()"]+)')
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"}
# Index fields whose value is text (searched as words), the names of the organisation field
# (searched in the organisation column, unless hidden) and those the fallback cannot follow.
_TEXT_FIELDS = {"text", "title", "keywords", "keyword", "tag", "summary", "body", "description", "all", "exact"}
_ORGANISATION_FIELDS = {"organisation", "organization", "org"}
_IGNORED_FIELDS = {"kind", "lang"}
MAX_FALLBACK_WORDS = 10

# A word of the fallback query and where it is looked for: "text" (the columns of
# ``_TEXT_COLUMNS``) or "organisation".
FallbackWord = tuple[str, str]


def _fallback_query(
    text: str, filters: dict, hidden: tuple[str, ...] = PRIVATE_FIELDS
) -> tuple[list[list[FallbackWord]], list[FallbackWord], dict | None]:
    """Read a query as far as the database fallback can follow it.

    Returns groups of words (each group needs one of its words: ``a OR b``), words that must
    not appear (``NOT a``), and ``filters`` with the query's own facet filters added
    (``province:lao-cai``, ``status:accepted``; None when they contradict ``filters``). A facet
    filter that is negated or an alternative cannot be a filter here and is dropped; quotes,
    parentheses, wildcards and the names of text fields leave plain words. ``org:...`` looks in
    the organisation unless it is ``hidden`` (see ``hidden_fields``): it is then two words, as
    an unknown field is and as the index reads it.
    """
    tokens = []
    # Composed, so that a word written with decomposed accents stays one word.
    for match in _FALLBACK_TOKEN.finditer(unicodedata.normalize("NFC", text or "")):
        name, value = match.group(1), match.group(2)
        if value is None:
            continue  # a parenthesis
        if name is None and value in _OPERATORS:
            tokens.append((value, None, ""))
        else:
            tokens.append(("", name.lower() if name else None, value.strip('"')))
    groups: list[list[str]] = []
    excluded: list[str] = []
    for i, (operator, name, value) in enumerate(tokens):
        if operator:
            continue
        before = tokens[i - 1][0] if i else ""
        after = tokens[i + 1][0] if i + 1 < len(tokens) else ""
        negated, alternative = before in ("NOT", "ANDNOT"), "OR" in (before, after)
        if name in FILTER_NAMES:
            if negated or alternative or before == "ANDMAYBE" or not value:
                continue
            filters = _narrowed(filters, FACET_ALIASES.get(name, name), value)
            if filters is None:
                return [], [], None
            continue
        if name in _IGNORED_FIELDS or before == "ANDMAYBE":
            continue
        where = "text"
        if name in _ORGANISATION_FIELDS and "organisation" not in hidden:
            where, name = "organisation", None
        # An unknown field is two words, as the index reads it.
        words = [(where, word) for word in
                 re.findall(r"\w+", value if name is None or name in _TEXT_FIELDS else f"{name} {value}")]
        if negated:
            excluded.extend(words)
        elif before == "OR" and groups:
            groups[-1].extend(words)
        else:
            groups.extend([word] for word in words)
    return groups[:MAX_FALLBACK_WORDS], excluded[:MAX_FALLBACK_WORDS], filters


def _narrowed(filters: dict, name: str, value: str) -> dict | None:
    """``filters`` with ``name`` also required to be ``value``; None when both cannot hold."""
    current = filters.get(name)
    if current in (None, "", []):
        return {**filters, name: value}
    allowed = [str(v) for v in current] if isinstance(current, list) else [str(current)]
    return {**filters, name: value} if value in allowed else None


# The columns of SEARCH_TEXT_FIELDS, for a row whose ``search_text`` is not stored yet.
_TEXT_COLUMNS = {kind: tuple(db.cast(column, db.Text) if isinstance(column.type, db.JSON) else column
                             for column in (getattr(MODELS[kind], name) for name in names))
                 for kind, names in SEARCH_TEXT_FIELDS.items()}


def database_search(text: str, kinds: list[str], filters: dict, page: int, per_page: int,
                    hidden: tuple[str, ...] = PRIVATE_FIELDS) -> Answer:
    """Plain matching on title, summary and keywords, while the index is being rebuilt.

    The query's facet filters are honoured, ``a OR b`` needs one of the words and ``NOT a``
    leaves out what holds the word; every other word must appear (see ``_fallback_query``).
    Words never match the organisation; ``org:...`` does unless the organisation is in
    ``hidden`` (it is by default; the catalogue passes ``hidden_fields(user)``, empty for admins).
    """
    notice = str(_l("The search index is being rebuilt; these results come from a plain search of "
                    "titles, summaries and keywords."))
    groups, excluded, filters = _fallback_query(text, filters, hidden)
    # Punctuation alone finds nothing, as in the index; a query of filters alone lists them.
    if filters is None or (not any(ch.isalnum() for ch in text or "") and (text or "").strip("* ")):
        return Answer([], 0, page, per_page, notice=notice)
    results, facet_items = [], []
    for kind in kinds:
        model = MODELS[kind]
        query = _db_query(kind, filters)
        for group in groups:
            query = query.filter(or_(*[_holds(kind, where, word) for where, word in group]))
        for where, word in excluded:
            query = query.filter(~_holds(kind, where, word))
        items = query.order_by(model.updated_at.desc(), model.id.desc()).limit(2000).all()
        facet_items.extend(items)
        results.extend(Result(kind, item.id, 0.0, html.escape(_title(item)), _escape_snippet(_summary(item)), item)
                       for item in items)
    start = (page - 1) * per_page
    return Answer(results[start:start + per_page], len(results), page, per_page, _db_facets(facet_items),
                  notice=notice)


def _holds(kind: str, where: str, word: str):
    """An object of ``kind`` holds ``word`` in its text or (``where`` is "organisation") its
    organisation: whatever their case and diacritics when ``word`` has none, with the same
    accents when it has some (as in the index). Never unknown (NULL), so NOT works too."""
    model = MODELS[kind]
    # An empty column holds no word; without coalesce, NOT would drop it as unknown.
    if where == "organisation":
        columns = [db.func.coalesce(model.organisation, "")]
        folded = _folded_like(columns[0], word)
    else:
        columns = [db.func.coalesce(column, "") for column in _TEXT_COLUMNS[kind]]
        stored = model.search_text
        pattern = f"%{_like_escaped(fold(word))}%"
        # The stored folded text is one plain LIKE; a row inserted around the ORM (no stored
        # text yet) is folded on the fly, as it always was, so the answer is the same either way.
        folded = or_(and_(stored.is_not(None), stored.like(pattern, escape="\\")),
                     and_(stored.is_(None), or_(*[_folded_like(column, word) for column in columns])))
    accented = accented_form(word)
    if accented is None:
        return folded
    # Typed with accents: the folded text (one cheap LIKE, first) finds the candidates, and the
    # columns as written, lowercased, decide which hold the word with these very accents.
    exact = f"%{_like_escaped(accented)}%"
    return and_(folded, or_(*[sql_compose(column).like(exact, escape="\\") for column in columns]))


def _folded_like(column, word: str):
    """``column`` holds ``word``, whatever their case and diacritics."""
    return sql_fold(column).like(f"%{_like_escaped(fold(word))}%", escape="\\")


def _like_escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _title(item) -> str:
    return getattr(item, "title", None) or getattr(item, "name", "")


# The index of one application ---------------------------------------------------------------

class Catalogue:
    """The application's text index, its after-commit updates and its self-healing."""

    def __init__(self, app: Flask):
        self.app = app
        self._index: TextIndex | None = None
        self._lock = threading.Lock()
        self._healing: threading.Thread | None = None
        self._closing = False

    @property
    def index(self) -> TextIndex:
        with self._lock:
            if self._index is None:
                self._index = TextIndex(self.app.config["SEARCH_INDEX_PATH"], FACETS,
                                        count_limit=self.app.config.get("SEARCH_COUNT_LIMIT") or None,
                                        on_write_failure=self._write_failed)
            return self._index

    def close(self) -> None:
        """Write what is queued and close the index; the next use opens it again."""
        with self._lock:
            index, self._index = self._index, None
            self._closing = True
        # Not under the lock: the writer may report a failure (and ask to heal) while it closes.
        try:
            if index is not None:
                index.close()
            if self._healing is not None:
                self._healing.join()
        finally:
            with self._lock:
                self._closing = False

    # following the database

    def update(self, kind: str, object_id: int) -> None:
        """Bring one object's document up to date (after its commit).

        Runs in a context of its own: the committing session cannot read any more."""
        with self.app.app_context():
            try:
                item = db.session.get(MODELS[kind], object_id)
                if item is None or not indexable(kind, item):
                    self.index.delete(kind, object_id)
                else:
                    self.index.upsert([DOCS[kind](item)])
            except (IndexUnavailable, OSError) as error:
                log.warning("index update of %s %s failed (%s); healing", kind, object_id, error)
                self.heal()
            finally:
                db.session.remove()

    def rebuild(self, progress=None) -> int:
        """Rebuild from the database into a fresh directory, swapped in atomically, then catch
        up with what other processes changed meanwhile (``_catch_up``). Returns the number of
        documents the rebuild indexed."""
        since = utcnow() - REBUILD_CATCH_UP
        indexed: dict[str, set[int]] = {kind: set() for kind in MODELS}

        def documents():
            for doc in all_docs(progress):
                indexed[doc["kind"]].add(doc["id"])
                yield doc

        count = self.index.rebuild(documents())
        self._catch_up(since, indexed)
        return count

    def _catch_up(self, since, indexed: dict[str, set[int]]) -> None:
        """Index again every object changed since ``since`` and remove the documents of those
        deleted since the rebuild read them (``indexed``: the ids it indexed, by kind).

        Another process (a web worker) writes its changes to the generation live at the time:
        one written to the old generation after the rebuild had read the database would be lost
        with it. Read in a session of its own, so the database is seen as it is now.
        """
        with Session(db.engine) as session:
            for kind, model in MODELS.items():
                documents = []
                for item in session.query(model).filter(model.updated_at >= since):
                    if indexable(kind, item):
                        documents.append(DOCS[kind](item))
                    else:
                        self.index.delete(kind, item.id)
                self.index.upsert(documents)
                present = {object_id for (object_id,) in session.query(model.id)}
                for object_id in indexed[kind] - present:
                    self.index.delete(kind, object_id)
        # Written before returning: the command line exits right after.
        self.index.flush()

    def heal(self) -> bool:
        """Start a background rebuild unless one is running; returns whether one started."""
        with self._lock:
            if self._closing or (self._healing is not None and self._healing.is_alive()):
                return False
            # Not a daemon: a process that exits mid-rebuild waits for it rather than leaving
            # a half-written generation behind.
            self._healing = threading.Thread(target=self._heal, name="portal-index-heal")
            self._healing.start()
            return True

    def wait_healed(self, timeout: float | None = 120) -> None:
        thread = self._healing
        if thread is not None:
            thread.join(timeout)

    def _heal(self) -> None:
        with self.app.app_context():
            try:
                count = self.rebuild()
                log.warning("search index rebuilt from the database: %d documents", count)
            except Exception:
                log.exception("search index rebuild failed")
            finally:
                db.session.remove()

    def _write_failed(self, error: BaseException) -> None:
        """The index gave up writing changes (after its retries): rebuild it from the database."""
        log.warning("search index writes failed (%s); rebuilding from the database", error)
        self.heal()

    def wait_idle(self) -> None:
        """Wait for a rebuild under way and for the queued changes (a command's end). An index
        never opened by this process has nothing queued, and is not opened for it."""
        self.wait_healed(timeout=None)
        with self._lock:
            opened = self._index is not None
        if opened:
            self.flush()
            self.wait_healed(timeout=None)

    def flush(self) -> None:
        """Wait for the queued changes; heal the index when they could not be written."""
        try:
            self.index.flush()
        except IndexWriteError:
            self.heal()

    # searching

    def search(self, text: str, user, *, mode: str = "hybrid", kind: str | None = None,
               filters: dict | None = None, page: int = 1, per_page: int = 20,
               sort: str = "relevance") -> Answer:
        """One page of the catalogue as ``user`` may see it."""
        mode = mode if mode in MODES else "hybrid"
        sort = sort if sort in SORTS else "relevance"
        page = max(1, int(page or 1))
        per_page = min(max(1, int(per_page or 20)), 100)
        kinds, forced = scope(user, kind)
        hidden = hidden_fields(user)
        wanted = {}
        for name, value in (filters or {}).items():
            name = FACET_ALIASES.get(name, name)
            if name in FACETS and value not in (None, "") and name not in wanted:
                wanted[name] = value
        for name, value in forced.items():
            if wanted.get(name, value) != value:
                return Answer([], 0, page, per_page, mode=mode)  # asks for what the user may not see
            wanted[name] = value
        text, ranges = take_comparisons((text or "").strip())
        for name, values in ranges.items():
            if name in wanted:
                values = [v for v in values if v == str(wanted[name])]
            wanted[name] = values or ["none"]
        if mode != "text" and not text:
            mode = "text"  # nothing to compare meanings with: list the catalogue
        if self.index.needs_rebuild:  # writes were lost: the rebuild that restores them may have failed
            self.heal()
        try:
            if mode == "text":
                answer = self._text(text, kinds, wanted, page, per_page, sort, hidden)
            else:
                answer = self._fused(text, kinds, wanted, page, per_page, mode, sort, hidden)
        except IndexUnavailable as error:
            log.warning("search index unavailable (%s); answering from the database", error)
            self.heal()
            return database_search(text, kinds, wanted, page, per_page, hidden)
        if answer.total == 0 and self._emptied():
            self.heal()
            return database_search(text, kinds, wanted, page, per_page, hidden)
        answer.mode = mode
        return answer

    def _emptied(self) -> bool:
        """An index with no documents while the database has some was emptied by mistake."""
        try:
            return self.index.doc_count() == 0 and count_docs() > 0
        except IndexUnavailable:
            return True

    def _text(self, text, kinds, filters, page, per_page, sort, hidden=PRIVATE_FIELDS) -> Answer:
        found = self.index.search(text, kinds=kinds, filters=filters, page=page, per_page=per_page, sort=sort,
                                  hidden_fields=hidden)
        results = _load([Result(h.kind, int(h.id), h.score, h.title_html, h.snippet) for h in found.hits])
        facets = {name: counts for name, counts in found.facets.items() if name in FACETS}
        return Answer(results, found.total, found.page, found.per_page, facets, plain=found.plain,
                      exact=found.exact)

    def _semantic_ranking(self, text: str, kinds: list[str], filters: dict,
                          depth: int = SEMANTIC_DEPTH) -> list[tuple[tuple[str, int], float]]:
        """The ``depth`` visible objects closest in meaning to ``text``, best first: one
        product with the process's cached matrix of each kind."""
        vector = _encode_query(text)
        ranking = []
        for kind in kinds:
            ids, matrix = vectors.cached_matrix(kind)
            if len(ids):
                scores = matrix @ vector
                ranking.extend(_visible_best(kind, filters, ids, scores, semantic_floor(scores), depth))
        ranking.sort(key=lambda pair: -pair[1])
        return ranking[:depth]

    def _text_rankings(self, text: str, kinds: list[str], filters: dict,
                       any_word_below: int | None = None, depth: int = FUSION_DEPTH,
                       hidden: tuple[str, ...] = PRIVATE_FIELDS) -> list[list[tuple[str, int]]]:
        """What hybrid fuses from the index: the best ``depth`` matches of all the words and,
        when they are fewer than ``any_word_below`` (the ``HYBRID_ANY_WORD_BELOW`` setting), of
        any of them. With the glossary bridge the any-word list only adds noise, so the setting
        is 0 (docs/search.md). ``hidden``: the fields the user may not query (``hidden_fields``)."""
        if any_word_below is None:
            any_word_below = int(current_app.config.get("HYBRID_ANY_WORD_BELOW", 0) or 0)
        every_word = [(kind, int(i)) for kind, i in
                      self.index.ranked_keys(text, kinds=kinds, filters=filters, limit=depth,
                                             hidden_fields=hidden)]
        rankings = [every_word]
        any_word = _any_word_query(text) if len(every_word) < any_word_below else None
        if any_word:
            rankings.append([(kind, int(i)) for kind, i in
                             self.index.ranked_keys(any_word, kinds=kinds, filters=filters, limit=depth,
                                                    hidden_fields=hidden)])
        return rankings

    def _fused(self, text, kinds, filters, page, per_page, mode, sort="relevance", hidden=PRIVATE_FIELDS) -> Answer:
        """Semantic or hybrid ranking; sorted by date, the same results newest first.

        Each list is asked for one more than its depth, to tell whether it was cut there: then
        more matched than are counted, and the total and the facets are lower bounds."""
        semantic = self._semantic_ranking(text, kinds, filters, depth=SEMANTIC_DEPTH + 1)
        cut = len(semantic) > SEMANTIC_DEPTH
        semantic = semantic[:SEMANTIC_DEPTH]
        matched = set()
        if mode == "hybrid":
            text_rankings = self._text_rankings(text, kinds, filters, depth=FUSION_DEPTH + 1, hidden=hidden)
            cut = cut or any(len(ranking) > FUSION_DEPTH for ranking in text_rankings)
            text_rankings = [ranking[:FUSION_DEPTH] for ranking in text_rankings]
            matched = {key for ranking in text_rankings for key in ranking}
            keys = rrf([*text_rankings, [key for key, _ in semantic]])
        else:
            keys = semantic
        if sort == "date":
            keys = _newest_first(keys)
        start = (page - 1) * per_page
        window = keys[start:start + per_page]
        hits = (self.index.highlights(text, [key for key, _ in window if key in matched], hidden_fields=hidden)
                if matched else {})
        results = []
        for (kind, object_id), score in window:
            hit = hits.get((kind, object_id))
            results.append(Result(kind, object_id, score, hit.title_html if hit else "",
                                  hit.snippet if hit else ""))
        results = _load(results)
        for result in results:
            result.title_html = result.title_html or html.escape(_title(result.item))
            result.snippet = result.snippet or _escape_snippet(_summary(result.item))
        return Answer(results, len(keys), page, per_page, _facet_counts([key for key, _ in keys]), exact=not cut)

    def more_like_this(self, initiative: Initiative, user, limit: int = 5) -> list[Initiative]:
        """The initiatives closest in meaning to ``initiative`` that ``user`` may see."""
        vector = vectors.vector_of("initiative", initiative.id, initiative)
        if vector is None:
            return []
        kinds, forced = scope(user, "initiative")
        ids, matrix = vectors.cached_matrix("initiative")
        if not len(ids):
            return []
        best = _visible_best("initiative", forced, ids, matrix @ vector, -np.inf, limit, leave_out=initiative.id)
        by_id = {i.id: i for i in Initiative.query.filter(Initiative.id.in_([i for (_, i), _ in best]))}
        return [by_id[i] for (_, i), _ in best if i in by_id]


def _newest_first(keys: list[tuple[tuple[str, int], float]]) -> list[tuple[tuple[str, int], float]]:
    """``keys`` ordered by when their objects last changed, newest first (as the index sorts)."""
    stamps = {}
    for kind in {kind for (kind, _), _ in keys}:
        model = MODELS[kind]
        ids = [object_id for (k, object_id), _ in keys if k == kind]
        for object_id, stamp in db.session.query(model.id, model.updated_at).filter(model.id.in_(ids)):
            stamps[(kind, object_id)] = stamp.timestamp() if stamp else float("-inf")
    return sorted(keys, key=lambda pair: -stamps.get(pair[0], float("-inf")))


def catalogue(app: Flask | None = None) -> Catalogue:
    app = app or current_app._get_current_object()
    return app.extensions["portal_catalogue"]


def init_app(app: Flask) -> None:
    """Keep the index in step with every commit that changes an initiative, demand or expert."""
    from initiatives import background, signals

    app.extensions["portal_catalogue"] = Catalogue(app)
    # After the encoding's waiter: its commits may queue index changes too.
    background.register_waiter(app, "search index", app.extensions["portal_catalogue"].wait_idle)

    def follow(kind, key):
        def receiver(sender, **payload):
            if sender is app:
                catalogue(app).update(kind, payload[key])
        return receiver

    app.extensions["portal_catalogue_receivers"] = receivers = [
        (signals.initiative_changed, follow("initiative", "initiative_id")),
        (signals.demand_changed, follow("demand", "demand_id")),
        (signals.expert_changed, follow("expert", "expert_id")),
    ]
    for signal, receiver in receivers:
        signal.connect(receiver)


