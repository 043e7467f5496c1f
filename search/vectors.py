"""Which text each object is embedded from, and keeping stored vectors in step with it.

Vectors are computed after the commit that changed the text, by a background worker so that a
page never waits for the model; a failure is logged and retried, and the object stays "not yet
matched" until ``flask match embed`` or a later save succeeds. The save itself is never lost.
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from flask import Flask, current_app

from initiatives.extensions import db
from initiatives.models import Demand, ExpertProfile, Initiative, InitiativeState, Publication
from search import glossary
from search.affinity import GroupedTexts
from search.embeddings import E5_MODEL, FusedEmbedder, get_service, model_floor, text_hash
from search.models import Embedding

log = logging.getLogger(__name__)

KINDS = ("initiative", "demand", "expert", "publication")
MODELS = {"initiative": Initiative, "demand": Demand, "expert": ExpertProfile,
          "publication": Publication}
DESCRIPTION_START = 1500  # characters of the description that go into an initiative's vector
RETRIES = 3


def initiative_text(item: Initiative) -> str:
    """Title, summary, keywords and the start of the description (DESIGN section 4)."""
    parts = [item.title, item.summary, ", ".join(item.keywords or []),
             (item.description or "")[:DESCRIPTION_START]]
    return "\n".join(part for part in parts if part)


def demand_text(item: Demand) -> str:
    return "\n".join(part for part in (item.title, item.description) if part)


def expert_text(item: ExpertProfile) -> str:
    """Keywords and bio; publications have vectors of their own."""
    return "\n".join(part for part in (", ".join(item.keywords or []), item.bio) if part)


def publication_text(item: Publication) -> str:
    return "\n".join(part for part in (item.title, item.abstract) if part)


TEXTS: dict[str, Callable] = {"initiative": initiative_text, "demand": demand_text,
                              "expert": expert_text, "publication": publication_text}


# Passages: the sentences a reason quotes ---------------------------------------------------

# Each match shows the passage of one side closest to the other side. The passages of an object
# are encoded with its text and stored as one row (a stacked matrix), so that a page looks the
# reason up instead of running the model.
PASSAGE_KINDS = {"initiative": "initiative-passages", "demand": "demand-passages",
                 "expert": "expert-passages"}
MAX_PASSAGES = 8
PASSAGE_CHARS = 300
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


def passages(kind: str, item) -> list[str]:
    """The sentences of ``item`` a reason may quote: an initiative's summary and the start of its
    description, a demand's description, an expert's bio (else keywords); at most MAX_PASSAGES,
    Markdown marks stripped."""
    if kind == "initiative":
        text = "\n".join(p for p in (item.summary, (item.description or "")[:DESCRIPTION_START]) if p)
    elif kind == "demand":
        text = item.description or item.title or ""
    else:
        text = item.bio or ", ".join(item.keywords or [])
    found = [s.strip().lstrip("#*-> ").strip() for s in _SENTENCE.split(text or "")]
    return [s[:PASSAGE_CHARS] for s in found if len(s) > 3][:MAX_PASSAGES]


def _passage_hash(kind: str, item) -> str:
    return text_hash("\n".join(passages(kind, item)))


def encode_passages(kind: str, items: list, batch_size: int = 64) -> None:
    """Encode and store the passages of ``items`` (one row each); flushes, never commits."""
    if kind not in PASSAGE_KINDS or not items:
        return
    found = [passages(kind, item) for item in items]
    flat = [text for group in found for text in group]
    languages = [getattr(item, "language", None) for item, group in zip(items, found, strict=True)
                 for _ in group]
    encoded = embed(flat, languages, batch_size) if flat else np.zeros((0, 0), dtype=np.float32)
    stored = _current(PASSAGE_KINDS[kind], [item.id for item in items])
    name, start = model_name(), 0
    for item, group in zip(items, found, strict=True):
        block = encoded[start:start + len(group)]
        start += len(group)
        row = stored.get(item.id)
        if row is None:
            row = Embedding(kind=PASSAGE_KINDS[kind], object_id=item.id, model=name)
            db.session.add(row)
        row.text_hash = text_hash("\n".join(group))
        row.dimension = int(block.shape[1]) if block.size else 0
        row.vector = to_blob(block.reshape(-1))
    db.session.flush()


def closest_passages(kind: str, items: list, vector: np.ndarray) -> dict[int, str]:
    """The stored passage of each of ``items`` closest to ``vector``, by id: a lookup in one
    query, no model call. An item whose passages are not (yet) encoded, or were encoded from
    another text, gets its first sentence."""
    if not items:
        return {}
    stored = _current(PASSAGE_KINDS[kind], [item.id for item in items])
    closest = {}
    for item in items:
        texts = passages(kind, item)
        row = stored.get(item.id)
        if not texts:
            continue
        if row is None or not row.dimension or row.text_hash != text_hash("\n".join(texts)) \
                or row.dimension != vector.shape[0]:
            closest[item.id] = texts[0]
            continue
        block = from_blob(row.vector).reshape(-1, row.dimension)
        closest[item.id] = texts[int(np.argmax(block @ vector))]
    return closest


def bridge(text: str, language: str | None = None) -> str:
    """The English of the Vietnamese terms of ``text`` (search/glossary.py), or "" when the
    ``EMBEDDING_BRIDGE`` setting is off (it is on for the English-only default model) or the
    text is not Vietnamese. ``language`` "vi" or "en" skips guessing it."""
    if not bridge_on() or language == "en":
        return ""
    return glossary.bridge(text, assume_vietnamese=language == "vi")


def _bridged(text: str, english: str) -> str:
    """What a vector is made from, as one string: its text hash changes when either part does."""
    return f"{text}\n[en] {english}" if english else text


def embedded_text(kind: str, item) -> str:
    """What an object's vector is made from: its text and the English of its terms."""
    text = TEXTS[kind](item)
    return _bridged(text, bridge(text, getattr(item, "language", None)))


