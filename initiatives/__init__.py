"""The Initiative Portal: the application factory."""

import json
import os
from pathlib import Path

from flask import Flask, g, has_request_context, request, session
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .config import DEV_SECRET_KEY, DefaultConfig, from_environment
from .extensions import babel, bootstrap, csrf, db, limiter, login_manager, migrate

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    """Create the portal: defaults, then instance/config.py, then PORTAL_* variables, then ``test_config``."""
    instance_path = os.environ.get("PORTAL_INSTANCE_PATH") or None
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_object(DefaultConfig)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(from_environment())
    else:
        app.config.update(from_environment())
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _finish_config(app)
    # JSON answers carry Vietnamese as UTF-8 ("Đà Nẵng", not "\u0110\u00e0 N\u1eb5ng"): readable
    # with curl, and a check that a name is absent from an answer really looks for it.
    app.json.ensure_ascii = False
    if app.config["PROXY_FIX"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    bootstrap.init_app(app)
    limiter.init_app(app)
    _configure_login()

    from . import background, errors, security, templating

    background.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    templating.init_app(app)

    from .accounts.controllers import blueprint as accounts_bp
    from .admin.controllers import blueprint as admin_bp
    from .demands.controllers import blueprint as demands_bp
    from .experts.controllers import blueprint as experts_bp
    from .proposals.controllers import blueprint as proposals_bp

    for blueprint in (accounts_bp, admin_bp, demands_bp, experts_bp, proposals_bp):
        app.register_blueprint(blueprint)

    from . import cli

    cli.init_app(app)

    # The areas built on the core plug in here; the core never imports them elsewhere.
    for area in _areas():
        area.init_app(app)
    return app


def _areas():
    """The optional areas that provide ``init_app``; the API comes last, so that the areas before
    it may hand it their routes (see ``initiatives.api.register_api_blueprint``)."""
    import importlib

    found = []
    for name in ("search", "review", "initiatives.connections", "initiatives.dashboard", "initiatives.api"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "init_app"):
            found.append(module)
    return found


def _finish_config(app: Flask) -> None:
    """Derive dependent settings and refuse unsafe production set-ups."""
    config = app.config
    if config.get("TESTING"):
        config["ENV"] = "testing"
    if config["ENV"] == "production" and config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise RuntimeError(
            "Refusing to start in production with the development secret key: set "
            "PORTAL_SECRET_KEY or SECRET_KEY in instance/config.py (`make install` writes one)."
        )
    if not config.get("MAX_CONTENT_LENGTH_FIXED"):
        # A request may carry one attachment and the rest of its form: a larger body is refused
        # before it is read (413), a smaller one reaches the form, which names the limit.
        config["MAX_CONTENT_LENGTH"] = int(config["MAX_ATTACHMENT_BYTES"]) + 1024 * 1024
    if config["ENV"] != "production":
        # Local development over plain http still needs its session cookie.
        config["SESSION_COOKIE_SECURE"] = config["REMEMBER_COOKIE_SECURE"] = False
    url = config.get("DATABASE_URL") or config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        url = "sqlite:///" + os.path.join(app.instance_path, "portal.db")
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    config["SQLALCHEMY_DATABASE_URI"] = url
    # JSON columns keep Vietnamese as it is written, not as \u escapes, so that the database
    # search that answers while the index is rebuilt can match keywords.
    json_options = {"json_serializer": _json_dumps}
    if url.startswith("sqlite"):
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}, **json_options}
    else:
        # A connection the server dropped (restart, failover) is replaced before use, not failed on.
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, **json_options,
                                               **config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    if not config.get("SEARCH_INDEX_PATH"):
        config["SEARCH_INDEX_PATH"] = os.path.join(app.instance_path, "index")


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: write-ahead log for concurrent readers, enforce foreign keys, and the fold
    function of the database search (search/textfold.py)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        from search.textfold import register_sqlite_fold

        register_sqlite_fold(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _select_locale():
    """The interface language: the user's choice, else the session's, else the browser's."""
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # command-line tools and background work
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if getattr(g, "api_request", False):
        return request.accept_languages.best_match(languages) or "en"
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if request.args.get("lang") in languages:
        return request.args["lang"]
    if session.get("lang") in languages:
        return session["lang"]
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def _configure_login() -> None:
    """Flask-Login: how to load a user, where to send the signed-out."""
    from flask_babel import lazy_gettext as _l

    from .models import User

    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        return user if user is not None and user.active else None
