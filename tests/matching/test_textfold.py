"""Folding text so organisations and keywords compare regardless of case, spaces and diacritics."""

import json
import unicodedata
from pathlib import Path

import pytest

from search.textfold import fold, fold_words


def test_organisation_with_diacritics_equals_plain_spelling():
    assert fold("Đại học Bách khoa Hà Nội") == fold("dai hoc  bach khoa ha noi")
    assert fold("Đại học Bách khoa Hà Nội") == "dai hoc bach khoa ha noi"


@pytest.mark.parametrize("text, expected", [
    ("ĐẠI HỌC CẦN THƠ", "dai hoc can tho"),
    ("Viện  Lúa Đồng Bằng Sông Cửu Long", "vien lua dong bang song cuu long"),
    ("  Trường\tĐại học\nThủy lợi  ", "truong dai hoc thuy loi"),
    ("Học viện Nông nghiệp\u00a0Việt Nam", "hoc vien nong nghiep viet nam"),  # no-break space
    ("ưƯơƠăĂâÂêÊôÔđĐ", "uuooaaaaeeoodd"),
    ("ÐẠI HỌC ÐÀ NẴNG", "dai hoc da nang"),  # eth typed for Đ by legacy converters
    ("Université Grenoble Alpes", "universite grenoble alpes"),
    ("", ""),
    ("   ", ""),
])
def test_fold_examples(text, expected):
    assert fold(text) == expected


def test_fold_ignores_unicode_normal_form():
    """The same words typed precomposed (NFC) or decomposed (NFD) fold alike."""
    name = "Trường Đại học Nông Lâm TP. Hồ Chí Minh"
    assert fold(unicodedata.normalize("NFD", name)) == fold(unicodedata.normalize("NFC", name))
    assert fold(name) == "truong dai hoc nong lam tp. ho chi minh"


def test_fold_is_idempotent_and_keeps_different_names_apart():
    for text in ("Đại học Huế", "Viện Hóa học", "Bệnh viện Bạch Mai"):
        assert fold(fold(text)) == fold(text)
    assert fold("Đại học Huế") != fold("Đại học Y Hà Nội")
    assert fold("Viện Hóa học") != fold("Viện Hoá học sinh")


def test_fold_words_tokenises_folded_text():
    assert fold_words("Lúa chịu mặn, chịu hạn (Saltol/qDTY) 2023!") == [
        "lua", "chiu", "man", "chiu", "han", "saltol", "qdty", "2023"]
    assert fold_words("") == []
    assert fold_words(" – ,. ") == []


def test_demo_organisation_spellings_fold_together():
    """The demo data spells some organisations differently on purpose; each pair must meet."""
    demo = Path(__file__).resolve().parents[2] / "initiatives" / "data" / "demo"
    experts = json.loads((demo / "experts.json").read_text(encoding="utf-8"))
    initiatives = json.loads((demo / "initiatives.json").read_text(encoding="utf-8"))
    spellings = {e["organisation"] for e in experts} | {
        i["organisation"] for i in initiatives if i.get("organisation")}
    pairs = [("Đại học Bách khoa Hà Nội", "dai hoc bach khoa ha noi"),
             ("ĐẠI HỌC CẦN THƠ", "Đại học Cần Thơ"),
             ("Viện  Lúa Đồng Bằng Sông Cửu Long", "Viện Lúa Đồng bằng sông Cửu Long"),
             ("Mekong Resilience Lab", "mekong resilience lab"),
             ("Trường Đại học Bách khoa – Đại học Quốc gia TP. Hồ Chí Minh",
              "truong dai hoc bach khoa – dai hoc quoc gia tp. ho chi minh")]
    for a, b in pairs:
        assert {a, b} <= spellings
        assert fold(a) == fold(b)
    # and folding merges nothing else: distinct organisations stay distinct
    assert len({fold(s) for s in spellings}) == len(spellings) - len(pairs)
