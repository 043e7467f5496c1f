"""Importing experts, initiatives and demands from files: an admin loads a catalogue, loads it
again with corrections, and a bad file leaves the portal untouched."""

import json
import sys
from pathlib import Path

import pytest

# The editable install predates the search package, whose text folding the importer uses: make the
# project root importable however pytest is started, as tests/searchengine/conftest.py does.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from initiatives import importing  # noqa: E402
from initiatives.importing import ImportRefused, initiative_steps  # noqa: E402
from initiatives.models import (  # noqa: E402
    AuditEvent,
    Demand,
    DemandState,
    ExpertProfile,
    Initiative,
    InitiativeState,
    Publication,
    Role,
)

S = InitiativeState

RICE = {
    "external_ref": "LEGACY-001",
    "title": "Giống lúa chịu mặn cho Đồng bằng sông Cửu Long",
    "summary": "Salt-tolerant rice lines bred with molecular markers.",
    "description": "Marker-assisted selection for the coastal Mekong delta.",
    "keywords": ["rice", "salinity"],
    "field": "agriculture",
    "province": "Cần Thơ",
}
DRONE = {
    "external_ref": "LEGACY-002",
    "title": "Drone phun thuốc cho vườn cam",
    "summary": "Spraying drones for mandarin orchards.",
    "description": "Precise spraying on steep slopes.",
    "keywords": ["drone", "orchard"],
    "field": "uav-aerospace",
    "province": "lao cai",
    "status": "accepted",
}


def write_json(tmp_path, name, items) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")
    return str(path)


def write_text(tmp_path, name, text) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_import(runner, kind, path, *options):
    return runner.invoke(args=["import", kind, path, *options])


@pytest.fixture
def admin(people):
    return people["admin"]


# --- Initiatives ---------------------------------------------------------------------------


def test_initiatives_round_trip_creates_then_updates_by_external_ref(runner, db, admin, tmp_path):
    path = write_json(tmp_path, "initiatives.json", [RICE, DRONE])
    result = run_import(runner, "initiatives", path)
    assert result.exit_code == 0, result.output
    assert "created 2, updated 0" in result.output

    rice = Initiative.query.filter_by(external_ref="LEGACY-001").one()
    assert rice.proposer_id == admin.id
    assert rice.province == "can-tho"
    assert rice.status == S.SCREENING  # "submitted" (the default) lands in screening
    assert len(rice.versions) == 1
    drone = Initiative.query.filter_by(external_ref="LEGACY-002").one()
    assert drone.status == S.ACCEPTED and drone.province == "lao-cai"
    walked = [e.after_state for e in AuditEvent.query.filter_by(object_type="initiative",
                                                                object_id=drone.id)
              .order_by(AuditEvent.id)]
    assert walked == ["draft", "submitted", "screening", "under_review", "reviewed", "accepted"]

    corrected = {**RICE, "title": "Giống lúa chịu mặn (bản sửa)", "keywords": ["rice"]}
    path = write_json(tmp_path, "initiatives.json", [corrected, {**DRONE, "status": "accepted"}])
    result = run_import(runner, "initiatives", path)
    assert result.exit_code == 0, result.output
    assert "created 0, updated 2" in result.output
    assert Initiative.query.count() == 2
    db.session.expire_all()
    assert rice.title == "Giống lúa chịu mặn (bản sửa)" and rice.keywords == ["rice"]
    assert rice.status == S.SCREENING


