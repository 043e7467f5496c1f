"""Reviews through the JSON API: admins read them with their scores; nobody else does."""

from initiatives.api import tokens
from tests.review.conftest import submit_review


def bearer(user, db):
    _row, token = tokens.create_token(user, "tests")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_admins_read_reviews_and_their_scores(world, people, client, db):
    first, second, _third = world.assignments
    submitted = submit_review(first, recommendation="revise", to_proposer="Add a pilot.")
    submit_review(second, submit=False)
    admin = bearer(people["admin"], db)

    everything = client.get("/api/v1/reviews", headers=admin).get_json()
    assert everything["total"] == 2
    only = client.get("/api/v1/reviews?state=submitted", headers=admin).get_json()["items"]
    assert [r["id"] for r in only] == [submitted.id]
    drafts = client.get(f"/api/v1/reviews?state=draft&initiative={world.initiative.id}", headers=admin).get_json()
    assert [r["assignment_id"] for r in drafts["items"]] == [second.id]
    assert client.get("/api/v1/reviews?call=999999", headers=admin).get_json()["total"] == 0

    one = client.get(f"/api/v1/reviews/{submitted.id}", headers=admin).get_json()
    assert one["state"] == "submitted" and one["recommendation"] == "revise"
    assert one["expert_name"] == first.expert.name and one["initiative_id"] == world.initiative.id
    assert one["comments_to_proposer"] == "Add a pilot."
    assert {s["key"]: s["value"] for s in one["scores"]} == submitted.scores_by_key()
    assert all(s["scale_min"] <= s["value"] <= s["scale_max"] for s in one["scores"])


def test_reviews_are_for_admins_only(world, people, client, db):
    review = submit_review(world.assignments[0])
    reviewer = bearer(world.assignments[0].expert.user, db)
    for path in ("/api/v1/reviews", f"/api/v1/reviews/{review.id}"):
        assert client.get(path, headers=reviewer).status_code == 403
        assert client.get(path, headers=bearer(people["proposer"], db)).status_code == 403
        assert client.get(path).status_code == 401
    admin = bearer(people["admin"], db)
    assert client.get("/api/v1/reviews/999999", headers=admin).status_code == 404
    bad = client.get("/api/v1/reviews?state=lost", headers=admin)
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
