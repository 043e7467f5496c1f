"""The catalogue's full-text index: Whoosh on disk, one writer thread, atomic rebuilds, health checks.

Layout on disk: ``<path>/CURRENT`` names the live generation, a complete Whoosh index in
``<path>/gen-<timestamp>-<random>/``. A rebuild fills a fresh generation beside the live one and
swaps ``CURRENT`` with an atomic rename, so searches never see a half-built index.
"""

from __future__ import annotations

import copy
import html
import itertools
import json
import logging
import os
import pickle
import queue
import re
import shutil
import struct
import threading
import time
import unicodedata
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from whoosh import collectors, index, qparser, query
from whoosh.fields import DATETIME, ID, STORED, TEXT, Schema
from whoosh.index import LockError
from whoosh.matching import RequireMatcher, WrappingMatcher
from whoosh.searching import Searcher

from search.analysis import (
    TOKEN_RE,
    accented_form,
    adds_marks,
    exact_analyzer,
    guess_query_language,
    index_forms,
    is_optional_query_word,
    same_marks,
    stem_word,
    text_analyzer,
)
from search.textfold import fold

log = logging.getLogger(__name__)

KINDS = ("initiative", "demand", "expert")
DEFAULT_FACETS = ("field", "province", "state", "year")
# Queries match on one field holding all the text (title, keywords, summary, body): one posting
# list per word is several times faster in Whoosh than a union over four fields. The title,
# keywords and summary, indexed on their own as well, only add to the score (title above
# keywords above summary above the rest), and so does "exact", the same text with its accents
# kept. The organisation is not in it: it is indexed on its own only, so that plain words never
# find a document by it and a caller can keep "org:..." from those who may not see it
# (``hidden_fields``).
MATCH_FIELD = "text"
EXACT_FIELD = "exact"
SCORE_BOOSTS = {"title": 3.0, "keywords": 1.5, "summary": 0.75}
EXACT_BOOST = 1.5
# Two query words side by side that a document holds side by side, in that order, add their
# score in the match field again, times this: a Vietnamese word is often two syllables, each a
# word here ("nước thải", "tưới tiêu"), and a document holding them apart means something else.
# 2 lets a phrase outweigh the same words more often apart; copies on the title, keywords and
# summary doubled the time of a query for no gain measured (docs/search.md, "Evaluation").
ADJACENT_BOOST = 2.0
# Fields with their own index besides the match field (so "title:..." works too).
INDEXED_TEXT_FIELDS = (MATCH_FIELD, "title", "keywords", "summary", "organisation", EXACT_FIELD)
SORTS = ("relevance", "date")
# Other names users may type before a colon.
FIELD_ALIASES = {
    "state": ["status"],
    "organisation": ["organization", "org"],
    "keywords": ["keyword", "tag"],
    MATCH_FIELD: ["body", "description", "all"],
}
_FIELD_ALIASES_REVERSE = {alias for aliases in FIELD_ALIASES.values() for alias in aliases}

# Bumped whenever the schema, the analyzers or what goes into a field change (3: the organisation
# left the match field; 4: words with accents are indexed under their accented form too): a
# generation built for another version is reported corrupt, which makes the application rebuild it.
SCHEMA_VERSION = 4
CURRENT_FILE = "CURRENT"
META_FILE = "portal-index.json"
_GENERATION_NAME = re.compile(r"gen-[0-9TZ]+-[0-9a-f]{8}")

MAX_QUERY_CHARS = 400
MAX_QUERY_WORDS = 32
MAX_QUERY_LEAVES = 400
MAX_PER_PAGE = 100
MAX_RESULT_WINDOW = 10_000
# Totals and facet counts are exact up to this many matches, lower bounds beyond ("1,000+"):
# listing every match of a broad query costs as much as the rest of the search.
COUNT_LIMIT = 1_000
MIN_TYPO_LENGTH = 5
MAX_TYPO_CANDIDATES = 8
TYPO_BOOST = 0.8
SNIPPET_CHARS = 240
SNIPPET_SOURCE_CHARS = 50_000
WRITE_BATCH_OPS = 500
# The writer thread ends after this long without changes; the next change starts another.
WRITER_IDLE_SECONDS = 1.0
WRITE_LOCK_TIMEOUT = 120.0
# A write that fails (the lock stayed taken, a file could not be written) is tried again after
# each of these pauses; once they are used up the index is marked as needing a rebuild.
WRITE_RETRY_DELAYS = (0.5, 2.0, 8.0)
# Changes that could not be written are kept to go with the next write, up to this many (a
# rebuild from the database restores the rest).
MAX_UNWRITTEN_OPS = 10_000
SEARCHER_POOL_SIZE = 16
# Old generations younger than this are left alone: another process may still be building or
# reading them.
GENERATION_GRACE_SECONDS = 600

# What a damaged index file raises from inside Whoosh while it is read.
_READ_ERRORS = (
    OSError,
    EOFError,
    struct.error,
    zlib.error,
    pickle.UnpicklingError,
    ValueError,
    IndexError,
    KeyError,
    UnicodeDecodeError,
    index.IndexError,
)


class IndexUnavailable(Exception):
    """The index is missing or corrupt; answer from the database and rebuild it.

    ``state`` is "missing" or "corrupt", as :meth:`TextIndex.check` would report it.
    """

    def __init__(self, state: str, detail: str):
        super().__init__(f"search index {state}: {detail}")
        self.state = state
        self.detail = detail


class IndexWriteError(Exception):
    """Queued changes could not be written even after retries; the index needs a rebuild from
    the database (:attr:`TextIndex.needs_rebuild`), which restores them."""


@dataclass(frozen=True)
class IndexHealth:
    """What :meth:`TextIndex.check` found: state is "missing", "empty", "corrupt" or "ok"."""

    state: str
    doc_count: int = 0
    generation: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True)
class Hit:
    """One search result. ``title_html`` and ``snippet`` are safe HTML: escaped text and <mark>."""

    kind: str
    id: object
    score: float
    title: str
    title_html: str
    snippet: str
    facets: Mapping[str, str]
    lang: str | None
    updated_at: datetime | None

    @property
    def key(self) -> tuple[str, object]:
        return (self.kind, self.id)


@dataclass(frozen=True)
class SearchResults:
    """One page of hits, the total number of matches and facet counts over all of them.

    ``plain`` is True when the query could not be read as query syntax and was answered as
    plain words. ``exact`` is False when there were more matches than the index counts: the
    total and the facet counts are then lower bounds (shown as "1,000+").
    """

    hits: list[Hit]
    total: int
    page: int
    per_page: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    plain: bool = False
    exact: bool = True

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def build_schema(facet_fields: Sequence[str] = DEFAULT_FACETS) -> Schema:
    """Return the Whoosh schema: text fields (folded, accented words also as written), the
    accent-keeping field and ID facets."""
    folded = text_analyzer()
    schema = Schema(
        key=ID(unique=True, stored=True),
        kind=ID(stored=True, sortable=True),
        id=STORED(),
        text=TEXT(analyzer=folded),
        title=TEXT(analyzer=folded, stored=True),
        keywords=TEXT(analyzer=folded, stored=True),
        summary=TEXT(analyzer=folded),
        organisation=TEXT(analyzer=folded, stored=True),
        body=STORED(),
        exact=TEXT(analyzer=exact_analyzer()),
        lang=ID(stored=True),
        updated_at=DATETIME(stored=True, sortable=True),
    )
    for name in facet_fields:
        if name in schema:
            raise ValueError(f"facet {name!r} clashes with a field of the index")
        schema.add(name, ID(stored=True, sortable=True))
    return schema


@dataclass
class _Op:
    """One queued change for the writer thread."""

    seq: int
    action: str  # "upsert", "delete", "swap" or "stop"
    docs: list[dict] = field(default_factory=list)
    key: str | None = None
    target: Path | None = None
    done: threading.Event | None = None
    error: BaseException | None = None


