"""Shared fixtures: an app on SQLite (or on PostgreSQL with PORTAL_TEST_DATABASE_URL), clients
signed in as each role, and factories that go through the same operations the pages use."""

import os
from itertools import count

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from initiatives import create_app
from initiatives.accounts import operations as accounts
from initiatives.extensions import db as _db
from initiatives.models import Role

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL")
PASSWORD = "correct horse battery"
_emails = count(1)
_pg_schema_ready = False


def _database_url(tmp_path) -> str:
    return PG_URL or f"sqlite:///{tmp_path / 'test.db'}"


def _reset_postgres(app) -> None:
    """PostgreSQL: build the schema once per run, then empty every table before each test."""
    global _pg_schema_ready
    with app.app_context():
        if not _pg_schema_ready:
            _db.drop_all()
            with _db.engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            _db.create_all()
            _pg_schema_ready = True
        tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
        with _db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own application context, as in production:
    nothing cached on ``g`` (such as the signed-in user) or in the session leaks between requests
    or between clients signed in as different people.

    CSRF protection stays on in tests. Like a browser that read the token from the form, the
    client adds its session's real token to posted forms, unless ``auto_csrf`` is switched off
    (the CSRF tests themselves) or the form already carries one."""

    auto_csrf = True

    def open(self, *args, **kwargs):
        if self.auto_csrf and kwargs.get("method", "GET") == "POST" and "json" not in kwargs:
            data = kwargs.setdefault("data", {})
            if isinstance(data, dict) and "csrf_token" not in data:
                data["csrf_token"] = self._csrf_token()
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def _csrf_token(self) -> str:
        with self.application.app_context():
            return super().open(CSRF_TOKEN_PATH).get_data(as_text=True)


CSRF_TOKEN_PATH = "/_test/csrf-token"


def _add_token_route(application) -> None:
    """A test-only page that hands a client the CSRF token of its own session."""
    from flask_wtf.csrf import generate_csrf

    application.add_url_rule(CSRF_TOKEN_PATH, "test_csrf_token", generate_csrf)


@pytest.fixture
def settings():
    """Per-test overrides merged into the app's configuration (edit before using ``app``)."""
    return {}


@pytest.fixture
def app(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": _database_url(tmp_path),
        "RATELIMIT_ENABLED": False,
        "EMBEDDING_MODEL": "fake",
        "MAIL_SERVER": None,
        "SERVER_NAME": "portal.test",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    config.update(settings)
    application = create_app(config)
    application.test_client_class = IsolatedClient
    _add_token_route(application)
    if PG_URL:
        _reset_postgres(application)
    else:
        with application.app_context():
            _db.create_all()
    with application.app_context():
        yield application
        _db.session.remove()
        if "portal_catalogue" in application.extensions:
            application.extensions["portal_catalogue"].close()
        if "portal_encoder" in application.extensions:
            application.extensions["portal_encoder"].wait()
        _db.engine.dispose()  # every test's app has its own pool: give its connections back


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a committed account: ``make_user("proposer", "expert", email=..., name=...)``."""

    def make(*roles, email=None, name=None, organisation="", locale="en", password=PASSWORD):
        user = accounts.register_user(
            email or f"user{next(_emails)}@example.org", name or "Test Person", password,
            roles or [Role.PROPOSER], organisation=organisation, locale=locale, allow_admin=True,
        )
        _db.session.commit()
        return user

    return make


def sign_in(client, user, password=PASSWORD):
    """Sign ``client`` in as ``user`` through the login page."""
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def login(app):
    """``login(user)`` returns a fresh test client signed in as ``user``."""

    def make(user, password=PASSWORD):
        return sign_in(app.test_client(), user, password)

    return make


@pytest.fixture
def people(make_user):
    """One account per role, plus a second proposer."""
    return {
        "proposer": make_user(Role.PROPOSER, email="proposer@example.org", name="Nguyễn Văn An"),
        "other": make_user(Role.PROPOSER, email="other@example.org", name="Trần Thị Bình"),
        "expert": make_user(Role.EXPERT, email="expert@example.org", name="Lê Minh Chí",
                            organisation="Viện Công nghệ"),
        "owner": make_user(Role.DEMAND_OWNER, email="owner@example.org", name="Phạm Dung",
                           organisation="Công ty Nông sản Lào Cai"),
        "admin": make_user(Role.ADMIN, email="admin@example.org", name="Admin"),
    }


COMPLETE_INITIATIVE = {
    "title": "Cảm biến độ ẩm đất cho ruộng lúa",
    "summary": "Low-cost soil moisture sensors that tell rice farmers when to irrigate.",
    "description": "A network of **solar** sensors and an SMS service for the Mekong delta.",
    "field": "agriculture",
    "keywords": ["rice", "irrigation", "IoT"],
    "trl": 5,
    "ip_status": "filed",
    "province": "can-tho",
    "organisation": "Đại học Cần Thơ",
    "team_members": ["Nguyễn Văn An", "Trần Thị Bình"],
    "budget_vnd": 1_500_000_000,
    "expected_impact": "Saves 30% of irrigation water.",
    "language": "vi",
}


@pytest.fixture
def make_initiative(app):
    """Create a committed initiative through the operations; ``submitted=True`` submits it."""
    from initiatives.proposals import operations as proposals

    def make(proposer, submitted=False, **values):
        initiative = proposals.create_draft(proposer, **{**COMPLETE_INITIATIVE, **values})
        if submitted:
            proposals.submit(initiative, proposer)
        _db.session.commit()
        return initiative

    return make


@pytest.fixture
def make_demand(app):
    from initiatives.demands import operations as demands

    def make(owner, **values):
        demand = demands.create_demand(owner, **{
            "title": "Sàn thương mại điện tử cho cam sành",
            "description": "Help mandarin orange farmers in Lào Cai sell online.",
            "field": "agriculture", "province": "lao-cai", **values})
        _db.session.commit()
        return demand

    return make


def pytest_report_header(config):
    return f"database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (set PORTAL_TEST_DATABASE_URL for PostgreSQL)'}"


# The demo encoded by the real model, once per test run and model: encoding it takes a minute,
# and the tests that need it would each pay that minute. Later tests load the demo (its ids
# are the same on a fresh database) and insert the vectors kept from the first.
_DEMO_VECTORS: dict[str, list[dict]] = {}


@pytest.fixture
def encoded_demo(runner, db, app):
    """Load the demo data and its vectors under the configured model, then index it."""
    from search import vectors
    from search.models import Embedding

    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    model = app.config["EMBEDDING_MODEL"]
    kept = _DEMO_VECTORS.get(model)
    if kept is not None:
        db.session.execute(db.insert(Embedding), kept)
        db.session.commit()
        vectors.forget_matrices()
    result = runner.invoke(args=["match", "embed"])
    assert result.exit_code == 0, result.output
    if kept is None:
        columns = ("kind", "object_id", "model", "text_hash", "dimension", "vector")
        _DEMO_VECTORS[model] = [{name: getattr(row, name) for name in columns} for row in Embedding.query]
    else:
        assert "Encoded 0 texts" in result.output, result.output  # the kept vectors were current
    result = runner.invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
