"""The demo's reviews: every demo initiative past screening has its reviewers, the reviewed and
decided ones their submitted reviews and decision, all without conflicts and within loads."""

from initiatives.demo import DEMO_PASSWORD
from initiatives.models import ExpertProfile, Initiative, InitiativeState
from review.models import ACTIVE_STATES, Assignment, Decision, Review
from search import matching

S = InitiativeState
DECIDED = {S.ACCEPTED.value, S.REJECTED.value, S.REVISION_REQUESTED.value}


def test_the_demo_initiatives_are_reviewed_as_their_state_says(runner, db, client):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert " reviews" in result.output
    past_screening = Initiative.query.filter(Initiative.state.in_(
        [S.UNDER_REVIEW.value, S.REVIEWED.value, *DECIDED])).all()
    assert len(past_screening) >= 30
    for initiative in past_screening:
        rows = Assignment.query.filter_by(initiative_id=initiative.id).all()
        wanted = initiative.call.reviewers_per_initiative if initiative.call else 3
        assert len(rows) == wanted, initiative.title
        assert len({a.expert_id for a in rows}) == wanted
        assert all(matching.conflict_reason(a.expert, initiative) == "" for a in rows), initiative.title
        submitted = [a for a in rows if a.state == "submitted"]
        if initiative.state == S.UNDER_REVIEW.value:
            assert 0 < len(submitted) < wanted  # the review is going on
        else:
            assert len(submitted) == wanted
        for assignment in submitted:
            review = Review.query.filter_by(assignment_id=assignment.id).one()
            assert len(review.score_rows) == len(review.rubric.criteria) == 5
            assert initiative.submitted_at < review.submitted_at
            if initiative.decided_at:
                assert review.submitted_at < initiative.decided_at
        decision = Decision.query.filter_by(initiative_id=initiative.id).one_or_none()
        assert (decision is not None) == (initiative.state in DECIDED)
        if decision:
            assert decision.outcome == initiative.state and decision.rationale
    for expert in ExpertProfile.query:
        active = Assignment.query.filter(Assignment.expert_id == expert.id,
                                         Assignment.state.in_(ACTIVE_STATES)).count()
        assert active <= expert.max_load, expert.name

    # Loading again adds nothing.
    counts = (Assignment.query.count(), Review.query.count(), Decision.query.count())
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert (Assignment.query.count(), Review.query.count(), Decision.query.count()) == counts

    # The demo expert has work waiting on "My reviews".
    assert client.post("/login", data={"email": "expert@demo.vn", "password": DEMO_PASSWORD}).status_code == 302
    client.get("/lang/en")
    mine = client.get("/review/mine").get_data(as_text=True)
    expert = ExpertProfile.query.filter(ExpertProfile.user.has(email="expert@demo.vn")).one()
    theirs = Assignment.query.filter_by(expert_id=expert.id).all()
    assert theirs and all(a.initiative.title in mine for a in theirs)
