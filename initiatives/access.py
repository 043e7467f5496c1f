"""Loading objects for a request: 404 when absent, 403 when the user may not act on them."""

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from .extensions import db, login_manager

# Ids are 32-bit integers in every supported database; a larger number in a URL is simply absent.
MAX_ID = 2**31 - 1


def load_or_404(model, object_id):
    """The ``model`` row with ``object_id``, or a 404."""
    if isinstance(object_id, int) and not 0 < object_id <= MAX_ID:
        abort(404)
    found = db.session.get(model, object_id)
    if found is None:
        abort(404)
    return found


def acts_as_admin(actor) -> bool:
    """Whether ``actor`` (a user, an anonymous visitor or None) holds the admin role: the right
    every administrative service operation checks, whoever calls it."""
    return actor is not None and bool(getattr(actor, "is_authenticated", False)) and bool(actor.is_admin)


def require(allowed: bool) -> None:
    """Go on only when ``allowed``: else send the signed-out to sign in, and answer others 403."""
    if not allowed:
        if not current_user.is_authenticated:
            abort(login_manager.unauthorized())
        abort(403)


def role_required(*roles):
    """A view decorator: signed in and holding at least one of ``roles`` (admins pass too)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not (current_user.is_admin or any(current_user.has_role(r) for r in roles)):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
