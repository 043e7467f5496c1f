"""The folded search text stored on initiatives, demands and experts: it follows every way they
are created and changed, and the database search finds the same with or without it."""

import pytest
from sqlalchemy import update

from initiatives.experts import operations as experts
from initiatives.models import Demand, ExpertProfile, Initiative
from initiatives.proposals import operations as proposals
from search.catalogue import database_search
from tests.test_import import EXPERTS, MANDARIN, RICE, run_import, write_json


def stored(db, item) -> str | None:
    """``item``'s search text as the database holds it."""
    db.session.expire(item)
    return item.search_text


def test_an_initiative_keeps_its_folded_title_summary_and_keywords(people, make_initiative, db):
    proposer = people["proposer"]
    initiative = make_initiative(proposer, title="Cảm biến ĐỘ ẨM", summary="Đà  Nẵng", keywords=["IoT", "Lúa"],
                                 organisation="Đại học Cần Thơ")
    assert stored(db, initiative) == "cam bien do am \n da nang \n iot \n lua"
    assert "can tho" not in initiative.search_text  # the organisation is searched by admins only

    proposals.update_initiative(initiative, proposer, title="Máy sấy", keywords=["nông sản"])
    db.session.commit()
    assert stored(db, initiative) == "may say \n da nang \n nong san"

    initiative.summary = "Tiết kiệm điện"  # a direct change, as a script would make it
    db.session.commit()
    assert stored(db, initiative) == "may say \n tiet kiem dien \n nong san"


def test_a_demand_keeps_its_folded_title_and_description(people, make_demand, db):
    owner = people["owner"]
    demand = make_demand(owner, title="Sàn thương mại", description="Cam sành Hà Giang")
    assert stored(db, demand) == "san thuong mai \n cam sanh ha giang"
    assert "lao cai" not in demand.search_text

    from initiatives.demands import operations as demands

    demands.update_demand(demand, owner, description="Bưởi Đoan Hùng")
    db.session.commit()
    assert stored(db, demand) == "san thuong mai \n buoi doan hung"
    demand.title = "Chợ"
    db.session.commit()
    assert stored(db, demand) == "cho \n buoi doan hung"


def test_an_expert_keeps_the_folded_name_bio_and_keywords(people, db):
    expert = people["expert"]
    profile = experts.profile_for(expert)
    db.session.commit()
    assert stored(db, profile) == "le minh chi"
    experts.update_profile(profile, expert, bio="Thủy lợi", keywords="Đê điều, IoT")
    db.session.commit()
    assert stored(db, profile) == "le minh chi \n thuy loi \n de dieu \n iot"
    assert "vien cong nghe" not in profile.search_text
    profile.name = "Lê Chí"
    db.session.commit()
    assert stored(db, profile) == "le chi \n thuy loi \n de dieu \n iot"


def test_imported_objects_have_their_search_text(runner, db, people, tmp_path):
    for kind, items in (("initiatives", [RICE]), ("experts", EXPERTS[:1]), ("demands", [MANDARIN])):
        result = run_import(runner, kind, write_json(tmp_path, f"{kind}.json", items))
        assert result.exit_code == 0, result.output
    rice = Initiative.query.filter_by(external_ref="LEGACY-001").one()
    assert rice.search_text.startswith("giong lua chiu man cho dong bang song cuu long \n ")
    assert ExpertProfile.query.one().search_text.startswith("pgs. tran van hai \n ")
    assert Demand.query.one().search_text

    corrected = {**RICE, "keywords": ["Lúa chịu mặn"]}
    result = run_import(runner, "initiatives", write_json(tmp_path, "initiatives.json", [corrected]))
    assert result.exit_code == 0, result.output
    assert stored(db, rice).endswith(" \n lua chiu man")


