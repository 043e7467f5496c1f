"""The dashboard's figures against the database: months with nothing, a province with nothing,
the funnel's medians, filters by call and period, CSV equal to JSON, and who may see what."""

import csv
import io
from datetime import datetime

import pytest

from initiatives import taxonomy
from initiatives.connections import operations as connections
from initiatives.dashboard import figures
from initiatives.models import AuditEvent, Call, Initiative, InitiativeState, InitiativeVersion
from initiatives.models.user import utcnow
from initiatives.proposals import operations as proposals

S = InitiativeState
PERIOD = "from=2026-01&to=2026-04"


def at(text):
    return datetime.fromisoformat(text)


def submitted_on(initiative, when, db):
    """Pretend ``initiative`` was submitted (and entered screening) at ``when``."""
    InitiativeVersion.query.filter_by(initiative_id=initiative.id).update({"submitted_at": at(when)})
    AuditEvent.query.filter(AuditEvent.object_type == "initiative", AuditEvent.object_id == initiative.id,
                            AuditEvent.action.in_(["initiative.submitted", "initiative.entered_screening"])
                            ).update({"created_at": at(when)}, synchronize_session=False)
    initiative.submitted_at = at(when)
    db.session.commit()


def move(initiative, state, when, admin, db):
    proposals.transition(initiative, state, actor=admin)
    db.session.flush()
    event = AuditEvent.query.filter_by(object_type="initiative", object_id=initiative.id,
                                       after_state=state.value).order_by(AuditEvent.id.desc()).first()
    event.created_at = at(when)
    db.session.commit()


@pytest.fixture
def portal(people, make_initiative, make_demand, db):
    """Two submitted initiatives in January and March 2026 (none in February), a draft, a demand
    posted in February and an adoption in April."""
    admin = people["admin"]
    waiting = make_initiative(people["proposer"], submitted=True, title="Waiting", province="can-tho",
                              field="agriculture")
    submitted_on(waiting, "2026-01-15T09:00:00", db)
    adopted = make_initiative(people["other"], submitted=True, title="Adopted", province="da-nang", field="ai")
    submitted_on(adopted, "2026-03-10T09:00:00", db)
    move(adopted, S.UNDER_REVIEW, "2026-03-12T09:00:00", admin, db)
    move(adopted, S.REVIEWED, "2026-03-20T09:00:00", admin, db)
    move(adopted, S.ACCEPTED, "2026-03-21T09:00:00", admin, db)
    make_initiative(people["proposer"], title="Still a draft", province="ha-noi")
    demand = make_demand(people["owner"], province="lao-cai")
    demand.created_at = at("2026-02-02T10:00:00")
    connection = connections.request_connection(demand, adopted, people["owner"], "Hello")
    db.session.flush()
    connections.move(connection, "accept", people["other"])
    connections.move(connection, "adopt", people["owner"], outcome="pilot")
    connection.created_at = at("2026-04-01T10:00:00")
    connection.adopted_at = at("2026-04-03T10:00:00")
    db.session.commit()
    return {"waiting": waiting, "adopted": adopted, "demand": demand, "connection": connection, **people}


