"""Object-level access control, generated from the route list: every URL rule that takes an
argument (an object id, a token, a file or chart name), and every export, is asked for by every
role and ownership, and each answer is the exact status of the table. A new route without a row
fails ``test_every_route_has_a_row``.

The pages without an object (``/account``, ``/admin/users`` ...) are in tests/test_access.py; the
review area's role x page table in tests/review/test_review_access.py.

Each column gets its own world (tests/hostile/conftest.py) and asks for every row in the table's
order, so what a column's earlier POST changed is part of what a later row sees; the rows that
destroy something come last. POSTs send an empty form with a valid CSRF token (an attacker who
passes the access check with an empty form would pass it with a full one too). API rows send the
column's bearer token, as the API ignores the session cookie.

Codes: 302* anonymous is sent to the sign-in page; 401 the API asks for a token; 403 refused;
404 the object is hidden (or gone); 200/302/400/409 the handler ran (shown, done, the empty form
was invalid, the state forbids it)."""

import os

import pytest

from tests.hostile.conftest import ANONYMOUS, WHO

# Rules that take no object but must be in the table anyway: every export.
EXPORTS = ("/catalogue/export.csv", "/connections/export.csv")

# "METHOD url": statuses for anonymous, proposer (owner), other proposer, assigned reviewer,
# unassigned expert, demand owner, admin. Ids in braces come from the world fixture.
TABLE = {
    # -- initiatives: a draft, one in screening and the accepted one, their attachments
    "GET /initiatives/{draft}": (302, 200, 403, 403, 403, 403, 200),
    "GET /initiatives/{initiative}": (200, 200, 200, 200, 200, 200, 200),
    "GET /initiatives/{submitted}": (302, 200, 403, 403, 403, 403, 200),
    "GET /initiatives/{submitted}/edit": (302, 403, 403, 403, 403, 403, 403),
    "GET /api/v1/initiatives/{submitted}": (401, 200, 403, 403, 403, 403, 200),
    "GET /initiatives/{draft}/edit": (302, 200, 403, 403, 403, 403, 403),
    "GET /initiatives/{initiative}/edit": (302, 403, 403, 403, 403, 403, 403),
    "POST /initiatives/{initiative}/edit": (302, 403, 403, 403, 403, 403, 403),
    "GET /initiatives/{draft}/submit": (302, 200, 403, 403, 403, 403, 403),
    "GET /initiatives/{initiative}/submit": (302, 403, 403, 403, 403, 403, 403),
    "POST /initiatives/{initiative}/submit": (302, 403, 403, 403, 403, 403, 403),
    "GET /initiatives/{draft}/attachments/{draft_attachment}": (302, 200, 403, 403, 403, 403, 200),
    "GET /initiatives/{initiative}/attachments/{attachment}": (200, 200, 200, 200, 200, 200, 200),
    "GET /initiatives/{initiative}/attachments/{draft_attachment}": (404, 404, 404, 404, 404, 404, 404),
    "GET /initiatives/{draft}/rounds/1/files/0": (302, 404, 403, 403, 403, 403, 404),  # a draft has no round
    "POST /initiatives/{initiative}/attachments": (302, 403, 403, 403, 403, 403, 403),
    "POST /initiatives/{draft}/attachments": (302, 303, 403, 403, 403, 403, 403),
    "POST /initiatives/{initiative}/attachments/{attachment}/delete": (302, 403, 403, 403, 403, 403, 403),
    "POST /initiatives/{initiative}/withdraw": (302, 403, 403, 403, 403, 403, 403),
    # -- review: call, rubric, assignment, review, decision, screening
    "GET /review/calls/{call}/edit": (302, 403, 403, 403, 403, 403, 200),
    "POST /review/calls/{call}/edit": (302, 403, 403, 403, 403, 403, 400),
    "GET /review/calls/{call}/rubric": (302, 403, 403, 403, 403, 403, 302),
    "GET /review/calls/{call}/assignment": (302, 403, 403, 403, 403, 403, 200),
    "POST /review/calls/{call}/assignment/add": (302, 403, 403, 403, 403, 403, 404),
    "POST /review/calls/{call}/assignment/run": (302, 403, 403, 403, 403, 403, 302),
    "POST /review/calls/{call}/assignment/confirm": (302, 403, 403, 403, 403, 403, 303),
    "GET /review/calls/{call}/ranking": (302, 403, 403, 403, 403, 403, 200),
    "GET /review/calls/{call}/ranking.csv": (302, 403, 403, 403, 403, 403, 200),
    "GET /review/rubrics/{rubric}": (302, 403, 403, 403, 403, 403, 200),
    "POST /review/rubrics/{rubric}": (302, 403, 403, 403, 403, 403, 409),
    "POST /review/rubrics/{rubric}/copy": (302, 403, 403, 403, 403, 403, 404),
    "GET /review/initiatives/{initiative}": (302, 403, 403, 403, 403, 403, 200),
    "GET /review/initiatives/{initiative}/reviews.csv": (302, 200, 403, 403, 403, 403, 200),
    "POST /review/initiatives/{initiative}/invite": (302, 403, 403, 403, 403, 403, 404),
    "POST /review/initiatives/{initiative}/next-best": (302, 403, 403, 403, 403, 403, 409),
    "POST /review/initiatives/{initiative}/close-round": (302, 403, 403, 403, 403, 403, 409),
    "POST /review/initiatives/{initiative}/decision": (302, 403, 403, 403, 403, 403, 400),
    "POST /review/screening/{initiative}/pass": (302, 403, 403, 403, 403, 403, 409),
    "POST /review/screening/{initiative}/reject": (302, 403, 403, 403, 403, 403, 400),
    "GET /review/assignments/{assignment}": (302, 403, 403, 200, 403, 403, 200),
    "POST /review/assignments/{assignment}/accept": (302, 403, 403, 409, 403, 403, 409),
    "POST /review/assignments/{assignment}/decline": (302, 403, 403, 400, 403, 403, 400),
    "POST /review/assignments/{assignment}/review": (302, 403, 403, 409, 403, 403, 409),
    "POST /review/assignments/{assignment}/cancel": (302, 403, 403, 403, 403, 403, 409),
    "POST /review/assignments/{assignment}/replace": (302, 403, 403, 403, 403, 403, 409),
    "POST /review/assignments/{assignment}/remove": (302, 403, 403, 403, 403, 403, 302),
    "GET /review/reviews/{review}": (302, 403, 403, 200, 403, 403, 200),
    "POST /review/reviews/{review}/reopen": (302, 403, 403, 403, 403, 403, 409),
    # -- demands and connections
    "GET /demands/{demand}": (302, 200, 200, 200, 200, 200, 200),
    "GET /demands/{demand}/edit": (302, 403, 403, 403, 403, 200, 200),
    "POST /demands/{demand}/edit": (302, 403, 403, 403, 403, 302, 302),
    "GET /connections/{connection}": (302, 200, 403, 403, 403, 200, 200),
    "POST /connections/{connection}/discuss": (302, 409, 403, 403, 403, 409, 403),
    "POST /connections/{connection}/adopt": (302, 400, 403, 403, 403, 400, 403),
    "POST /connections/{connection}/close": (302, 403, 403, 403, 403, 302, 403),
    "POST /connections/{connection}/decline": (302, 302, 403, 403, 403, 409, 403),
    "POST /connections/{connection}/accept": (302, 409, 403, 403, 403, 409, 403),
    "GET /connections/export.csv": (302, 403, 403, 403, 403, 403, 200),
    "GET /catalogue/export.csv": (403, 403, 403, 403, 403, 403, 200),
    "POST /demands/{demand}/close": (302, 403, 403, 403, 403, 302, 302),
    "POST /demands/{demand}/fulfil": (302, 403, 403, 403, 403, 302, 302),
    "POST /demands/{demand}/reopen": (302, 403, 403, 403, 403, 302, 302),
    # -- experts: profile, publication, declared conflict
    "GET /expert/{expert}": (302, 403, 403, 403, 403, 403, 200),
    "GET /expert/publications/{publication}/edit": (302, 403, 403, 200, 403, 403, 200),
    "POST /expert/publications/{publication}/edit": (302, 403, 403, 302, 403, 403, 302),
    # -- accounts and administration
    "GET /admin/users/{user}": (302, 403, 403, 403, 403, 403, 200),
    "POST /admin/users/{user}": (302, 403, 403, 403, 403, 403, 302),
    "GET /account/reset/{reset_token}": (200, 200, 200, 200, 200, 200, 200),
    "POST /account/reset/{reset_token}": (400, 400, 400, 400, 400, 400, 400),
    "GET /account/reset/forged-token": (302, 302, 302, 302, 302, 302, 302),
    "GET /lang/vi": (302, 302, 302, 302, 302, 302, 302),
    "GET /admin/dashboard/submissions.json": (302, 403, 403, 403, 403, 403, 200),
    "GET /admin/dashboard/reviewers.csv": (302, 403, 403, 403, 403, 403, 200),
    "GET /figures/submissions.json": (200, 200, 200, 200, 200, 200, 200),
    "GET /figures/funnel.csv": (200, 200, 200, 200, 200, 200, 200),
    "GET /figures/reviewers.json": (404, 404, 404, 404, 404, 404, 404),
    "GET /static/portal.css": (200, 200, 200, 200, 200, 200, 200),
    "GET /bootstrap/static/css/bootstrap.min.css": (200, 200, 200, 200, 200, 200, 200),
    "GET /api/v1/docs/assets/swagger-ui.css": (200, 200, 200, 200, 200, 200, 200),
    "GET /api/v1/docs/assets/..%2F..%2Fconfig.py": (404, 404, 404, 404, 404, 404, 404),
    # -- API (bearer tokens)
    "GET /api/v1/initiatives/{draft}": (401, 200, 403, 403, 403, 403, 200),
    "GET /api/v1/initiatives/{initiative}": (200, 200, 200, 200, 200, 200, 200),
    "GET /api/v1/initiatives/{initiative}/demands": (401, 200, 403, 403, 403, 403, 200),
    "GET /api/v1/demands/{demand}": (401, 200, 200, 200, 200, 200, 200),
    "GET /api/v1/demands/{demand}/initiatives": (401, 403, 403, 403, 403, 200, 200),
    "GET /api/v1/experts/{expert}": (401, 403, 403, 403, 403, 403, 200),
    "GET /api/v1/assignments/{assignment}": (401, 403, 403, 403, 403, 403, 200),
    "GET /api/v1/reviews/{review}": (401, 403, 403, 403, 403, 403, 200),
    "GET /api/v1/connections/{connection}": (401, 200, 403, 403, 403, 200, 200),
    "POST /api/v1/connections/{connection}/moves": (401, 409, 403, 403, 403, 409, 403),
    # -- destructive rows last
    "POST /expert/publications/{publication}/delete": (302, 403, 403, 302, 403, 403, 302),
    "POST /expert/conflicts/{conflict}/delete": (302, 403, 403, 302, 403, 403, 302),
    "POST /expert/person-conflicts/{person_conflict}/delete": (302, 403, 403, 302, 403, 403, 302),
    "POST /account/tokens/{token}/revoke": (302, 302, 403, 403, 403, 403, 403),
    "POST /admin/users/{user}/activation": (302, 403, 403, 403, 403, 403, 302),
    "POST /initiatives/{draft}/edit": (302, 302, 403, 403, 403, 403, 403),
    "POST /initiatives/{draft}/attachments/{draft_attachment}/delete": (302, 302, 403, 403, 403, 403, 403),
    "POST /initiatives/{draft}/submit": (302, 302, 403, 403, 403, 403, 403),
    "POST /initiatives/{draft}/withdraw": (302, 302, 403, 403, 403, 403, 403),
    "POST /review/calls/{call}/delete": (302, 403, 403, 403, 403, 403, 409),
}