class TextIndex:
    """A full-text index of initiatives, demands and experts kept in the directory ``path``.

    Documents are mappings with ``kind`` (one of :data:`KINDS`), ``id``, ``title``, ``summary``
    (optional), ``body``, ``keywords`` (a string or a list), ``organisation``, ``lang``, ``updated_at`` (datetime, date
    or ISO string) and one value per facet field (by default field, province, state and year;
    year defaults to the year of ``updated_at``). Plain words match the title, keywords, summary
    and body; the organisation only answers a field query (``org:...``).

    All writes go through one background thread, in the order they were queued; searches run in
    any thread. A write that fails is retried after the pauses of :data:`WRITE_RETRY_DELAYS`;
    when it still fails the index is marked as needing a rebuild and ``on_write_failure`` is
    called with the error (from the writer thread), once until a rebuild is swapped in. With
    ``create`` (the default) an empty index is created when none exists; pass ``create=False``
    to let :meth:`check` report "missing" instead. Totals and facet counts are exact up to
    ``count_limit`` matches (None: always).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        facet_fields: Sequence[str] = DEFAULT_FACETS,
        *,
        create: bool = True,
        count_limit: int | None = COUNT_LIMIT,
        on_write_failure: Callable[[BaseException], None] | None = None,
    ):
        self.path = Path(path)
        self.facet_fields = tuple(facet_fields)
        self.count_limit = count_limit
        self.on_write_failure = on_write_failure
        self.schema = build_schema(self.facet_fields)
        self._lock = threading.Lock()  # sequence numbers, queue order, journal, pool
        self._done = threading.Condition()
        self._queue: queue.Queue[_Op] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._queued_seq = 0
        self._done_seq = 0
        self._failure: tuple[int, BaseException] | None = None
        self._reported_failure_seq = 0
        self._journal: list[_Op] | None = None
        # Changes given up on (kept for the next write) and whether only a rebuild can help.
        self._unwritten: list[_Op] = []
        self._needs_rebuild = False
        self._rebuild_lock = threading.Lock()
        self._indexes: dict[Path, index.FileIndex] = {}
        self._pool: list[tuple[Path, Searcher]] = []
        self._segment_cache: dict[str, _SegmentColumns] = {}
        self._columns_cache: tuple[tuple, _Columns] | None = None
        # Generations found damaged: searched no more, so the caller falls back and rebuilds.
        self._damaged: dict[Path, str] = {}
        if create and not (self.path / CURRENT_FILE).exists():
            self.create()

    # -- lifecycle ----------------------------------------------------------------------------

    def create(self) -> None:
        """Create an empty index if there is none yet; an existing index is left alone."""
        if (self.path / CURRENT_FILE).exists():
            return
        self.rebuild(())

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close open searchers."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer = self._writer
            if writer is not None:
                self._queued_seq += 1
                self._queue.put(_Op(self._queued_seq, "stop"))
        if writer is not None:
            writer.join()
        with self._lock:
            pool, self._pool = self._pool, []
        for _, searcher in pool:
            _close_quietly(searcher)

    def __enter__(self) -> TextIndex:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Mapping]) -> None:
        """Queue documents to be added or replaced (matched on kind and id).

        Raises ValueError at once for a document without a known kind or an id; the write
        itself happens in the background (see :meth:`flush`).
        """
        prepared = [self._prepare(doc) for doc in docs]
        if prepared:
            self._enqueue("upsert", docs=prepared)

    def delete(self, kind: str, doc_id: object) -> None:
        """Queue the removal of one document; removing an absent one is not an error."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self._enqueue("delete", key=_key(kind, doc_id))

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until every change queued before this call is committed and searchable.

        Raises IndexWriteError when some of those changes could not be written (the index was
        missing or corrupt, or stayed locked), TimeoutError when they take longer than
        ``timeout`` seconds.
        """
        with self._lock:
            target = self._queued_seq
        with self._done:
            if not self._done.wait_for(lambda: self._done_seq >= target, timeout):
                raise TimeoutError(f"index writes not done after {timeout} s")
            failure = self._failure
            if failure and self._reported_failure_seq < failure[0] <= target:
                self._reported_failure_seq = failure[0]
                raise IndexWriteError(str(failure[1])) from failure[1]

    wait = flush

    @property
    def needs_rebuild(self) -> bool:
        """True once queued changes could not be written even after retries, until a rebuild is
        swapped in: the index misses changes the database holds."""
        with self._lock:
            return self._needs_rebuild

    def rebuild(
        self, docs: Iterable[Mapping], progress: Callable[[int], None] | None = None
    ) -> int:
        """Build a new index from ``docs`` beside the live one, then swap it in atomically.

        Searches keep using the previous index until the swap. Changes queued while the rebuild
        runs are applied to both, so none is lost. ``progress`` is called with the number of
        documents written so far. Returns the number of documents indexed (a repeated kind and
        id is indexed once, first one wins).
        """
        with self._rebuild_lock:
            self.path.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._journal = []
            target = self.path / _generation_name()
            try:
                count = self._build(target, docs, progress)
                swap = self._enqueue("swap", target=target, done=threading.Event())
                swap.done.wait()
                if swap.error is not None:
                    raise swap.error
            except BaseException:
                with self._lock:
                    self._journal = None
                shutil.rmtree(target, ignore_errors=True)
                raise
            try:
                self._remove_old_generations(keep=target.name)
            except OSError as exc:  # the new index is live; leftovers go at the next rebuild
                log.warning("search index: old generations not removed: %s", exc)
            return count

    # -- reading ------------------------------------------------------------------------------

    def search(
        self,
        text: str,
        kinds: Iterable[str] | None = None,
        filters: Mapping[str, str | Iterable[str] | None] | None = None,
        page: int = 1,
        per_page: int = 20,
        sort: str = "relevance",
        facets: bool = True,
        hidden_fields: Iterable[str] = (),
    ) -> SearchResults:
        """Search with the query language (AND, OR, NOT, "phrases", field:value, prefix*).

        ``kinds`` and ``filters`` (facet name -> value or values, any of which may match) are
        applied inside the query, so the total, the pages and the facet counts only ever cover
        documents that pass them. Facet counts are over every match, not only this page, up to
        ``count_limit`` matches (then they and the total are lower bounds, ``exact`` False). An
        empty query matches everything, newest first; a query that is not valid syntax is
        answered as plain words. A field query on one of ``hidden_fields`` (or on one of its
        aliases) is read as plain words, as an unknown field is: the caller keeps fields some
        users may not search out of their reach. Raises IndexUnavailable when the index is
        missing or corrupt, ValueError for an unknown kind, filter, sort or hidden field.
        """
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}")
        clauses = self._restriction(kinds, filters)
        hidden = self._hidden_names(hidden_fields)
        per_page = min(max(int(per_page), 1), MAX_PER_PAGE)
        page = min(max(int(page), 1), max(1, MAX_RESULT_WINDOW // per_page))
        offset, limit = (page - 1) * per_page, page * per_page
        with self._searcher() as searcher:
            q = self._build_query(text, searcher, hidden)
            columns = self._columns(searcher)
            exact = True
            if sort == "date" or _matches_everything(q.matching):
                # Dates and facet codes are numpy columns: every match is cheap to order and count.
                matched = columns.matching(searcher, q.matching, clauses)
                ranked = [(int(docnum), 0.0) for docnum in columns.newest(matched, limit)[offset:]]
            else:
                ranked = self._top(searcher, q, columns.restriction(clauses), limit)[offset:]
                # Counting stops past the limit, but always a page beyond this one, so the
                # pages still lead on.
                count_limit = None if self.count_limit is None else max(self.count_limit, limit + per_page)
                matched, exact = columns.first_matching(searcher, q.matching, clauses, count_limit)
            terms = _highlight_terms(q.matching, searcher.reader())
            hits = [self._hit(searcher, docnum, score, terms) for docnum, score in ranked]
            counts = columns.counts(matched, ("kind",) + self.facet_fields) if facets else {}
            return SearchResults(hits, len(matched), page, per_page, counts, q.plain, exact)

    def ranked_keys(
        self,
        text: str,
        kinds: Iterable[str] | None = None,
        filters: Mapping[str, str | Iterable[str] | None] | None = None,
        limit: int = 100,
        hidden_fields: Iterable[str] = (),
    ) -> list[tuple[str, object]]:
        """Return the (kind, id) of the best ``limit`` matches, best first (for fusion);
        ``hidden_fields`` as in :meth:`search`."""
        clauses = self._restriction(kinds, filters)
        hidden = self._hidden_names(hidden_fields)
        with self._searcher() as searcher:
            q = self._build_query(text, searcher, hidden)
            restriction = self._columns(searcher).restriction(clauses)
            keys = []
            for docnum, _ in self._top(searcher, q, restriction, max(1, int(limit))):
                stored = searcher.stored_fields(docnum)
                keys.append((stored["kind"], stored["id"]))
            return keys

    def highlights(
        self,
        text: str,
        keys: Iterable[tuple[str, object]],
        hidden_fields: Iterable[str] = (),
    ) -> dict[tuple[str, object], Hit]:
        """The hits of the documents ``keys`` ((kind, id) pairs), with the words of ``text``
        marked in their titles and snippets (for results ranked elsewhere, as by fusion).
        Documents not in the index are left out; the scores are 0. ``hidden_fields`` as in
        :meth:`search`, so the words marked are those the query was read as."""
        hidden = self._hidden_names(hidden_fields)
        with self._searcher() as searcher:
            q = self._build_query(text, searcher, hidden)
            terms = _highlight_terms(q.matching, searcher.reader())
            found = {}
            for kind, doc_id in keys:
                docnum = searcher.document_number(key=_key(kind, doc_id))
                if docnum is not None:
                    found[(kind, doc_id)] = self._hit(searcher, docnum, 0.0, terms)
            return found

    def doc_count(self) -> int:
        """Return the number of documents in the live index (raises IndexUnavailable)."""
        with self._searcher() as searcher:
            return searcher.doc_count()

    def check(self, full: bool = True) -> IndexHealth:
        """Report whether the index is "missing", "empty", "corrupt" or "ok" (with its size).

        The full check reads every stored document, the key postings, every term of the text
        fields and the facet columns, so a truncated or garbled file is found even where a
        search would not touch it; it takes a few seconds per hundred thousand documents.
        ``full=False`` opens every segment and reads a little of each: enough for a missing,
        truncated or replaced file, in milliseconds. A generation found corrupt is searched no
        more (searches raise IndexUnavailable) until it is rebuilt or checks ok again.
        """
        try:
            directory = self._current_dir()
        except IndexUnavailable as exc:
            return IndexHealth(exc.state, detail=exc.detail)
        try:
            ix = self._open_index(directory, cached=False)
            if full:
                _check_seals(ix)
            with ix.searcher() as searcher:
                count = searcher.doc_count()
                if count and full:
                    _verify(searcher, self.facet_fields)
                elif count:
                    _verify_quickly(searcher)
        except Exception as exc:  # any failure to read it back means it cannot be trusted
            detail = exc.detail if isinstance(exc, IndexUnavailable) else _describe(exc)
            self._mark_damaged(directory, detail)
            return IndexHealth("corrupt", generation=directory.name, detail=detail)
        with self._lock:
            self._damaged.pop(directory, None)
        return IndexHealth("ok" if count else "empty", count, directory.name)

    # -- documents ----------------------------------------------------------------------------

    def _prepare(self, doc: Mapping) -> dict:
        """Turn a portal document into the fields Whoosh stores and indexes."""
        kind = doc.get("kind")
        if kind not in KINDS:
            raise ValueError(f"document kind must be one of {KINDS}, not {kind!r}")
        doc_id = doc.get("id")
        if doc_id is None or doc_id == "":
            raise ValueError("document without an id")
        title = _clean(doc.get("title"))
        keywords = doc.get("keywords") or ""
        if not isinstance(keywords, str):
            keywords = "; ".join(str(word) for word in keywords)
        keywords = _clean(keywords)
        organisation = _clean(doc.get("organisation"))
        summary = _clean(doc.get("summary"))
        body = _clean(doc.get("body"))
        # The organisation stays out of the words everyone searches: it may be a contact detail,
        # looked up only through its own field, which callers can hide (``hidden_fields``).
        everything = "\n".join(part for part in (title, keywords, summary, body) if part)
        prepared = {
            "key": _key(kind, doc_id),
            "kind": kind,
            "id": doc_id,
            "title": title,
            "keywords": keywords,
            "organisation": organisation,
            "summary": summary,
            "body": "\n".join(part for part in (summary, body) if part),
            MATCH_FIELD: everything,
            EXACT_FIELD: everything,
        }
        if doc.get("lang"):
            prepared["lang"] = str(doc["lang"])
        updated_at = _as_datetime(doc.get("updated_at"))
        if updated_at is not None:
            prepared["updated_at"] = updated_at
        for name in self.facet_fields:
            value = doc.get(name)
            if value is None and name == "year" and updated_at is not None:
                value = updated_at.year
            if value is not None and str(value).strip():
                prepared[name] = str(value).strip()
        return prepared

    def _hit(
        self, searcher: Searcher, docnum: int, score: float, terms: Mapping[str, set[str]]
    ) -> Hit:
        stored = searcher.stored_fields(docnum)
        title = stored.get("title", "")
        body = stored.get("body", "")
        keywords = stored.get("keywords", "")
        words = terms.get(MATCH_FIELD, set())
        snippet = (
            _highlight(body[:SNIPPET_SOURCE_CHARS], words, SNIPPET_CHARS)
            or _highlight(keywords, words | terms.get("keywords", set()), SNIPPET_CHARS)
            or html.escape(_shorten(body or keywords, SNIPPET_CHARS))
        )
        return Hit(
            kind=stored["kind"],
            id=stored["id"],
            score=float(score),
            title=title,
            title_html=_highlight(title, words | terms.get("title", set())) or html.escape(title),
            snippet=snippet,
            facets={name: stored[name] for name in self.facet_fields if name in stored},
            lang=stored.get("lang"),
            updated_at=stored.get("updated_at"),
        )

    def _restriction(
        self, kinds: Iterable[str] | None, filters: Mapping[str, object] | None
    ) -> list[tuple[str, list[str]]]:
        """Check kinds and filters; return them as (field, allowed values) clauses."""
        clauses = []
        if kinds is not None:
            kinds = [kinds] if isinstance(kinds, str) else list(kinds)
            unknown = set(kinds) - set(KINDS)
            if unknown:
                raise ValueError(f"unknown kinds {sorted(unknown)}")
            clauses.append(("kind", kinds))  # an empty list allows nothing
        for name, values in (filters or {}).items():
            if name not in self.facet_fields and name not in ("kind", "lang"):
                raise ValueError(f"unknown filter {name!r}")
            if values is None or values == "":
                continue
            values = [values] if isinstance(values, (str, int)) else list(values)
            if values:
                clauses.append((name, [str(value) for value in values]))
        return clauses

    def _top(
        self, searcher: Searcher, q: _Query, allowed: bytes | None, limit: int
    ) -> list[tuple[int, float]]:
        """The best ``limit`` (docnum, score) pairs among the ``allowed`` docnums (a mask).

        The restriction (and, when the ranking query was loosened, the exact matching query)
        goes inside the query rather than to Whoosh as a ``filter=`` set: with a filter, Whoosh
        scores every match one by one, while inside the query the collector keeps its
        block-quality skipping, which passes over blocks of postings that cannot reach the
        top ``limit``. Required parts only filter; the score is the ranking query's.
        """
        if q.scoring is query.NullQuery or (allowed is not None and not any(allowed)):
            return []
        scoring = q.scoring
        if q.among_matches:
            scoring = _Require(scoring, q.matching)
        if allowed is not None:
            scoring = _Allowed(scoring, allowed)
        # No matcher replacement (replace=0): Whoosh's rewrites of AndMaybe and Or matchers once
        # the minimum score rises drop the optional boosts of later documents, which then
        # rank below where their score puts them. Block-quality skipping stays on.
        collector = collectors.TopCollector(limit, usequality=True, replace=0)
        searcher.search_with_collector(scoring, collector)
        return [(docnum, score) for score, docnum in collector.results().top_n]

    def _columns(self, searcher: Searcher) -> _Columns:
        """Facet codes and dates of the searcher's documents, built once per commit.

        Segments never change once written (deletions aside, and deleted documents never
        match), so each segment is read once and its arrays reused by later commits.
        """
        leaves = searcher.reader().leaf_readers()
        # Segment ids are unique and a segment only ever loses documents, so this names one
        # state of the index exactly.
        key = tuple((_segment_id(leaf), leaf.doc_count()) for leaf, _ in leaves)
        with self._lock:
            cached = self._columns_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            segments = dict(self._segment_cache)
        parts = []
        for leaf, _ in leaves:
            segment_id = _segment_id(leaf)
            part = segments.get(segment_id)
            if part is None:
                part = _SegmentColumns.read(leaf, _CODED_FIELDS + self.facet_fields)
                if segment_id is not None:
                    segments[segment_id] = part
            parts.append((leaf, part))
        columns = _Columns.join(parts, _CODED_FIELDS + self.facet_fields)
        with self._lock:
            wanted = {_segment_id(leaf) for leaf, _ in leaves}
            self._segment_cache = {k: v for k, v in segments.items() if k in wanted}
            self._columns_cache = (key, columns)
        return columns

    # -- queries ------------------------------------------------------------------------------

    def _hidden_names(self, hidden_fields: Iterable[str]) -> frozenset[str]:
        """The fields ``hidden_fields`` names and their aliases, lowercased, as
        :meth:`_build_query` takes them; raises ValueError for a field the index lacks or the
        fields plain words are looked for in."""
        hidden_fields = [hidden_fields] if isinstance(hidden_fields, str) else list(hidden_fields)
        names = set()
        for name in hidden_fields:
            if name not in self.schema.names() or name in (MATCH_FIELD, EXACT_FIELD):
                raise ValueError(f"cannot hide field {name!r}")
            names.add(name.lower())
            names.update(alias.lower() for alias in FIELD_ALIASES.get(name, ()))
        return frozenset(names)

    def _build_query(self, text: str, searcher: Searcher, hidden: frozenset[str] = frozenset()) -> _Query:
        """Turn what a user typed into a query; never raises on any string. Fields named in
        ``hidden`` (lowercased, aliases included) are read as words."""
        text = unicodedata.normalize("NFC", str(text or ""))
        text = "".join(ch if ch.isprintable() else " " for ch in text)[:MAX_QUERY_CHARS].strip()
        if not text.strip("* "):
            return _Query.of(query.Every())
        if not any(ch.isalnum() for ch in text):
            return _Query.of(query.NullQuery)
        language = guess_query_language(text)
        try:
            parsed = self._parser().parse(self._unknown_fields_as_words(text, hidden))
            if _has_error(parsed) or _leaf_count(parsed) > MAX_QUERY_LEAVES:
                raise ValueError("not a usable query")
            # Whatever way of writing a field got past the words above, a hidden field is
            # never searched: the whole query is then read as plain words.
            if hidden and any(_field_of(node) in hidden for node in _walk(parsed)):
                raise ValueError("a hidden field in the query")
            rewritten = self._rewrite(parsed, searcher, language)
            return _Query.split(rewritten, plain=False, extra_boosts=_adjacent_boosts(parsed))
        except Exception:  # user input: anything the parser cannot take is read as plain words
            log.debug("query %r read as plain words", text, exc_info=True)
        words = self._plain_words(text)
        if words is query.NullQuery:
            return _Query.split(words, plain=True)
        rewritten = self._rewrite(words, searcher, language).normalize()
        return _Query.split(rewritten, plain=True, extra_boosts=_adjacent_boosts(words))

    def _unknown_fields_as_words(self, text: str, hidden: frozenset[str] = frozenset()) -> str:
        """Turn "nosuchfield:value" into two plain words ("tỉnh:Huế" is not a field here), and
        so a field named in ``hidden`` (lowercased, aliases included)."""

        def known_or_word(match: re.Match) -> str:
            name = match.group(1)
            known = name in self.schema.names() or name.lower() in _FIELD_ALIASES_REVERSE
            return match.group(0) if known and name.lower() not in hidden else name + " "

        return re.sub(r"(?<![\w:])(\w+):", known_or_word, text)

    def _parser(self) -> qparser.QueryParser:
        parser = qparser.MultifieldParser(
            [MATCH_FIELD, EXACT_FIELD],
            self.schema,
            fieldboosts={EXACT_FIELD: EXACT_BOOST},
            group=qparser.AndGroup,
        )
        # 'quoted' terms would skip the analyzer (no folding), and plain apostrophes are common.
        parser.remove_plugin_class(qparser.SingleQuotePlugin)
        parser.add_plugin(qparser.GtLtPlugin())
        parser.add_plugin(qparser.FieldAliasPlugin(FIELD_ALIASES))
        return parser

    def _plain_words(self, text: str) -> query.Query:
        """Every word of ``text`` in any field, all required (before :meth:`_rewrite` makes
        stop words optional)."""
        words = re.findall(r"\w+", text)[:MAX_QUERY_WORDS]
        groups = [group for group in (self._word_group(word) for word in words) if group]
        return query.And(groups) if groups else query.NullQuery

    def _word_group(self, word: str) -> query.Query | None:
        """One word looked for in all the text, as the parser would build it."""
        terms = []
        for name, boost in ((MATCH_FIELD, 1.0), (EXACT_FIELD, EXACT_BOOST)):
            for token in self.schema[name].process_text(word, mode="query"):
                terms.append(query.Term(name, token, boost=boost))
        return query.Or(terms) if terms else None

    def _rewrite(self, q: query.Query, searcher: Searcher, language: str) -> query.Query:
        """Fold wildcards, make optional words optional and widen misspelt words."""
        if isinstance(q, (query.Prefix, query.Wildcard)):
            return self._rewrite_pattern(q)
        word = _group_word(q)
        if word is not None:
            return self._tolerate_typo(q, word, searcher)
        q = q.apply(lambda child: self._rewrite(child, searcher, language))
        if type(q) is query.And:
            required, optional = [], []
            for child in q.subqueries:
                word = _group_word(child)
                is_optional = word is not None and is_optional_query_word(word, language)
                (optional if is_optional else required).append(child)
            if required and optional:
                must = required[0] if len(required) == 1 else query.And(required)
                combined = query.AndMaybe(must, query.Or(optional))
                combined.boost = q.boost
                return combined
        return q

    def _rewrite_pattern(self, q: query.Query) -> query.Query:
        """Keep prefix* queries cheap and folded (accented when typed with accents: "lú*" finds
        "lúa", not "lừa"); patterns with a leading wildcard become words."""
        keep_accents = q.fieldname == EXACT_FIELD or accented_form(q.text) is not None
        pattern = q.text.lower() if keep_accents else fold(q.text)
        literal = pattern.rstrip("*")
        if not pattern.strip("*?"):
            return query.Every()
        if isinstance(q, query.Prefix) or ("*" not in literal and "?" not in literal):
            if len(literal) < 2:
                return query.NullQuery
            stems = {literal}
            if q.fieldname != EXACT_FIELD:
                # The index holds stems: "irrigat*" must reach "irrig" (irrigation).
                stems |= {stem_word(literal), stem_word(literal + "e")}
            prefixes = [query.Prefix(q.fieldname, s, boost=q.boost) for s in sorted(stems) if s]
            return prefixes[0] if len(prefixes) == 1 else query.Or(prefixes)
        words = [w for w in re.split(r"[*?]+", pattern) if w]
        if q.fieldname != EXACT_FIELD:
            words = [stem_word(w) for w in words]
        return query.And([query.Term(q.fieldname, w, boost=q.boost) for w in words])

    def _tolerate_typo(self, group: query.Or, word: str, searcher: Searcher) -> query.Query:
        """Widen a word found nowhere to the indexed words one edit away from it.

        Only for words of five letters or more: shorter ones have too many neighbours. A word
        typed without accents reaches folded words only; the neighbours come from both the
        folded terms and the accented ones, so "irrigaton" reaches "irrigation" even though its
        stem differs, and "ngiep" reaches "nghiep". A word typed with accents reaches accented
        words only: whatever its length, those that add a mark left out ("đât": "đất"), and
        from five letters, letter slips that keep its marks (:meth:`_accented_neighbours`).
        """
        folded = fold(word)
        terms = [t for t in group.subqueries if t.fieldname == MATCH_FIELD]
        if not folded.isalpha() or len(terms) != 1 or searcher.doc_frequency(MATCH_FIELD, terms[0].text):
            return group
        accented = accented_form(word) is not None
        if accented:
            candidates = self._accented_neighbours(terms[0].text, searcher)
        elif len(folded) >= MIN_TYPO_LENGTH:
            candidates = self._folded_neighbours(terms[0].text, word, searcher)
        else:
            return group
        frequency = {c: searcher.doc_frequency(MATCH_FIELD, c) for c in candidates}
        best = sorted((c for c in candidates if frequency[c]), key=lambda c: (-frequency[c], c))
        if not best:
            return group
        widened = [
            query.Term(MATCH_FIELD, candidate, boost=terms[0].boost * TYPO_BOOST)
            for candidate in best[:MAX_TYPO_CANDIDATES]
        ]
        return query.Or(list(group.subqueries) + widened, boost=group.boost)

    @staticmethod
    def _folded_neighbours(typed: str, word: str, searcher: Searcher) -> set[str]:
        """Folded terms one edit from an unaccented ``word`` (``typed``: as indexed), or two
        swapped letters."""
        folded = fold(word)
        candidates: set[str] = set()
        for leaf, _ in searcher.reader().leaf_readers():
            candidates.update(t for t in leaf.terms_within(MATCH_FIELD, typed, 1, prefix=1)
                              if accented_form(t) is None)
            for exact in leaf.terms_within(EXACT_FIELD, word.lower(), 1, prefix=1):
                candidates.add(stem_word(fold(exact)))
        # Whoosh's automaton counts two swapped letters as two edits; typists make them often.
        for i in range(1, len(folded) - 1):
            candidates.add(stem_word(folded[:i] + folded[i + 1] + folded[i] + folded[i + 2 :]))
        return candidates

    @staticmethod
    def _accented_neighbours(typed: str, searcher: Searcher) -> set[str]:
        """Accented terms one edit from ``typed`` (a word with accents, as indexed) that only add
        a mark left out ("đât": "đất"), or, from five letters, two swapped or one wrong letter
        with the marks as typed. A changed mark is another word ("lửa" is not "lúa", "thương" not
        "thường"): never a typo."""
        swaps = {typed[:i] + typed[i + 1] + typed[i] + typed[i + 2 :] for i in range(1, len(typed) - 1)}
        candidates = set(swaps)
        for leaf, _ in searcher.reader().leaf_readers():
            candidates.update(leaf.terms_within(MATCH_FIELD, typed, 1, prefix=1))
        long_enough = len(fold(typed)) >= MIN_TYPO_LENGTH
        return {c for c in candidates if accented_form(c) is not None
                and (adds_marks(typed, c) or (long_enough and same_marks(typed, c)))}

    # -- the writer thread --------------------------------------------------------------------

    def _enqueue(self, action: str, **details) -> _Op:
        with self._lock:
            if self._closed:
                raise RuntimeError("the search index is closed")
            if self._writer is None:
                # Not a daemon, and gone once idle (``_next_batch``): a process waits for the
                # index changes its commits queued before it exits.
                self._writer = threading.Thread(
                    target=self._write_loop, name=f"search-writer:{self.path.name}"
                )
                self._writer.start()
            self._queued_seq += 1
            op = _Op(self._queued_seq, action, **details)
            self._queue.put(op)
            return op

    def _write_loop(self) -> None:
        """Apply queued changes in order, many per commit; the only writer of this object."""
        while True:
            try:
                batch = [self._queue.get(timeout=WRITER_IDLE_SECONDS)]
            except queue.Empty:
                with self._lock:  # _enqueue queues and starts a writer under this lock
                    if self._queue.empty():
                        self._writer = None
                        return
                continue
            while len(batch) < WRITE_BATCH_OPS:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                if not self._write_batch(batch):
                    with self._lock:
                        self._writer = None
                    return
            except Exception as exc:  # keep the thread alive: a dead writer would hang flush()
                log.exception("search index writer failed")
                with self._done:
                    self._failure = (batch[-1].seq, exc)
                for op in batch:
                    if op.done is not None:
                        op.error = op.error or exc
                        op.done.set()
                self._mark_done(batch[-1].seq)

    def _write_batch(self, batch: list[_Op]) -> bool:
        """Apply a batch; returns False once the stop order is reached."""
        changes: list[_Op] = []
        for op in batch:
            if op.action in ("upsert", "delete"):
                changes.append(op)
                continue
            if changes:
                self._apply(changes)
                changes = []
            if op.action == "swap":
                self._swap(op)
            else:  # stop: close() queues it last
                self._mark_done(op.seq)
                return False
        if changes:
            self._apply(changes)
        return True

    def _apply(self, ops: list[_Op]) -> None:
        """Write ``ops`` with the changes held from failed writes before them, retrying after
        each pause of WRITE_RETRY_DELAYS; when every attempt fails, hold them and mark the index
        as needing a rebuild."""
        with self._lock:
            if self._journal is not None:
                self._journal.extend(ops)
            changes = self._unwritten + ops
            self._unwritten = []
            # Once a rebuild is needed, retrying each new change would only hold up the queue.
            delays = () if self._needs_rebuild else WRITE_RETRY_DELAYS
        try:
            for delay in (*delays, None):
                try:
                    self._commit(self._open_index(self._current_dir()), changes)
                    return
                except Exception as exc:
                    if delay is None:
                        raise
                    log.info("search index: write failed (%s); trying again in %s s", exc, delay)
                    time.sleep(delay)
        except Exception as exc:
            log.warning("search index: %d queued change(s) not written: %s", len(changes), exc)
            self._give_up(changes, exc)
        finally:
            self._mark_done(ops[-1].seq)

    def _give_up(self, changes: list[_Op], exc: BaseException) -> None:
        """Keep ``changes`` for the next write, report the failure to flush() and, the first
        time, mark the index as needing a rebuild and tell ``on_write_failure``."""
        with self._lock:
            self._unwritten = changes[-MAX_UNWRITTEN_OPS:]
            first = not self._needs_rebuild
            self._needs_rebuild = True
        with self._done:
            self._failure = (changes[-1].seq, exc)
        if first and self.on_write_failure is not None:
            try:
                self.on_write_failure(exc)
            except Exception:  # the writer thread must live on whatever the listener does
                log.exception("search index: the write failure listener failed")

    def _commit(self, ix: index.FileIndex, ops: list[_Op]) -> None:
        """Write the net effect of ``ops`` (the last change to each document wins) in one commit."""
        latest: dict[str, dict | None] = {}
        for op in ops:
            if op.action == "delete":
                latest.pop(op.key, None)
                latest[op.key] = None
            for doc in op.docs:
                latest.pop(doc["key"], None)
                latest[doc["key"]] = doc
        writer = _acquire_writer(ix)
        try:
            for key, doc in latest.items():
                if doc is None:
                    writer.delete_by_term("key", key)
                else:
                    writer.update_document(**doc)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        _seal_segments(ix)

    def _swap(self, op: _Op) -> None:
        """Bring the new generation up to date with the journal, then point CURRENT at it."""
        with self._lock:
            journal, self._journal = self._journal or [], None
        try:
            if journal:
                self._commit(self._open_index(op.target), journal)
            _write_atomically(self.path / CURRENT_FILE, op.target.name + "\n")
            # The rebuild read the source after the held changes were made (or journalled
            # them): the new generation has them.
            with self._lock:
                self._unwritten = []
                self._needs_rebuild = False
        except BaseException as exc:
            op.error = exc
        finally:
            op.done.set()
            self._mark_done(op.seq)

    def _mark_done(self, seq: int) -> None:
        with self._done:
            self._done_seq = max(self._done_seq, seq)
            self._done.notify_all()

    # -- generations --------------------------------------------------------------------------

    def _build(
        self, target: Path, docs: Iterable[Mapping], progress: Callable[[int], None] | None
    ) -> int:
        target.mkdir()
        ix = index.create_in(str(target), self.schema)
        writer = ix.writer(limitmb=128)
        seen: set[str] = set()
        try:
            for doc in docs:
                prepared = self._prepare(doc)
                if prepared["key"] in seen:
                    continue
                seen.add(prepared["key"])
                writer.add_document(**prepared)
                if progress is not None:
                    progress(len(seen))
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        _seal_segments(ix)
        meta = {"schema_version": SCHEMA_VERSION, "facets": list(self.facet_fields)}
        _write_atomically(target / META_FILE, json.dumps(meta))
        return len(seen)

    def _current_dir(self) -> Path:
        """Return the live generation's directory; raises IndexUnavailable."""
        try:
            name = (self.path / CURRENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise IndexUnavailable("missing", f"no index at {self.path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexUnavailable("corrupt", f"unreadable {CURRENT_FILE}: {exc}") from exc
        if not _GENERATION_NAME.fullmatch(name):
            raise IndexUnavailable("corrupt", f"{CURRENT_FILE} holds {name[:40]!r}")
        directory = self.path / name
        if not directory.is_dir():
            raise IndexUnavailable("corrupt", f"generation {name} is gone")
        return directory

    def _open_index(self, directory: Path, cached: bool = True) -> index.FileIndex:
        with self._lock:
            ix = self._indexes.get(directory) if cached else None
        if ix is not None:
            return ix
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            if meta.get("schema_version") != SCHEMA_VERSION:
                raise ValueError(f"built for schema version {meta.get('schema_version')}")
            if meta.get("facets") != list(self.facet_fields):
                raise ValueError(f"built with facets {meta.get('facets')}")
            ix = self._open_latest(directory)
        except Exception as exc:
            raise IndexUnavailable("corrupt", _describe(exc)) from exc
        if cached:
            with self._lock:
                self._indexes = {directory: ix}
        return ix

    def _open_latest(self, directory: Path, attempts: int = 5) -> index.FileIndex:
        """Open the newest commit of ``directory``. Another process's commit may delete the
        table of contents Whoosh just chose (it keeps only the newest): that is no damage, the
        next attempt finds the newer one. A TOC still missing after the attempts is."""
        for attempt in range(attempts):
            try:
                return index.open_dir(str(directory), schema=self.schema)
            except FileNotFoundError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    @contextmanager
    def _searcher(self) -> Iterator[Searcher]:
        """Lend a searcher on the latest commit of the live generation.

        Searchers are pooled (one is never used by two threads at once) and replaced when the
        index has changed. Read errors from damaged files become IndexUnavailable.
        """
        directory = self._current_dir()
        with self._lock:
            damage = self._damaged.get(directory)
        if damage is not None:
            raise IndexUnavailable("corrupt", damage)
        ix = self._open_index(directory)
        searcher = None
        with self._lock:
            # Searchers of a replaced generation will never be lent again: close them.
            stale = [s for d, s in self._pool if d != directory]
            self._pool = [(d, s) for d, s in self._pool if d == directory]
            if self._pool:
                searcher = self._pool.pop()[1]
        for old in stale:
            _close_quietly(old)
        try:
            if searcher is not None and not searcher.up_to_date():
                _close_quietly(searcher)
                searcher = None
            if searcher is None:
                searcher = ix.searcher()
        except Exception as exc:
            if searcher is not None:
                _close_quietly(searcher)
            self._mark_damaged(directory, _describe(exc))
            raise IndexUnavailable("corrupt", _describe(exc)) from exc
        try:
            yield searcher
        except _READ_ERRORS as exc:
            _close_quietly(searcher)
            searcher = None
            self._mark_damaged(directory, _describe(exc))
            raise IndexUnavailable("corrupt", _describe(exc)) from exc
        finally:
            if searcher is not None:
                with self._lock:
                    keep = not self._closed and len(self._pool) < SEARCHER_POOL_SIZE
                    if keep:
                        self._pool.append((directory, searcher))
                if not keep:
                    _close_quietly(searcher)

    def _mark_damaged(self, directory: Path, detail: str) -> None:
        log.error("search index generation %s is damaged: %s", directory.name, detail)
        with self._lock:
            self._damaged[directory] = detail
            pool, self._pool = self._pool, [(d, s) for d, s in self._pool if d != directory]
        for pooled_directory, searcher in pool:
            if pooled_directory == directory:
                _close_quietly(searcher)

    def _remove_old_generations(self, keep: str) -> None:
        """Delete generations older than the one just replaced, unless recently touched."""
        generations = sorted(
            p.name for p in self.path.iterdir() if p.is_dir() and _GENERATION_NAME.fullmatch(p.name)
        )
        older = [name for name in generations if name < keep]
        now = time.time()
        for name in older[:-1]:  # the newest older one is what searches used a moment ago
            directory = self.path / name
            try:
                if now - directory.stat().st_mtime < GENERATION_GRACE_SECONDS:
                    continue
            except OSError:
                continue
            shutil.rmtree(directory, ignore_errors=True)


# -- helpers ----------------------------------------------------------------------------------


def _key(kind: str, doc_id: object) -> str:
    return f"{kind}:{doc_id}"


def _generation_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"gen-{stamp}-{uuid.uuid4().hex[:8]}"


def _clean(value: object) -> str:
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value)).strip()