def embed(texts: list[str], languages: list[str | None] | None = None, batch_size: int = 64,
          query: bool = False) -> np.ndarray:
    """One L2-normalised vector per text; with the ``EMBEDDING_BRIDGE`` setting on, a Vietnamese
    text's vector is the mean of its own and of its English terms' (search/glossary.py).
    ``query``: the texts are typed search queries (E5 encodes them with its query prefix)."""
    embedder = service()
    if isinstance(embedder, FusedEmbedder):  # the bridge serves the English model's half only
        english = (glossary.encode_bridged(embedder.english, texts, languages, batch_size, query=query)
                   if bridge_on() else embedder.english.encode(texts, batch_size=batch_size, query=query))
        return embedder.combine(english, embedder.multilingual.encode(texts, batch_size=batch_size, query=query),
                                texts, query)
    if not bridge_on():
        return embedder.encode(texts, batch_size=batch_size, query=query)
    return glossary.encode_bridged(embedder, texts, languages, batch_size, query=query)


def bridge_on() -> bool:
    """Whether Vietnamese texts are encoded with the English of their glossary terms: the
    ``EMBEDDING_BRIDGE`` setting, or when it is None, the model's own need (only the English-only
    MiniLM gains from it, docs/matching.md)."""
    setting = current_app.config.get("EMBEDDING_BRIDGE")
    if setting is None:
        return model_name() != E5_MODEL
    return bool(setting)


def floor(name: str) -> float:
    """The cosine floor ``name`` (DUPLICATE_THRESHOLD, DEMAND_MATCH_THRESHOLD,
    SEMANTIC_MIN_SCORE, EXPERT_MIN_AFFINITY): the setting when given, else the model's."""
    value = current_app.config.get(name)
    return float(value) if value is not None else model_floor(model_name(), name)


_QUERY_CACHE_SIZE = 512
_query_cache: dict[tuple[str, bool, str], np.ndarray] = {}
_query_cache_lock = threading.Lock()


