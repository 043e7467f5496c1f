"""Writing audit events; callers do it inside the transaction of the change they record."""

from flask_login import current_user

from .extensions import db
from .models import AuditEvent


def actor_id(actor=None) -> int | None:
    """The id of ``actor``, else of the signed-in user, else None (the system)."""
    if actor is not None:
        return actor.id
    try:
        if current_user and current_user.is_authenticated:
            return current_user.id
    except (AttributeError, RuntimeError):  # no request or no login manager: the system acts
        pass
    return None


def record(action: str, target, *, actor=None, before=None, after=None, **detail) -> AuditEvent:
    """Add an audit event for ``action`` on ``target`` to the session (not committed here)."""
    event = AuditEvent(
        actor_id=actor_id(actor),
        action=action,
        object_type=target.__tablename__,
        object_id=target.id,
        before_state=str(before) if before is not None else None,
        after_state=str(after) if after is not None else None,
        detail=detail,
    )
    db.session.add(event)
    return event


def trail(object_type: str, object_id: int) -> list[AuditEvent]:
    """The audit events of one object, oldest first."""
    return (
        AuditEvent.query.filter_by(object_type=object_type, object_id=object_id)
        .order_by(AuditEvent.created_at, AuditEvent.id)
        .all()
    )
