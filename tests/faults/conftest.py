"""Fixtures for the fault tests: portals on a SQLite file or on a PostgreSQL database of their own.

The PostgreSQL tests run in both CI legs: on the PostgreSQL leg against the server of
PORTAL_TEST_DATABASE_URL (failing, never skipping, when it cannot be reached), on the SQLite leg
against the local server (PORTAL_TEST_POSTGRES_SERVER, default postgres@127.0.0.1:5432), skipped
only when there is none."""

import os
import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

from initiatives import create_app
from initiatives.extensions import db
from tests.conftest import PG_URL, IsolatedClient, _add_token_route

POSTGRES_SERVER = (PG_URL if PG_URL and PG_URL.startswith("postgres")
                   else os.environ.get("PORTAL_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres"))


def psycopg_url(url: str) -> str:
    """``url`` with the driver SQLAlchemy should use."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def admin_engine():
    """An engine on the PostgreSQL server for creating and dropping databases."""
    return create_engine(psycopg_url(POSTGRES_SERVER), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_server():
    """An admin engine on a reachable PostgreSQL server (skipped on the SQLite leg without one)."""
    engine = admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to connect
        engine.dispose()
        if PG_URL:
            pytest.fail(f"The PostgreSQL test server cannot be reached: {error}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_SERVER}: {error}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server):
    """A URL to a new, empty PostgreSQL database, dropped (with its connections) afterwards."""
    name = f"portal_faults_{uuid.uuid4().hex[:10]}"
    with postgres_server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(psycopg_url(POSTGRES_SERVER)).set(database=name).render_as_string(hide_password=False)
    finally:
        with postgres_server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def make_portal(tmp_path, monkeypatch):
    """``make_portal(url, create=True)``: an app on the database ``url`` with its own instance
    folder, tables created, the same test settings as the suite's ``app``."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    made = []

    def make(url, create=True, **settings):
        application = create_app({
            "TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_ENABLED": False, "EMBEDDING_MODEL": "fake", "MAIL_SERVER": None,
            "SERVER_NAME": "portal.test", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", **settings,
        })
        application.test_client_class = IsolatedClient
        _add_token_route(application)
        made.append(application)
        if create:
            with application.app_context():
                db.create_all()
        return application

    yield make
    for application in made:
        with application.app_context():
            db.session.remove()
            if "portal_catalogue" in application.extensions:
                application.extensions["portal_catalogue"].close()
            if "portal_encoder" in application.extensions:
                application.extensions["portal_encoder"].wait()
            db.engine.dispose()
