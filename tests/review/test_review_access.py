"""Who may open which review page: one table of page x person."""

import pytest

from tests.review.conftest import submit_review

ANONYMOUS = "anonymous"
PEOPLE = [ANONYMOUS, "proposer", "other", "expert", "reviewer", "owner", "admin"]

# page: status for anonymous, the proposer, another proposer, an expert not assigned, the assigned
# reviewer, a demand owner and an admin. 302 for anonymous means "sent to the sign-in page".
TABLE = {
    "/review/calls": (302, 403, 403, 403, 403, 403, 200),
    "/review/calls/new": (302, 403, 403, 403, 403, 403, 200),
    "/review/calls/{call}/edit": (302, 403, 403, 403, 403, 403, 200),
    "/review/calls/{call}/rubric": (302, 403, 403, 403, 403, 403, 302),
    "/review/calls/{call}/assignment": (302, 403, 403, 403, 403, 403, 200),
    "/review/calls/{call}/ranking": (302, 403, 403, 403, 403, 403, 200),
    "/review/calls/{call}/ranking.csv": (302, 403, 403, 403, 403, 403, 200),
    "/review/screening": (302, 403, 403, 403, 403, 403, 200),
    "/review/initiatives/{initiative}": (302, 403, 403, 403, 403, 403, 200),
    "/review/mine": (302, 403, 403, 200, 200, 403, 200),
    "/review/assignments/{assignment}": (302, 403, 403, 403, 200, 403, 200),
    "/review/reviews/{review}": (302, 403, 403, 403, 200, 403, 200),
    "/initiatives/{initiative}": (302, 200, 403, 403, 200, 403, 200),
    "/review/calls/999999/edit": (302, 403, 403, 403, 403, 403, 404),
    "/review/assignments/999999": (302, 404, 404, 404, 404, 404, 404),
}


@pytest.fixture
def places(world, people):
    assignment = world.assignments[0]
    review = submit_review(assignment)
    people = {**people, "reviewer": assignment.expert.user}
    ids = {"call": world.call.id, "initiative": world.initiative.id, "assignment": assignment.id, "review": review.id}
    return people, ids


# One world per person (building it is the slow part), every page of the table checked in it.
@pytest.mark.parametrize("who", PEOPLE)
def test_review_page_access(who, places, app, login):
    people, ids = places
    client = app.test_client() if who == ANONYMOUS else login(people[who])
    column = PEOPLE.index(who)
    wrong = []
    for page, statuses in TABLE.items():
        response = client.get(page.format(**ids))
        if response.status_code != statuses[column]:
            wrong.append((page, statuses[column], response.status_code))
        elif response.status_code == 302 and who == ANONYMOUS:
            assert "/login" in response.headers["Location"]
    assert wrong == [], f"(page, expected, got) as {who}"


def test_review_pages_speak_vietnamese(places, login):
    people, ids = places
    admin = login(people["admin"])
    admin.get("/lang/vi")
    for page in ("/review/calls", "/review/calls/new", "/review/calls/{call}/edit", "/review/screening",
                 "/review/calls/{call}/assignment", "/review/calls/{call}/ranking", "/review/initiatives/{initiative}",
                 "/review/reviews/{review}", "/initiatives/{initiative}"):
        response = admin.get(page.format(**ids))
        assert response.status_code == 200 and 'lang="vi"' in response.get_data(as_text=True), page
    rubric = admin.get(admin.get(f"/review/calls/{ids['call']}/rubric").headers["Location"]).get_data(as_text=True)
    assert "Tính mới" in rubric
    reviewer = login(people["reviewer"])
    reviewer.get("/lang/vi")
    for page in ("/review/mine", "/review/assignments/{assignment}"):
        response = reviewer.get(page.format(**ids))
        assert response.status_code == 200 and 'lang="vi"' in response.get_data(as_text=True), page
