"""Announcements other areas listen to, sent only after the transaction that caused them commits."""

from blinker import Namespace
from sqlalchemy import event
from sqlalchemy.orm import Session

portal_signals = Namespace()

# sender: the Flask app; keyword: the object's id
initiative_changed = portal_signals.signal("initiative-changed")
initiative_submitted = portal_signals.signal("initiative-submitted")
demand_changed = portal_signals.signal("demand-changed")
expert_changed = portal_signals.signal("expert-changed")

_PENDING = "portal_pending_signals"


def announce_after_commit(session, signal, **payload) -> None:
    """Queue ``signal`` to be sent with ``payload`` once ``session`` commits; dropped on rollback."""
    pending = session.info.setdefault(_PENDING, [])
    if (signal, payload) not in pending:
        pending.append((signal, payload))


@event.listens_for(Session, "after_commit")
def _send_pending(session):
    """Send what the committed transaction announced."""
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    from flask import current_app

    app = current_app._get_current_object()
    for signal, payload in pending:
        signal.send(app, **payload)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session):
    """A rolled-back change announces nothing."""
    session.info.pop(_PENDING, None)
