"""The database going away: pages answer 503 "try again" (problem details under /api/) with
Retry-After and never a stack trace, a change caught in the outage is not half-written, and the
portal recovers by itself once the database is back."""

import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative

from .story import DRAFT_FORM, make_proposer, sign_in


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_try_again_page(response):
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    page = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "try again" in page
    for leak in ("Traceback", "OperationalError", "sqlalchemy", "psycopg", "sqlite3"):
        assert leak not in page


def assert_try_again_problem(response):
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 503 and "try again" in body["title"]
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", [
    pytest.param(lambda tmp: f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/portal", id="postgresql-refused"),
    pytest.param(lambda tmp: f"sqlite:///{tmp / 'not-there' / 'portal.db'}", id="sqlite-unopenable"),
])
def test_an_unreachable_database_answers_503_try_again(make_portal, tmp_path, url):
    app = make_portal(url(tmp_path), create=False)
    client = app.test_client()
    assert_try_again_page(client.get("/"))
    assert_try_again_page(client.get("/initiatives/1"))
    assert_try_again_page(client.post("/login", data={"email": "a@example.org", "password": "x" * 12}))
    assert_try_again_problem(client.get("/api/v1/initiatives"))


def test_sqlite_recovers_when_its_file_can_be_opened_again(make_portal, tmp_path):
    folder = tmp_path / "later"
    app = make_portal(f"sqlite:///{folder / 'portal.db'}", create=False)
    client = app.test_client()
    assert_try_again_page(client.get("/"))
    folder.mkdir()
    with app.app_context():
        db.create_all()
    assert client.get("/").status_code == 200


class FlakyLink:
    """A TCP relay in front of the PostgreSQL server that can be cut (every connection dropped,
    new ones refused) and restored on the same port: the database "going away for a moment"."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener = None
        self.running = threading.Event()

    def start(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.1)
        self.listener = listener
        self.running.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while self.running.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    @staticmethod
    def _relay(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self.running.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for end in self.sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
        self.sockets.clear()


@pytest.fixture
def flaky_link(postgres_url):
    url = make_url(postgres_url)
    link = FlakyLink(url.host or "127.0.0.1", url.port or 5432)
    link.start()
    yield link, url.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False)
    link.stop()


def test_postgresql_going_away_gives_503_and_the_portal_recovers_when_it_is_back(make_portal, flaky_link):
    link, url = flaky_link
    app = make_portal(url)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    with app.app_context():
        make_proposer()
    client = sign_in(app.test_client())
    assert client.get("/initiatives/mine").status_code == 200

    link.stop()  # the database goes away, taking the pooled connections with it
    assert_try_again_page(client.get("/initiatives/mine"))
    assert_try_again_page(client.post("/initiatives/new", data={**DRAFT_FORM, "title": "Lost in the outage"}))
    assert_try_again_problem(client.get("/api/v1/initiatives"))

    link.start()  # it is back: no restart of the portal, the same signed-in session carries on
    assert client.get("/initiatives/mine").status_code == 200
    response = client.post("/initiatives/new", data={**DRAFT_FORM, "title": "After the outage"})
    assert response.status_code == 302
    with app.app_context():
        assert [i.title for i in Initiative.query.all()] == ["After the outage"]


def _terminate_backends(postgres_url: str) -> int:
    """End every other session on the database, as a server restart or failover would."""
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            return len(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())
    finally:
        engine.dispose()


def test_terminated_connections_are_replaced_before_the_next_request(make_portal, postgres_url):
    app = make_portal(postgres_url)
    with app.app_context():
        make_proposer()
    client = sign_in(app.test_client())
    assert client.get("/initiatives/mine").status_code == 200
    assert _terminate_backends(postgres_url) >= 1  # the portal's pooled connection
    # pool_pre_ping notices the dead connection and opens a new one: the user sees nothing.
    assert client.get("/initiatives/mine").status_code == 200
    assert client.post("/initiatives/new", data={**DRAFT_FORM}).status_code == 302


def test_a_connection_lost_in_the_middle_of_a_request_gives_503_then_recovers(make_portal, postgres_url):
    app = make_portal(postgres_url)
    with app.app_context():
        proposer_id = make_proposer().id
        events = AuditEvent.query.count()

    def lose_the_connection():
        """A request whose database connection dies between two statements of one change."""
        from initiatives.models import User
        from initiatives.proposals import operations

        operations.create_draft(db.session.get(User, proposer_id), title="Half-written")  # flushed
        _terminate_backends(postgres_url)
        db.session.execute(text("SELECT 1"))
        return "unreachable"

    app.add_url_rule("/_test/lose-connection", "lose_connection", lose_the_connection)
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert_try_again_page(client.get("/_test/lose-connection"))
    assert client.get("/").status_code == 200
    with app.app_context():
        assert Initiative.query.count() == 0 and AuditEvent.query.count() == events


def test_the_sqlite_leg_has_no_pool_ping_to_configure(make_portal, tmp_path):
    app = make_portal(f"sqlite:///{Path(tmp_path) / 'portal.db'}")
    assert "pool_pre_ping" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
