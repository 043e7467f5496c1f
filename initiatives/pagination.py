"""Pages of query results, with the page number read from the request."""

from flask import current_app, request


def paginate(query, per_page: int | None = None):
    """A Flask-SQLAlchemy page of ``query`` for the ``page`` argument; a bad number means page 1."""
    page = request.args.get("page", 1, type=int) or 1
    return query.paginate(page=max(page, 1), per_page=per_page or current_app.config["ITEMS_PER_PAGE"],
                          error_out=False)
