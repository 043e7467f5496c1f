"""Accents in the text index: a word typed with them matches only those accents, one typed
without matches every accented form, and words typed side by side rank documents holding them
side by side first."""

import unicodedata

import pytest

from search import textindex
from search.textindex import TextIndex


def doc(doc_id, title, body="", **extra):
    return {"kind": "initiative", "id": doc_id, "title": title, "body": body, **extra}


def ids(results):
    return [hit.id for hit in results.hits]


@pytest.fixture
def index(tmp_path):
    ix = TextIndex(tmp_path / "index")
    yield ix
    ix.close()


def fill(ix, *docs):
    ix.upsert(docs)
    ix.flush()
    return ix


@pytest.fixture
def rice_and_fraud(index):
    return fill(
        index,
        doc(1, "Giống lúa chịu mặn", "Lúa cho đồng bằng sông Cửu Long."),
        doc(2, "Cảnh báo cuộc gọi cho người cao tuổi", "Phát hiện lừa đảo qua điện thoại."),
        doc(3, "Chọn lựa giống cây trồng", "Cây chịu mặn cho vùng ven biển."),
    )


def test_lua_with_accents_finds_rice_only_and_without_them_every_lua(rice_and_fraud):
    assert ids(rice_and_fraud.search("lúa")) == [1]
    assert ids(rice_and_fraud.search("LÚA")) == [1]
    assert ids(rice_and_fraud.search(unicodedata.normalize("NFD", "lúa"))) == [1]
    assert ids(rice_and_fraud.search("lừa đảo")) == [2]
    assert ids(rice_and_fraud.search("lựa")) == [3]
    assert rice_and_fraud.search("lửa").total == 0
    # Without accents, every form; "lúa" first, being in initiative 1's title as well.
    assert ids(rice_and_fraud.search("lua")) == [1, 3, 2]
    assert ids(rice_and_fraud.search("lua dao")) == [2]


def test_da_nang_with_accents_is_not_da_nang_suat(index):
    fill(
        index,
        doc(1, "Du lịch thông minh", "Bản đồ số cho khách đến Đà Nẵng."),
        doc(2, "Giống lúa mới", "Đa dạng, cho năng suất cao."),
    )
    assert ids(index.search("Đà Nẵng")) == [1]
    assert ids(index.search("ĐÀ NẴNG")) == [1]
    # Typed without accents, both match, Đà Nẵng first: its two words stand side by side.
    assert ids(index.search("da nang")) == [1, 2]


def test_d_with_stroke_is_not_d(index):
    fill(
        index,
        doc(1, "Đào tạo nghề cho nông dân"),
        doc(2, "Nguồn nước dồi dào cho đồng ruộng"),
        doc(3, "Dao mổ phẫu thuật bằng laser"),
    )
    assert ids(index.search("đào")) == [1]
    assert ids(index.search("Đào tạo")) == [1]
    assert ids(index.search("dào")) == [2]
    assert sorted(ids(index.search("dao"))) == [1, 2, 3]
    # "đao" is nowhere: read as "đào" with its mark left out, never as "dao" or "dào".
    assert ids(index.search("đao")) == [1]


def test_a_mixed_query_folds_only_its_unaccented_words(rice_and_fraud):
    assert ids(rice_and_fraud.search("lúa chiu man")) == [1]
    assert ids(rice_and_fraud.search("lựa chiu man")) == [3]
    assert sorted(ids(rice_and_fraud.search("lua chịu mặn"))) == [1, 3]
    assert rice_and_fraud.search("lúa chịu man dao").total == 0


def test_the_query_language_follows_the_accent_rule(rice_and_fraud):
    ix = rice_and_fraud
    assert ids(ix.search("lú*")) == [1]
    assert sorted(ids(ix.search("lu*"))) == [1, 2, 3]
    assert ids(ix.search('"giống lúa"')) == [1]
    assert ids(ix.search('"giống lua"')) == [1]  # a phrase with one word folded
    assert ix.search('"giống lựa"').total == 0
    assert ids(ix.search("title:lúa")) == [1]
    assert sorted(ids(ix.search("title:lua"))) == [1, 3]
    assert sorted(ids(ix.search("lúa OR lừa"))) == [1, 2]
    assert sorted(ids(ix.search("lua NOT lúa"))) == [2, 3]


