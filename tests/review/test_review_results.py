"""Results: per initiative the individual scores, means, spreads and totals; per call a ranking
table sortable by each total and filterable, exported with names for admins and lettered otherwise."""

import csv
import io

import pytest

from initiatives.models import InitiativeState
from review import operations, results
from tests.review.conftest import submit_review

S = InitiativeState
HIGH = {"novelty": 5, "feasibility": 5, "impact": 5, "commercial_potential": 4, "team_capacity": 5}
MID = {"novelty": 3, "feasibility": 3, "impact": 3, "commercial_potential": 3, "team_capacity": 3}
LOW = {"novelty": 1, "feasibility": 2, "impact": 1, "commercial_potential": 1, "team_capacity": 2}


@pytest.fixture
def ranked(world, people, make_initiative, db):
    """Three initiatives of one call, each reviewed by the same three experts: the strong one
    agreed on, the middling one agreed on, the weak one disputed."""
    admin = people["admin"]
    reviewers = [a.expert for a in world.assignments]
    strong = world.initiative
    middling = make_initiative(people["other"], submitted=True, call_id=world.call.id, title="Middling sensors",
                               organisation="Công ty Trung Bình", team_members=["Người Giữa"])
    weak = make_initiative(people["other"], submitted=True, call_id=world.call.id, title="Weak sensors",
                           organisation="Công ty Yếu", team_members=["Người Yếu"])
    for initiative in (middling, weak):
        operations.pass_screening(initiative, admin)
        for expert in reviewers:
            operations.invite_expert(initiative, expert, admin)
    db.session.commit()
    plan = {strong.id: [(HIGH, "accept")] * 3, middling.id: [(MID, "revise")] * 3,
            weak.id: [(HIGH, "accept"), (LOW, "reject"), (LOW, "reject")]}
    for initiative in (strong, middling, weak):
        for assignment, (scores, recommendation) in zip(operations.round_assignments(initiative),
                                                        plan[initiative.id], strict=True):
            submit_review(assignment, scores=scores, recommendation=recommendation, confidence=4,
                          to_proposer=f"To proposer {assignment.id}", confidential=f"Secret {assignment.id}")
    for initiative in (strong, middling, weak):
        db.session.refresh(initiative)
        assert initiative.status == S.REVIEWED
    return world, strong, middling, weak, reviewers


def test_results_of_one_initiative(ranked, people, login):
    world, strong, middling, weak, reviewers = ranked
    page = login(people["admin"]).get(f"/review/initiatives/{weak.id}").get_data(as_text=True)
    for expert in reviewers:
        assert expert.name in page
    for label in ("Reviewer A", "Reviewer B", "Reviewer C", "Weighted total", "Confidence-weighted total",
                  "Calibrated total", "Mean", "Spread"):
        assert label in page
    assert 'id="disagreement"' in page and "recommendations two steps apart" in page
    reviews, result = results.round_result(weak)
    assert [v for _, v in result.criteria[0].values] == [5.0, 1.0, 1.0]
    assert result.criteria[0].mean == pytest.approx(7 / 3)
    assert result.disagreement and set(result.reasons) == {"spread", "recommendations"}
    # Every reviewer has three reviews: their scores are calibrated against their own history.
    assert all(t.calibrated_with_history for t in result.reviews)
    _, agreed = results.round_result(strong)
    assert not agreed.disagreement
    assert calibration_shown(agreed.weighted, agreed) == pytest.approx(4.8)


def test_reviewers_with_fewer_than_three_reviews_keep_their_raw_totals(world, people, make_initiative, app, db):
    """Calibration needs a history: each reviewer here has one or two submitted reviews, so the
    calibrated totals are the raw weighted totals, through ``results.round_result`` as the pages
    read them."""
    admin = people["admin"]
    first, second, third = world.assignments
    other = make_initiative(people["other"], submitted=True, call_id=world.call.id, title="Another sensor")
    operations.pass_screening(other, admin)
    extra = operations.invite_expert(other, first.expert, admin)
    db.session.commit()
    submit_review(extra, scores=LOW, recommendation="reject")
    for assignment, scores in ((first, HIGH), (second, MID), (third, LOW)):
        submit_review(assignment, scores=scores)
    _, result = results.round_result(world.initiative)
    assert result.count == 3 and len({t.weighted for t in result.reviews}) == 3
    for totals in result.reviews:
        assert not totals.calibrated_with_history
        assert totals.calibrated == pytest.approx(totals.weighted)
    assert result.calibrated == pytest.approx(result.weighted)
    # With the threshold lowered to two reviews, the first reviewer's total is calibrated.
    app.config["REVIEW_CALIBRATION_MIN_REVIEWS"] = 2
    _, lowered = results.round_result(world.initiative)
    used = {t.review.reviewer: t for t in lowered.reviews if t.calibrated_with_history}
    assert list(used) == [first.expert_id]
    assert used[first.expert_id].calibrated != pytest.approx(used[first.expert_id].weighted)


