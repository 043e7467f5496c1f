"""The JSON API under /api/v1, its OpenAPI document and its human page.

Routes are flask-smorest blueprints, so the OpenAPI document at ``/api/v1/openapi.json`` is
generated from the code (marshmallow schemas, arguments, responses) and shown at ``/api/v1/docs``.

Callers authenticate with a personal token (``Authorization: Bearer <token>``, created on the
account page); session cookies are ignored here, so the API needs no CSRF token. Errors are
problem details (``application/problem+json``), requests are rate-limited (``API_RATE_LIMIT``).

Another area adds its routes to the same API and document like this (for example the catalogue
search, ``GET /api/v1/search``)::

    from initiatives.api import ApiBlueprint, api_user, register_api_blueprint
    from initiatives.api.schemas import PageArgs, page_of

    blp = ApiBlueprint("search", __name__, url_prefix="/api/v1/search",
                       description="Search the catalogue.")

    @blp.route("")
    @blp.arguments(SearchArgs, location="query")        # a marshmallow schema of the query
    @blp.response(200, page_of(SearchHitSchema))
    def search(args):
        user = api_user()    # the token's user, or an anonymous user
        ...

    def init_app(app):       # the area's own init_app
        register_api_blueprint(app, blp)

``ApiBlueprint`` brings the token authentication and the rate limit; ``register_api_blueprint``
works whether the area's ``init_app`` runs before or after this one's.
"""

from .core import ApiBlueprint, api_user, register_api_blueprint

__all__ = ["ApiBlueprint", "api_user", "register_api_blueprint", "init_app"]


def init_app(app) -> None:
    """Create the API of ``app``, register its resources and any routes other areas handed in."""
    from . import core, docs, resources, tokens, views  # noqa: F401  (tokens registers its table)

    core.init_api(app)
    for blueprint in resources.BLUEPRINTS:
        register_api_blueprint(app, blueprint)
    app.register_blueprint(docs.blueprint)
    views.init_app(app)
