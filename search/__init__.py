"""Semantic matching and full-text search (embeddings, affinity, assignment, the text index)."""


def init_app(app) -> None:
    """Plug matching into the portal: stored vectors, encoding after commit, pages and commands."""
    from search import (
        api,
        catalogue,
        cli,
        controllers,
        models,  # noqa: F401  (registers the tables)
        pages,
        vectors,
    )

    vectors.init_app(app)
    catalogue.init_app(app)
    controllers.init_app(app)
    pages.init_app(app)
    cli.init_app(app)
    api.init_app(app)
    if app.config.get("EMBEDDING_WARM_UP"):
        _warm_up(app)


def _warm_up(app) -> None:
    """Load the model in the background at start-up, so the first request does not wait."""
    from search.embeddings import get_service

    get_service(app.config["EMBEDDING_MODEL"]).warm_up()