def calibration_shown(fraction, result):
    from review import calibration

    return calibration.shown(fraction, result.scale)


def test_ranking_sorts_and_filters(ranked, people, login):
    world, strong, middling, weak, _ = ranked
    admin = login(people["admin"])
    page = admin.get(f"/review/calls/{world.call.id}/ranking").get_data(as_text=True)
    assert page.index(strong.title) < page.index(middling.title) < page.index(weak.title)
    ascending = admin.get(f"/review/calls/{world.call.id}/ranking?sort=weighted&order=asc").get_data(as_text=True)
    assert ascending.index(weak.title) < ascending.index(middling.title) < ascending.index(strong.title)
    for key in ("confidence_weighted", "calibrated", "spread", "reviews", "title", "nonsense"):
        assert admin.get(f"/review/calls/{world.call.id}/ranking?sort={key}").status_code == 200
    by_spread = admin.get(f"/review/calls/{world.call.id}/ranking?sort=spread").get_data(as_text=True)
    assert by_spread.index(weak.title) < by_spread.index(strong.title)
    flagged = admin.get(f"/review/calls/{world.call.id}/ranking?flagged=1").get_data(as_text=True)
    assert weak.title in flagged and strong.title not in flagged and middling.title not in flagged
    searched = admin.get(f"/review/calls/{world.call.id}/ranking?q=middling").get_data(as_text=True)
    assert middling.title in searched and weak.title not in searched
    operations.record_decision(strong, "accepted", "Best of the call.", people["admin"])
    from initiatives.extensions import db

    db.session.commit()
    accepted = admin.get(f"/review/calls/{world.call.id}/ranking?state=accepted").get_data(as_text=True)
    assert strong.title in accepted and weak.title not in accepted
    rows = results.ranking(world.call, sort="calibrated")
    assert [r.initiative.id for r in rows] == [strong.id, middling.id, weak.id]
    assert [r.rank for r in rows] == [1, 2, 3]


def _csv(response):
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_csv_exports_name_reviewers_for_admins_only(ranked, people, login):
    world, strong, middling, weak, reviewers = ranked
    admin = login(people["admin"])
    named = _csv(admin.get(f"/review/calls/{world.call.id}/ranking.csv"))
    header = named[0]
    assert header[:4] == ["rank", "initiative_id", "initiative_ref", "title"]
    assert "calibrated_total" in header and "Novelty" in header
    assert len(named) == 1 + 9
    assert {row[header.index("reviewer")] for row in named[1:]} == {e.name for e in reviewers}
    text = admin.get(f"/review/calls/{world.call.id}/ranking.csv?anonymous=1").get_data(as_text=True)
    for expert in reviewers:
        assert expert.name not in text and expert.organisation not in text
    anonymous = _csv(admin.get(f"/review/calls/{world.call.id}/ranking.csv?anonymous=1"))
    assert {row[header.index("reviewer")] for row in anonymous[1:]} == {"Reviewer A", "Reviewer B", "Reviewer C"}
    assert "Secret" not in text and "To proposer" not in text
    # Only admins export the ranking.
    assert login(people["proposer"]).get(f"/review/calls/{world.call.id}/ranking.csv").status_code == 403


def test_the_proposer_export_is_lettered_and_decided_rounds_only(ranked, people, login, db):
    world, strong, middling, weak, reviewers = ranked
    proposer = login(people["proposer"])
    assert proposer.get(f"/review/initiatives/{strong.id}/reviews.csv").status_code == 404
    operations.record_decision(strong, "accepted", "Best of the call.", people["admin"])
    db.session.commit()
    response = proposer.get(f"/review/initiatives/{strong.id}/reviews.csv")
    rows = _csv(response)
    text = response.get_data(as_text=True)
    assert rows[0][:2] == ["round", "reviewer"] and rows[0][-1] == "comments_to_proposer"
    assert [row[1] for row in rows[1:]] == ["Reviewer A", "Reviewer B", "Reviewer C"]
    assert all(row[-1].startswith("To proposer") for row in rows[1:])
    assert "Secret" not in text
    for expert in reviewers:
        assert expert.name not in text
    # Someone else's initiative: refused.
    assert login(people["other"]).get(f"/review/initiatives/{strong.id}/reviews.csv").status_code == 403
