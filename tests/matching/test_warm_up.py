"""The ``EMBEDDING_WARM_UP`` setting: on, the portal loads the model at start-up in the
background; off, the model loads on first use (the first save or query that needs a vector)."""

import threading
import time

import numpy as np
import pytest

import search.embeddings as embeddings
from search import vectors
from search.embeddings import FakeEmbedder


class TinyModel:
    """Stands in for a loaded SentenceTransformer: small vectors, no weights to read."""

    def encode(self, texts, **options):
        """Bag-of-words vectors of length 8, as the fake embedder makes them."""
        return FakeEmbedder(8).encode(list(texts))

    def get_embedding_dimension(self):
        """The vector length."""
        return 8


@pytest.fixture
def model_loads(monkeypatch):
    """Every load of a model in a fresh process, as (location, thread name); loading is cheap."""
    loads = []
    monkeypatch.setattr(embeddings, "_MODELS", {})
    monkeypatch.setattr(embeddings, "_SERVICES", {})

    def load(location):
        """Load once per location, like the real loader, recording who loaded it."""
        with embeddings._MODELS_LOCK:
            if location not in embeddings._MODELS:
                loads.append((location, threading.current_thread().name))
                embeddings._MODELS[location] = TinyModel()
            return embeddings._MODELS[location]

    monkeypatch.setattr(embeddings, "_load_model", load)
    return loads


@pytest.fixture
def settings(request, model_loads, tmp_path):
    """A model given by path (any name but "fake" goes through the real service), with the
    warm-up setting of the test's parameter."""
    return {"EMBEDDING_MODEL": str(tmp_path / "tiny-model"), "EMBEDDING_WARM_UP": request.param,
            "EMBED_SYNC": True}


def _wait_for(condition, seconds=10.0):
    """Poll ``condition`` until it holds or ``seconds`` pass; return whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("settings", [True], indirect=True)
def test_with_warm_up_the_model_loads_at_start_up_off_the_request_path(app, model_loads, people,
                                                                       make_initiative):
    location = app.config["EMBEDDING_MODEL"]
    assert _wait_for(lambda: model_loads)  # nothing was asked of the portal yet
    assert model_loads == [(location, "embedding-warm-up")]
    assert vectors.service().loaded
    initiative = make_initiative(people["proposer"], submitted=True)
    assert vectors.vector_of("initiative", initiative.id, initiative).shape == (8,)
    assert len(model_loads) == 1  # the first save used the loaded model


@pytest.mark.parametrize("settings", [False], indirect=True)
def test_without_warm_up_the_model_loads_on_first_use(app, model_loads, people, make_initiative):
    time.sleep(0.2)  # a warm-up thread, were one started, would have loaded it by now
    assert model_loads == [] and not vectors.service().loaded
    assert not any(t.name == "embedding-warm-up" for t in threading.enumerate())
    initiative = make_initiative(people["proposer"], submitted=True)  # encoded at save (EMBED_SYNC)
    assert model_loads == [(app.config["EMBEDDING_MODEL"], threading.current_thread().name)]
    vector = vectors.vector_of("initiative", initiative.id, initiative)
    np.testing.assert_allclose(np.linalg.norm(vector), 1.0, atol=1e-6)
    assert vectors.service().loaded
