"""Connection pages: request, view and move a connection on; the sides' list; the admin list and
its CSV export; the panels on the initiative and demand pages."""

import csv
import io

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import or_

from .. import audit, taxonomy
from ..access import MAX_ID, load_or_404, require, role_required
from ..extensions import db
from ..labels import state_label
from ..models import Demand, DemandState, Initiative, InitiativeState, Role
from ..pagination import paginate
from . import operations
from .forms import ConnectionFilterForm, MoveForm, RequestForm
from .models import Connection, ConnectionState

blueprint = Blueprint("connections", __name__, url_prefix="/connections")
C = ConnectionState


def load_connection(connection_id: int) -> Connection:
    """The connection, or 404; 403 unless the user is one of its sides or an admin."""
    connection = load_or_404(Connection, connection_id)
    require(connection.can_view(current_user))
    return connection


def history(connection: Connection) -> list[dict]:
    """The connection's steps, oldest first; people are named only once contacts are visible."""
    owner_id, proposer_id = connection.demand.owner_id, connection.initiative.proposer_id
    named = connection.contacts_visible or current_user.is_admin
    rows = []
    for event in audit.trail("connection", connection.id):
        if event.actor_id is None:
            who = _("The matcher")
        elif named and event.actor is not None:
            who = event.actor.name
        elif event.actor_id == owner_id:
            who = _("The demand owner")
        elif event.actor_id == proposer_id:
            who = _("The proposer")
        else:
            who = _("An administrator")
        rows.append({"when": event.created_at, "who": who, "before": event.before_state,
                     "after": event.after_state, "outcome": (event.detail or {}).get("outcome")})
    return rows


def render_connection(connection: Connection, status: int = 200, form: MoveForm | None = None, error: str = ""):
    """The connection page for the current user."""
    return render_template(
        "connections/view.html", connection=connection, side=connection.side_of(current_user),
        moves=connection.moves_for(current_user), form=form or MoveForm(),
        contacts=operations.contacts_for(connection, current_user), history=history(connection),
        outcome_labels=operations.OUTCOME_LABELS, error=error,
    ), status


@blueprint.route("/<int:connection_id>")
@login_required
def view(connection_id):
    """One connection: both sides, its messages, the contacts once agreed, the next steps."""
    return render_connection(load_connection(connection_id))


@blueprint.route("/<int:connection_id>/<any(accept, decline, discuss, adopt, close):action>", methods=["POST"])
@login_required
def move(connection_id, action):
    """Accept, decline, discuss, adopt or close: the form's answer, or the page again with the reason."""
    connection = load_connection(connection_id)
    form = MoveForm()
    if not form.validate_on_submit():
        return render_connection(connection, 400, form, _("Please correct the form."))
    try:
        operations.move(connection, action, current_user, note=form.note.data or "",
                        outcome=form.outcome.data or None)
        db.session.commit()
    except operations.ConnectionForbidden as error:
        db.session.rollback()
        return render_connection(connection, 403, form, str(error))
    except operations.ConnectionRefused as error:
        db.session.rollback()
        return render_connection(connection, 409 if action != "adopt" or form.outcome.data else 400,
                                 form, str(error))
    flash(_("The connection is now: %(state)s.", state=state_label(connection.state)), "success")
    return redirect(url_for("connections.view", connection_id=connection.id))


@blueprint.route("/request", methods=["GET", "POST"])
@role_required(Role.DEMAND_OWNER)
def request_connection():
    """A demand owner asks the proposer of an accepted initiative to connect with one of their demands."""
    if request.method == "GET":
        form = RequestForm(formdata=None, demand_id=request.args.get("demand_id", type=int),
                           initiative_id=request.args.get("initiative_id", type=int))
    else:
        form = RequestForm()
    demands = own_open_demands()
    initiative = _get(Initiative, form.initiative_id.data)
    if initiative is not None and not initiative.can_view(current_user):
        initiative = None  # a draft or a submission under review: its existence is not told
    if request.method == "GET":
        return _request_page(form, demands, initiative, 200)
    if form.validate():
        demand = _get(Demand, form.demand_id.data)
        if demand is None or initiative is None:
            form.form_errors.append(_("This demand or this initiative does not exist."))
            return _request_page(form, demands, initiative, 404)
        try:
            connection = operations.request_connection(demand, initiative, current_user, form.message.data)
            db.session.commit()
        except operations.ConnectionForbidden as error:
            db.session.rollback()
            form.form_errors.append(str(error))
            return _request_page(form, demands, initiative, 403)
        except operations.ConnectionRefused as error:
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            flash(_("Your request is sent. The proposer is notified; contacts are shared once they accept."),
                  "success")
            return redirect(url_for("connections.view", connection_id=connection.id))
    return _request_page(form, demands, initiative, 400)


