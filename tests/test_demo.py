"""The demo data loads completely, passes the same checks as user input, and loads only once."""

from initiatives import demo
from initiatives.dashboard import figures
from initiatives.models import (
    Call,
    Demand,
    ExpertProfile,
    Initiative,
    InitiativeState,
    Publication,
    User,
)


def test_demo_loads_once_with_every_kind_of_object(runner, db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    counts = (User.query.count(), Initiative.query.count(), ExpertProfile.query.count(),
              Demand.query.count(), Publication.query.count())
    assert Initiative.query.count() >= 66
    assert ExpertProfile.query.count() >= 40
    assert Demand.query.count() >= 22
    assert Initiative.query.filter_by(state=InitiativeState.DRAFT.value).count() >= 1
    assert Initiative.query.filter(Initiative.state != InitiativeState.DRAFT.value).count() >= 40
    for email in ("admin@demo.vn", "proposer@demo.vn", "expert@demo.vn", "owner@demo.vn"):
        assert User.query.filter_by(email=email).one().check_password(demo.DEMO_PASSWORD)
    assert User.query.filter_by(email="admin@demo.vn").one().is_admin
    assert any("Lào Cai" in d.title or d.province == "lao-cai" for d in Demand.query)
    assert len({i.province for i in Initiative.query}) >= 20
    assert len({i.field for i in Initiative.query}) >= 15
    assert {i.language for i in Initiative.query} == {"vi", "en"}
    assert all(2 <= len(e.publications) <= 6 for e in ExpertProfile.query)
    assert Call.query.filter_by(is_standing=False).count() >= 1
    assert Initiative.query.join(Call).filter(Call.is_standing.is_(False)).count() >= 1

    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert (User.query.count(), Initiative.query.count(), ExpertProfile.query.count(),
            Demand.query.count(), Publication.query.count()) == counts


def test_demo_accounts_can_sign_in_and_work(runner, client, db):
    runner.invoke(args=["demo"])
    response = client.post("/login", data={"email": "proposer@demo.vn", "password": demo.DEMO_PASSWORD})
    assert response.status_code == 302
    page = client.get("/initiatives/mine")
    assert page.status_code == 200
    mine = Initiative.query.join(User, Initiative.proposer_id == User.id).filter(User.email == "proposer@demo.vn")
    assert mine.count() >= 1
    assert mine.first().title in page.get_data(as_text=True)


def test_the_demo_has_a_past_the_dashboard_can_show(runner, db, app):
    """The demo initiatives are spread over the last months, each taking days per step, so the
    dashboard's default period holds them all, in many months, with real median days."""
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.test_request_context():
        period = figures.parse_filters({})
        submissions = figures.submissions(period)
        funnel = {row[0]: row for row in figures.funnel(period).rows}
    submitted = [i for i in Initiative.query if i.submitted_at is not None]
    assert all(period.covers(i.submitted_at) for i in submitted)
    assert sum(1 for row in submissions.rows if row[-1]) >= 6  # months with submissions
    assert funnel["submitted"][2] == len(submitted)
    medians = [row[4] for row in funnel.values() if row[4] is not None]
    assert medians and all(m >= 0 for m in medians) and max(medians) >= 1
    for initiative in submitted:
        assert initiative.created_at <= initiative.submitted_at
        if initiative.screened_at is not None:
            assert initiative.submitted_at <= initiative.screened_at
        if initiative.decided_at is not None:
            assert initiative.submitted_at < initiative.decided_at
