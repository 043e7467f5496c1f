"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from initiatives import create_app
from initiatives.extensions import db
from tests.conftest import PG_URL


@pytest.fixture
def empty_database(tmp_path):
    """A URL to a database with nothing in it, of the same kind the suite runs on."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"portal_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_matches_the_models_and_downgrades_cleanly(empty_database, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        db.engine.dispose()


def test_the_search_text_revision_fills_the_rows_already_there(empty_database, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(revision="02522cb75f74")
        now = "2026-12-01 10:00:00"
        with db.engine.begin() as connection:
            connection.execute(text(
                'INSERT INTO "user" (id, email, name, organisation, password_hash, locale, active, '
                "email_notifications, email_opt_out, created_at) VALUES "
                "(1, 'a@example.org', 'A', '', 'x', 'vi', true, true, '[]', :now)"), {"now": now})
            connection.execute(text(
                "INSERT INTO initiative (id, proposer_id, title, summary, description, keywords, "
                "organisation, team_members, expected_impact, language, state, round, created_at, "
                "updated_at) VALUES (:id, 1, :title, 'Đà  Nẵng', '', :keywords, 'Đại học Huế', '[]', '', "
                "'vi', 'submitted', 1, :now, :now)"),
                [{"id": i, "title": f"Tưới tiêu {i}", "keywords": '["IoT", "Lúa"]', "now": now}
                 for i in range(1, 1502)])  # more than one batch
            connection.execute(text(
                "INSERT INTO demand (id, owner_id, organisation, title, description, language, state, "
                "created_at, updated_at) VALUES (1, 1, 'Sở Lào Cai', 'Cam sành', 'Bán online', 'vi', "
                "'open', :now, :now)"), {"now": now})
            connection.execute(text(
                "INSERT INTO expert_profile (id, name, organisation, fields, keywords, bio, languages, "
                "max_load, available, created_at, updated_at) VALUES (1, 'Lê Chí', 'Viện Lúa', '[]', "
                "'[\"Đê điều\"]', '', '[]', 5, true, :now, :now)"), {"now": now})
        upgrade()
        with db.engine.connect() as connection:
            initiatives = connection.execute(text("SELECT id, search_text FROM initiative ORDER BY id")).all()
            assert len(initiatives) == 1501
            assert initiatives[0].search_text == "tuoi tieu 1 \n da nang \n iot \n lua"
            assert initiatives[-1].search_text == "tuoi tieu 1501 \n da nang \n iot \n lua"
            assert connection.execute(text("SELECT search_text FROM demand")).scalar() == "cam sanh \n ban online"
            assert connection.execute(text("SELECT search_text FROM expert_profile")).scalar() == "le chi \n de dieu"
        downgrade(revision="02522cb75f74")
        columns = {c["name"] for c in inspect(db.engine).get_columns("initiative")}
        assert "search_text" not in columns and "title" in columns
        db.engine.dispose()