def _as_datetime(value: object) -> datetime | None:
    """Accept a datetime, a date or an ISO string; aware times are stored as naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise ValueError(f"updated_at must be a datetime, date or ISO string, not {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


@dataclass(frozen=True)
class _Query:
    """A user's query in two parts: what decides the matches, and what ranks them: that plus
    the same words in the title and keywords, and with their accents.

    With ``among_matches``, the ranking query holds phrases as plain words (checking positions
    twice would double their cost) and must be run among the matches only.
    """

    matching: query.Query
    scoring: query.Query
    plain: bool = False
    among_matches: bool = False

    @classmethod
    def of(cls, q: query.Query) -> _Query:
        return cls(q, q)

    @classmethod
    def split(cls, q: query.Query, plain: bool, extra_boosts: Sequence[query.Query] = ()) -> _Query:
        """Split ``q`` into the matching and the ranking query; ``extra_boosts`` only add to the
        ranking score (as the adjacent words of :func:`_adjacent_boosts`)."""
        boosts: list[query.Query] = []
        matching = _without_exact(q, boosts).normalize()
        boosts.extend(_field_copies(matching))
        boosts.extend(extra_boosts)
        if matching is query.NullQuery:
            return cls(matching, matching, plain)
        ranking = _loosen(matching)
        among_matches = ranking is not matching
        if boosts:
            ranking = query.AndMaybe(ranking, query.Or(boosts))
        return cls(matching, ranking, plain, among_matches)


def _loosen(q: query.Query) -> query.Query:
    """``q`` with its phrases on the match field as plain words (what is under NOT stays).

    Returns ``q`` itself when there was nothing to loosen.
    """
    if isinstance(q, query.Phrase) and q.fieldname == MATCH_FIELD:
        words = [query.Term(MATCH_FIELD, word, boost=q.boost) for word in q.words]
        return words[0] if len(words) == 1 else query.And(words)
    if isinstance(q, (query.Not, query.AndNot)) or q.is_leaf():
        if isinstance(q, query.AndNot):
            loose = _loosen(q.a)
            return q if loose is q.a else query.AndNot(loose, q.b)
        return q
    children = list(q.children())
    loose = [_loosen(child) for child in children]
    if all(new is old for new, old in zip(loose, children, strict=True)):
        return q
    return q.apply(lambda child: _loosen(child))


def _field_copies(q: query.Query) -> list[query.Query]:
    """The searched-for leaves of ``q`` on the match field, copied onto the boosted fields."""
    if isinstance(q, query.Not):
        return []
    if isinstance(q, query.AndNot):
        return _field_copies(q.a)
    if not q.is_leaf():
        return [leaf for child in q.children() for leaf in _field_copies(child)]
    if getattr(q, "fieldname", None) != MATCH_FIELD:
        return []
    copies = []
    for name, boost in SCORE_BOOSTS.items():
        duplicate = copy.copy(q)
        duplicate.fieldname = name
        duplicate.boost = q.boost * boost
        copies.append(duplicate)
    return copies


def _adjacent_boosts(q: query.Query) -> list[query.Query]:
    """A boost for each two words side by side in a query (as parsed, before
    :meth:`TextIndex._rewrite`): documents holding them side by side, in that order, rank higher.

    Only words the query asks for together (an AND, not under NOT); each is looked up as the
    query does, folded or with its accents.
    """
    if isinstance(q, query.Not):
        return []
    if isinstance(q, query.AndNot):
        return _adjacent_boosts(q.a)
    if q.is_leaf():
        return []
    boosts = [boost for child in q.children() for boost in _adjacent_boosts(child)]
    if type(q) is query.And and ADJACENT_BOOST > 0:
        words = [_match_text(child) for child in q.subqueries]
        boosts.extend(_Adjacent(MATCH_FIELD, [first, second], boost=ADJACENT_BOOST)
                      for first, second in itertools.pairwise(words) if first and second)
    return boosts


def _match_text(q: query.Query) -> str | None:
    """The term of the match field a typed word (see :func:`_group_word`) is looked up by."""
    if _group_word(q) is None:
        return None
    return next(t.text for t in q.subqueries if t.fieldname == MATCH_FIELD)


def _only_exact(q: query.Query) -> bool:
    leaves = [node for node in _walk(q) if node.is_leaf()]
    return bool(leaves) and all(getattr(n, "fieldname", None) == EXACT_FIELD for n in leaves)


def _without_exact(q: query.Query, boosts: list[query.Query], negated: bool = False) -> query.Query:
    """Take the accent-keeping alternatives out of ``q``'s Or groups into ``boosts``.

    Matching on them would only cost time: a word found with its accents is found folded too.
    What sits under NOT is dropped, not boosted.
    """
    if isinstance(q, query.Not):
        return query.Not(_without_exact(q.query, boosts, not negated), boost=q.boost)
    if isinstance(q, query.AndNot):
        return query.AndNot(_without_exact(q.a, boosts, negated), _without_exact(q.b, boosts, True))
    if type(q) is query.Or:
        exact = [child for child in q.subqueries if _only_exact(child)]
        if not exact or len(exact) == len(q.subqueries):
            return q.apply(lambda child: _without_exact(child, boosts, negated))
        if not negated:
            boosts.extend(exact)
        kept = [_without_exact(c, boosts, negated) for c in q.subqueries if not _only_exact(c)]
        return query.Or(kept, boost=q.boost)
    if q.is_leaf():
        return q
    return q.apply(lambda child: _without_exact(child, boosts, negated))


class _RequireMatcher(RequireMatcher):
    """Whoosh's RequireMatcher, mended: after skipping to a better block, the scored matcher
    may already sit on a document the required one holds, which Whoosh's version does not
    expect (an assertion fails in the intersection)."""

    def skip_to_quality(self, minquality):
        skipped = self.a.skip_to_quality(minquality)
        if self.a.is_active() and self.b.is_active() and self.a.id() != self.b.id():
            self.child._find_next()
        return skipped


class _Adjacent(query.Phrase):
    """A phrase that only adds to the score (see :func:`_adjacent_boosts`), with a matcher that
    stays on documents holding it while the collector skips blocks (:class:`_PhraseMatcher`)."""

    def matcher(self, searcher, context=None):
        found = query.Phrase(self.fieldname, self.words, slop=self.slop).matcher(searcher, context)
        return _PhraseMatcher(found, self.boost) if found.is_active() else found


class _PhraseMatcher(WrappingMatcher):
    """Whoosh's phrase matcher, mended: after skipping to a better block, its words' intersection
    may sit on a document that holds them apart, which Whoosh's version would score as a phrase
    (it finds the next phrase after every other move)."""

    def copy(self):
        return self.__class__(self.child.copy(), self.boost)

    def _replacement(self, newchild):
        return self.__class__(newchild, self.boost)

    def skip_to_quality(self, minquality):
        phrase = self.child
        skipped = phrase.child.skip_to_quality(minquality / self.boost)
        phrase._find_next()
        return skipped


class _AllowedMatcher(WrappingMatcher):
    """The documents of ``child`` whose docnum (plus ``offset``) ``allowed`` marks, keeping the
    child's block-quality skipping (Whoosh's FilterMatcher loses its place when it skips)."""

    def __init__(self, child, allowed: bytes, offset: int):
        super().__init__(child)
        self._allowed = allowed
        self._offset = offset
        self._find_next()

    def _find_next(self) -> None:
        child, allowed, offset = self.child, self._allowed, self._offset
        while child.is_active() and not allowed[offset + child.id()]:
            child.next()

    def copy(self):
        return self.__class__(self.child.copy(), self._allowed, self._offset)

    def _replacement(self, newchild):
        return self.__class__(newchild, self._allowed, self._offset)

    def next(self):
        self.child.next()
        self._find_next()

    def skip_to(self, id):
        self.child.skip_to(id)
        self._find_next()

    def skip_to_quality(self, minquality):
        skipped = self.child.skip_to_quality(minquality)
        self._find_next()
        return skipped

    def all_ids(self):
        allowed, offset = self._allowed, self._offset
        return (docnum for docnum in self.child.all_ids() if allowed[offset + docnum])


class _Allowed(query.WrappingQuery):
    """``child`` restricted to the docnums of a mask over the whole index (see _AllowedMatcher)."""

    def __init__(self, child: query.Query, allowed: bytes):
        super().__init__(child)
        self.allowed = allowed

    def _rewrap(self, child):
        return self.__class__(child, self.allowed)

    def matcher(self, searcher, context=None):
        parent = searcher.parent() if searcher.parent else None
        offset = parent._offset_for_subsearcher(searcher) if parent is not None else 0
        return _AllowedMatcher(self.child.matcher(searcher, context), self.allowed, offset or 0)


class _Require(query.Require):
    """Documents matching both queries, scored by the first alone (see :class:`_RequireMatcher`)."""

    def matcher(self, searcher, context=None):
        scored = self.a.matcher(searcher, context)
        required = self.b.matcher(searcher, searcher.boolean_context())
        return _RequireMatcher(scored, required)


# Always coded as arrays besides the facets: kinds and languages are filters too.
_CODED_FIELDS = ("kind", "lang")


@dataclass
class _SegmentColumns:
    """One segment's facet values (codes into a value list per field) and dates."""

    size: int
    values: dict[str, list[str]]
    codes: dict[str, np.ndarray]
    dates: np.ndarray

    @classmethod
    def read(cls, leaf, names: Sequence[str]) -> _SegmentColumns:
        size = leaf.doc_count_all()
        values, codes = {}, {}
        for name in dict.fromkeys(names):
            column = np.full(size, -1, dtype=np.int32)
            found = []
            for term in leaf.lexicon(name):
                docnums = np.fromiter(leaf.postings(name, term).all_ids(), dtype=np.int64)
                column[docnums] = len(found)
                found.append(term.decode("utf-8") if isinstance(term, bytes) else term)
            values[name], codes[name] = found, column
        dates = np.zeros(size, dtype=np.int64)
        if leaf.has_column("updated_at"):
            raw = leaf.column_reader("updated_at", translate=False).load()
            dates = np.asarray(raw, dtype=np.int64)
        return cls(size, values, codes, dates)