def test_initiatives_from_csv_with_province_names_in_any_spelling(runner, admin, tmp_path):
    csv_text = (
        "external_ref,title,summary,description,keywords,field,province,status\n"
        "CSV-1,Sàn cam sành,Online shop,\"An e-commerce platform,\nwith livestreams\","
        "e-commerce;mandarin,agriculture,Lào Cai,submitted\n"
        "CSV-2,Chip packaging,Packaging,Advanced packaging lines,chips,semiconductors,"
        "thanh pho ho chi minh,draft\n"
        "CSV-3,Smart port,Port,Logistics AI,\"ports, AI\",transport-logistics,Ha Noi,draft\n"
    )
    result = run_import(runner, "initiatives", write_text(tmp_path, "batch.csv", csv_text))
    assert result.exit_code == 0, result.output
    assert "created 3, updated 0" in result.output
    by_ref = {i.external_ref: i for i in Initiative.query}
    assert by_ref["CSV-1"].province == "lao-cai"
    assert by_ref["CSV-1"].keywords == ["e-commerce", "mandarin"]
    assert by_ref["CSV-1"].description == "An e-commerce platform,\nwith livestreams"
    assert by_ref["CSV-2"].province == "ho-chi-minh" and by_ref["CSV-2"].status == S.DRAFT
    assert by_ref["CSV-3"].province == "ha-noi" and by_ref["CSV-3"].keywords == ["ports", "AI"]


@pytest.mark.parametrize("name, slug", [
    ("lao-cai", "lao-cai"),
    ("Lào Cai", "lao-cai"),
    ("LAO CAI", "lao-cai"),
    ("Tỉnh Lào Cai", "lao-cai"),
    ("Thành phố Hồ Chí Minh", "ho-chi-minh"),
    ("Ho Chi Minh City", "ho-chi-minh"),
    ("TP. Hồ Chí Minh", "ho-chi-minh"),
    ("Đà Nẵng", "da-nang"),
    ("da nang", "da-nang"),
    ("Hanoi", "ha-noi"),
    ("Thanh Hoá", "thanh-hoa"),
    ("Sóc Trăng", "can-tho"),  # merged into Cần Thơ in 2025
    ("Atlantis", None),
])
def test_province_names_fold_to_slugs(app, name, slug):
    assert importing.province_slug(name) == slug


def test_proposer_email_gives_the_initiative_to_that_account(runner, people, tmp_path):
    items = [{**RICE, "proposer": "PROPOSER@example.org"},
             {**DRONE, "proposer": "nobody@example.org"}]
    result = run_import(runner, "initiatives", write_json(tmp_path, "i.json", items))
    assert result.exit_code == 0, result.output
    assert "no account for proposer nobody@example.org" in result.output
    assert Initiative.query.filter_by(external_ref="LEGACY-001").one().proposer_id == people["proposer"].id
    assert Initiative.query.filter_by(external_ref="LEGACY-002").one().proposer_id == people["admin"].id


def test_as_option_picks_the_importing_admin(runner, people, make_user, tmp_path):
    second = make_user(Role.ADMIN, email="second-admin@example.org")
    path = write_json(tmp_path, "i.json", [RICE])
    result = run_import(runner, "initiatives", path, "--as", "second-admin@example.org")
    assert result.exit_code == 0, result.output
    assert Initiative.query.one().proposer_id == second.id

    refused = run_import(runner, "initiatives", path, "--as", "proposer@example.org")
    assert refused.exit_code != 0
    assert "not an active admin" in refused.output


def test_import_needs_an_admin(runner, make_user, tmp_path):
    make_user(Role.PROPOSER)
    result = run_import(runner, "initiatives", write_json(tmp_path, "i.json", [RICE]))
    assert result.exit_code != 0
    assert "no admin account" in result.output
    assert Initiative.query.count() == 0


def test_title_only_items_import_as_drafts_but_cannot_be_submitted(runner, admin, tmp_path):
    ok = run_import(runner, "initiatives", write_json(
        tmp_path, "draft.json", [{"title": "Just an idea", "status": "draft"}]))
    assert ok.exit_code == 0, ok.output
    assert Initiative.query.one().status == S.DRAFT

    # Without a status, an item missing what a submission needs comes in as a draft ...
    bare = run_import(runner, "initiatives", write_json(tmp_path, "bare.json", [{"title": "Another idea"}]))
    assert bare.exit_code == 0, bare.output
    assert Initiative.query.filter_by(title="Another idea").one().status == S.DRAFT

    # ... and asking for "submitted" without those fields is refused, with the fix.
    refused = run_import(runner, "initiatives", write_json(
        tmp_path, "bare.json", [{"title": "Just an idea", "status": "submitted"}]))
    assert refused.exit_code != 0
    assert 'item 1 (line 2): status "submitted" needs summary, description' in refused.output
    assert '"status" to "draft"' in refused.output


