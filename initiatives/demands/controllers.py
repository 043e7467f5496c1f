"""Demand pages: mine, new, view, edit, close, reopen, fulfil; the admin list."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import taxonomy
from ..access import load_or_404, require, role_required
from ..extensions import db
from ..labels import state_label
from ..models import Demand, DemandState, Role
from ..pagination import paginate
from ..proposals.forms import ConfirmForm
from . import operations
from .forms import DemandFilterForm, DemandForm

blueprint = Blueprint("demands", __name__, url_prefix="/demands")

# Other areas add sections to the demand page: callables (demand) -> Markup or "".
demand_panels: list = []


def load_demand(demand_id: int, check=Demand.can_view) -> Demand:
    """The demand, or 404; 403 when ``check(demand, current_user)`` fails."""
    demand = load_or_404(Demand, demand_id)
    require(check(demand, current_user))
    return demand


@blueprint.route("/mine")
@role_required(Role.DEMAND_OWNER)
def mine():
    """The demand owner's own demands."""
    items = Demand.query.filter_by(owner_id=current_user.id).order_by(Demand.updated_at.desc()).all()
    return render_template("demands/mine.html", items=items)


@blueprint.route("/new", methods=["GET", "POST"])
@role_required(Role.DEMAND_OWNER)
def create():
    """Post a new demand."""
    form = DemandForm()
    if request.method == "GET":
        form.organisation.data = current_user.organisation
        form.language.data = current_user.locale
    if form.validate_on_submit():
        try:
            demand = operations.create_demand(current_user, **form.values())
            db.session.commit()
        except operations.DemandError as error:
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            flash(_("Your demand is posted."), "success")
            return redirect(url_for("demands.view", demand_id=demand.id))
    return render_template("demands/edit.html", form=form, demand=None), (400 if form.errors else 200)


@blueprint.route("/<int:demand_id>")
@login_required
def view(demand_id):
    """The demand page."""
    demand = load_demand(demand_id)
    return render_template("demands/view.html", demand=demand, confirm_form=ConfirmForm(),
                           can_edit=demand.can_edit(current_user),
                           panels=[panel(demand) for panel in demand_panels])


@blueprint.route("/<int:demand_id>/edit", methods=["GET", "POST"])
@login_required
def edit(demand_id):
    """Edit a demand."""
    demand = load_demand(demand_id, Demand.can_edit)
    form = DemandForm(obj=demand)
    if form.validate_on_submit():
        try:
            operations.update_demand(demand, current_user, **form.values())
            db.session.commit()
        except operations.DemandError as error:
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            flash(_("Your changes are saved."), "success")
            return redirect(url_for("demands.view", demand_id=demand.id))
    return render_template("demands/edit.html", form=form, demand=demand), (400 if form.errors else 200)


@blueprint.route("/<int:demand_id>/<any(close, reopen, fulfil):action>", methods=["POST"])
@login_required
def move(demand_id, action):
    """Close, reopen or mark a demand fulfilled."""
    demand = load_demand(demand_id, Demand.can_edit)
    target = {"close": DemandState.CLOSED, "reopen": DemandState.OPEN, "fulfil": DemandState.FULFILLED}[action]
    if ConfirmForm().validate_on_submit():
        try:
            operations.move_demand(demand, target, current_user)
            db.session.commit()
        except operations.DemandError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            flash(_("The demand is now: %(state)s.", state=state_label(target)), "success")
    return redirect(url_for("demands.view", demand_id=demand.id))


@blueprint.route("/all")
@role_required(Role.ADMIN)
def admin_list():
    """Every demand, filtered, page by page."""
    form = DemandFilterForm(request.args)
    form.state.choices = [("", "—")] + [(s.value, state_label(s)) for s in DemandState]
    form.province.choices = [("", "—")] + taxonomy.province_choices()
    query = Demand.query
    if form.q.data:
        query = query.filter(Demand.title.ilike(f"%{form.q.data.strip()}%"))
    if form.state.data:
        query = query.filter(Demand.state == form.state.data)
    if form.province.data:
        query = query.filter(Demand.province == form.province.data)
    page = paginate(query.order_by(Demand.updated_at.desc(), Demand.id.desc()))
    return render_template("demands/admin_list.html", form=form, page=page)


@blueprint.route("/open")
@login_required
def open_list():
    """Open demands, for every signed-in user (proposers look for problems to solve)."""
    page = paginate(Demand.query.filter_by(state=DemandState.OPEN.value).order_by(Demand.created_at.desc()))
    return render_template("demands/open_list.html", page=page)
