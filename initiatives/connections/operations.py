"""Connection operations: suggest, request, answer and move on. They check rights and the state
machine, write the audit event and notify the other side in the caller's transaction; they never
commit."""

from flask import url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import audit
from ..extensions import db
from ..labels import state_label
from ..mail import mail_user, notify
from ..models import Demand, DemandState, Initiative, InitiativeState
from ..models.user import utcnow
from .models import CONNECTION_MACHINE, MOVES, OUTCOMES, Connection, ConnectionState

C = ConnectionState
MAX_MESSAGE = 2000

OUTCOME_LABELS = {
    "pilot": _l("Pilot"),
    "licence": _l("Licence"),
    "contract": _l("Contract"),
    "investment": _l("Investment"),
}


class ConnectionRefused(ValueError):
    """A connection operation refused, with a message for the user."""


class ConnectionForbidden(ConnectionRefused):
    """The user may not make this move on this connection."""


def find(demand: Demand, initiative: Initiative) -> Connection | None:
    """The connection between ``demand`` and ``initiative``, if any."""
    return Connection.query.filter_by(demand_id=demand.id, initiative_id=initiative.id).first()


def suggest(demand: Demand, initiative: Initiative, score: float | None = None) -> Connection | None:
    """Record the matcher's suggestion of ``initiative`` for ``demand`` (nothing when known)."""
    if find(demand, initiative) is not None:
        return None
    connection = Connection(demand=demand, initiative=initiative, state=C.SUGGESTED.value, score=score)
    db.session.add(connection)
    db.session.flush()
    audit.record("connection.suggested", connection, actor=None, after=C.SUGGESTED,
                 score=round(score, 4) if score is not None else None)
    return connection


def suggest_for_demand(demand: Demand) -> list[Connection]:
    """Record the matcher's accepted initiatives for an open demand as suggestions."""
    if demand.status != DemandState.OPEN:
        return []
    try:
        from search import matching
    except ImportError:  # the matching area is not installed
        return []
    created = []
    for match in matching.initiatives_for_demand(demand, only_accepted=True):
        if match.item.proposer_id == demand.owner_id:
            continue
        connection = suggest(demand, match.item, match.score)
        if connection is not None:
            created.append(connection)
    return created


def request_connection(demand: Demand, initiative: Initiative, user, message: str) -> Connection:
    """The demand's owner asks the initiative's proposer to connect; the proposer is notified."""
    message = (message or "").strip()
    if not demand.is_owner(user):
        raise ConnectionForbidden(_l("Only the owner of the demand can request a connection for it."))
    if demand.status != DemandState.OPEN:
        raise ConnectionRefused(_l("Connections are requested for open demands only."))
    if initiative.status != InitiativeState.ACCEPTED:
        raise ConnectionRefused(_l("Connections are made with accepted initiatives of the catalogue only."))
    if initiative.proposer_id == user.id:
        raise ConnectionRefused(_l("This initiative is your own."))
    if not message:
        raise ConnectionRefused(_l("Please write a short message to the proposer."))
    if len(message) > MAX_MESSAGE:
        raise ConnectionRefused(_l("The message is too long (at most %(n)d characters).", n=MAX_MESSAGE))
    connection = find(demand, initiative)
    if connection is None:
        connection = Connection(demand=demand, initiative=initiative, state=C.SUGGESTED.value)
        db.session.add(connection)
        db.session.flush()
        before = None
    elif CONNECTION_MACHINE.allowed(connection.status, C.REQUESTED):
        before = connection.status
    else:
        raise ConnectionRefused(_l("This demand and this initiative are already connected (%(state)s).",
                                 state=state_label(connection.state)))
    connection.state = C.REQUESTED.value
    connection.message = message
    connection.requested_by_id = user.id
    connection.requested_at = utcnow()
    audit.record("connection.requested", connection, actor=user, before=before, after=C.REQUESTED)
    _tell(connection, initiative.proposer, "requested")
    return connection