def _get(model, object_id):
    """The ``model`` row with ``object_id`` when it is a plausible id, else None."""
    if not isinstance(object_id, int) or not 0 < object_id <= MAX_ID:
        return None
    return db.session.get(model, object_id)


def _request_page(form, demands, initiative, status):
    return render_template("connections/request.html", form=form, demands=demands,
                           initiative=initiative if initiative is not None and initiative.is_public else None), status


def own_open_demands() -> list[Demand]:
    """The current user's open demands."""
    return (Demand.query.filter_by(owner_id=current_user.id, state=DemandState.OPEN.value)
            .order_by(Demand.created_at.desc()).all())


@blueprint.route("/mine")
@login_required
def mine():
    """The connections of the current user's demands and initiatives."""
    query = (Connection.query.join(Demand, Connection.demand_id == Demand.id)
             .join(Initiative, Connection.initiative_id == Initiative.id)
             .filter(or_(Demand.owner_id == current_user.id,
                         (Initiative.proposer_id == current_user.id) & Connection.requested_at.isnot(None))))
    page = paginate(query.order_by(Connection.updated_at.desc(), Connection.id.desc()))
    return render_template("connections/mine.html", page=page)


def filtered_connections(form: ConnectionFilterForm):
    """The admin list's query for the filters in ``form``."""
    form.state.choices = [("", "—")] + [(s.value, state_label(s)) for s in ConnectionState]
    form.province.choices = [("", "—")] + taxonomy.province_choices()
    form.field.choices = [("", "—")] + taxonomy.field_choices()
    query = (Connection.query.join(Demand, Connection.demand_id == Demand.id)
             .join(Initiative, Connection.initiative_id == Initiative.id))
    if form.state.data in {s.value for s in ConnectionState}:
        query = query.filter(Connection.state == form.state.data)
    if form.province.data in taxonomy.provinces():
        query = query.filter(or_(Demand.province == form.province.data, Initiative.province == form.province.data))
    if form.field.data in taxonomy.fields():
        query = query.filter(or_(Demand.field == form.field.data, Initiative.field == form.field.data))
    term = (form.q.data or "").replace("\x00", "").strip()
    if term:
        like = f"%{term}%"
        query = query.filter(or_(Demand.title.ilike(like), Initiative.title.ilike(like)))
    return query.order_by(Connection.updated_at.desc(), Connection.id.desc())


@blueprint.route("/")
@role_required(Role.ADMIN)
def admin_list():
    """Every connection, filtered by state, province and field."""
    form = ConnectionFilterForm(request.args)
    page = paginate(filtered_connections(form))
    return render_template("connections/admin_list.html", form=form, page=page)


CSV_COLUMNS = ("id", "state", "demand_id", "demand_title", "demand_organisation", "demand_owner",
               "demand_owner_email", "demand_province", "demand_field", "initiative_id", "initiative_title",
               "proposer", "proposer_email", "initiative_province", "initiative_field", "score", "outcome",
               "created_at", "requested_at", "agreed_at", "adopted_at", "closed_at")


@blueprint.route("/export.csv")
@role_required(Role.ADMIN)
def export_csv():
    """The admin list's connections (same filters) as CSV."""
    form = ConnectionFilterForm(request.args)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for c in filtered_connections(form).all():
        d, i = c.demand, c.initiative
        writer.writerow([
            c.id, c.state, d.id, d.title, d.organisation, d.owner.name, d.owner.email, d.province or "",
            d.field or "", i.id, i.title, i.proposer.name, i.proposer.email, i.province or "", i.field or "",
            "" if c.score is None else f"{c.score:.4f}", c.outcome or "",
            *[(value.isoformat(timespec="seconds") if value else "") for value in
              (c.created_at, c.requested_at, c.agreed_at, c.adopted_at, c.closed_at)],
        ])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=connections.csv"})


