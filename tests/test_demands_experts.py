"""Demands posted by businesses and authorities; expert profiles, publications and conflicts."""

import pytest

from initiatives.models import (
    AuditEvent,
    Demand,
    DemandState,
    ExpertProfile,
    OrganisationConflict,
    Publication,
    Role,
)


def test_owner_posts_edits_and_closes_a_demand(people, login, db):
    client = login(people["owner"])
    response = client.post("/demands/new", data={
        "title": "Truy xuất nguồn gốc cam sành", "description": "QR codes for every box.",
        "field": "agriculture", "province": "lao-cai", "budget_min_vnd": "100000000",
        "budget_max_vnd": "500000000", "deadline": "2027-03-31", "language": "vi"})
    assert response.status_code == 302
    demand = Demand.query.one()
    assert demand.status == DemandState.OPEN and demand.organisation == "Công ty Nông sản Lào Cai"
    assert str(demand.deadline) == "2027-03-31"
    edited = client.post(f"/demands/{demand.id}/edit", data={
        "title": "Truy xuất nguồn gốc cam sành Bắc Hà", "description": "QR codes for every box.",
        "language": "vi"})
    assert edited.status_code == 302
    assert client.post(f"/demands/{demand.id}/close").status_code == 302
    db.session.expire_all()
    demand = db.session.get(Demand, demand.id)
    assert demand.title.endswith("Bắc Hà") and demand.status == DemandState.CLOSED
    assert {e.action for e in AuditEvent.query.filter_by(object_type="demand")} >= {
        "demand.created", "demand.closed"}


def test_budget_range_must_be_ordered(people, login, db):
    client = login(people["owner"])
    response = client.post("/demands/new", data={
        "title": "Ngược", "description": "x", "budget_min_vnd": "9", "budget_max_vnd": "1", "language": "vi"})
    assert response.status_code == 400
    assert "Ngược" in response.get_data(as_text=True)
    assert Demand.query.count() == 0


def test_closed_demands_are_hidden_from_others(people, make_demand, login, db):
    demand = make_demand(people["owner"])
    proposer = login(people["proposer"])
    assert demand.title in proposer.get("/demands/open").get_data(as_text=True)
    login(people["owner"]).post(f"/demands/{demand.id}/close")
    assert proposer.get(f"/demands/{demand.id}").status_code == 403
    assert demand.title not in proposer.get("/demands/open").get_data(as_text=True)
    assert login(people["admin"]).get(f"/demands/{demand.id}").status_code == 200


# Every (from, to) pair of the demand machine: a closed demand reopens, a fulfilled one is final.
D = DemandState
DEMAND_MOVES = {(D.OPEN, D.CLOSED), (D.OPEN, D.FULFILLED), (D.CLOSED, D.OPEN), (D.CLOSED, D.FULFILLED)}
DEMAND_PAIRS = [(a, b) for a in D for b in D if a != b]


@pytest.mark.parametrize("before, after", DEMAND_PAIRS, ids=[f"{a}->{b}" for a, b in DEMAND_PAIRS])
def test_the_demand_machine_allows_exactly_its_moves(people, make_demand, before, after, db):
    from initiatives.demands import operations

    demand = make_demand(people["owner"])
    demand.state = before.value
    db.session.commit()
    events = AuditEvent.query.filter_by(object_type="demand", object_id=demand.id).count()
    if (before, after) in DEMAND_MOVES:
        operations.move_demand(demand, after, people["owner"])
        db.session.commit()
        assert demand.status == after
        assert AuditEvent.query.filter_by(object_type="demand", object_id=demand.id).count() == events + 1
    else:
        with pytest.raises(operations.DemandError, match="cannot go from"):
            operations.move_demand(demand, after, people["owner"])
        db.session.rollback()
        db.session.refresh(demand)
        assert demand.status == before
        assert AuditEvent.query.filter_by(object_type="demand", object_id=demand.id).count() == events


def test_close_then_reopen_on_the_page_and_a_fulfilled_demand_stays_so(people, make_demand, login, db):
    demand = make_demand(people["owner"])
    client = login(people["owner"])
    for action, state in (("close", D.CLOSED), ("reopen", D.OPEN), ("fulfil", D.FULFILLED)):
        assert client.post(f"/demands/{demand.id}/{action}").status_code == 302
        db.session.expire_all()
        assert db.session.get(Demand, demand.id).status == state
    # Refused, with the reason in the reader's language; nothing changes.
    people["owner"].locale = "vi"
    db.session.commit()
    page = client.post(f"/demands/{demand.id}/reopen", follow_redirects=True).get_data(as_text=True)
    assert "Nhu cầu không thể chuyển từ “Đã đáp ứng” sang “Đang mở”." in page
    db.session.expire_all()
    assert db.session.get(Demand, demand.id).status == D.FULFILLED


