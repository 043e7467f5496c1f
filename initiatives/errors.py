"""Error pages: a short message and the right status, never a stack trace."""

from flask import g, jsonify, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db, login_manager

MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Please sign in first."),
    403: _l("You do not have permission to open this page."),
    404: _l("This page does not exist."),
    405: _l("This action is not allowed here."),
    406: _l("The requested format is not available."),
    409: _l("This cannot be done in the current state."),
    413: _l("The upload is too large."),
    415: _l("The request's format is not supported."),
    422: _l("The request contains invalid values."),
    429: _l("Too many attempts. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. The team has been told."),
    503: _l("The portal is briefly unavailable. Please try again in a moment."),
}

# Errors that mean the database cannot be reached right now (down, restarting, locked): the
# request may succeed if tried again, and the pool reconnects by itself (pool_pre_ping).
DATABASE_UNAVAILABLE = (OperationalError, DisconnectionError, InterfaceError)
RETRY_AFTER_SECONDS = 30


def wants_json() -> bool:
    """API calls get problem-details JSON instead of a page."""
    return request.path.startswith("/api/")


def render_error(status: int, detail: str | None = None, errors: dict | None = None):
    """An error answer with ``status``: a page for people, problem details for the API (with
    ``errors``, what is wrong with each field of the request, when known)."""
    title = str(MESSAGES.get(status, MESSAGES[400 if 400 <= status < 500 else 500]))
    if wants_json():
        body = {"type": "about:blank", "title": title, "status": status}
        if detail:
            body["detail"] = str(detail)
        if errors:
            body["errors"] = errors
        response = jsonify(body)
        response.status_code = status
        response.mimetype = "application/problem+json"
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return render_template("errors/error.html", status=status, title=title, detail=detail), status


def _forget_session() -> None:
    """Roll back the request's transaction; with the database gone, drop the connection instead."""
    try:
        db.session.rollback()
    except Exception:  # the database is away: the pool replaces the connection
        db.session.close()


def init_app(app) -> None:
    """Register the handlers on ``app``."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, str(_l("The form expired or was sent from elsewhere. Please try again.")))

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code in (301, 302, 303, 307, 308):
            return error
        status = error.code or 500
        # Only a description given on purpose (abort(400, "...")) is shown, never a default text.
        custom = error.description != type(error).description
        detail = error.description if custom and isinstance(error.description, str) else None
        # webargs (the API's argument parser) puts what is wrong with each field here
        data = getattr(error, "data", None)
        errors = data.get("messages") if isinstance(data, dict) else None
        response = make_response(render_error(status, detail, errors if isinstance(errors, dict) else None))
        if status in (405, 429) and hasattr(error, "get_headers"):
            # Allow and Retry-After tell the caller what to do next
            for name, value in error.get_headers():
                if name.lower() in ("allow", "retry-after"):
                    response.headers[name] = value
        return response

    def database_unavailable(error):
        _forget_session()
        app.logger.error("Database unavailable on %s: %s", request.path, error)
        # The page must not reach for the database again: render it for an anonymous visitor.
        g._login_user = login_manager.anonymous_user()
        response = make_response(render_error(503, str(_l("Your last change may not have been saved."))))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for kind in DATABASE_UNAVAILABLE:
        app.register_error_handler(kind, database_unavailable)

    @app.errorhandler(Exception)
    def unexpected_error(error):
        _forget_session()
        app.logger.exception("Unhandled error on %s", request.path)
        return render_error(InternalServerError.code)
