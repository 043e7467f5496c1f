"""The JSON API: tokens, public and admin views, matches, connections, errors, limits, the document."""

import re

import pytest

from initiatives.api import tokens
from initiatives.connections.models import Connection
from initiatives.models import AuditEvent, InitiativeState, OutboxMessage
from initiatives.proposals import operations as proposals

S = InitiativeState


def accept(initiative, admin, db):
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        proposals.transition(initiative, step, actor=admin)
    db.session.commit()
    return initiative


def token_for(user, db):
    _row, token = tokens.create_token(user, "tests")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def catalogue(people, make_initiative, make_demand, db):
    public = accept(make_initiative(people["proposer"], submitted=True, title="Public sensors"), people["admin"], db)
    screening = make_initiative(people["proposer"], submitted=True, title="Secret draft idea")
    demand = make_demand(people["owner"])
    return {"public": public, "screening": screening, "demand": demand,
            "auth": {role: token_for(user, db) for role, user in people.items()}, **people}


def test_anonymous_callers_see_the_public_catalogue_only(client, catalogue):
    answer = client.get("/api/v1/initiatives").get_json()
    assert [item["title"] for item in answer["items"]] == ["Public sensors"]
    assert answer["total"] == 1 and answer["page"] == 1 and answer["limit"] == 20
    item = answer["items"][0]
    assert "proposer" not in item and "screening_note" not in item
    assert not {"proposer_name", "organisation", "team_members"} & set(item)  # contact details
    assert client.get(f"/api/v1/initiatives/{catalogue['screening'].id}").status_code == 401
    assert client.get("/api/v1/demands").status_code == 401


def test_admins_see_everything(client, catalogue):
    admin = catalogue["auth"]["admin"]
    answer = client.get("/api/v1/initiatives?limit=1&page=2", headers=admin).get_json()
    assert answer["total"] == 2 and answer["pages"] == 2 and len(answer["items"]) == 1
    screening = client.get("/api/v1/initiatives?state=screening", headers=admin).get_json()["items"]
    assert [i["title"] for i in screening] == ["Secret draft idea"]
    assert screening[0]["proposer"]["email"] == "proposer@example.org"
    demand = client.get(f"/api/v1/demands/{catalogue['demand'].id}", headers=admin).get_json()
    assert demand["owner"]["email"] == "owner@example.org"
    assert client.get("/api/v1/experts", headers=admin).status_code == 200
    assert client.get("/api/v1/assignments", headers=admin).get_json()["total"] == 0
    assert client.get("/api/v1/me", headers=admin).get_json()["roles"] == ["admin"]


@pytest.mark.parametrize("role, path, status", [
    ("other", "/api/v1/experts", 403),
    ("owner", "/api/v1/assignments", 403),
    ("expert", "/api/v1/initiatives/{screening}", 403),
    ("proposer", "/api/v1/initiatives/{screening}", 200),
    ("other", "/api/v1/initiatives/{screening}/demands", 403),
    ("proposer", "/api/v1/initiatives/{screening}/demands", 200),
    ("other", "/api/v1/demands/{demand}/initiatives", 403),
    ("owner", "/api/v1/demands/{demand}/initiatives", 200),
    ("owner", "/api/v1/initiatives/999999", 404),
    ("owner", "/api/v1/initiatives/99999999999999", 404),
    ("owner", "/api/v1/nothing-here", 404),
])
def test_rights_and_status_codes(client, catalogue, role, path, status):
    path = path.format(screening=catalogue["screening"].id, demand=catalogue["demand"].id)
    response = client.get(path, headers=catalogue["auth"][role])
    assert response.status_code == status
    if status >= 400:
        problem = response.get_json()
        assert response.mimetype == "application/problem+json"
        assert problem["status"] == status and problem["title"]


def test_bad_input_is_a_clear_422(client, catalogue):
    response = client.get("/api/v1/initiatives?limit=500&province=atlantis", headers=catalogue["auth"]["admin"])
    assert response.status_code == 422
    problem = response.get_json()
    assert set(problem["errors"]["query"]) == {"limit", "province"}
    vietnamese = client.get("/api/v1/initiatives?limit=0", headers={"Accept-Language": "vi"}).get_json()
    assert vietnamese["title"] != problem["title"]


