"""Connections: a demand owner asks, the proposer answers, both move on to adoption; contacts stay
hidden until both agreed; every step is audited and notifies the other side."""

import csv
import io
import json

import pytest

from initiatives.connections import operations
from initiatives.connections.models import Connection, ConnectionState
from initiatives.models import AuditEvent, InitiativeState, Notification, OutboxMessage, Role
from initiatives.proposals import operations as proposals

S = InitiativeState
C = ConnectionState


def accept(initiative, admin, db):
    """Walk a submitted initiative to ``accepted`` as the review would."""
    for step in (S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED):
        proposals.transition(initiative, step, actor=admin)
    db.session.commit()
    return initiative


@pytest.fixture
def story(people, make_initiative, make_demand, db):
    """An accepted initiative of the proposer and an open demand of the owner."""
    initiative = accept(make_initiative(people["proposer"], submitted=True), people["admin"], db)
    demand = make_demand(people["owner"])
    return {"initiative": initiative, "demand": demand, **people}


def request(client, story, message="We grow oranges in Lào Cai and need this."):
    return client.post("/connections/request", data={
        "demand_id": story["demand"].id, "initiative_id": story["initiative"].id, "message": message})


HIDDEN_OWNER = ("Phạm Dung", "owner@example.org", "Công ty Nông sản Lào Cai")
# Who proposed the initiative: name, e-mail, organisation and the other team member.
HIDDEN_PROPOSER = ("Nguyễn Văn An", "proposer@example.org", "Đại học Cần Thơ", "Trần Thị Bình")


def assert_absent(text, words):
    for word in words:
        assert word not in text, word


def test_from_request_to_adoption(story, login, db):
    owner, proposer = login(story["owner"]), login(story["proposer"])
    initiative_page = owner.get(f"/initiatives/{story['initiative'].id}").get_data(as_text=True)
    assert 'id="request-connection"' in initiative_page

    response = request(owner, story)
    assert response.status_code == 302
    connection = Connection.query.one()
    assert connection.status == C.REQUESTED and connection.requested_by_id == story["owner"].id

    # The proposer is told, without the owner's name, e-mail or organisation.
    note = Notification.query.filter_by(user_id=story["proposer"].id).one()
    assert story["demand"].title in note.message
    mail = OutboxMessage.query.filter_by(recipient="proposer@example.org").one()
    assert_absent(mail.subject + mail.body, HIDDEN_OWNER)
    assert "We grow oranges" in mail.body
    pages = (f"/connections/{connection.id}", f"/initiatives/{story['initiative'].id}",
             "/connections/mine", "/notifications", f"/demands/{story['demand'].id}", "/demands/open")
    for page in pages:
        response = proposer.get(page)
        assert response.status_code == 200, page
        assert_absent(response.get_data(as_text=True), HIDDEN_OWNER)
    owner_view = owner.get(f"/connections/{connection.id}").get_data(as_text=True)
    assert_absent(owner_view, HIDDEN_PROPOSER)
    assert "Contact details are shown" in owner_view

    assert proposer.post(f"/connections/{connection.id}/accept", data={"note": "Happy to talk."}).status_code == 302
    db.session.expire_all()
    assert connection.status == C.ACCEPTED and connection.reply == "Happy to talk."
    mail = OutboxMessage.query.filter_by(recipient="owner@example.org").one()
    assert "proposer@example.org" in mail.body and "Nguyễn Văn An" in mail.body
    assert "owner@example.org" in proposer.get(f"/connections/{connection.id}").get_data(as_text=True)
    for page in (f"/demands/{story['demand'].id}", "/demands/open"):  # the organisation, now agreed
        assert "Công ty Nông sản Lào Cai" in proposer.get(page).get_data(as_text=True), page
    assert_absent(login(story["other"]).get(f"/demands/{story['demand'].id}").get_data(as_text=True),
                  HIDDEN_OWNER)
    assert "proposer@example.org" in owner.get(f"/connections/{connection.id}").get_data(as_text=True)

    assert owner.post(f"/connections/{connection.id}/discuss").status_code == 302
    assert proposer.post(f"/connections/{connection.id}/adopt", data={"outcome": "pilot"}).status_code == 302
    db.session.expire_all()
    assert connection.status == C.ADOPTED and connection.outcome == "pilot"
    actions = [e.action for e in AuditEvent.query.filter_by(object_type="connection").order_by(AuditEvent.id)]
    assert actions == ["connection.requested", "connection.accept", "connection.discuss", "connection.adopt"]
    assert Notification.query.filter_by(user_id=story["owner"].id).count() == 2  # accepted, adopted
    assert Notification.query.filter_by(user_id=story["proposer"].id).count() == 2  # requested, discussion

    public = login(story["other"]).get(f"/initiatives/{story['initiative'].id}").get_data(as_text=True)
    assert 'id="adoption-history"' in public and "Pilot" in public
    demand_page = owner.get(f"/demands/{story['demand'].id}").get_data(as_text=True)
    assert 'id="candidate-solutions"' in demand_page and "Adopted" in demand_page