def embed_query(text: str) -> np.ndarray:
    """The vector of a query a user typed, cached per process (the same query typed again, or
    paged through, is not encoded again)."""
    key = (model_name(), bridge_on(), text)
    with _query_cache_lock:
        found = _query_cache.get(key)
    if found is not None:
        return found
    vector = embed([text], query=True)[0]
    vector.setflags(write=False)
    with _query_cache_lock:
        if len(_query_cache) >= _QUERY_CACHE_SIZE:
            _query_cache.pop(next(iter(_query_cache)))
        _query_cache[key] = vector
    return vector


# Switching the model: the configured model's vectors are written (``match embed`` encodes them
# all, with a progress bar) while the previous model's keep serving every page and search, until
# the new ones are complete. Writers name their model with ``using_model``; readers get the
# serving one.
_WRITING_MODEL: ContextVar[str | None] = ContextVar("portal_writing_model", default=None)
_SERVING: dict[tuple[str, str], tuple[float, str]] = {}
_SERVING_SECONDS = 5.0


def configured_model() -> str:
    """The ``EMBEDDING_MODEL`` setting: the model new vectors are made with."""
    return current_app.config["EMBEDDING_MODEL"]


def model_name() -> str:
    """The model of the vectors being written (inside ``using_model``), else the serving one."""
    return _WRITING_MODEL.get() or serving_model()


@contextmanager
def using_model(name: str):
    """Read and write the vectors of model ``name`` inside the block."""
    token = _WRITING_MODEL.set(name)
    try:
        yield
    finally:
        _WRITING_MODEL.reset(token)


def _vector_counts() -> dict[tuple[str, str], int]:
    """Vectors per (kind, model), counting only initiatives that ``sync`` encodes (not drafts,
    which the encoder may also have encoded after a save)."""
    count = db.func.count(Embedding.id)
    rows = db.session.query(Embedding.kind, Embedding.model, count).filter(
        Embedding.kind.in_([kind for kind in KINDS if kind != "initiative"])).group_by(Embedding.kind, Embedding.model)
    counts = {(kind, model): n for kind, model, n in rows}
    initiatives = db.session.query(Embedding.model, count).join(
        Initiative, Initiative.id == Embedding.object_id).filter(
        Embedding.kind == "initiative", Initiative.state != InitiativeState.DRAFT.value).group_by(Embedding.model)
    counts.update({("initiative", model): n for model, n in initiatives})
    return counts


def serving_model() -> str:
    """The model whose vectors pages and searches read: the configured one, unless a switch is
    under way, i.e. another model still holds more vectors of some kind (then that one, until
    the configured model has caught up). Cached for a few seconds per process."""
    configured = configured_model()
    key = (str(db.engine.url), configured)
    cached = _SERVING.get(key)
    if cached and time.monotonic() - cached[0] < _SERVING_SECONDS:
        return cached[1]
    counts = _vector_counts()
    others = {model for _kind, model in counts if model != configured}
    behind = [model for model in others
              if any(counts.get((kind, model), 0) > counts.get((kind, configured), 0) for kind in KINDS)]
    serving = max(behind, key=lambda m: counts.get(("initiative", m), 0)) if behind else configured
    _SERVING[key] = (time.monotonic(), serving)
    return serving


def forget_serving_model() -> None:
    """Look again at which model serves (after vectors were written or removed)."""
    _SERVING.clear()


def write_models() -> list[str]:
    """The models a changed object is encoded with: the configured one and, during a switch,
    the serving one too, so that it is matched meanwhile."""
    configured, serving = configured_model(), serving_model()
    return [configured] if serving == configured else [configured, serving]


def prune_other_models() -> int:
    """Once the configured model serves, delete the vectors of every other model."""
    if serving_model() != configured_model():
        return 0
    removed = Embedding.query.filter(Embedding.model != configured_model()).delete(synchronize_session=False)
    db.session.commit()
    return removed


