"""The API's machinery: the flask-smorest Api of each app, token authentication, rate limits and
problem-details errors in the OpenAPI document."""

import hashlib
import http

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import Unauthorized

from ..extensions import csrf, limiter
from .schemas import ProblemSchema

PROBLEM_CONTENT_TYPE = "application/problem+json"
_EXTENSION = "portal-api"


class PortalApi(Api):
    """flask-smorest's Api, leaving errors to the portal's own handlers (problem details) and
    documenting them as such."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        """The portal's handlers (initiatives.errors) already answer /api/ with problem details."""

    def _register_responses(self):
        """Every error response is documented as problem details."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as problem details (RFC 9457).", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def _rate_key() -> str:
    """Requests are counted per token when there is one, else per address."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


def _authenticate() -> None:
    """Read the bearer token (never the session cookie) and keep its user for the request."""
    g.api_request = True  # the locale selector follows Accept-Language here
    g.api_user = AnonymousUserMixin()
    header = request.headers.get("Authorization")
    if header is None:
        return
    scheme, _separator, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_("Use the header “Authorization: Bearer <token>”."))
    from .tokens import user_for

    user = user_for(token.strip())
    if user is None:
        raise Unauthorized(_("The token is unknown or revoked, or its account is deactivated."))
    g.api_user = user


def api_user():
    """The user the request's token belongs to, or an anonymous user."""
    return getattr(g, "api_user", None) or AnonymousUserMixin()


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint of /api/v1 routes: token authentication, rate limit, no CSRF."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_request(_authenticate)
        limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_rate_key)(self)
        csrf.exempt(self)


def init_api(app) -> PortalApi:
    """Create the Api of ``app`` and register the routes queued before it existed."""
    app.config.setdefault("API_TITLE", "Initiative Portal API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": "Initiatives, demands, experts, matches, assignments and connections of "
                                "the Initiative Portal. Anonymous callers see the public catalogue; send "
                                "`Authorization: Bearer <token>` (tokens are made on your account page) "
                                "for more. Errors are problem details; lists are paged with `page` and "
                                "`limit` (at most 100)."},
        "servers": [{"url": "/"}],
    })
    api = PortalApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "A personal API token."})
    state = app.extensions.setdefault(_EXTENSION, {"api": None, "pending": []})
    state["api"] = api
    for blueprint in state.pop("pending", []):
        api.register_blueprint(blueprint)
    return api


def register_api_blueprint(app, blueprint: Blueprint) -> None:
    """Add ``blueprint``'s routes to the API of ``app`` and to its OpenAPI document."""
    state = app.extensions.setdefault(_EXTENSION, {"api": None, "pending": []})
    if state.get("api") is not None:
        state["api"].register_blueprint(blueprint)
    else:
        state.setdefault("pending", []).append(blueprint)
