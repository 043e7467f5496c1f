"""Calls and rubrics: admins create and edit calls; a closed call refuses submissions; the default
rubric serves calls without their own; a rubric in use keeps its criteria and scales, and is copied
into a new version to change them."""

from datetime import date, timedelta

import pytest

from initiatives.models import AuditEvent, Call, InitiativeState
from initiatives.proposals import operations as proposals
from review import operations, rubrics
from review.models import Criterion, Rubric
from tests.review.conftest import submit_review

S = InitiativeState


def test_admin_creates_and_edits_a_call(people, login, db):
    admin = login(people["admin"])
    assert "New call" in admin.get("/review/calls").get_data(as_text=True)
    response = admin.post("/review/calls/new", data={
        "title": "Chuyển đổi số nông nghiệp 2027", "description": "Digital agriculture.",
        "opens_on": "2027-01-01", "closes_on": "2027-06-30", "reviewers_per_initiative": "4",
        "default_max_load": "6", "review_days": "30", "blind_mode": "double", "reviewers_see_others": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    call = Call.query.filter_by(title="Chuyển đổi số nông nghiệp 2027").one()
    assert (call.slug, call.reviewers_per_initiative, call.review_days, call.blind_mode, call.reviewers_see_others) == (
        "chuyen-doi-so-nong-nghiep-2027", 4, 30, "double", True)
    assert (call.opens_on, call.closes_on) == (date(2027, 1, 1), date(2027, 6, 30))
    assert call.default_max_load == 6 and call.description == "Digital agriculture."
    assert AuditEvent.query.filter_by(action="call.created", object_id=call.id).count() == 1
    page = admin.get("/review/calls").get_data(as_text=True)
    assert call.title in page and "double-blind" in page

    response = admin.post(f"/review/calls/{call.id}/edit", data={
        "title": call.title, "slug": call.slug, "description": "Digital agriculture, second edition.",
        "opens_on": "2027-01-01", "closes_on": "2027-07-31", "reviewers_per_initiative": "2",
        "default_max_load": "3", "review_days": "10", "blind_mode": "single"})
    assert response.status_code == 302
    db.session.refresh(call)
    assert call.reviewers_per_initiative == 2 and call.blind_mode == "single" and not call.reviewers_see_others
    assert (call.default_max_load, call.review_days, call.closes_on) == (3, 10, date(2027, 7, 31))
    assert call.description == "Digital agriculture, second edition."
    edited = AuditEvent.query.filter_by(action="call.edited", object_id=call.id).one()
    assert {"default_max_load", "description", "closes_on"} <= set(edited.detail["fields"])


@pytest.mark.parametrize("changes, message", [
    ({"title": ""}, "This field is required"),
    ({"reviewers_per_initiative": "0"}, "Number must be between 1 and 10"),
    ({"opens_on": "2027-06-30", "closes_on": "2027-01-01"}, "cannot close before it opens"),
    ({"blind_mode": "triple"}, "Not a valid choice"),
    ({"opens_on": "not a date"}, "Not a valid date value"),
    ({"slug": "standing"}, "already uses the short name"),
])
def test_bad_call_input_is_refused_clearly(people, login, changes, message, db):
    proposals.standing_call()
    db.session.commit()
    values = {"title": "A call", "reviewers_per_initiative": "3", "default_max_load": "5", "review_days": "21",
              "blind_mode": "single", **changes}
    response = login(people["admin"]).post("/review/calls/new", data=values)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert Call.query.filter_by(title="A call").count() == 0


def test_blind_mode_is_fixed_once_reviewers_are_invited(world, people):
    with pytest.raises(operations.ReviewError, match="blind mode cannot change"):
        operations.update_call(world.call, people["admin"], title=world.call.title, blind_mode="double",
                               reviewers_per_initiative=3, default_max_load=5, review_days=14)


def test_submitting_into_a_closed_call_is_refused(people, make_initiative, login, db):
    closed = operations.create_call(people["admin"], title="Closed call", opens_on=date.today() - timedelta(days=30),
                                    closes_on=date.today() - timedelta(days=1), reviewers_per_initiative=3,
                                    default_max_load=5, review_days=21, blind_mode="single")
    db.session.commit()
    draft = make_initiative(people["proposer"], call_id=closed.id)
    response = login(people["proposer"]).post(f"/initiatives/{draft.id}/submit", follow_redirects=True)
    assert "is closed" in response.get_data(as_text=True)
    db.session.refresh(draft)
    assert draft.status == S.DRAFT


def test_calls_with_initiatives_cannot_be_removed(world, people, login, db):
    admin = login(people["admin"])
    response = admin.post(f"/review/calls/{world.call.id}/delete")
    assert response.status_code == 409 and "closed, not removed" in response.get_data(as_text=True)
    empty = operations.create_call(people["admin"], title="Empty call", reviewers_per_initiative=3,
                                   default_max_load=5, review_days=21, blind_mode="single")
    db.session.commit()
    assert admin.post(f"/review/calls/{empty.id}/delete").status_code == 302
    assert Call.query.filter_by(id=empty.id).first() is None
    standing = proposals.standing_call()
    db.session.commit()
    assert admin.post(f"/review/calls/{standing.id}/delete").status_code == 409


def test_the_default_rubric(db):
    rubric = rubrics.default_rubric()
    db.session.commit()
    assert [c.key for c in rubric.criteria] == ["novelty", "feasibility", "impact", "commercial_potential",
                                                "team_capacity"]
    assert all((c.scale_min, c.scale_max, c.weight) == (1, 5, 1.0) for c in rubric.criteria)
    assert all(c.name_vi and c.guidance_en and c.guidance_vi for c in rubric.criteria)
    assert rubrics.default_rubric().id == rubric.id  # created once
    standing = proposals.standing_call()
    assert rubrics.rubric_for(standing).id == rubric.id


def _rubric_form(rubric, **overrides):
    data = {}
    for n, criterion in enumerate(rubric.criteria):
        row = {"id": str(criterion.id), "position": str(criterion.position), "name_en": criterion.name_en,
               "name_vi": criterion.name_vi, "guidance_en": criterion.guidance_en,
               "guidance_vi": criterion.guidance_vi, "weight": str(criterion.weight),
               "scale_min": str(criterion.scale_min), "scale_max": str(criterion.scale_max)}
        row.update(overrides.get(criterion.key, {}))
        data.update({f"criteria-{n}-{key}": value for key, value in row.items() if value is not None})
    n = len(rubric.criteria)
    for key, value in overrides.get("new", {}).items():
        data[f"criteria-{n}-{key}"] = value
    return data


def test_the_rubric_editor_on_an_unused_rubric(world, people, login, db):
    admin = login(people["admin"])
    response = admin.get(f"/review/calls/{world.call.id}/rubric")
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "The default rubric" in page and "Give this call its own rubric" in page
    # The call gets its own rubric, then edits it freely.
    default = rubrics.default_rubric()
    response = admin.post(f"/review/rubrics/{default.id}/copy", data={"call_id": world.call.id})
    assert response.status_code == 302
    own = rubrics.call_rubric(world.call)
    assert own.version == 1 and [c.key for c in own.criteria] == [c.key for c in default.criteria]
    data = _rubric_form(own, novelty={"weight": "2", "scale_max": "10", "name_vi": "Tính mới, độc đáo"},
                        team_capacity={"remove": "y"},
                        new={"name_en": "Sustainability", "name_vi": "Tính bền vững", "weight": "1",
                             "scale_min": "1", "scale_max": "5", "guidance_en": "Will it last?"})
    response = admin.post(f"/review/rubrics/{own.id}", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    db.session.expire_all()
    keys = [c.key for c in own.criteria]
    assert keys == ["novelty", "feasibility", "impact", "commercial_potential", "sustainability"]
    novelty = own.criteria[0]
    assert (novelty.weight, novelty.scale_max, novelty.name_vi) == (2.0, 10, "Tính mới, độc đáo")
    assert rubrics.rubric_for(world.call).id == own.id
    assert AuditEvent.query.filter_by(action="rubric.edited", object_id=own.id).count() == 1
    # The default rubric is untouched.
    assert len(rubrics.default_rubric().criteria) == 5


@pytest.mark.parametrize("overrides, message", [
    ({"novelty": {"scale_min": "5", "scale_max": "1"}}, "must run upwards"),
    ({"novelty": {"weight": "0"}}, "must be above 0"),
    ({"novelty": {"name_en": "", "name_vi": ""}}, "needs a name"),
    ({key: {"remove": "y"} for key in rubrics.DEFAULT_CRITERIA_KEYS}, "at least one criterion"),
    ({"novelty": {"weight": "abc"}}, "Not a valid float value"),
])
def test_bad_rubric_input_is_refused(world, people, login, overrides, message, db):
    own = rubrics.copy_rubric(rubrics.default_rubric(), world.call, people["admin"])
    db.session.commit()
    response = login(people["admin"]).post(f"/review/rubrics/{own.id}", data=_rubric_form(own, **overrides))
    assert response.status_code in (400, 409)
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert [(c.key, c.weight, c.scale_min, c.scale_max) for c in own.criteria] == [
        (key, 1.0, 1, 5) for key in rubrics.DEFAULT_CRITERIA_KEYS]


def test_a_rubric_in_use_keeps_its_criteria_and_is_copied_into_a_new_version(world, people, login, db):
    own = rubrics.copy_rubric(rubrics.default_rubric(), world.call, people["admin"])
    db.session.commit()
    review = submit_review(world.assignments[0])
    assert review.rubric_id == own.id
    admin = login(people["admin"])
    page = admin.get(f"/review/rubrics/{own.id}").get_data(as_text=True)
    assert "rubric-in-use" in page
    for overrides, message in (({"novelty": {"remove": "y"}}, "cannot be removed"),
                               ({"novelty": {"scale_max": "10"}}, "cannot be rescaled")):
        response = admin.post(f"/review/rubrics/{own.id}", data=_rubric_form(own, **overrides))
        assert response.status_code == 409
        text = response.get_data(as_text=True)
        assert message in text and "new version" in text
    # Wording and weights may still change.
    response = admin.post(f"/review/rubrics/{own.id}", data=_rubric_form(own, novelty={"guidance_en": "Clearer."}))
    assert response.status_code == 302
    # Copy into version 2 and change it there; new reviews use it, the old review keeps version 1.
    assert admin.post(f"/review/rubrics/{own.id}/copy").status_code == 302
    second = rubrics.call_rubric(world.call)
    assert second.version == 2 and second.id != own.id
    response = admin.post(f"/review/rubrics/{second.id}", data=_rubric_form(second, novelty={"scale_max": "10"}))
    assert response.status_code == 302
    later = submit_review(world.assignments[1], scores={"novelty": 9, "feasibility": 4, "impact": 4,
                                                        "commercial_potential": 4, "team_capacity": 4})
    assert later.rubric_id == second.id
    db.session.refresh(review)
    assert review.rubric_id == own.id
    assert Criterion.query.filter_by(rubric_id=own.id, key="novelty").one().scale_max == 5
    assert Rubric.query.filter_by(call_id=world.call.id).count() == 2


def _rescale_novelty(rubric, actor):
    rows = [{"id": c.id, "name_en": c.name_en, "name_vi": c.name_vi, "weight": c.weight, "position": c.position,
             "scale_min": c.scale_min, "scale_max": 10 if c.key == "novelty" else c.scale_max}
            for c in rubric.criteria]
    return rubrics.save_criteria(rubric, rows, actor)


def test_a_reopened_review_or_a_scored_draft_keeps_the_rubric_in_use(world, people, db):
    """Reopening clears ``submitted_at``, yet the review's scores stand: the rubric must still
    refuse a rescale. A draft that holds scores counts too; one without scores does not."""
    from review import reviewing

    admin = people["admin"]
    own = rubrics.copy_rubric(rubrics.default_rubric(), world.call, admin)
    db.session.commit()
    first, second = world.assignments[:2]
    review = submit_review(first)
    reviewing.reopen_review(review, admin, "Please explain the impact score.")
    db.session.commit()
    assert review.submitted_at is None and review.score_rows
    assert rubrics.in_use(own)
    with pytest.raises(rubrics.RubricError, match="cannot be rescaled"):
        _rescale_novelty(own, admin)
    db.session.rollback()
    assert Criterion.query.filter_by(rubric_id=own.id, key="novelty").one().scale_max == 5

    # A fresh version: unused while a review has no scores, in use once a draft holds some.
    second_version = rubrics.copy_rubric(own, world.call, admin)
    db.session.commit()
    submit_review(second, scores={}, submit=False)
    draft = reviewing.review_for(second)
    assert draft.rubric_id == second_version.id and not draft.score_rows
    assert not rubrics.in_use(second_version)
    submit_review(second, scores={"novelty": 3}, submit=False)
    assert rubrics.in_use(second_version)
    with pytest.raises(rubrics.RubricError, match="cannot be removed"):
        rows = [{"id": c.id, "name_en": c.name_en, "name_vi": c.name_vi, "weight": c.weight,
                 "scale_min": c.scale_min, "scale_max": c.scale_max, "remove": c.key == "impact"}
                for c in second_version.criteria]
        rubrics.save_criteria(second_version, rows, admin)
    db.session.rollback()


def test_only_admins_manage_calls_and_rubrics(world, people, login, db):
    default = rubrics.default_rubric()
    db.session.commit()
    for role in ("proposer", "expert", "owner"):
        client = login(people[role])
        for path in ("/review/calls", "/review/calls/new", f"/review/calls/{world.call.id}/edit",
                     f"/review/rubrics/{default.id}", "/review/screening", f"/review/calls/{world.call.id}/ranking"):
            assert client.get(path).status_code == 403, (role, path)
        assert client.post(f"/review/rubrics/{default.id}/copy", data={"call_id": world.call.id}).status_code == 403