def service():
    """The process-wide embedder of the model in use (loaded on first use)."""
    return get_service(model_name())


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def _current(kind: str, ids: Iterable[int]) -> dict[int, Embedding]:
    ids = list(ids)
    if not ids:
        return {}
    rows = Embedding.query.filter(Embedding.kind == kind, Embedding.model == model_name(),
                                  Embedding.object_id.in_(ids)).all()
    return {row.object_id: row for row in rows}


def stale(kind: str, items: list, force: bool = False) -> list:
    """The ``items`` whose stored vector (or stored passages) is missing or was made from
    another text."""
    stored = _current(kind, [item.id for item in items])
    held = _current(PASSAGE_KINDS[kind], [item.id for item in items]) if kind in PASSAGE_KINDS else None

    def current(item) -> bool:
        row = stored.get(item.id)
        if row is None or row.text_hash != text_hash(embedded_text(kind, item)):
            return False
        if held is None:
            return True
        return item.id in held and held[item.id].text_hash == _passage_hash(kind, item)

    return [item for item in items if force or not current(item)]


def encode(kind: str, items: list, batch_size: int = 64) -> int:
    """Encode ``items`` of ``kind`` in batches and store their vectors; returns how many.

    Flushes but does not commit; the caller commits."""
    if not items:
        return 0
    texts = [TEXTS[kind](item) for item in items]
    vectors = embed(texts, [getattr(item, "language", None) for item in items], batch_size)
    texts = [embedded_text(kind, item) for item in items]
    stored = _current(kind, [item.id for item in items])
    name = model_name()
    for item, text, vector in zip(items, texts, vectors, strict=True):
        row = stored.get(item.id)
        if row is None:
            row = Embedding(kind=kind, object_id=item.id, model=name)
            db.session.add(row)
        row.text_hash, row.dimension, row.vector = text_hash(text), int(vector.shape[0]), to_blob(vector)
    db.session.flush()
    encode_passages(kind, items, batch_size)
    return len(items)


def bring_up_to_date(kind: str, items: list) -> None:
    """Encode those of ``items`` whose vectors are missing or stale, with every model written
    (``write_models``); an expert's publications change with the profile. Flushes only."""
    for name in write_models():
        with using_model(name):
            encode(kind, stale(kind, items))
            if kind == "expert":
                encode("publication", stale("publication", [p for item in items for p in item.publications]))