def test_tokens_are_hashed_revocable_and_never_cookies(client, catalogue, login, db):
    row = tokens.ApiToken.query.filter_by(user_id=catalogue["admin"].id).one()
    raw = catalogue["auth"]["admin"]["Authorization"].split()[1]
    assert row.token_hash == tokens.hash_token(raw) and raw not in row.token_hash
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    response = client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    # A signed-in browser session is not an API credential.
    assert login(catalogue["admin"]).get("/api/v1/me").status_code == 401
    tokens.revoke_token(row, catalogue["admin"])
    db.session.commit()
    assert client.get("/api/v1/me", headers=catalogue["auth"]["admin"]).status_code == 401


def test_the_account_page_creates_shows_once_and_revokes(login, people, db):
    client = login(people["owner"])
    page = client.get("/account").get_data(as_text=True)
    assert 'id="api-tokens"' in page
    response = client.post("/account/tokens", data={"name": "report script"})
    assert response.status_code == 201
    token = response.get_data(as_text=True).split('id="new-token" class="user-select-all fs-6">')[1].split("<")[0]
    assert token.startswith("ipt_")
    assert token not in client.get("/account").get_data(as_text=True)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()["email"] == "owner@example.org"
    row = tokens.ApiToken.query.one()
    assert login(people["other"]).post(f"/account/tokens/{row.id}/revoke").status_code == 403
    assert client.post(f"/account/tokens/{row.id}/revoke").status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/account/tokens", data={"name": ""}).status_code == 400
    assert AuditEvent.query.filter_by(object_type="api_token").count() == 2


def test_connections_through_the_api(client, catalogue, db):
    owner, proposer = catalogue["auth"]["owner"], catalogue["auth"]["proposer"]
    body = {"demand_id": catalogue["demand"].id, "initiative_id": catalogue["public"].id, "message": "Let us talk."}
    assert client.post("/api/v1/connections", json=body, headers=proposer).status_code == 403
    created = client.post("/api/v1/connections", json=body, headers=owner)
    assert created.status_code == 201
    connection = created.get_json()
    assert connection["state"] == "requested" and connection["contacts"] == []
    assert "owner@example.org" not in client.get(f"/api/v1/connections/{connection['id']}",
                                                 headers=proposer).get_data(as_text=True)
    assert "Phạm Dung" not in client.get("/api/v1/connections", headers=proposer).get_data(as_text=True)
    assert client.post("/api/v1/connections", json=body, headers=owner).status_code == 409
    move = f"/api/v1/connections/{connection['id']}/moves"
    assert client.post(move, json={"action": "accept"}, headers=owner).status_code == 403
    assert client.post(move, json={"action": "dance"}, headers=proposer).status_code == 422
    accepted = client.post(move, json={"action": "accept", "note": "Yes"}, headers=proposer).get_json()
    assert accepted["contacts"] == [{"role": "owner", "name": "Phạm Dung", "email": "owner@example.org",
                                     "organisation": "Công ty Nông sản Lào Cai"}]
    assert client.post(move, json={"action": "adopt"}, headers=owner).status_code == 422
    adopted = client.post(move, json={"action": "adopt", "outcome": "contract"}, headers=owner).get_json()
    assert adopted["state"] == "adopted" and adopted["outcome"] == "contract"
    assert client.post(move, json={"action": "close"}, headers=owner).status_code == 409
    listing = client.get("/api/v1/connections?state=adopted", headers=catalogue["auth"]["admin"]).get_json()
    assert [c["id"] for c in listing["items"]] == [connection["id"]]
    assert client.get("/api/v1/connections", headers=catalogue["auth"]["other"]).get_json()["total"] == 0
    assert client.get(f"/api/v1/connections/{connection['id']}", headers=catalogue["auth"]["other"]).status_code == 403
    assert Connection.query.one().state == "adopted"
    assert OutboxMessage.query.count() == 3  # requested, accepted, adopted
    bad_json = client.post("/api/v1/connections", data="{nope", headers={**owner, "Content-Type": "application/json"})
    assert bad_json.status_code in (400, 422) and bad_json.mimetype == "application/problem+json"


def test_a_connection_request_of_spaces_is_a_clear_422(client, catalogue):
    body = {"demand_id": catalogue["demand"].id, "initiative_id": catalogue["public"].id, "message": "   \n\t "}
    response = client.post("/api/v1/connections", json=body, headers=catalogue["auth"]["owner"])
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]["json"]["message"] == ["Please write a short message to the proposer."]
    assert Connection.query.count() == 0 and OutboxMessage.query.count() == 0