def chart(client, name, query=PERIOD, prefix="/admin/dashboard"):
    response = client.get(f"{prefix}/{name}.json?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    return [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]], data


def test_submissions_per_month_include_empty_months(portal, login):
    rows, data = chart(login(portal["admin"]), "submissions")
    assert [r["month"] for r in rows] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert [r["total"] for r in rows] == [1, 0, 1, 0]
    assert rows[0]["screening"] == 1 and rows[2]["accepted"] == 1
    assert "draft" not in data["columns"]
    assert {s["key"] for s in data["series"]} == set(data["columns"][1:-1])


def test_an_empty_period_is_all_zeros(portal, login):
    rows, _data = chart(login(portal["admin"]), "submissions", "from=2025-01&to=2025-03")
    assert [(r["month"], r["total"]) for r in rows] == [("2025-01", 0), ("2025-02", 0), ("2025-03", 0)]
    provinces, _data = chart(login(portal["admin"]), "provinces", "from=2025-01&to=2025-03")
    assert len(provinces) == 34 and all(r["activity"] == 0 and r["level"] == 0 for r in provinces)
    funnel, _data = chart(login(portal["admin"]), "funnel", "from=2025-01&to=2025-03")
    assert all(r["reached"] == 0 and r["median_days"] is None for r in funnel)


def test_fields_match_the_database(portal, login):
    rows, _data = chart(login(portal["admin"]), "fields")
    by_slug = {r["field"]: r for r in rows}
    assert list(by_slug)[:len(taxonomy.fields())] == list(taxonomy.fields())
    assert (by_slug["agriculture"]["initiatives"], by_slug["agriculture"]["accepted"]) == (1, 0)
    assert (by_slug["ai"]["initiatives"], by_slug["ai"]["accepted"]) == (1, 1)
    assert sum(r["initiatives"] for r in rows) == Initiative.query.filter(Initiative.state != "draft").count()


def test_every_province_has_its_row_and_place_on_the_grid(portal, login):
    rows, _data = chart(login(portal["admin"]), "provinces")
    by_slug = {r["province"]: r for r in rows}
    assert list(by_slug) == list(taxonomy.provinces())
    assert (by_slug["can-tho"]["initiatives"], by_slug["da-nang"]["initiatives"]) == (1, 1)
    assert by_slug["lao-cai"]["demands"] == 1 and by_slug["lao-cai"]["adoptions"] == 1
    assert by_slug["lao-cai"]["activity"] == 2 and by_slug["lao-cai"]["level"] == 4
    assert by_slug["can-tho"]["level"] == 2
    assert by_slug["ca-mau"] == {**by_slug["ca-mau"], "initiatives": 0, "demands": 0, "adoptions": 0,
                                 "activity": 0, "level": 0}
    assert by_slug["ha-noi"]["initiatives"] == 0  # a draft is not a submission
    assert len({r["short"] for r in rows}) == 34  # each unit's label on the grid is its own
    assert (by_slug["lai-chau"]["short"], by_slug["lao-cai"]["short"]) == ("LCh", "LC")
    places = {(r["row"], r["col"]) for r in rows}
    assert len(places) == 34  # no two units on the same tile


def test_the_funnel_counts_steps_and_median_days(portal, login):
    rows, data = chart(login(portal["admin"]), "funnel")
    funnel = {r["step"]: r for r in rows}
    assert [r["step"] for r in rows] == ["submitted", "screened", "under_review", "reviewed", "decided"]
    assert [funnel[k]["reached"] for k in funnel] == [2, 1, 1, 1, 1]
    # "Adopted": submitted 10 March, screened and under review 12 March, reviewed 20, decided 21.
    assert funnel["submitted"]["median_days"] == 2.0
    assert funnel["screened"]["median_days"] == 0.0  # passing screening is being put under review
    assert funnel["under_review"]["median_days"] == 8.0
    assert funnel["reviewed"]["median_days"] == 1.0
    assert funnel["decided"]["median_days"] is None
    assert funnel["submitted"]["there_now"] == 1 and funnel["decided"]["there_now"] == 1


def test_matches_count_how_far_connections_came(portal, login, make_initiative, db):
    other = make_initiative(portal["proposer"], submitted=True, title="Suggested only")
    connections.suggest(portal["demand"], other, 0.5)
    db.session.commit()
    rows, _data = chart(login(portal["admin"]), "matches", "from=2026-01&to=" + utcnow().strftime("%Y-%m"))
    assert {r["stage"]: r["connections"] for r in rows} == {"suggested": 2, "requested": 1, "accepted": 1, "adopted": 1}
    rows, _data = chart(login(portal["admin"]), "matches", "from=2026-04&to=2026-04")
    assert {r["stage"]: r["connections"] for r in rows} == {"suggested": 1, "requested": 1, "accepted": 1, "adopted": 1}


def test_the_call_filter(portal, login, db):
    themed = Call(slug="themed", title="Themed call")
    db.session.add(themed)
    db.session.flush()
    portal["waiting"].call_id = themed.id
    db.session.commit()
    rows, _data = chart(login(portal["admin"]), "submissions", f"{PERIOD}&call={themed.id}")
    assert [r["total"] for r in rows] == [1, 0, 0, 0]
    rows, _data = chart(login(portal["admin"]), "provinces", f"{PERIOD}&call={themed.id}")
    assert {r["province"]: r["adoptions"] for r in rows}["lao-cai"] == 0


def test_reviewer_load_and_scores(portal, login, db, make_user):
    from initiatives.experts import operations as experts
    from initiatives.models import Role
    from review.models import Assignment, Criterion, Review, ReviewScore, Rubric

    user = make_user(Role.EXPERT, name="Reviewer One")
    profile = experts.profile_for(user)
    db.session.commit()
    for state in ("invited", "accepted", "submitted", "overdue", "proposed"):
        db.session.add(Assignment(initiative_id=portal["adopted"].id, expert_id=profile.id, state=state,
                                  created_at=at("2026-03-05T00:00:00")))
    db.session.commit()
    rows, _data = chart(login(portal["admin"]), "reviewers")
    assert rows == [{"expert_id": profile.id, "name": "Reviewer One", "assigned": 4, "accepted": 1, "submitted": 1,
                     "overdue": 1, "declined": 0, "max_load": profile.max_load}]
    rows, data = chart(login(portal["admin"]), "scores")
    assert rows == [] and data["note"]

    # Reviews score a rubric of two criteria: three submitted in the period, one still a draft,
    # and one submitted after the period; only the three count.
    rubric = Rubric(title="Scores")
    rubric.criteria = [Criterion(key="novelty", name_en="Novelty", name_vi="Tính mới", position=0),
                       Criterion(key="impact", name_en="Impact", name_vi="Tác động", position=1)]
    db.session.add(rubric)
    # (Two reviews give the same scores on the same day: both count.)
    given = [("2026-03-10T00:00:00", 4, 2), ("2026-03-10T00:00:00", 4, 2), ("2026-03-11T00:00:00", 5, 3),
             (None, 1, 1), ("2026-06-01T00:00:00", 1, 1)]
    for submitted, novelty, impact in given:
        assignment = Assignment(initiative_id=portal["adopted"].id, expert_id=profile.id, state="submitted",
                                created_at=at("2026-03-05T00:00:00"))
        review = Review(assignment=assignment, rubric=rubric, submitted_at=submitted and at(submitted))
        review.score_rows = [ReviewScore(criterion=rubric.criteria[0], value=novelty),
                             ReviewScore(criterion=rubric.criteria[1], value=impact)]
        db.session.add(review)
    db.session.commit()
    rows, _data = chart(login(portal["admin"]), "scores")
    assert rows == [
        {"criterion": "impact", "name": "Impact", "1": 0, "2": 2, "3": 1, "4": 0, "5": 0, "reviews": 3, "mean": 2.33},
        {"criterion": "novelty", "name": "Novelty", "1": 0, "2": 0, "3": 0, "4": 2, "5": 1, "reviews": 3, "mean": 4.33}]
    client = login(portal["admin"])
    client.get("/lang/vi")
    rows, _data = chart(client, "scores")
    assert [row["name"] for row in rows] == ["Tác động", "Tính mới"]


def test_csv_is_the_json(portal, login):
    client = login(portal["admin"])
    for name in figures.CHARTS:
        _rows, data = chart(client, name)
        response = client.get(f"/admin/dashboard/{name}.csv?{PERIOD}")
        assert response.mimetype == "text/csv"
        table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert table[0] == data["columns"]
        assert table[1:] == [["" if cell is None else str(cell) for cell in row] for row in data["rows"]]


def test_who_sees_what(portal, login, client):
    assert login(portal["proposer"]).get("/admin/dashboard").status_code == 403
    assert login(portal["proposer"]).get("/admin/dashboard/reviewers.json").status_code == 403
    page = login(portal["admin"]).get("/admin/dashboard?" + PERIOD)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "dashboard.js" in text and "<script>" not in text and "style=" not in text
    for name in figures.CHARTS:
        assert f'data-chart="{name}"' in text
    public = client.get("/figures?" + PERIOD).get_data(as_text=True)
    assert 'data-chart="provinces"' in public and 'data-chart="reviewers"' not in public
    assert client.get("/figures/reviewers.json").status_code == 404
    assert client.get("/figures/scores.csv").status_code == 404
    for name in figures.PUBLIC_CHARTS:
        text = client.get(f"/figures/{name}.json?{PERIOD}").get_data(as_text=True)
        for private in ("Nguyễn Văn An", "example.org", "Phạm Dung", "Công ty"):
            assert private not in text


@pytest.mark.parametrize("query", ["from=2026-13", "to=yesterday", "from=2026-05&to=2026-01",
                                   "from=1990-01&to=2026-01", "call=abc", "call=999999", "call=99999999999"])
def test_bad_filters_are_a_clear_400(client, db, query):
    response = client.get(f"/figures/submissions.json?{query}")
    assert response.status_code == 400
    assert client.get(f"/figures?{query}").status_code == 400


def test_the_demo_data_adds_up(app, login, db, runner):
    from initiatives import demo

    demo.load()
    admin = [u for u in Initiative.query.first().proposer.query.all() if u.is_admin][0]
    client = login(admin, password=demo.DEMO_PASSWORD)
    query = "from=2020-01&to=" + utcnow().strftime("%Y-%m")
    submitted = Initiative.query.filter(Initiative.state != "draft").count()
    rows, _data = chart(client, "submissions", query)
    assert sum(r["total"] for r in rows) == submitted > 0
    rows, _data = chart(client, "provinces", query)
    assert sum(r["initiatives"] for r in rows) == Initiative.query.filter(
        Initiative.state != "draft", Initiative.province.isnot(None)).count()
    rows, _data = chart(client, "funnel", query)
    assert rows[0]["reached"] == submitted
    decided = Initiative.query.filter(Initiative.state.in_(["accepted", "rejected", "revision_requested"])).count()
    assert rows[-1]["reached"] == decided