def test_an_update_cannot_move_an_initiative_backwards(runner, admin, tmp_path):
    run_import(runner, "initiatives", write_json(tmp_path, "i.json", [DRONE]))
    result = run_import(runner, "initiatives", write_json(
        tmp_path, "i.json", [{**DRONE, "status": "draft"}]))
    assert result.exit_code != 0
    assert 'item 1 (line 2): "status" cannot go from "accepted" to "draft"' in result.output


@pytest.mark.parametrize("current, target, steps", [
    (S.DRAFT, S.DRAFT, []),
    (S.DRAFT, S.SUBMITTED, ["submit"]),
    (S.DRAFT, S.REJECTED, ["submit", S.UNDER_REVIEW, S.REVIEWED, S.REJECTED]),
    (S.DRAFT, S.WITHDRAWN, ["submit", S.WITHDRAWN]),
    (S.SCREENING, S.SUBMITTED, []),
    (S.UNDER_REVIEW, S.ACCEPTED, [S.REVIEWED, S.ACCEPTED]),
    (S.REVISION_REQUESTED, S.UNDER_REVIEW, ["submit", S.UNDER_REVIEW]),
    (S.REVISION_REQUESTED, S.WITHDRAWN, [S.WITHDRAWN]),
    (S.ACCEPTED, S.REJECTED, None),
    (S.REVIEWED, S.UNDER_REVIEW, None),
    (S.WITHDRAWN, S.SUBMITTED, None),
])
def test_initiative_steps_follow_the_state_machine(current, target, steps):
    if steps is None:
        with pytest.raises(ValueError, match="cannot go from"):
            initiative_steps(current, target)
    else:
        assert initiative_steps(current, target) == steps


# --- Bad files -----------------------------------------------------------------------------


def test_malformed_json_reports_its_line(runner, admin, tmp_path):
    text = '[\n  {"title": "One"},\n  {"title": "Two"\n  {"title": "Three"}\n]\n'
    result = run_import(runner, "initiatives", write_text(tmp_path, "broken.json", text))
    assert result.exit_code != 0
    assert "line 4, column 3: not valid JSON" in result.output
    assert Initiative.query.count() == 0


def test_missing_title_names_the_item_and_its_line(runner, admin, tmp_path):
    path = write_json(tmp_path, "i.json", [RICE, {**DRONE, "title": ""}])
    result = run_import(runner, "initiatives", path)
    assert result.exit_code != 0
    line = 2 + len(json.dumps([RICE], indent=2).splitlines()) - 2  # where the second item starts
    assert f'item 2 (line {line}): "title" is required.' in result.output


def test_unknown_field_is_refused_with_the_fields_listed(runner, admin, tmp_path):
    path = write_json(tmp_path, "i.json", [{**RICE, "field": "alchemy"}])
    result = run_import(runner, "initiatives", path)
    assert result.exit_code != 0
    assert "item 1 (line 2): \"field\" 'alchemy' is not a field" in result.output
    assert "agriculture" in result.output


def test_csv_problems_give_the_line(runner, admin, tmp_path):
    csv_text = ("external_ref,title,field,province,status\n"
                "A,First,agriculture,lao-cai,draft\n"
                "B,,agriculture,lao-cai,draft\n"
                "C,Third,agriculture,Narnia,draft\n")
    result = run_import(runner, "initiatives", write_text(tmp_path, "bad.csv", csv_text))
    assert result.exit_code != 0
    assert 'line 3: "title" is required.' in result.output
    assert "line 4: \"province\" 'Narnia' is not one of the 34 provinces" in result.output
    assert Initiative.query.count() == 0