def test_a_declined_request_never_reveals_contacts(story, login, db):
    owner, proposer = login(story["owner"]), login(story["proposer"])
    request(owner, story)
    connection = Connection.query.one()
    assert proposer.post(f"/connections/{connection.id}/decline", data={"note": "Not now."}).status_code == 302
    db.session.expire_all()
    assert connection.status == C.DECLINED and not connection.contacts_visible
    assert_absent(proposer.get(f"/connections/{connection.id}").get_data(as_text=True), HIDDEN_OWNER)
    assert_absent(owner.get(f"/connections/{connection.id}").get_data(as_text=True), HIDDEN_PROPOSER)
    mail = OutboxMessage.query.filter_by(recipient="owner@example.org").one()
    assert_absent(mail.body, HIDDEN_PROPOSER)


# Who may make which step from which state: (state, side, move) -> expected status.
MOVES = [
    ("requested", "proposer", "accept", 302),
    ("requested", "proposer", "decline", 302),
    ("requested", "owner", "accept", 403),
    ("requested", "owner", "close", 302),
    ("requested", "proposer", "close", 403),
    ("requested", "proposer", "adopt", 409),
    ("requested", "other", "accept", 403),
    ("requested", "expert", "decline", 403),
    ("accepted", "owner", "discuss", 302),
    ("accepted", "proposer", "adopt", 302),
    ("accepted", "owner", "close", 302),
    ("accepted", "proposer", "accept", 409),
    ("in_discussion", "owner", "adopt", 302),
    ("in_discussion", "proposer", "close", 302),
    ("in_discussion", "owner", "discuss", 409),
    ("declined", "proposer", "accept", 409),
    ("adopted", "owner", "close", 409),
    ("closed", "proposer", "discuss", 409),
]


@pytest.mark.parametrize("state, who, action, status", MOVES)
def test_who_moves_a_connection(story, login, db, state, who, action, status):
    request(login(story["owner"]), story)
    connection = Connection.query.one()
    connection.state = state
    if state in ("accepted", "in_discussion", "adopted"):
        from initiatives.models.user import utcnow

        connection.agreed_at = utcnow()
    db.session.commit()
    events = AuditEvent.query.filter_by(object_type="connection").count()
    response = login(story[who]).post(f"/connections/{connection.id}/{action}", data={"outcome": "licence"})
    assert response.status_code == status
    db.session.expire_all()
    if status == 302:
        assert connection.state == operations.MOVES[action][0].value
        assert AuditEvent.query.filter_by(object_type="connection").count() == events + 1
    else:
        assert connection.state == state
        assert AuditEvent.query.filter_by(object_type="connection").count() == events


def test_an_adoption_needs_its_outcome(story, login, db):
    request(login(story["owner"]), story)
    connection = Connection.query.one()
    proposer = login(story["proposer"])
    proposer.post(f"/connections/{connection.id}/accept")
    response = proposer.post(f"/connections/{connection.id}/adopt", data={"outcome": ""})
    assert response.status_code == 400
    assert "pilot, a licence, a contract or an investment" in response.get_data(as_text=True)
    assert proposer.post(f"/connections/{connection.id}/adopt", data={"outcome": "bribe"}).status_code == 400


@pytest.mark.parametrize("change, status, text", [
    ({"message": ""}, 400, "Please write a short message"),
    ({"demand_id": "abc"}, 400, "Choose one of your demands."),
    ({"initiative_id": 99999999999}, 400, "Number must be between"),
    ({"initiative_id": 424242}, 404, "does not exist"),
    ({"message": "x" * 2001}, 400, "2000"),
])
def test_bad_requests_are_refused_clearly(story, login, change, status, text):
    owner = login(story["owner"])
    data = {"demand_id": story["demand"].id, "initiative_id": story["initiative"].id, "message": "Hello", **change}
    response = owner.post("/connections/request", data=data)
    assert response.status_code == status
    assert text in response.get_data(as_text=True)
    assert Connection.query.count() == 0