@pytest.mark.parametrize("query, found", [
    ("tuoi tieu", {"irrigation"}), ("IOT", {"irrigation"}), ("robot", {"factory"}),
    ("tưới NOT giọt", set()), ("NOT tưới", {"factory"}), ("robot OR giot", {"irrigation", "factory"}),
    ("cần thơ", set()),  # the organisation, which plain words never match
])
def test_rows_without_search_text_are_found_as_before(people, make_initiative, db, query, found):
    items = {
        "irrigation": make_initiative(people["proposer"], submitted=True, title="Tưới tiêu thông minh",
                                      summary="Nhỏ giọt ở Đà Nẵng.", keywords=["IoT"]),
        "factory": make_initiative(people["proposer"], submitted=True, title="Nhà máy", summary="Hàn tự động.",
                                   keywords=["robot"]),
    }

    def answer() -> set[str]:
        ids = {r.id for r in database_search(query, ["initiative"], {}, 1, 20).results}
        return {key for key, item in items.items() if item.id in ids}

    assert answer() == found
    # As rows inserted around the ORM have it: no stored text, folded on the fly instead; first
    # one such row among stored ones, then all of them.
    db.session.execute(update(Initiative).where(Initiative.id == items["factory"].id).values(search_text=None))
    db.session.commit()
    assert answer() == found
    db.session.execute(update(Initiative).values(search_text=None))
    db.session.commit()
    assert answer() == found


# The accent rule in the database search: a word typed with accents matches those accents only.

@pytest.fixture
def accents(people, make_initiative):
    """Initiatives whose words differ by their accents alone (keywords in capitals too)."""
    def make(title, summary, keywords, **values):
        return make_initiative(people["proposer"], submitted=True, title=title, summary=summary,
                               keywords=keywords, **values)

    return {
        "rice": make("Giống lúa chịu mặn", "Cho đồng bằng.", ["LÚA"]),
        "fraud": make("Cảnh báo lừa đảo", "Cuộc gọi giả mạo.", ["an ninh"], organisation="Dai hoc Can Tho"),
        "da_nang": make("DU LỊCH ĐÀ NẴNG", "Bản đồ số.", ["du lịch"]),
        "yield": make("Máy gặt đa năng", "Tăng năng suất vụ mùa.", ["cơ khí"]),
        "training": make("Đào tạo nghề", "Dạy nghề nông thôn.", ["giáo dục"]),
        "plenty": make("Nguồn nước dồi dào", "Ruộng bậc thang.", ["thủy lợi"]),
    }


ACCENT_CASES = [
    ("lúa", {"rice"}),
    ("LÚA", {"rice"}),
    ("lua", {"rice", "fraud"}),
    ("Đà Nẵng", {"da_nang"}),
    ("da nang", {"da_nang", "yield"}),
    ("đào", {"training"}),
    ("dào", {"plenty"}),
    ("dao", {"fraud", "training", "plenty"}),
    ("lúa dao", set()),  # a mixed query folds only its unaccented words
    ("lừa dao", {"fraud"}),
    ("lúa chiu man", {"rice"}),
    ("lúa OR đào", {"rice", "training"}),
    ("lua NOT lúa", {"fraud"}),
    ("title:lúa", {"rice"}),
]


def test_the_database_search_follows_the_accent_rule(accents, db):
    def answers() -> dict[str, set[str]]:
        found = {}
        for query, _ in ACCENT_CASES:
            ids = {r.id for r in database_search(query, ["initiative"], {}, 1, 20).results}
            found[query] = {key for key, item in accents.items() if item.id in ids}
        return found

    expected = dict(ACCENT_CASES)
    assert answers() == expected
    # Rows without a stored search text (inserted around the ORM) follow the same rule.
    db.session.execute(update(Initiative).values(search_text=None))
    db.session.commit()
    assert answers() == expected


def test_the_database_search_composes_decomposed_queries_and_reads_the_organisation_with_its_accents(accents):
    import unicodedata

    def answer(query, **options) -> set[str]:
        ids = {r.id for r in database_search(query, ["initiative"], {}, 1, 20, **options).results}
        return {key for key, item in accents.items() if item.id in ids}

    assert answer(unicodedata.normalize("NFD", "lúa")) == {"rice"}
    assert answer('org:"Đại học Cần Thơ"', hidden=()) == set(accents) - {"fraud"}
    assert answer('org:"dai hoc can tho"', hidden=()) == set(accents)