def move(connection: Connection, action: str, user, *, note: str = "", outcome: str | None = None) -> Connection:
    """Make ``action`` (accept, decline, discuss, adopt, close) on ``connection`` as ``user``."""
    if action not in MOVES:
        raise ConnectionRefused(_l("Unknown step."))
    note = (note or "").strip()
    if len(note) > MAX_MESSAGE:
        raise ConnectionRefused(_l("The message is too long (at most %(n)d characters).", n=MAX_MESSAGE))
    side = connection.side_of(user)
    if side is None or (side == "proposer" and connection.requested_at is None):
        raise ConnectionForbidden(_l("Only the two sides of a connection can move it on."))
    target = MOVES[action][0]
    if action not in connection.moves_for(user):
        if CONNECTION_MACHINE.allowed(connection.status, target):
            raise ConnectionForbidden(_l("The other side makes this step."))
        raise ConnectionRefused(_l("A connection that is “%(current)s” cannot become “%(target)s”.",
                                 current=state_label(connection.state), target=state_label(target)))
    if action == "adopt":
        if outcome not in OUTCOMES:
            raise ConnectionRefused(_l("Say what the adoption is: a pilot, a licence, a contract or an investment."))
        connection.outcome = outcome
    before = connection.status
    now = utcnow()
    connection.state = target.value
    connection.note = note
    if action in ("accept", "decline"):
        connection.reply = note
    stamp = {"accept": "agreed_at", "decline": "declined_at", "adopt": "adopted_at", "close": "closed_at"}
    if action in stamp:
        setattr(connection, stamp[action], now)
    audit.record(f"connection.{action}", connection, actor=user, before=before, after=target,
                 **({"outcome": outcome} if action == "adopt" else {}))
    other = connection.initiative.proposer if side == "owner" else connection.demand.owner
    if before == C.SUGGESTED and side == "owner":
        return connection  # a dismissed suggestion: the proposer never heard of it
    _tell(connection, other, target.value)
    return connection


# Notifying the other side -------------------------------------------------------------------

SUBJECTS = {
    "requested": _l("A demand owner asks to connect with your initiative"),
    "accepted": _l("Your connection request was accepted"),
    "declined": _l("Your connection request was declined"),
    "in_discussion": _l("A connection is now in discussion"),
    "adopted": _l("An initiative is adopted"),
    "closed": _l("A connection is closed"),
}


def _in_app_text(connection: Connection, event: str) -> str:
    """The bell's one line for ``event``, without names (they may not be visible yet)."""
    title = connection.initiative.title
    demand = connection.demand.title
    texts = {
        "requested": _("A demand owner asks to connect your initiative “%(title)s” with the demand “%(demand)s”.",
                       title=title, demand=demand),
        "accepted": _("The proposer of “%(title)s” accepted your request: you can now see each other's contacts.",
                      title=title),
        "declined": _("The proposer of “%(title)s” declined your request.", title=title),
        "in_discussion": _("The connection between “%(demand)s” and “%(title)s” is now in discussion.",
                           demand=demand, title=title),
        "adopted": _("“%(title)s” is adopted for “%(demand)s”.", title=title, demand=demand),
        "closed": _("The connection between “%(demand)s” and “%(title)s” is closed.", demand=demand, title=title),
    }
    return texts[event]


def _tell(connection: Connection, recipient, event: str) -> None:
    """Notify ``recipient`` of ``event`` in the bell and by e-mail, in their own language."""
    if recipient is None:
        return
    link = url_for("connections.view", connection_id=connection.id)
    with force_locale(recipient.locale or "en"):
        notify(recipient, _in_app_text(connection, event), link)
    mail_user(recipient, SUBJECTS[event], "mail/connection.txt", kind="connection", event=event,
              connection=connection, link=url_for("connections.view", connection_id=connection.id,
                                                  _external=True),
              contacts=contacts_for(connection, recipient),
              outcome_label=OUTCOME_LABELS.get(connection.outcome or "", ""))


def contacts_for(connection: Connection, user) -> list[dict]:
    """The contact details ``user`` may see on ``connection``: the other side's once both agreed
    (both sides' for admins), else nothing."""
    if user is None or not user.is_authenticated:
        return []
    owner = {"role": "owner", "name": connection.demand.owner.name, "email": connection.demand.owner.email,
             "organisation": connection.demand.organisation or connection.demand.owner.organisation}
    proposer = {"role": "proposer", "name": connection.initiative.proposer.name,
                "email": connection.initiative.proposer.email,
                "organisation": connection.initiative.organisation or connection.initiative.proposer.organisation}
    if user.is_admin and connection.side_of(user) is None:
        return [owner, proposer]
    if not connection.contacts_visible:
        return []
    side = connection.side_of(user)
    if side == "owner":  # the proposer's identity follows the initiative's one rule
        return [proposer] if connection.initiative.identity_visible_to(user) else []
    if side == "proposer":
        return [owner]
    return [owner, proposer] if user.is_admin else []
