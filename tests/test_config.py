"""Configuration layering and the refusal to run production on the development key."""

import pytest

from initiatives import create_app
from initiatives.config import DEV_SECRET_KEY


def test_production_refuses_the_development_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    with pytest.raises(RuntimeError, match="development secret key"):
        create_app()


def test_environment_overrides_instance_config(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("SECRET_KEY = 'from-instance'\nITEMS_PER_PAGE = 7\n")
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PORTAL_ITEMS_PER_PAGE", "9")
    monkeypatch.setenv("PORTAL_MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("PORTAL_MAIL_PORT", "2525")
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgres://u@db.example.org/portal")
    app = create_app()
    assert app.instance_path == str(tmp_path)
    assert app.config["SECRET_KEY"] == "from-instance"
    assert app.config["ITEMS_PER_PAGE"] == 9
    assert app.config["MAIL_SERVER"] == "smtp.example.org"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example.org/portal"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_secret_key_from_environment_and_sqlite_default(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PORTAL_SECRET_KEY", "0123456789")
    monkeypatch.delenv("PORTAL_DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["SECRET_KEY"] == "0123456789" != DEV_SECRET_KEY
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'elsewhere' / 'portal.db'}"
    assert (tmp_path / "elsewhere").is_dir()


def test_development_allows_plain_http_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PORTAL_ENV", "development")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize("hops, seen", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_forwarded_addresses_are_trusted_only_when_a_proxy_is_configured(tmp_path, monkeypatch, hops, seen):
    from flask import request

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "PROXY_FIX": hops,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"})
    app.add_url_rule("/_test/peer", "peer", lambda: f"{request.remote_addr} {request.scheme}")
    answer = app.test_client().get("/_test/peer", headers={"X-Forwarded-For": "203.0.113.9",
                                                            "X-Forwarded-Proto": "https"})
    assert answer.get_data(as_text=True) == f"{seen} {'https' if hops else 'http'}"
