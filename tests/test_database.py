"""The suite runs on the database it was asked to run on: the PostgreSQL leg never falls back."""

from initiatives.extensions import db
from tests.conftest import PG_URL


def test_the_suite_uses_the_requested_database(app):
    dialect = db.engine.dialect.name
    assert dialect == ("postgresql" if PG_URL else "sqlite")
    if PG_URL:
        assert db.engine.url.database == PG_URL.rsplit("/", 1)[1]


def test_unicode_round_trips(make_user, db):
    user = make_user(name="Đặng Thị Ngọc Hân 🌾")
    db.session.expire_all()
    assert type(user).query.filter_by(name="Đặng Thị Ngọc Hân 🌾").one().id == user.id