def test_a_connection_with_an_initiative_outside_the_catalogue_is_not_found(client, catalogue, make_initiative, db):
    """A draft or a submission in screening answers as an id that does not exist: the demand
    owner does not learn that it exists."""
    draft = make_initiative(catalogue["other"], title="Unsubmitted idea")
    owner = catalogue["auth"]["owner"]
    answers = {}
    for name, initiative_id in (("screening", catalogue["screening"].id), ("draft", draft.id), ("none", 424242)):
        body = {"demand_id": catalogue["demand"].id, "initiative_id": initiative_id, "message": "Hello"}
        response = client.post("/api/v1/connections", json=body, headers=owner)
        answers[name] = (response.status_code, response.get_json()["title"], response.get_json().get("detail"))
    assert answers["screening"] == answers["draft"] == answers["none"]
    assert answers["none"][0] == 404
    assert Connection.query.count() == 0


def test_connections_are_filtered_by_province_and_field(client, catalogue, make_initiative, db):
    from initiatives.connections import operations as connections

    drone = accept(make_initiative(catalogue["other"], submitted=True, title="Drone spraying",
                                   field="uav-aerospace", province="da-nang"), catalogue["admin"], db)
    connections.suggest(catalogue["demand"], drone, 0.4)
    connections.request_connection(catalogue["demand"], catalogue["public"], catalogue["owner"], "Hello")
    db.session.commit()

    def titles(query, who="admin"):
        response = client.get(f"/api/v1/connections{query}", headers=catalogue["auth"][who])
        assert response.status_code == 200, response.get_json()
        return sorted(c["initiative"]["title"] for c in response.get_json()["items"])

    assert titles("") == ["Drone spraying", "Public sensors"]
    assert titles("?field=uav-aerospace") == ["Drone spraying"]
    assert titles("?province=can-tho") == ["Public sensors"]  # the initiative's province
    assert titles("?province=lao-cai") == ["Drone spraying", "Public sensors"]  # the demand's
    assert titles("?province=da-nang&field=agriculture") == ["Drone spraying"]  # the demand's field
    assert titles("?province=ha-noi") == []
    assert titles("?province=can-tho&state=suggested") == []
    assert titles("?field=uav-aerospace", who="owner") == ["Drone spraying"]  # the owner's own
    assert titles("?field=uav-aerospace", who="other") == []  # a suggestion its proposer never heard of
    bad = client.get("/api/v1/connections?province=atlantis&field=magic", headers=catalogue["auth"]["admin"])
    assert bad.status_code == 422 and set(bad.get_json()["errors"]["query"]) == {"province", "field"}
    spec = client.get("/api/v1/openapi.json").get_json()
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/connections"]["get"]["parameters"]}
    assert "lao-cai" in parameters["province"]["schema"]["enum"]
    assert "uav-aerospace" in parameters["field"]["schema"]["enum"]


class TestRateLimits:
    @pytest.fixture
    def settings(self):
        return {"RATELIMIT_ENABLED": True, "API_RATE_LIMIT": "3 per minute"}

    def test_too_many_requests_answer_429_per_token(self, client, catalogue):
        statuses = [client.get("/api/v1/initiatives").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = client.get("/api/v1/initiatives")
        assert response.mimetype == "application/problem+json" and response.get_json()["status"] == 429
        assert "Retry-After" in response.headers
        # Another token has its own allowance.
        assert client.get("/api/v1/initiatives", headers=catalogue["auth"]["admin"]).status_code == 200


def test_the_document_describes_every_route_of_the_api(app, client):
    """Each URL rule under /api/v1 (but the document and its page) is in the document, with each
    of its methods; and the document describes nothing the portal does not serve."""
    spec = client.get("/api/v1/openapi.json").get_json()
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("api-docs"):
            continue
        if rule.rule in ("/api/v1/openapi.json", "/api/v1/docs") or rule.rule.startswith("/api/v1/docs/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    assert len(served) >= 18
    assert served == documented


def test_the_document_and_its_page(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/initiatives", "/api/v1/demands/{demand_id}/initiatives", "/api/v1/connections/{connection_id}/moves",
                 "/api/v1/experts", "/api/v1/assignments", "/api/v1/reviews", "/api/v1/reviews/{review_id}", "/api/v1/me"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<script>" not in text and "cdn" not in text.lower()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/api/v1/docs/assets/{asset}").status_code == 200
    assert client.get("/api/v1/docs/assets/..%2Fsecret").status_code == 404
    assert client.get("/static/api-docs.js").status_code == 200