def test_only_accepted_initiatives_and_own_demands(story, login, make_initiative, make_demand, make_user, db):
    owner = login(story["owner"])
    # A draft or a submission in screening answers as an id that does not exist: nothing tells
    # the owner it is there.
    for hidden in (make_initiative(story["proposer"]), make_initiative(story["proposer"], submitted=True)):
        response = owner.post("/connections/request", data={
            "demand_id": story["demand"].id, "initiative_id": hidden.id, "message": "Hello"})
        assert response.status_code == 404 and "does not exist" in response.get_data(as_text=True)
        assert hidden.title not in owner.get(f"/connections/request?initiative_id={hidden.id}").get_data(as_text=True)
    assert Connection.query.count() == 0
    stranger = make_user(Role.DEMAND_OWNER, email="stranger@example.org")
    response = login(stranger).post("/connections/request", data={
        "demand_id": story["demand"].id, "initiative_id": story["initiative"].id, "message": "Hello"})
    assert response.status_code == 403
    assert login(story["proposer"]).post("/connections/request", data={
        "demand_id": story["demand"].id, "initiative_id": story["initiative"].id,
        "message": "Hello"}).status_code == 403  # not a demand owner
    request(owner, story)
    again = request(owner, story)
    assert again.status_code == 400 and "already connected" in again.get_data(as_text=True)
    assert Connection.query.count() == 1


def test_outsiders_cannot_open_a_connection(story, login, client):
    request(login(story["owner"]), story)
    connection = Connection.query.one()
    assert login(story["other"]).get(f"/connections/{connection.id}").status_code == 403
    assert client.get(f"/connections/{connection.id}").status_code == 302  # to sign in
    assert login(story["admin"]).get(f"/connections/{connection.id}").status_code == 200
    assert login(story["owner"]).get("/connections/99999").status_code == 404