# Rows whose 302 for anonymous is not the sign-in page: the language switch goes back, a bad
# reset link to the "forgot password" form.
ELSEWHERE = {"GET /lang/vi", "GET /account/reset/forged-token"}


def _rules_needing_rows(app):
    """(method, rule) of every rule with an argument, and of every export."""
    needed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "test_csrf_token":
            continue
        if rule.arguments or rule.rule in EXPORTS or rule.rule.endswith((".csv", ".json")) and "<" in rule.rule:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                needed.add((method, rule.rule))
    return needed


def _rule_of(app, method, path):
    """The URL rule ``method path`` reaches."""
    adapter = app.url_map.bind("portal.test")
    rule, _args = adapter.match(path.split("?")[0], method=method, return_rule=True)
    return rule.rule


def _example_ids():
    """Ids that make every row a valid URL, only to find which rule it reaches."""
    return {name: 1 for name in ("draft", "submitted", "initiative", "draft_attachment", "attachment", "call", "rubric",
                                 "assignment", "review", "demand", "connection", "expert", "publication",
                                 "conflict", "person_conflict", "token", "user")} | {"reset_token": "abc"}


def test_every_route_has_a_row(app):
    covered = set()
    for row in TABLE:
        method, path = row.split(" ", 1)
        covered.add((method, _rule_of(app, method, path.format(**_example_ids()))))
    for export in EXPORTS:
        assert ("GET", export) in covered, export
    missing = sorted(_rules_needing_rows(app) - covered)
    assert missing == [], "add these routes to TABLE with the status each role must get"


