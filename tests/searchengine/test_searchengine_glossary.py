"""The Vietnamese-English glossary bridge: which terms it finds and how vectors are combined."""

import numpy as np
import pytest

from search import glossary
from search.embeddings import FakeEmbedder


@pytest.mark.parametrize("text", ["tưới tiêu thông minh", "tuoi tieu thong minh", "TƯỚI TIÊU Thông Minh"])
def test_terms_match_with_or_without_diacritics(text):
    assert glossary.english_terms(text) == ["irrigation", "smart intelligent"]


def test_the_longest_term_wins_and_each_term_counts_once():
    terms = glossary.english_terms("Cảm biến độ ẩm đất cho cà phê; cảm biến độ ẩm đất giá rẻ")
    assert terms == ["soil moisture sensor", "coffee", "low-cost cheap"]


def test_a_single_syllable_matches_only_with_its_accents():
    assert glossary.english_terms("giống lúa mới") == ["rice variety"]
    assert glossary.english_terms("lúa") == ["rice"]
    assert glossary.english_terms("lửa") == [] and glossary.english_terms("lua") == []


def test_english_texts_get_no_bridge_and_vietnamese_ones_do():
    assert glossary.bridge("smart irrigation for rice") == ""
    assert glossary.bridge("tuoi tieu thong minh") == "irrigation; smart intelligent"
    # Said to be Vietnamese, a text is bridged even where guessing would say English.
    assert glossary.bridge("IoT tưới tiêu", assume_vietnamese=True) == "irrigation"


def test_every_glossary_line_is_a_term_and_its_english():
    exact, folded = glossary._terms()
    assert len(exact) > 300 and all(english.strip() for english in exact.values())
    assert all(len(words) > 1 for words in folded)


def test_a_bridged_vector_is_the_normalised_mean_of_the_text_and_its_english():
    service = FakeEmbedder()
    texts = ["tưới tiêu thông minh cho lúa", "smart irrigation", "xin chào"]
    vectors = glossary.encode_bridged(service, texts, ["vi", "en", "vi"])
    plain = service.encode(texts)
    english = service.encode(["irrigation; smart intelligent; rice"])[0]
    expected = (plain[0] + english) / np.linalg.norm(plain[0] + english)
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-6)
    np.testing.assert_allclose(vectors[1:], plain[1:])  # English, and Vietnamese with no terms
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