def sync(kinds: Iterable[str] = KINDS, force: bool = False, batch_size: int = 64,
         progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Encode every missing or stale vector of the configured model (all of them with
    ``force``), committing per batch."""
    with using_model(configured_model()):
        return _sync(kinds, force, batch_size, progress)


def _sync(kinds, force, batch_size, progress) -> dict[str, int]:
    done = {}
    for kind in kinds:
        todo = stale(kind, _candidates(kind, force), force)
        done[kind] = 0
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            encode(kind, chunk, batch_size)
            db.session.commit()
            done[kind] += len(chunk)
            if progress:
                progress(kind, len(chunk))
    return done


def prune() -> int:
    """Delete vectors whose object no longer exists; returns how many."""
    removed = 0
    for kind, model in MODELS.items():
        for stored_kind in (kind, PASSAGE_KINDS.get(kind)):
            if stored_kind is None:
                continue
            orphans = Embedding.query.filter(Embedding.kind == stored_kind,
                                             ~Embedding.object_id.in_(db.select(model.id)))
            removed += orphans.delete(synchronize_session=False)
    db.session.commit()
    return removed


def count_stale(kinds: Iterable[str] = KINDS, force: bool = False) -> dict[str, int]:
    """How many objects of each kind ``sync`` would encode."""
    with using_model(configured_model()):
        return {kind: len(stale(kind, _candidates(kind, force), force)) for kind in kinds}


def _candidates(kind: str, force: bool) -> list:
    """The objects of ``kind`` that get a vector: every one but draft initiatives (all with
    ``force``)."""
    model = MODELS[kind]
    items = model.query.order_by(model.id).all()
    if kind == "initiative":
        items = [i for i in items if i.state != InitiativeState.DRAFT.value or force]
    return items


def vector_of(kind: str, object_id: int, item=None) -> np.ndarray | None:
    """The current vector of one object, or None when it is not (yet) encoded."""
    row = _current(kind, [object_id]).get(object_id)
    if row is None:
        return None
    if item is not None and row.text_hash != text_hash(embedded_text(kind, item)):
        return None
    return from_blob(row.vector)


# The stacked vectors of each kind, per process --------------------------------------------

# (database, kind, model) -> (stamp, ids, matrix): semantic search compares a query with every
# vector of a kind, and reading 100,000 of them from the database takes seconds. The entry of
# kind EXPERT_TEXTS holds the ExpertTextMatrix the matcher ranks experts with.
_MATRICES: dict[tuple[str, str, str], tuple[tuple, np.ndarray, object]] = {}
_MATRICES_LOCK = threading.Lock()
EXPERT_TEXTS = "expert texts"


def _stamp(kind: str) -> tuple:
    """What changes whenever a vector of ``kind`` is added, replaced or deleted, in any
    process: their count, latest ``updated_at`` and highest row id (one indexed query)."""
    row = db.session.query(db.func.count(Embedding.id), db.func.max(Embedding.updated_at),
                           db.func.max(Embedding.id)).filter(
        Embedding.kind == kind, Embedding.model == model_name()).one()
    return tuple(row)


def _cached(kind: str) -> tuple[tuple, np.ndarray, np.ndarray]:
    """``cached_matrix`` with the stamp it was read under."""
    key = (str(db.engine.url), kind, model_name())
    stamp = _stamp(kind)
    with _MATRICES_LOCK:
        cached = _MATRICES.get(key)
    if cached is not None and cached[0] == stamp:
        return cached
    rows = db.session.query(Embedding.object_id, Embedding.vector).filter(
        Embedding.kind == kind, Embedding.model == model_name()).order_by(Embedding.object_id).all()
    ids = np.fromiter((object_id for object_id, _ in rows), dtype=np.int64, count=len(rows))
    vectors = (np.vstack([from_blob(blob) for _, blob in rows]) if rows
               else np.zeros((0, 0), dtype=np.float32))
    with _MATRICES_LOCK:
        _MATRICES[key] = (stamp, ids, vectors)
    return stamp, ids, vectors


def cached_matrix(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The ids (ascending, int64) and stacked vectors of every encoded object of ``kind``,
    read from the database once per process and read again only when they change there."""
    _stamp_read, ids, vectors = _cached(kind)
    return ids, vectors


@dataclass(frozen=True)
class ExpertTextMatrix:
    """Every expert's profile and publication vectors as one matrix, grouped by expert."""

    expert_ids: np.ndarray       # (n,) ascending: the experts with at least one vector
    publication_ids: np.ndarray  # per listed text (``groups.rows``): its publication, 0: the profile
    groups: GroupedTexts         # expert i of ``groups`` is ``expert_ids[i]``

    def group_of(self, expert_ids) -> np.ndarray:
        """The group of each of ``expert_ids``, or -1 for an expert without vectors."""
        wanted = np.asarray(expert_ids, dtype=np.int64).reshape(-1)
        if self.expert_ids.size == 0 or wanted.size == 0:
            return np.full(wanted.size, -1, dtype=np.int64)
        found = np.minimum(np.searchsorted(self.expert_ids, wanted), self.expert_ids.size - 1)
        return np.where(self.expert_ids[found] == wanted, found, -1)

    def texts_of(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of one group's texts, the profile first, and their publication ids."""
        if group < 0:
            return np.zeros((0, self.groups.vectors.shape[1]), dtype=np.float32), np.zeros(0, np.int64)
        listed = slice(self.groups.starts[group], self.groups.starts[group] + self.groups.counts[group])
        return self.groups.vectors[self.groups.rows[listed]], self.publication_ids[listed]


def _publication_stamp() -> tuple:
    """What changes when a publication is added or deleted (its vector may stay until
    ``prune``) or given to another expert: count, highest id and sum of owners."""
    return tuple(db.session.query(db.func.count(Publication.id), db.func.max(Publication.id),
                                  db.func.sum(Publication.expert_id)).one())


def cached_expert_texts() -> ExpertTextMatrix:
    """Every expert's profile vector and publication vectors, as one matrix grouped by expert
    (the profile first, then the publications by id), kept per process like ``cached_matrix``
    and built from its two matrices again when either changes or a publication comes or goes.

    The matrix holds the vectors once: the cached matrices of the two kinds become views of it,
    since a copy would double the largest memory the portal keeps (1.5 kB per text)."""
    key = (str(db.engine.url), EXPERT_TEXTS, model_name())
    profile_stamp, profile_ids, profile_vecs = _cached("expert")
    pub_stamp, pub_ids, pub_vecs = _cached("publication")
    stamp = (profile_stamp, pub_stamp, _publication_stamp())
    with _MATRICES_LOCK:
        cached = _MATRICES.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[2]
    pairs = db.session.query(Publication.id, Publication.expert_id).all()
    owned = np.fromiter(itertools.chain.from_iterable(pairs), dtype=np.int64,
                        count=2 * len(pairs)).reshape(-1, 2)
    # A vector whose publication was deleted stays out; a publication without a vector too.
    found = np.minimum(np.searchsorted(pub_ids, owned[:, 0]), max(pub_ids.size - 1, 0))
    owned_rows = np.flatnonzero(pub_ids[found] == owned[:, 0]) if pub_ids.size else np.zeros(0, np.int64)
    owner_ids = np.concatenate([profile_ids, owned[owned_rows, 1]])
    labels = np.concatenate([np.zeros(profile_ids.size, dtype=np.int64), owned[owned_rows, 0]])
    rows = np.concatenate([np.arange(profile_ids.size), profile_ids.size + found[owned_rows]])
    # Publication ids are positive, so the profile (label 0) comes first in each expert's group.
    order = np.lexsort((labels, owner_ids))
    expert_ids, owner = np.unique(owner_ids[order], return_inverse=True)
    dimension = max(profile_vecs.shape[1], pub_vecs.shape[1])
    flat = (np.concatenate([profile_vecs.reshape(-1, dimension), pub_vecs.reshape(-1, dimension)])
            if dimension else np.zeros((0, 0), dtype=np.float32))
    matrix = ExpertTextMatrix(expert_ids.astype(np.int64), labels[order],
                              GroupedTexts(flat, rows[order], owner.reshape(-1), expert_ids.size))
    with _MATRICES_LOCK:
        for kind, kind_stamp, ids, part in (("expert", profile_stamp, profile_ids, flat[:profile_ids.size]),
                                            ("publication", pub_stamp, pub_ids, flat[profile_ids.size:])):
            kind_key = (key[0], kind, key[2])
            if kind_key in _MATRICES and _MATRICES[kind_key][0] == kind_stamp:
                _MATRICES[kind_key] = (kind_stamp, ids, part)
        _MATRICES[key] = (stamp, expert_ids, matrix)
    return matrix


def forget_matrices() -> None:
    """Drop the cached matrices of this process (they are read again when next needed)."""
    with _MATRICES_LOCK:
        _MATRICES.clear()
    forget_serving_model()


def matrix(kind: str, ids: list[int] | None = None) -> tuple[list[int], np.ndarray]:
    """The ids and stacked vectors of every encoded object of ``kind`` (optionally of ``ids``)."""
    query = Embedding.query.filter(Embedding.kind == kind, Embedding.model == model_name())
    if ids is not None:
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        query = query.filter(Embedding.object_id.in_(ids))
    rows = query.order_by(Embedding.object_id).all()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    return [r.object_id for r in rows], np.vstack([from_blob(r.vector) for r in rows])


# After-commit encoding ---------------------------------------------------------------------

class Encoder:
    """One background thread per app that encodes changed objects after their commit.

    The thread is not a daemon and ends once its queue stays empty for IDLE_SECONDS: a process
    (a command, a worker being stopped) waits for the encoding its commits queued before it
    exits, instead of being torn down while the model runs in native code.
    """

    IDLE_SECONDS = 1.0
    BATCH = 64  # queued objects encoded together

    def __init__(self, app: Flask):
        self.app = app
        self.jobs: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, kind: str, object_id: int) -> None:
        if self.app.config.get("EMBED_SYNC"):
            self._run(kind, object_id)
            return
        # Queued and started under one lock: the thread decides to end under it too, so a job
        # is never left in the queue without a thread.
        with self.lock:
            self.jobs.put((kind, object_id))
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="portal-encoder")
                self.thread.start()

    def wait(self) -> None:
        """Block until every queued job is done (tests, commands)."""
        self.jobs.join()

    def _loop(self) -> None:
        while True:
            try:
                kind, object_id = self.jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self.lock:
                    if self.jobs.empty():
                        self.thread = None
                        return
                continue
            batch = [(kind, object_id)]
            while len(batch) < self.BATCH:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                if len(batch) == 1 or not self._run_batch(batch):
                    for job in dict.fromkeys(batch):
                        self._run(*job)
            finally:
                for _ in batch:
                    self.jobs.task_done()

    def _run_batch(self, jobs: list[tuple[str, int]]) -> bool:
        """Encode what is queued together, one model call per kind (many saves in a row, an
        import or the demo, queue many); False when that failed, and each job is then tried on
        its own with retries."""
        by_kind: dict[str, set[int]] = {}
        for kind, object_id in jobs:
            by_kind.setdefault(kind, set()).add(object_id)
        with self.app.app_context():
            try:
                for kind, ids in by_kind.items():
                    bring_up_to_date(kind, MODELS[kind].query.filter(MODELS[kind].id.in_(ids)).all())
                db.session.commit()
                forget_matrices()
                return True
            except Exception:
                db.session.rollback()
                log.exception("encoding %d queued objects together failed; one by one now", len(jobs))
                return False
            finally:
                db.session.remove()

    def _run(self, kind: str, object_id: int) -> bool:
        for attempt in range(1, RETRIES + 1):
            with self.app.app_context():
                try:
                    item = db.session.get(MODELS[kind], object_id)
                    if item is None:
                        return True
                    bring_up_to_date(kind, [item])
                    db.session.commit()
                    forget_matrices()  # the stamp would tell too; this spares a stale read
                    return True
                except Exception:  # the save is safe; the vector waits for a retry
                    db.session.rollback()
                    log.exception("encoding %s %s failed (attempt %d of %d)", kind, object_id,
                                  attempt, RETRIES)
                finally:
                    db.session.remove()
            if not self.app.config.get("EMBED_SYNC"):
                time.sleep(0.5 * attempt)
        return False


def encoder(app: Flask | None = None) -> Encoder:
    app = app or current_app._get_current_object()
    return app.extensions["portal_encoder"]


def init_app(app: Flask) -> None:
    """Encode initiatives, demands, profiles and publications after each commit that changes them."""
    from initiatives import background, signals

    app.extensions["portal_encoder"] = Encoder(app)
    background.register_waiter(app, "encoding", app.extensions["portal_encoder"].wait)

    def queue_job(kind, key):
        def receiver(sender, **payload):
            if sender is app and app.config.get("EMBED_ON_SAVE", True):
                encoder(app).submit(kind, payload[key])
        return receiver

    # Receivers are kept on the app so blinker's weak references keep them alive.
    app.extensions["portal_encoder_receivers"] = receivers = [
        (signals.initiative_changed, queue_job("initiative", "initiative_id")),
        (signals.demand_changed, queue_job("demand", "demand_id")),
        (signals.expert_changed, queue_job("expert", "expert_id")),
    ]
    for signal, receiver in receivers:
        signal.connect(receiver)