@blueprint.route("/suggest", methods=["POST"])
@role_required(Role.ADMIN)
def suggest():
    """Record the matcher's suggestions for every open demand."""
    if not MoveForm().validate_on_submit():
        abort(400)
    created = sum(len(operations.suggest_for_demand(d)) for d in
                  Demand.query.filter_by(state=DemandState.OPEN.value).all())
    db.session.commit()
    flash(_("%(n)d new suggestion(s) recorded.", n=created), "success")
    return redirect(url_for("connections.admin_list"))


# Panels on the initiative and demand pages ---------------------------------------------------

def initiative_panel(initiative: Initiative) -> Markup:
    """Adoption on the initiative page: the history for everyone, the connections for the proposer
    and admins, and a request form for demand owners."""
    user = current_user
    adopted = (Connection.query.filter_by(initiative_id=initiative.id, state=C.ADOPTED.value)
               .order_by(Connection.adopted_at).all()) if initiative.is_public else []
    connections, mine, demands = [], [], []
    if user.is_authenticated and (user.is_admin or initiative.is_proposer(user)):
        query = Connection.query.filter_by(initiative_id=initiative.id)
        if not user.is_admin:
            query = query.filter(Connection.requested_at.isnot(None))
        connections = query.order_by(Connection.updated_at.desc()).all()
    if (user.is_authenticated and user.has_role(Role.DEMAND_OWNER) and initiative.status == InitiativeState.ACCEPTED
            and not initiative.is_proposer(user)):
        mine = (Connection.query.join(Demand, Connection.demand_id == Demand.id)
                .filter(Connection.initiative_id == initiative.id, Demand.owner_id == user.id).all())
        taken = {c.demand_id for c in mine if c.status != C.SUGGESTED}
        demands = [d for d in own_open_demands() if d.id not in taken]
    if not (adopted or connections or mine or demands):
        return Markup("")
    form = RequestForm(initiative_id=initiative.id)
    return Markup(render_template("connections/initiative_panel.html", initiative=initiative, adopted=adopted,
                                  connections=connections, mine=mine, demands=demands, form=form,
                                  outcome_labels=operations.OUTCOME_LABELS))


def demand_panel(demand: Demand) -> Markup:
    """Candidate solutions on the demand page: its connections and their state, and, for the
    owner, a request form for the matched accepted initiatives."""
    user = current_user
    if not user.is_authenticated or not (user.is_admin or demand.is_owner(user)):
        return Markup("")
    connections = (Connection.query.filter_by(demand_id=demand.id)
                   .order_by(Connection.updated_at.desc()).all())
    candidates = []
    if demand.is_owner(user) and demand.status == DemandState.OPEN:
        taken = {c.initiative_id for c in connections if c.status != C.SUGGESTED}
        candidates = [m for m in _matches(demand) if m.item.id not in taken and m.item.proposer_id != user.id]
        suggested = {m.item.id for m in candidates}
        for c in connections:  # recorded suggestions the live matcher no longer ranks
            if c.status == C.SUGGESTED and c.initiative_id not in suggested and c.initiative.is_public:
                candidates.append(_Candidate(c.initiative, c.score))
    form = RequestForm(demand_id=demand.id)
    return Markup(render_template("connections/demand_panel.html", demand=demand, connections=connections,
                                  candidates=candidates, form=form))


class _Candidate:
    """An initiative offered to a demand owner, with the matcher's score when there is one."""

    def __init__(self, item, score=None):
        self.item, self.score = item, score


def _matches(demand: Demand) -> list:
    """The matcher's accepted initiatives for ``demand``; nothing when matching is not installed."""
    try:
        from search import matching
    except ImportError:
        return []
    return matching.initiatives_for_demand(demand, only_accepted=True)


def connections_nav(user):
    """Menu entries: the sides' connections, and the admin list."""
    from flask_babel import lazy_gettext as _l

    if not user.is_authenticated:
        return []
    if user.is_admin:
        return [{"url": url_for("connections.admin_list"), "label": _l("Connections"),
                 "prefix": url_for("connections.admin_list"), "group": "admin"}]
    if user.has_role(Role.DEMAND_OWNER) or user.has_role(Role.PROPOSER):
        url = url_for("connections.mine")
        return [{"url": url, "label": _l("My connections"), "prefix": url}]
    return []
