"""The analyzers: Vietnamese with or without accents, safe English stemming, stop words."""

import unicodedata

import pytest

from search.analysis import (
    AMBIGUOUS_STOP_WORDS,
    HARD_STOP_WORDS,
    exact_analyzer,
    folded_analyzer,
    guess_query_language,
    has_diacritics,
    is_optional_query_word,
    looks_vietnamese,
    stem_word,
)


def terms(text, analyzer=None):
    analyzer = analyzer or folded_analyzer()
    return [token.text for token in analyzer(text)]


@pytest.mark.parametrize(
    "spelling",
    ["Đà Nẵng", "da nang", "Da Nang", "ĐÀ NẴNG", unicodedata.normalize("NFD", "Đà Nẵng")],
)
def test_every_spelling_of_da_nang_gives_the_same_terms(spelling):
    assert terms(spelling) == ["da", "nang"]


def test_d_with_stroke_folds_to_d():
    assert terms("đường Điện Biên") == ["duong", "dien", "bien"]


def test_vietnamese_syllables_are_never_stemmed():
    # Porter would turn "thuy" into "thui" and "quy" into "qui".
    assert terms("Thủy lợi quy trình nghiệp vụ thông minh") == [
        "thuy",
        "loi",
        "quy",
        "trinh",
        "nghiep",
        "vu",
        "thong",
        "minh",
    ]


@pytest.mark.parametrize("word", ["irrigation", "irrigating", "irrigated", "irrigate"])
def test_english_inflections_meet_at_one_stem(word):
    assert terms(word) == ["irrig"]


def test_plural_and_singular_meet():
    assert terms("farms sensors batteries") == terms("farm sensor battery")


def test_short_and_non_alphabetic_words_are_left_alone():
    assert stem_word("uav") == "uav"
    assert stem_word("5g") == "5g"
    assert stem_word("4.0") == "4.0"


def test_unambiguous_english_stop_words_are_dropped():
    assert terms("Irrigation of rice and maize for farmers") == ["irrig", "rice", "maiz", "farmer"]
    assert {"of", "and", "for", "with"} <= HARD_STOP_WORDS


@pytest.mark.parametrize("word", ["may", "an", "the", "to", "in"])
def test_stop_words_that_are_also_vietnamese_stay_in_the_index(word):
    # "máy" (machine), "an" (safe), "thẻ" (card), "tô", "in" (to print) fold to these.
    assert word in AMBIGUOUS_STOP_WORDS
    assert terms(word) == [word]


def test_machine_learning_in_vietnamese_keeps_may():
    assert terms("Máy học an ninh mạng") == ["may", "hoc", "an", "ninh", "mang"]


def test_single_letter_vietnamese_words_survive():
    assert terms("ý tưởng") == ["y", "tuong"]


def test_dotted_numbers_stay_one_token():
    assert terms("Công nghiệp 4.0") == ["cong", "nghiep", "4.0"]


def test_token_offsets_point_into_the_original_text():
    text = "Tưới tiêu ở Đà Nẵng"
    # Whoosh reuses one Token object, so read the offsets as the tokens go by.
    spans = [text[t.startchar : t.endchar] for t in folded_analyzer()(text, chars=True)]
    assert spans == ["Tưới", "tiêu", "ở", "Đà", "Nẵng"]


def test_decomposed_accents_do_not_split_words():
    decomposed = unicodedata.normalize("NFD", "Nghiên cứu")
    assert terms(decomposed) == ["nghien", "cuu"]
    assert terms(decomposed, exact_analyzer()) == ["nghiên", "cứu"]


def test_exact_analyzer_keeps_accents_and_lowercases():
    assert terms("ĐÀ NẴNG và Da Nang", exact_analyzer()) == ["đà", "nẵng", "và", "da", "nang"]


def test_looks_vietnamese():
    for syllable in ["nghieng", "khuyen", "nguoi", "thuy", "y", "truong", "gia"]:
        assert looks_vietnamese(syllable), syllable
    for word in ["irrigation", "farms", "with", "drone", "blockchain"]:
        assert not looks_vietnamese(word), word


def test_has_diacritics():
    assert has_diacritics("Đà")
    assert has_diacritics("đ")
    assert has_diacritics(unicodedata.normalize("NFD", "ế"))
    assert not has_diacritics("Da Nang")


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("tưới tiêu thông minh", "vi"),
        ("tuoi tieu thong minh", "vi-unaccented"),
        ("da nang", "vi-unaccented"),
        ("smart irrigation in the delta", "en"),
        ("IoT cho nông nghiệp", "vi"),
    ],
)
def test_guess_query_language(query, language):
    assert guess_query_language(query) == language


@pytest.mark.parametrize(
    ("word", "language", "optional"),
    [
        ("the", "en", True),
        ("in", "en", True),
        ("irrigation", "en", False),
        ("của", "vi", True),
        ("cho", "vi", True),  # typed beside accented words, "cho" is "for", not "chợ"
        ("máy", "vi", False),
        ("nông", "vi", False),
        ("cua", "vi-unaccented", True),
        ("da", "vi-unaccented", False),  # "đã", but also "Đà" in "da nang"
        ("cho", "vi-unaccented", False),  # could be "chợ" (market)
        ("trong", "vi-unaccented", False),  # could be "trồng" (to plant)
    ],
)
def test_optional_query_words(word, language, optional):
    assert is_optional_query_word(word, language) is optional