@dataclass
class _Columns:
    """Facet codes and dates of a whole index generation, indexed by Whoosh docnum."""

    values: dict[str, list[str]]
    lookup: dict[str, dict[str, int]]
    codes: dict[str, np.ndarray]
    dates: np.ndarray
    live: np.ndarray
    _masks: dict = field(default_factory=dict)

    @classmethod
    def join(cls, parts: list, names: Sequence[str]) -> _Columns:
        names = list(dict.fromkeys(names))
        values = {name: sorted({v for _, part in parts for v in part.values[name]}) for name in names}
        lookup = {name: {v: i for i, v in enumerate(values[name])} for name in names}
        codes = {}
        for name in names:
            pieces = []
            for _, part in parts:
                table = np.array([lookup[name][v] for v in part.values[name]] + [-1], dtype=np.int32)
                pieces.append(table[part.codes[name]])  # -1 indexes the trailing -1
            codes[name] = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
        dates = [part.dates for _, part in parts]
        live = []
        for leaf, part in parts:
            alive = np.ones(part.size, dtype=bool)
            if leaf.has_deletions():
                deleted = getattr(leaf, "deleted_docs_set", None)
                if deleted is None:
                    deleted = [d for d in range(part.size) if leaf.is_deleted(d)]
                alive[list(deleted)] = False
            live.append(alive)
        return cls(
            values,
            lookup,
            codes,
            np.concatenate(dates) if dates else np.zeros(0, dtype=np.int64),
            np.concatenate(live) if live else np.zeros(0, dtype=bool),
        )

    def matching(
        self, searcher: Searcher, q: query.Query, clauses: list[tuple[str, list[str]]]
    ) -> np.ndarray:
        """Docnums matching ``q`` and every clause, ascending."""
        if _matches_everything(q):
            matched = np.flatnonzero(self.live)
        else:
            matched = np.fromiter(searcher.docs_for_query(q), dtype=np.int64)
            matched.sort()
        return self._allowed(matched, clauses)

    def restriction(self, clauses: list[tuple[str, list[str]]]) -> bytes | None:
        """The docnums ``clauses`` allow, as a mask (one byte per docnum, 1: allowed), or None
        when every live document is allowed. Masks are cached per clauses: the kinds and
        states a role sees are few."""
        key = tuple((name, tuple(wanted)) for name, wanted in clauses)
        mask = self._masks.get(key)
        if mask is None:
            allowed = self.live.copy()
            for name, wanted in clauses:
                codes = [self.lookup[name][v] for v in wanted if v in self.lookup[name]]
                allowed &= np.isin(self.codes[name], codes)
            mask = None if np.array_equal(allowed, self.live) else allowed.astype(np.uint8).tobytes()
            if len(self._masks) > 64:
                self._masks.clear()
            self._masks[key] = mask
        return mask

    def first_matching(
        self,
        searcher: Searcher,
        q: query.Query,
        clauses: list[tuple[str, list[str]]],
        limit: int | None,
    ) -> tuple[np.ndarray, bool]:
        """The first ``limit`` docnums matching ``q`` and every clause, ascending, and whether
        that is all of them (always with ``limit`` None)."""
        if limit is None:
            return self.matching(searcher, q, clauses), True
        docnums = searcher.docs_for_query(q)
        found, count, chunk = [], 0, 1024
        while True:
            block = np.fromiter(itertools.islice(docnums, chunk), dtype=np.int64)
            exhausted = len(block) < chunk
            block = self._allowed(block, clauses)
            found.append(block)
            count += len(block)
            if count > limit:
                return np.sort(np.concatenate(found))[:limit], False
            if exhausted:
                return np.sort(np.concatenate(found)), True
            chunk = min(4 * chunk, 65_536)

    def _allowed(self, docnums: np.ndarray, clauses: list[tuple[str, list[str]]]) -> np.ndarray:
        for name, wanted in clauses:
            codes = [self.lookup[name][v] for v in wanted if v in self.lookup[name]]
            docnums = docnums[np.isin(self.codes[name][docnums], codes)]
        return docnums

    def counts(self, matched: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each facet, how many of ``matched`` hold each value, most frequent first."""
        counts = {}
        for name in names:
            codes = self.codes[name][matched]
            tally = np.bincount(codes[codes >= 0], minlength=len(self.values[name]))
            found = [(self.values[name][i], int(tally[i])) for i in np.flatnonzero(tally)]
            counts[name] = dict(sorted(found, key=lambda item: (-item[1], item[0])))
        return counts

    def newest(self, matched: np.ndarray, limit: int) -> np.ndarray:
        """The ``limit`` most recently updated of ``matched``, newest first (ties: docnum)."""
        dates = self.dates[matched]
        if len(matched) > 4 * limit:
            keep = np.argpartition(-dates, limit - 1)[:limit]
            matched, dates = matched[keep], dates[keep]
        return matched[np.lexsort((matched, -dates))][:limit]


def _segment_id(leaf) -> str | None:
    segment = leaf.segment()
    return segment.segment_id() if segment is not None else None


def _matches_everything(q: query.Query) -> bool:
    return type(q) is query.Every and not q.fieldname


def _highlight_terms(q: query.Query, reader) -> dict[str, set[str]]:
    """The indexed terms the query looks for, by field, leaving out what it excludes (NOT)."""
    terms: dict[str, set[str]] = {}

    def collect(node: query.Query) -> None:
        if isinstance(node, query.Not):
            return
        if isinstance(node, query.AndNot):
            collect(node.a)
            return
        if node.is_leaf():
            for fieldname, text in node.existing_terms(reader, phrases=True, expand=True):
                if isinstance(text, bytes):
                    text = text.decode("utf-8")
                terms.setdefault(fieldname, set()).add(text)
            return
        for child in node.children():
            collect(child)

    collect(q)
    return terms


def _highlight(text: str, terms: set[str] | None, width: int | None = None) -> str:
    """Return ``text`` as escaped HTML with the words whose indexed form is in ``terms`` marked
    (folded or accented, so a query typed with accents marks only the words with those accents).

    With ``width``, only about that many characters around the densest run of matches, cut at
    spaces, with "…" where text was left out. Returns "" when no word matches.
    """
    if not text or not terms:
        return ""
    spans = [(m.start(), m.end()) for m in TOKEN_RE.finditer(text)
             if any(form in terms for form in index_forms(m.group()))]
    if not spans:
        return ""
    start, end = 0, len(text)
    if width is not None and len(text) > width:
        lead = width // 4
        best, most, j = 0, 0, 0
        for i, (first, _) in enumerate(spans):
            j = max(j, i)
            while j < len(spans) and spans[j][1] <= first + width - lead:
                j += 1
            if j - i > most:
                best, most = i, j - i
        start = max(0, spans[best][0] - lead)
        if start > 0:
            space = text.find(" ", start, spans[best][0])
            start = space + 1 if space != -1 else start
        end = min(len(text), start + width)
        if end < len(text):
            space = text.rfind(" ", spans[best][1], end)
            end = space if space != -1 else end
    out = ["… " if start > 0 else ""]
    position = start
    for first, last in spans:
        if first < start or last > end:
            continue
        out.append(html.escape(text[position:first]))
        out.append(f"<mark>{html.escape(text[first:last])}</mark>")
        position = last
    out.append(html.escape(text[position:end]))
    out.append(" …" if end < len(text) else "")
    return "".join(out)


def _group_word(q: query.Query) -> str | None:
    """If ``q`` is one typed word looked for in several fields, return the word as typed.

    The parser builds a word as an Or of one Term per field; the accent-keeping field's term
    is the word lowercased with its accents, which is what the stop-word and typo rules need.
    """
    if type(q) is not query.Or or not q.subqueries:
        return None
    if not all(type(t) is query.Term for t in q.subqueries):
        return None
    exact = [t.text for t in q.subqueries if t.fieldname == EXACT_FIELD]
    if len(exact) != 1 or not any(t.fieldname == MATCH_FIELD for t in q.subqueries):
        return None
    return exact[0]


def _field_of(q: query.Query) -> str | None:
    """The field a query node looks in, lowercased (None for a node without one)."""
    name = getattr(q, "fieldname", None)
    return name.lower() if isinstance(name, str) else None


def _has_error(q: query.Query) -> bool:
    return any(getattr(node, "error", None) for node in _walk(q))


def _leaf_count(q: query.Query) -> int:
    return sum(1 for node in _walk(q) if node.is_leaf())


def _walk(q: query.Query) -> Iterator[query.Query]:
    yield q
    for child in q.children():
        yield from _walk(child)


def _acquire_writer(ix: index.FileIndex):
    """Get Whoosh's write lock, waiting while another process (or index object) holds it."""
    deadline = time.monotonic() + WRITE_LOCK_TIMEOUT
    while True:
        try:
            return ix.writer(timeout=1.0, delay=0.05)
        except LockError:
            if time.monotonic() > deadline:
                raise


def _write_atomically(target: Path, content: str) -> None:
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, target)
    try:
        directory = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def _verify(searcher: Searcher, facet_fields: Sequence[str]) -> None:
    """Read the whole index back; raises on anything unreadable or inconsistent."""
    reader = searcher.reader()
    count = reader.doc_count()
    stored = 0
    for fields in reader.all_stored_fields():
        if "key" not in fields or "kind" not in fields:
            raise ValueError("a stored document lacks its key")
        stored += 1
    if stored != count:
        raise ValueError(f"{stored} stored documents for a count of {count}")
    keyed = 0
    for term in reader.lexicon("key"):
        keyed += len(list(reader.postings("key", term).all_ids()))
    if keyed < count:
        raise ValueError(f"{keyed} keys for {count} documents")
    for name in INDEXED_TEXT_FIELDS:
        for _ in reader.iter_field(name):
            pass
    # Segment by segment: Whoosh's reader over several segments leaves out those without the
    # column (a commit of demands alone has no TRL) and then reads past the end of another's.
    for leaf, _ in reader.leaf_readers():
        for name in ("kind", "updated_at") + tuple(facet_fields):
            if leaf.has_column(name):
                column = leaf.column_reader(name)
                for docnum in range(leaf.doc_count_all()):
                    column[docnum]


