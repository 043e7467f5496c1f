"""Admin pages: users (filter, roles, deactivate), the e-mail outbox, the audit log."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access import load_or_404, role_required
from ..accounts import operations as accounts
from ..accounts.forms import ActivationForm, UserRolesForm
from ..extensions import db
from ..models import AuditEvent, OutboxMessage, Role, User, UserRole
from ..pagination import paginate

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.route("/")
@role_required(Role.ADMIN)
def index():
    """The admin's start page: links to each area and a few counts."""
    from ..models import Demand, ExpertProfile, Initiative

    counts = {
        "users": User.query.count(),
        "initiatives": Initiative.query.count(),
        "screening": Initiative.query.filter_by(state="screening").count(),
        "demands": Demand.query.count(),
        "experts": ExpertProfile.query.count(),
        "outbox": OutboxMessage.query.filter(OutboxMessage.status != "sent").count(),
    }
    return render_template("admin/index.html", counts=counts)


@blueprint.route("/users")
@role_required(Role.ADMIN)
def users():
    """Users, filtered by name or e-mail, role and activity."""
    query = User.query
    term = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    status = request.args.get("status") or ""
    if term:
        like = f"%{term}%"
        query = query.filter(User.email.ilike(like) | User.name.ilike(like) | User.organisation.ilike(like))
    if role in {r.value for r in Role}:
        query = query.filter(User.id.in_(db.select(UserRole.user_id).where(UserRole.role == role)))
    if status in ("active", "inactive"):
        query = query.filter(User.active.is_(status == "active"))
    page = paginate(query.order_by(User.created_at.desc(), User.id.desc()))
    return render_template("admin/users.html", page=page, q=term, role=role, status=status, roles=list(Role))


@blueprint.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def user(user_id):
    """One user: change roles, deactivate or reactivate."""
    person = load_or_404(User, user_id)
    form = UserRolesForm(data={"roles": [r.value for r in person.roles]})
    if form.validate_on_submit():
        try:
            accounts.set_roles(person, form.roles.data, actor=current_user)
            db.session.commit()
        except accounts.AccountError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            flash(_("The roles are saved."), "success")
        return redirect(url_for("admin.user", user_id=person.id))
    events = (AuditEvent.query.filter_by(object_type="user", object_id=person.id)
              .order_by(AuditEvent.created_at.desc()).limit(50).all())
    return render_template("admin/user.html", person=person, form=form,
                           activation_form=ActivationForm(prefix="act"), events=events)


@blueprint.route("/users/<int:user_id>/activation", methods=["POST"])
@role_required(Role.ADMIN)
def activation(user_id):
    """Deactivate an active account, reactivate an inactive one."""
    person = load_or_404(User, user_id)
    if ActivationForm(prefix="act").validate_on_submit():
        try:
            accounts.set_active(person, not person.active, actor=current_user)
            db.session.commit()
        except accounts.AccountError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            flash(_("The account is now active.") if person.active else _("The account is deactivated."), "info")
    return redirect(url_for("admin.user", user_id=person.id))


@blueprint.route("/outbox")
@role_required(Role.ADMIN)
def outbox():
    """E-mails the portal wrote, newest first (all of them when no SMTP server is set)."""
    page = paginate(OutboxMessage.query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()))
    return render_template("admin/outbox.html", page=page)


@blueprint.route("/audit")
@role_required(Role.ADMIN)
def audit_log():
    """Every recorded change, newest first, filtered by object type."""
    query = AuditEvent.query
    kind = request.args.get("type") or ""
    if kind:
        query = query.filter(AuditEvent.object_type == kind)
    page = paginate(query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()), per_page=50)
    return render_template("admin/audit.html", page=page, kind=kind)