def test_csv_with_an_unknown_column_is_refused(runner, admin, tmp_path):
    path = write_text(tmp_path, "bad.csv", "title,provice\nOne,lao-cai\n")
    result = run_import(runner, "initiatives", path)
    assert result.exit_code != 0
    assert "line 1: unknown column(s) 'provice'" in result.output


def test_a_batch_with_one_bad_item_imports_nothing(runner, admin, tmp_path):
    events = AuditEvent.query.count()
    items = [RICE, DRONE, {**RICE, "external_ref": "LEGACY-003", "province": "Atlantis"}]
    result = run_import(runner, "initiatives", write_json(tmp_path, "i.json", items))
    assert result.exit_code != 0
    assert "nothing imported" in result.output and "item 3" in result.output
    assert Initiative.query.count() == 0
    assert AuditEvent.query.count() == events


def test_a_refusal_while_writing_rolls_back_the_items_already_written(
        runner, admin, tmp_path, monkeypatch):
    from initiatives.proposals import operations as proposals

    submit = proposals.submit
    calls = []

    def submit_then_fail(initiative, user):
        calls.append(initiative.external_ref)
        if len(calls) == 2:
            raise proposals.InitiativeError("The call is closed.")
        return submit(initiative, user)

    monkeypatch.setattr(proposals, "submit", submit_then_fail)
    result = run_import(runner, "initiatives", write_json(tmp_path, "i.json", [RICE, DRONE]))
    assert result.exit_code != 0
    assert "item 2 (line" in result.output and "The call is closed." in result.output
    assert calls == ["LEGACY-001", "LEGACY-002"]
    assert Initiative.query.count() == 0


