"""How the conflict rules compare organisations and people: one organisation however it is
written, two organisations apart when a real name differs, people without their titles."""

import pytest

from search.matching import (
    GENERIC_ORGANISATION_WORDS,
    organisation_key,
    person_key,
    same_organisation,
    team_member,
)

CAN_THO = ("Đại học Cần Thơ", "Trường Đại học Cần Thơ", "ĐH Cần Thơ", "Can Tho University",
           "University of Can Tho", "ĐẠI HỌC CẦN THƠ", "dai hoc  can tho", "Trường ĐH. Cần Thơ",
           "Đại học Cần Thơ (CTU)")


@pytest.mark.parametrize("spelling", CAN_THO)
def test_every_spelling_of_can_tho_university_is_one_organisation(spelling):
    assert organisation_key(spelling).words == "can tho"
    assert same_organisation(spelling, "Đại học Cần Thơ")


@pytest.mark.parametrize("a, b", [
    ("Học viện Nông nghiệp Việt Nam", "HV Nông nghiệp Vietnam"),
    ("Đại học Quốc gia Hà Nội", "ĐHQG Hà Nội"),
    ("Sakura Robotics Vietnam Co., Ltd.", "Sakura Robotics Vietnam"),  # a name without its kind
    ("Công ty TNHH Du lịch số Di Sản Huế", "Cty Du lịch số Di Sản Huế"),
    ("Hợp tác xã Nông nghiệp số Đồng Tháp", "HTX Nông nghiệp số Đồng Tháp"),
    ("Trường Đại học Bách khoa – Đại học Quốc gia TP. Hồ Chí Minh",
     "truong dai hoc bach khoa - dai hoc quoc gia tp ho chi minh"),
    ("Hanoi Medical University", "Ha Noi Medical University"),
    ("Bệnh viện Bạch Mai", "Bach Mai Hospital"),
    ("Wageningen University & Research", "Wageningen University and Research"),
    ("Viện Khoa học và Công nghệ", "Viện Khoa học & Công nghệ"),
])
def test_generic_words_abbreviations_and_punctuation_do_not_matter(a, b):
    assert same_organisation(a, b) and same_organisation(b, a)


@pytest.mark.parametrize("a, b", [
    ("Đại học Bách khoa Hà Nội", "Đại học Quốc gia Hà Nội"),       # the real name differs
    ("Đại học Y Hà Nội", "Đại học Dược Hà Nội"),
    ("Trường Đại học Công nghệ, Đại học Quốc gia Hà Nội", "Đại học Quốc gia Hà Nội"),  # a member school
    ("Viện Khoa học Nông nghiệp Việt Nam", "Học viện Nông nghiệp Việt Nam"),
    ("Đại học Đà Nẵng", "Bệnh viện Đà Nẵng"),  # one place, two kinds of body
    ("Đại học Cần Thơ", "Công ty Cần Thơ"),
    ("Công ty Cơ khí Hà Nội", "Công ty Khí Hà Nội"),  # "cơ" folds to "co" and is no "Co., Ltd."
    ("Hanoi University of Science and Technology", "University of Science and Technology of Hanoi"),
])
def test_organisations_that_differ_by_a_real_name_or_kind_stay_apart(a, b):
    assert not same_organisation(a, b) and not same_organisation(b, a)


@pytest.mark.parametrize("generic", ["Trường Đại học", "Đại học", "University", "Institute of",
                                     "Công ty TNHH", "Viện", "Học viện", "The", "", "   ", "—"])
def test_a_name_made_only_of_generic_words_matches_nothing(generic):
    assert organisation_key(generic).words == ""
    for other in (generic, "Đại học Cần Thơ", "Trường Đại học", "University"):
        assert not same_organisation(generic, other)


def test_the_generic_words_table_is_folded_and_kinds_are_named():
    from search.textfold import fold

    for phrase, kind in GENERIC_ORGANISATION_WORDS.items():
        assert phrase == fold(phrase) and phrase.replace(" ", "").isalnum(), phrase
        assert kind in {"", "academic", "hospital", "company", "cooperative"}, phrase
    assert organisation_key("Trường Đại học Cần Thơ").kinds == {"academic"}
    assert organisation_key("Cần Thơ").kinds == frozenset()


@pytest.mark.parametrize("a, b", [
    ("Nguyễn Văn An", "nguyen van  an"),
    ("Dr. Lars Eriksson", "Lars Eriksson"),
    ("PGS.TS. Trần Văn Bình", "Trần Văn Bình"),
    ("H'Nga Êban", "H Nga Eban"),
])
def test_person_names_compare_folded_and_without_titles(a, b):
    assert person_key(a) == person_key(b) != ""


def test_different_people_stay_apart():
    assert person_key("Nguyễn Văn An") != person_key("Nguyễn Văn Anh")
    assert person_key("Dr.") == ""


@pytest.mark.parametrize("entry, expected", [
    ("Trần Văn Bình (Đại học Cần Thơ)", ("Trần Văn Bình", "Đại học Cần Thơ")),
    ("Trần Văn Bình - ĐH Cần Thơ", ("Trần Văn Bình", "ĐH Cần Thơ")),
    ("Trần Văn Bình – Trường Đại học Nông Lâm – Đại học Thái Nguyên",
     ("Trần Văn Bình", "Trường Đại học Nông Lâm – Đại học Thái Nguyên")),
    ("Jean-Pierre Dupont", ("Jean-Pierre Dupont", "")),  # a hyphen inside a name splits nothing
    ("  Nguyễn Văn An ", ("Nguyễn Văn An", "")),
])
def test_a_team_member_may_carry_their_organisation(entry, expected):
    assert team_member(entry) == expected
