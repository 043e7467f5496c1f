"""The analyzers: Vietnamese with or without accents, safe English stemming, stop words."""

import unicodedata

import pytest

from search.analysis import (
    AMBIGUOUS_STOP_WORDS,
    HARD_STOP_WORDS,
    adds_marks,
    exact_analyzer,
    folded_analyzer,
    guess_query_language,
    has_diacritics,
    index_forms,
    is_optional_query_word,
    looks_vietnamese,
    query_form,
    same_marks,
    stem_word,
    text_analyzer,
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


def test_the_text_analyzer_indexes_accented_words_both_ways_at_one_position():
    tokens = [(t.text, t.pos) for t in text_analyzer()("Lúa ở Đà Nẵng, irrigation of PM2.5", positions=True)]
    assert tokens == [("lua", 0), ("lúa", 0), ("o", 1), ("ở", 1), ("da", 2), ("đà", 2), ("nang", 3), ("nẵng", 3),
                      ("irrig", 4), ("pm2.5", 5)]


@pytest.mark.parametrize(("word", "term"), [
    ("lúa", "lúa"), ("LÚA", "lúa"), (unicodedata.normalize("NFD", "Lúa"), "lúa"), ("lua", "lua"),
    ("đa", "đa"), ("da", "da"), ("Irrigation", "irrig"),
])
def test_a_query_word_is_looked_up_with_its_accents_or_folded(word, term):
    assert [t.text for t in text_analyzer()(word, mode="query")] == [term]
    assert query_form(word) == term


def test_index_forms():
    assert index_forms("Lúa") == ("lua", "lúa")
    assert index_forms("Irrigation") == ("irrig",)


@pytest.mark.parametrize(("typed", "candidate", "added"), [
    ("đât", "đất", True), ("biên", "biến", True), ("dao", "dào", True),
    ("lửa", "lúa", False), ("đạt", "đất", False), ("dào", "đào", False), ("đất", "đất", False),
])
def test_adds_marks_is_a_mark_left_out_never_another(typed, candidate, added):
    assert adds_marks(typed, candidate) is added


def test_same_marks():
    assert same_marks("thôgn", "thông")
    assert same_marks("đường", "đưòng") is False
    assert same_marks("đi", "di") is False