# Whoosh keeps no checksums; each segment file gets a "<file>.crc" seal (size and CRC-32) once
# committed. Segment files never change after that, so a mismatch means damage on disk.
_SEAL_SUFFIX = ".crc"


def _segment_files(ix: index.FileIndex) -> list[Path]:
    directory = Path(ix.storage.folder)
    return [
        directory / segment.make_filename(".seg")
        for segment in ix._segments()
        if segment.is_compound()
    ]


def _checksum(path: Path) -> str:
    crc, size = 0, 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return f"{size} {crc:08x}"


def _seal_segments(ix: index.FileIndex) -> None:
    """Write the seal of every committed segment that has none; drop seals of merged ones."""
    live = set()
    for path in _segment_files(ix):
        live.add(path.name)
        seal = path.with_name(path.name + _SEAL_SUFFIX)
        if seal.exists():
            continue
        try:
            _write_atomically(seal, _checksum(path) + "\n")
        except FileNotFoundError:  # merged away by another writer meanwhile
            continue
    directory = Path(ix.storage.folder)
    for seal in directory.glob("*.seg" + _SEAL_SUFFIX):
        segment = seal.name[: -len(_SEAL_SUFFIX)]
        if segment not in live and not (directory / segment).exists():
            seal.unlink(missing_ok=True)


def _check_seals(ix: index.FileIndex) -> None:
    """Raise ValueError when a sealed segment file has changed since it was committed."""
    for path in _segment_files(ix):
        seal = path.with_name(path.name + _SEAL_SUFFIX)
        try:
            expected = seal.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            continue  # written by an older version or another tool: nothing to compare
        actual = _checksum(path)
        if actual != expected:
            raise ValueError(f"{path.name} is {actual}, was sealed as {expected}")


def _verify_quickly(searcher: Searcher) -> None:
    """Read the first and last document and the first term of each field of every segment."""
    reader = searcher.reader()
    for leaf, _ in reader.leaf_readers():
        for docnum in {0, leaf.doc_count_all() - 1}:
            if docnum >= 0 and not leaf.is_deleted(docnum):
                if "key" not in leaf.stored_fields(docnum):
                    raise ValueError("a stored document lacks its key")
        for name in ("key",) + INDEXED_TEXT_FIELDS:
            for term in leaf.lexicon(name):
                list(leaf.postings(name, term).all_ids())
                break


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _close_quietly(searcher: Searcher) -> None:
    try:
        searcher.close()
    except Exception:  # closing a searcher over damaged or deleted files may fail; it is gone
        pass