def test_dry_run_checks_but_writes_nothing(runner, admin, tmp_path):
    result = run_import(runner, "initiatives", write_json(tmp_path, "i.json", [RICE]), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would have created 1, updated 0" in result.output
    assert Initiative.query.count() == 0


def test_item_lines_are_where_each_item_starts():
    text = '[{"a": 1},\n\n  {"b": [\n1]},\n {}\n]'
    assert importing.item_lines(text) == [1, 3, 5]
    assert importing.item_lines("[]") == []


def test_duplicate_external_refs_in_one_file_are_refused(app):
    entries = importing.parse_json(json.dumps([RICE, RICE], indent=2))
    with pytest.raises(ImportRefused, match="also used by item 1"):
        importing.check_entries("initiatives", entries)


# --- Experts -------------------------------------------------------------------------------


EXPERTS = [
    {"external_ref": "EXP-1", "name": "PGS. Trần Văn Hải", "organisation": "Viện Lúa ĐBSCL",
     "keywords": ["rice breeding", "salinity"], "bio": "Plant geneticist.",
     "publications": [
         {"title": "Saltol introgression in OM varieties", "abstract": "Marker-assisted.", "year": 2021},
         {"title": "Drought tolerance QTLs", "abstract": "qDTY loci.", "year": 2019},
     ]},
    {"external_ref": "EXP-2", "name": "Lê Minh Chí", "email": "Expert@Example.org",
     "organisation": "Viện Công nghệ", "keywords": ["drones"], "bio": "UAV engineer.",
     "publications": [{"title": "Spraying drones on slopes", "year": 2023}]},
]


def test_experts_round_trip_with_and_without_accounts(runner, db, people, tmp_path):
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", EXPERTS))
    assert result.exit_code == 0, result.output
    assert "created 2, updated 0" in result.output

    hai = ExpertProfile.query.filter_by(external_ref="EXP-1").one()
    assert hai.user_id is None and hai.organisation == "Viện Lúa ĐBSCL"
    assert sorted(p.title for p in hai.publications) == ["Drought tolerance QTLs",
                                                         "Saltol introgression in OM varieties"]
    chi = ExpertProfile.query.filter_by(external_ref="EXP-2").one()
    assert chi.user_id == people["expert"].id and chi.email == "expert@example.org"

    kept = next(p for p in hai.publications if p.title.startswith("Saltol"))
    updated = [{**EXPERTS[0], "bio": "Rice geneticist.", "publications": [
        {"title": "Saltol introgression in OM varieties", "abstract": "Revised.", "year": 2022},
        {"title": "Mekong salinity maps", "year": 2024},
    ]}, EXPERTS[1]]
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", updated))
    assert result.exit_code == 0, result.output
    assert "created 0, updated 2" in result.output
    assert ExpertProfile.query.count() == 2
    db.session.expire_all()
    assert hai.bio == "Rice geneticist."
    assert sorted((p.title, p.year) for p in hai.publications) == [
        ("Mekong salinity maps", 2024), ("Saltol introgression in OM varieties", 2022)]
    assert kept.abstract == "Revised."  # the same row, updated in place
    assert Publication.query.count() == 3


def test_an_expert_email_of_an_account_links_it_and_grants_the_expert_role(runner, people, tmp_path):
    item = {**EXPERTS[0], "email": "other@example.org"}
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", [item]))
    assert result.exit_code == 0, result.output
    profile = ExpertProfile.query.filter_by(external_ref="EXP-1").one()
    assert profile.user_id == people["other"].id
    assert people["other"].has_role(Role.EXPERT)


def test_experts_are_imported_from_json_only(runner, admin, tmp_path):
    result = run_import(runner, "experts", write_text(tmp_path, "experts.csv", "name\nX\n"))
    assert result.exit_code != 0
    assert "JSON only" in result.output


def test_an_expert_needs_a_reference_and_a_name(runner, admin, tmp_path):
    items = [{"name": "No Reference"}, {"external_ref": "EXP-9"},
             {"external_ref": "EXP-8", "name": "X", "publications": [{"year": 2020}]}]
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", items))
    assert result.exit_code != 0
    assert 'item 1 (line 2): "external_ref" is required.' in result.output
    assert 'item 2 (line 5): "name" is required.' in result.output
    assert 'item 3 (line 8): "publications" item 1 needs a title.' in result.output
    assert ExpertProfile.query.count() == 0


# --- Demands -------------------------------------------------------------------------------


MANDARIN = {
    "external_ref": "DEM-1", "title": "Thương mại điện tử cho cam sành",
    "description": "Help farmers in Lào Cai sell mandarins online.",
    "organisation": "Sở KH&CN Lào Cai", "field": "agriculture", "province": "Lao Cai",
    "budget_min_vnd": 200_000_000, "budget_max_vnd": "500.000.000", "deadline": "2027-03-31",
    "owner": "owner@example.org",
}


def test_demands_round_trip_json(runner, db, people, tmp_path):
    result = run_import(runner, "demands", write_json(tmp_path, "demands.json", [MANDARIN]))
    assert result.exit_code == 0, result.output
    demand = Demand.query.one()
    assert demand.owner_id == people["owner"].id and demand.province == "lao-cai"
    assert demand.budget_max_vnd == 500_000_000 and str(demand.deadline) == "2027-03-31"
    assert demand.status == DemandState.OPEN

    result = run_import(runner, "demands", write_json(
        tmp_path, "demands.json", [{**MANDARIN, "status": "closed", "budget_max_vnd": 600_000_000}]))
    assert result.exit_code == 0, result.output
    assert "created 0, updated 1" in result.output
    db.session.expire_all()
    assert Demand.query.count() == 1
    assert demand.status == DemandState.CLOSED and demand.budget_max_vnd == 600_000_000


def test_demands_from_csv_belong_to_the_admin_without_an_owner(runner, admin, tmp_path):
    csv_text = ("external_ref;title;province;budget_min_vnd;budget_max_vnd;deadline;status\n"
                "DEM-7;Kho lạnh cho thanh long;Bình Thuận;1 000 000;2 000 000;31/12/2027;open\n")
    result = run_import(runner, "demands", write_text(tmp_path, "demands.csv", csv_text))
    assert result.exit_code == 0, result.output
    demand = Demand.query.one()
    assert demand.owner_id == admin.id and demand.province == "lam-dong"
    assert (demand.budget_min_vnd, demand.budget_max_vnd) == (1_000_000, 2_000_000)


def test_demand_values_are_checked(runner, admin, tmp_path):
    items = [{**MANDARIN, "budget_min_vnd": 900_000_000},
             {**MANDARIN, "external_ref": "DEM-2", "deadline": "next spring", "status": "sold"}]
    result = run_import(runner, "demands", write_json(tmp_path, "demands.json", items))
    assert result.exit_code != 0
    assert '"budget_min_vnd" is above "budget_max_vnd"' in result.output
    assert '"deadline" must be a date' in result.output
    assert '"status" must be one of open, closed, fulfilled' in result.output
    assert Demand.query.count() == 0


def test_every_problem_of_a_file_is_reported_at_once_in_file_order(runner, admin, tmp_path):
    items = [{"title": "Bare idea", "status": "submitted"}, {**RICE, "field": "alchemy"}, DRONE]
    result = run_import(runner, "initiatives", write_json(tmp_path, "i.json", items))
    assert result.exit_code != 0
    first = result.output.index("item 1 (line 2): status \"submitted\" needs")
    second = result.output.index("item 2 (line 6): \"field\" 'alchemy'")
    assert first < second
    assert "item 3" not in result.output


def test_expert_availability_and_load_are_imported(runner, admin, tmp_path):
    item = {**EXPERTS[0], "max_load": "3", "available": "no", "unavailable_until": "2031-01-31",
            "languages": "vi; en", "fields": ["Agriculture"]}
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", [item]))
    assert result.exit_code == 0, result.output
    profile = ExpertProfile.query.one()
    assert (profile.max_load, profile.available, str(profile.unavailable_until)) == (3, False, "2031-01-31")
    assert profile.languages == ["vi", "en"] and profile.fields == ["agriculture"]


def test_an_account_profile_is_adopted_once_and_not_claimed_twice(runner, db, people, tmp_path):
    from initiatives.experts import operations as experts

    own = experts.profile_for(people["expert"])
    db.session.commit()
    item = {**EXPERTS[1], "external_ref": "EXP-OWN"}
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", [item]))
    assert result.exit_code == 0, result.output
    assert "created 0, updated 1" in result.output
    assert ExpertProfile.query.one().id == own.id and own.external_ref == "EXP-OWN"

    other = {**EXPERTS[1], "external_ref": "EXP-OTHER"}
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", [other]))
    assert result.exit_code != 0
    assert "the account expert@example.org already has another expert profile (EXP-OWN)" in result.output


def test_a_fulfilled_demand_cannot_be_reopened_by_an_import(runner, admin, tmp_path):
    path = write_json(tmp_path, "demands.json", [{**MANDARIN, "status": "fulfilled"}])
    assert run_import(runner, "demands", path).exit_code == 0
    result = run_import(runner, "demands", write_json(
        tmp_path, "demands.json", [{**MANDARIN, "status": "open"}]))
    assert result.exit_code != 0
    assert '"status" cannot go from "fulfilled" to "open"' in result.output
    assert Demand.query.one().status == DemandState.FULFILLED


def test_the_import_command_ends_once_its_texts_are_encoded(runner, admin, tmp_path, monkeypatch):
    """The encoder works after the commit, in the background; the command waits for it, else the
    process would end first and the imported experts would stay "not yet matched"."""
    import time

    from search import vectors
    from search.models import Embedding

    encode = vectors.encode

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return encode(*args, **kwargs)

    monkeypatch.setattr(vectors, "encode", slow)
    result = run_import(runner, "experts", write_json(tmp_path, "experts.json", EXPERTS))
    assert result.exit_code == 0, result.output
    publications = sum(len(e["publications"]) for e in EXPERTS)
    assert Embedding.query.filter_by(kind="expert").count() == len(EXPERTS)
    assert Embedding.query.filter_by(kind="publication").count() == publications
