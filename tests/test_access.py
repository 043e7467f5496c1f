"""Who may open which page without an object: one table of page x role x status. Every URL of an
object (initiative, attachment, demand, expert, user, review, connection, export, API), for every
role and ownership, is in tests/hostile/test_hostile_access.py, generated from the route list."""

import pytest

from initiatives.models import Role

ANONYMOUS = "anonymous"
ROLES = [ANONYMOUS, "proposer", "other", "expert", "owner", "admin"]

# page: expected status for anonymous, the proposer who owns the objects, another proposer,
# an expert, a demand owner and an admin.
# 302 for anonymous means "sent to the sign-in page"; admins pass every role check.
TABLE = {
    "/": (200, 200, 200, 200, 200, 200),
    "/login": (200, 302, 302, 302, 302, 302),
    "/register": (200, 302, 302, 302, 302, 302),
    "/account": (302, 200, 200, 200, 200, 200),
    "/account/password": (302, 200, 200, 200, 200, 200),
    "/account/forgot": (200, 200, 200, 200, 200, 200),
    "/notifications": (302, 200, 200, 200, 200, 200),
    "/initiatives/mine": (302, 200, 200, 403, 403, 200),
    "/initiatives/new": (302, 200, 200, 403, 403, 200),
    "/initiatives/all": (302, 403, 403, 403, 403, 200),
    "/demands/mine": (302, 403, 403, 403, 200, 200),
    "/demands/new": (302, 403, 403, 403, 200, 200),
    "/demands/open": (302, 200, 200, 200, 200, 200),
    "/demands/all": (302, 403, 403, 403, 403, 200),
    "/expert/profile": (302, 403, 403, 200, 403, 200),
    "/expert/all": (302, 403, 403, 403, 403, 200),
    "/admin/": (302, 403, 403, 403, 403, 200),
    "/admin/users": (302, 403, 403, 403, 403, 200),
    "/admin/outbox": (302, 403, 403, 403, 403, 200),
    "/admin/audit": (302, 403, 403, 403, 403, 200),
}
CASES = [(page, role, statuses[i]) for page, statuses in TABLE.items() for i, role in enumerate(ROLES)]


@pytest.mark.parametrize("page, role, status", CASES, ids=[f"{p} as {r}" for p, r, _ in CASES])
def test_page_access(page, role, status, people, app, login, db):
    client = app.test_client() if role == ANONYMOUS else login(people[role])
    response = client.get(page)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status == 302 and role == ANONYMOUS:
        assert "/login" in response.headers["Location"]


# Posted forms without an object: anonymous visitors are sent to sign in, the wrong role is
# refused, and the right one gets past the role check (an empty form is then sent back: 400 on
# the page or a redirect with the message, never a 403 or a 500).
POSTS = {
    "/logout": (302, 302, 302, 302, 302, 302),
    "/notifications": (302, 302, 302, 302, 302, 302),
    "/expert/publications": (302, 403, 403, None, 403, None),
    "/expert/conflicts": (302, 403, 403, None, 403, None),
    "/expert/person-conflicts": (302, 403, 403, None, 403, None),
}
POST_CASES = [(page, role, statuses[i]) for page, statuses in POSTS.items() for i, role in enumerate(ROLES)]


@pytest.mark.parametrize("page, role, status", POST_CASES, ids=[f"POST {p} as {r}" for p, r, _ in POST_CASES])
def test_post_access(page, role, status, people, app, login, db):
    client = app.test_client() if role == ANONYMOUS else login(people[role])
    response = client.post(page, data={})
    if status is None:
        assert response.status_code in (302, 400), response.get_data(as_text=True)[:300]
    else:
        assert response.status_code == status, response.get_data(as_text=True)[:300]
    if role == ANONYMOUS:
        assert "/login" in response.headers["Location"]


def test_unknown_ids_are_404(people, login):
    client = login(people["admin"])
    for path in ("/initiatives/999999", "/demands/999999", "/expert/999999", "/admin/users/999999"):
        assert client.get(path).status_code == 404, path


def test_expert_role_is_required_for_the_expert_profile(make_user, login):
    client = login(make_user(Role.PROPOSER, Role.EXPERT))
    assert client.get("/expert/profile").status_code == 200


# The menu follows the roles: each person sees the entries their roles open, and no others.
MENU = {
    "anonymous": set(),
    "proposer": {"My initiatives"},
    "expert": {"Expert profile"},
    "owner": {"My demands"},
    "admin": {"Administration", "All initiatives", "Users"},
}


@pytest.mark.parametrize("who", list(MENU))
def test_the_menu_shows_what_the_roles_open(who, people, login, client):
    browser = client if who == "anonymous" else login(people[who])
    page = browser.get("/").get_data(as_text=True)
    menu = page[page.index("<nav"):page.index("</nav>")]
    every_entry = set().union(*MENU.values())
    shown = {entry for entry in every_entry if f">{entry}<" in menu or f"> {entry}" in menu}
    assert shown == MENU[who]