def test_a_failed_notification_leaves_nothing_half_written(story, login, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("mail exploded")

    monkeypatch.setattr(operations, "mail_user", broken)
    notifications = Notification.query.count()  # the admins' "waits in screening" ones
    response = request(login(story["owner"]), story)
    assert response.status_code == 500
    assert Connection.query.count() == 0
    assert AuditEvent.query.filter_by(object_type="connection").count() == 0
    assert Notification.query.count() == notifications
    assert Notification.query.filter(Notification.user_id != story["admin"].id).count() == 0


def test_admin_list_filters_and_export(story, login, make_initiative, make_demand, db):
    request(login(story["owner"]), story)
    second = accept(make_initiative(story["other"], submitted=True, title="Drone spraying",
                                    field="uav-aerospace", province="da-nang"), story["admin"], db)
    operations.suggest(story["demand"], second, 0.42)
    db.session.commit()
    admin = login(story["admin"])
    page = admin.get("/connections/").get_data(as_text=True)
    assert "Drone spraying" in page and story["initiative"].title in page
    page = admin.get("/connections/?state=suggested").get_data(as_text=True)
    assert "Drone spraying" in page and story["initiative"].title not in page
    page = admin.get("/connections/?field=uav-aerospace").get_data(as_text=True)
    assert "Drone spraying" in page and story["initiative"].title not in page
    page = admin.get("/connections/?province=can-tho").get_data(as_text=True)
    assert "Drone spraying" not in page and story["initiative"].title in page
    assert admin.get("/connections/?state=nonsense&province=atlantis").status_code == 200
    export = admin.get("/connections/export.csv?state=suggested")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [(r["initiative_title"], r["state"], r["score"]) for r in rows] == [("Drone spraying", "suggested", "0.4200")]
    assert login(story["owner"]).get("/connections/").status_code == 403
    assert login(story["owner"]).get("/connections/export.csv").status_code == 403


def test_a_suggestion_is_requested_or_dismissed_without_telling_the_proposer(story, login, db):
    operations.suggest(story["demand"], story["initiative"], 0.7)
    db.session.commit()
    connection = Connection.query.one()
    proposer = login(story["proposer"])
    assert proposer.get(f"/connections/{connection.id}").status_code == 403
    assert story["demand"].title not in proposer.get(f"/initiatives/{story['initiative'].id}").get_data(as_text=True)
    owner = login(story["owner"])
    assert owner.post(f"/connections/{connection.id}/close").status_code == 302
    assert Notification.query.filter_by(user_id=story["proposer"].id).count() == 0
    assert OutboxMessage.query.count() == 0
    db.session.expire_all()
    assert connection.status == C.CLOSED
    connection.state = "suggested"  # the matcher suggests it again later
    connection.closed_at = None
    db.session.commit()
    assert request(owner, story).status_code == 302
    db.session.expire_all()
    assert connection.status == C.REQUESTED
    event = AuditEvent.query.filter_by(object_type="connection", action="connection.requested").one()
    assert (event.before_state, event.after_state) == ("suggested", "requested")


class TestMatcherSuggestions:
    @pytest.fixture
    def settings(self):
        return {"EMBED_SYNC": True, "DEMAND_MATCH_THRESHOLD": -1.0}

    def test_the_matcher_suggests_and_the_owner_requests_from_the_demand_page(self, story, login, runner, db):
        page = login(story["owner"]).get(f"/demands/{story['demand'].id}").get_data(as_text=True)
        assert 'id="panel-initiative"' in page and story["initiative"].title in page
        result = runner.invoke(args=["connections", "suggest"])
        assert result.exit_code == 0, result.output
        assert "1 new suggestion(s)" in result.output
        connection = Connection.query.one()
        assert connection.status == C.SUGGESTED and connection.score is not None
        assert "0 new suggestion(s)" in runner.invoke(args=["connections", "suggest"]).output


class TestTheProposerStaysAnonymous:
    """Who proposed an accepted initiative is a contact detail: the public catalogue and a demand
    owner learn it only once both sides agreed on a connection (issue 6)."""

    @pytest.fixture
    def settings(self):
        return {"EMBED_SYNC": True, "DEMAND_MATCH_THRESHOLD": -1.0}

    @staticmethod
    def pages(story, connection=None):
        """Every page and API answer a demand owner (or the public) reaches about the initiative."""
        initiative, demand = story["initiative"].id, story["demand"].id
        # The pages echo the query: the searches by organisation and team member go through the API.
        pages = [f"/initiatives/{initiative}", "/catalogue", "/catalogue?q=Cảm biến độ ẩm&mode=text",
                 "/catalogue?q=rice irrigation", f"/demands/{demand}", "/demands/open", "/connections/mine", "/notifications",
                 f"/connections/request?demand_id={demand}&initiative_id={initiative}",
                 "/api/v1/initiatives", f"/api/v1/initiatives/{initiative}",
                 f"/api/v1/demands/{demand}/initiatives", "/api/v1/connections", "/api/v1/search?q=Cảm biến",
                 "/api/v1/search?q=Đại học Cần Thơ", "/api/v1/search?q=Trần Thị Bình&mode=semantic"]
        if connection is not None:
            pages += [f"/connections/{connection.id}", f"/api/v1/connections/{connection.id}"]
        return pages

    @staticmethod
    def read(client, path, headers):
        """The status and text of ``path``; JSON decoded, since it escapes every non-ASCII letter."""
        if not path.startswith("/api/"):
            response = client.get(path)
            return response.status_code, response.get_data(as_text=True)
        response = client.get(path, headers=headers)
        return response.status_code, json.dumps(response.get_json(), ensure_ascii=False)

    def test_no_page_mail_or_answer_names_the_proposer_before_both_agreed(self, story, login, client, app, db):
        from initiatives.api import tokens
        from search.catalogue import catalogue

        catalogue(app).flush()
        _row, raw = tokens.create_token(story["owner"], "tests")
        db.session.commit()
        owner, api = login(story["owner"]), {"Authorization": f"Bearer {raw}"}
        seen = owner.get(f"/initiatives/{story['initiative'].id}").get_data(as_text=True)
        assert story["initiative"].title in seen and 'id="request-connection"' in seen
        for path in self.pages(story):
            assert self.read(client, path, {})[0] in (200, 302, 401), path
            assert_absent(self.read(client, path, {})[1], HIDDEN_PROPOSER)  # the anonymous public
            status, text = self.read(owner, path, api)
            assert status == 200, path
            assert_absent(text, HIDDEN_PROPOSER)
        matches = owner.get(f"/api/v1/demands/{story['demand'].id}/initiatives", headers=api).get_json()
        assert [m["initiative"]["id"] for m in matches["items"]] == [story["initiative"].id]

        request(owner, story)
        connection = Connection.query.one()
        for path in self.pages(story, connection):
            assert_absent(self.read(owner, path, api)[1], HIDDEN_PROPOSER)
        proposer = login(story["proposer"])
        assert proposer.post(f"/connections/{connection.id}/decline").status_code == 302
        for path in self.pages(story, connection):
            assert_absent(self.read(owner, path, api)[1], HIDDEN_PROPOSER)
        for mail in OutboxMessage.query.filter_by(recipient="owner@example.org"):
            assert_absent(mail.subject + mail.body, HIDDEN_PROPOSER)

    def test_searching_for_the_organisation_lists_none_of_its_initiatives(self, story, login, client, app, db):
        """The organisation matches for admins only (``org:...``): a search for it would otherwise
        list its initiatives, telling who proposed them though no result shows the name."""
        from initiatives.api import tokens
        from search.catalogue import catalogue

        catalogue(app).flush()
        _row, raw = tokens.create_token(story["owner"], "tests")
        db.session.commit()
        owner, api = login(story["owner"]), {"Authorization": f"Bearer {raw}"}
        initiative = story["initiative"].id

        def listed(asker, headers, query, mode):
            page = asker.get("/catalogue", query_string={"q": query, "mode": mode}).get_data(as_text=True)
            answer = asker.get("/api/v1/search", query_string={"q": query, "mode": mode}, headers=headers)
            return (f'href="/initiatives/{initiative}"' in page,
                    initiative in [r["id"] for r in answer.get_json()["results"]])

        for asker, headers in ((client, {}), (owner, api)):
            assert listed(asker, headers, "Cảm biến độ ẩm", "text") == (True, True)
            for query in ("Đại học Cần Thơ", "dai hoc can tho", 'org:"Đại học Cần Thơ"', 'organisation:"dai hoc"'):
                assert listed(asker, headers, query, "text") == (False, False), query
                # Hybrid adds nothing to what the meaning of the words finds (vectors leave the
                # organisation out).
                assert listed(asker, headers, query, "hybrid") == listed(asker, headers, query, "semantic"), query
        assert listed(login(story["admin"]), {}, 'org:"Đại học Cần Thơ"', "text")[0]

    def test_after_both_agreed_that_owner_only_sees_who_proposed(self, story, login, client, make_user,
                                                                make_demand, app, db):
        from initiatives.api import tokens

        request(login(story["owner"]), story)
        connection = Connection.query.one()
        assert login(story["proposer"]).post(f"/connections/{connection.id}/accept").status_code == 302
        second = make_user(Role.DEMAND_OWNER, email="second@example.org", name="Hoàng Yến")
        make_demand(second, title="Another demand")
        headers = {}
        for who, user in (("owner", story["owner"]), ("second", second)):
            _row, raw = tokens.create_token(user, "tests")
            headers[who] = {"Authorization": f"Bearer {raw}"}
        db.session.commit()
        mail = OutboxMessage.query.filter_by(recipient="owner@example.org").one()
        assert "Nguyễn Văn An" in mail.body and "Đại học Cần Thơ" in mail.body

        initiative = story["initiative"].id
        page = login(story["owner"]).get(f"/initiatives/{initiative}").get_data(as_text=True)
        for detail in ("Nguyễn Văn An", "Đại học Cần Thơ", "Trần Thị Bình"):
            assert detail in page, detail
        answer = client.get(f"/api/v1/initiatives/{initiative}", headers=headers["owner"]).get_json()
        assert (answer["proposer_name"], answer["organisation"]) == ("Nguyễn Văn An", "Đại học Cần Thơ")
        assert answer["team_members"] == ["Nguyễn Văn An", "Trần Thị Bình"]
        listed = client.get("/api/v1/initiatives", headers=headers["owner"]).get_json()["items"]
        assert listed[0]["organisation"] == "Đại học Cần Thơ"
        contacts = client.get(f"/api/v1/connections/{connection.id}", headers=headers["owner"]).get_json()["contacts"]
        assert contacts[0]["email"] == "proposer@example.org"

        # Another demand owner and the public still learn nothing.
        second_client = login(second)
        for path in (f"/initiatives/{initiative}", "/catalogue", "/api/v1/initiatives",
                     f"/api/v1/initiatives/{initiative}", "/api/v1/search?q=Cảm biến"):
            assert_absent(self.read(second_client, path, headers["second"])[1], HIDDEN_PROPOSER)
            assert_absent(self.read(client, path, {})[1], HIDDEN_PROPOSER)


@pytest.mark.parametrize("who, visible", [
    ("anonymous", False), ("other", False), ("owner", False), ("expert", False),
    ("proposer", True), ("admin", True),
])
def test_one_rule_says_who_learns_who_proposed(story, who, visible):
    from flask_login import AnonymousUserMixin

    user = AnonymousUserMixin() if who == "anonymous" else story[who]
    assert story["initiative"].identity_visible_to(user) is visible
    assert story["initiative"].organisation_for(user) == ("Đại học Cần Thơ" if visible else "")