def test_the_organisation_field_follows_the_accent_rule(index):
    fill(index, doc(1, "Máy sấy", organisation="Đại học Cần Thơ"), doc(2, "Máy cày", organisation="Dai hoc Can Tho"))
    assert ids(index.search('org:"Đại học Cần Thơ"')) == [1]
    assert sorted(ids(index.search('org:"dai hoc can tho"'))) == [1, 2]


def test_highlights_follow_the_accent_rule(index):
    fill(index, doc(1, "Lúa và lừa", "Giống lúa mới; chống lừa đảo."))
    hit = index.search("lúa").hits[0]
    assert hit.title_html == "<mark>Lúa</mark> và lừa"
    assert "<mark>lúa</mark>" in hit.snippet and "<mark>lừa</mark>" not in hit.snippet
    hit = index.search("lua").hits[0]
    assert hit.title_html == "<mark>Lúa</mark> và <mark>lừa</mark>"
    fused = index.highlights("lừa", [("initiative", 1)])[("initiative", 1)]
    assert fused.title_html == "Lúa và <mark>lừa</mark>"


def test_a_mark_left_out_is_a_typo_a_changed_mark_another_word(index):
    fill(index, doc(1, "Cảm biến độ ẩm đất"), doc(2, "Đạt chuẩn nông thôn mới"), doc(3, "Giống lúa mới"))
    # "đât" and "biên" are nowhere: each is read as a word it lacks a mark of.
    assert ids(index.search("độ ẩm đât")) == [1]
    assert ids(index.search("cảm biên")) == [1]
    assert ids(index.search("thôgn")) == [2]  # two letters swapped, the marks as typed
    # Another mark makes another word, found or not: "đạt" is not "đất", "lửa" not "lúa".
    assert ids(index.search("đạt")) == [2]
    assert index.search("lửa").total == 0
    assert index.search("lửa mới").total == 0


def test_words_side_by_side_rank_first(index, monkeypatch):
    fill(
        index,
        doc(1, "Xử lý nước thải cho làng nghề", "Bể lắng sinh học."),
        doc(2, "Nước sạch và rác thải làng nghề", "Nước mưa, nước giếng; thải bỏ rác đúng chỗ."),
    )
    for query in ("nước thải", "nuoc thai", "Nước thai"):
        assert ids(index.search(query)) == [1, 2], query
        assert [key[1] for key in index.ranked_keys(query)] == [1, 2], query
    # Without the boost, the document holding the words apart, more often, would lead.
    monkeypatch.setattr(textindex, "ADJACENT_BOOST", 0.0)
    assert ids(index.search("nước thải")) == [2, 1]


def test_only_words_asked_for_together_are_boosted(index):
    fill(index, doc(1, "Nước thải", "Làng nghề."), doc(2, "Nước sạch", "Rác thải làng nghề, nước giếng."))
    with index._searcher() as searcher:
        assert "text:\"nước thải\"" in str(index._build_query("nước thải", searcher).scoring)
        for query in ("nước OR thải", "nước NOT thải", '"nước thải"'):
            assert "text:\"nước thải\"" not in str(index._build_query(query, searcher).scoring), query


def test_the_adjacent_boost_survives_skipping_blocks(tmp_path):
    """Ranking the best few lets Whoosh skip blocks of postings that cannot reach them; after a
    skip, the boost must stand on a document holding the words side by side (Whoosh's phrase
    matcher stands wherever its words' intersection stopped, and would count it)."""
    docs = []
    for n in range(1, 1201):
        words = "nước thải" if n % 7 == 0 else "nước sạch, rác thải"
        docs.append(doc(n, f"Dự án {n}", f"{words} " + "làng nghề " * (n % 11) + "nước " * (n % 3)))
    with TextIndex(tmp_path / "many", count_limit=None) as ix:
        fill(ix, *docs)
        with ix._searcher() as searcher:
            matcher = textindex._Adjacent(textindex.MATCH_FIELD, ["nước", "thải"]).matcher(searcher)
            stops = []
            while matcher.is_active():
                matcher.skip_to_quality(matcher.block_quality() + 1e-6)
                if matcher.is_active():
                    stops.append(searcher.stored_fields(matcher.id())["id"])
                    matcher.next()
            assert stops and all(n % 7 == 0 for n in stops), stops
        best = ix.ranked_keys("nước thải", limit=10)
        assert best == ix.ranked_keys("nước thải", limit=1000)[:10]
        assert all(key[1] % 7 == 0 for key in best)