def test_expert_keeps_profile_publications_and_conflicts(people, login, db):
    client = login(people["expert"])
    assert client.get("/expert/profile").status_code == 200
    response = client.post("/expert/profile", data={
        "name": "PGS. TS. Lê Minh Chí", "organisation": "Viện Công nghệ", "fields": ["agriculture", "ai"],
        "keywords": "remote sensing, crop models", "bio": "Twenty years of crop modelling.",
        "languages": ["vi", "en"], "max_load": "4", "available": "y"})
    assert response.status_code == 302
    profile = ExpertProfile.query.filter_by(user_id=people["expert"].id).one()
    assert profile.fields == ["agriculture", "ai"] and profile.keywords == ["remote sensing", "crop models"]
    assert profile.max_load == 4

    client.post("/expert/publications", data={"pub-title": "Drought stress in Mekong rice",
                                              "pub-year": "2023", "pub-venue": "Field Crops Research",
                                              "pub-abstract": "Remote sensing of drought."})
    publication = Publication.query.one()
    assert publication.expert_id == profile.id and publication.year == 2023
    stamp = profile.updated_at
    client.post(f"/expert/publications/{publication.id}/edit", data={"title": "Drought stress in rice",
                                                                    "year": "2024"})
    db.session.expire_all()
    assert db.session.get(Publication, publication.id).title == "Drought stress in rice"
    # A publication is part of the profile: its change moves the profile's time (the search
    # index's catch-up after a rebuild looks for changes by that time).
    assert db.session.get(ExpertProfile, profile.id).updated_at > stamp

    client.post("/expert/conflicts", data={"coi-organisation": "Đại học Cần Thơ", "coi-reason": "former employer"})
    conflict = OrganisationConflict.query.one()
    assert conflict.organisation == "Đại học Cần Thơ"
    client.post(f"/expert/conflicts/{conflict.id}/delete")
    client.post(f"/expert/publications/{publication.id}/delete")
    assert OrganisationConflict.query.count() == 0 and Publication.query.count() == 0


def test_a_maximum_load_of_zero_is_kept_and_a_blank_one_refused(people, login, db):
    """0 means "no new reviews for now", a real choice; only a blank or negative load is refused."""
    client = login(people["expert"])
    data = {"name": "Lê Minh Chí", "fields": ["agriculture"], "languages": ["vi"], "available": "y"}
    assert client.post("/expert/profile", data={**data, "max_load": "0"}).status_code == 302
    profile = ExpertProfile.query.filter_by(user_id=people["expert"].id).one()
    assert profile.max_load == 0
    for bad in ("", "-1"):
        assert client.post("/expert/profile", data={**data, "max_load": bad}).status_code == 400
        db.session.expire_all()
        assert ExpertProfile.query.filter_by(user_id=people["expert"].id).one().max_load == 0


def test_an_expert_is_unavailable_until_a_date_then_available_again(people, login, db):
    """Unchecking "available" with a date takes the expert out of matching until that date; checking
    it again clears the date."""
    from datetime import date

    client = login(people["expert"])
    data = {"name": "Lê Minh Chí", "fields": ["agriculture"], "languages": ["vi"], "max_load": "3"}
    response = client.post("/expert/profile", data={**data, "unavailable_until": "2027-03-31"})
    assert response.status_code == 302
    profile = ExpertProfile.query.filter_by(user_id=people["expert"].id).one()
    assert profile.available is False and profile.unavailable_until == date(2027, 3, 31)
    assert not profile.is_available(date(2027, 3, 31))
    assert profile.is_available(date(2027, 4, 1))
    assert 'value="2027-03-31"' in client.get("/expert/profile").get_data(as_text=True)

    client.post("/expert/profile", data={**data, "available": "y", "unavailable_until": "2027-03-31"})
    db.session.expire_all()
    profile = ExpertProfile.query.filter_by(user_id=people["expert"].id).one()
    assert profile.available and profile.unavailable_until is None
    assert profile.is_available(date(2027, 1, 1))


def test_unknown_field_is_refused_on_the_profile(people, login, db):
    client = login(people["expert"])
    response = client.post("/expert/profile", data={"name": "X", "fields": ["astrology"], "max_load": "3"})
    assert response.status_code == 400
    profile = ExpertProfile.query.filter_by(user_id=people["expert"].id).one()
    assert profile.fields == []


def test_experts_cannot_edit_each_others_publications(people, make_user, login, db):
    from initiatives.experts import operations

    other = make_user(Role.EXPERT)
    profile = operations.profile_for(other)
    publication = operations.add_publication(profile, other, "Mine")
    db.session.commit()
    client = login(people["expert"])
    assert client.post(f"/expert/publications/{publication.id}/edit", data={"title": "Stolen"}).status_code == 403
    assert client.post(f"/expert/publications/{publication.id}/delete").status_code == 403


def test_admin_sees_the_expert_directory(people, login, db):
    from initiatives.experts import operations

    profile = operations.profile_for(people["expert"])
    db.session.commit()
    client = login(people["admin"])
    page = client.get("/expert/all?q=Viện").get_data(as_text=True)
    assert "Lê Minh Chí" in page
    assert client.get(f"/expert/{profile.id}").status_code == 200