def test_every_row_has_a_status_per_role():
    for row, statuses in TABLE.items():
        assert len(statuses) == len(WHO), row


def _ask(client, method, path, headers):
    if method == "GET":
        return client.get(path, headers=headers)
    if path.startswith("/api/"):
        return client.post(path, json={"action": "discuss"}, headers=headers)
    return client.post(path, data={}, headers=headers)


@pytest.mark.parametrize("who", WHO)
def test_each_role_gets_exactly_its_statuses(who, world, cast, api_tokens, app, login):
    session_client = app.test_client() if who == ANONYMOUS else login(cast[who])
    api_client = app.test_client()
    column = WHO.index(who)
    wrong, seen = [], {}
    for row, statuses in TABLE.items():
        method, template = row.split(" ", 1)
        path = template.format(**world)
        api = path.startswith("/api/")
        client = api_client if api else session_client
        headers = api_tokens.get(who, {}) if api else {}
        response = _ask(client, method, path, headers)
        seen[row] = response.status_code
        if response.status_code != statuses[column]:
            wrong.append((row, statuses[column], response.status_code))
        elif response.status_code == 302 and who == ANONYMOUS and row not in ELSEWHERE:
            assert "/login" in response.headers["Location"], row
        assert response.status_code < 500, row
    if os.environ.get("HOSTILE_PRINT_TABLE"):
        print(f"\n{who}: " + " ".join(f"{seen[r]}" for r in TABLE))
    assert wrong == [], f"(row, expected, got) as {who}"
