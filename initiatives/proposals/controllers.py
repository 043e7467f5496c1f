"""Initiative pages: mine, create, view, edit, attach, submit, withdraw; the admin list."""

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import audit, uploads
from ..access import load_or_404, require, role_required
from ..extensions import db
from ..models import Attachment, Call, Initiative, InitiativeState, InitiativeVersion, Role
from ..pagination import paginate
from . import operations
from .forms import AttachmentForm, ConfirmForm, InitiativeFilterForm, InitiativeForm

blueprint = Blueprint("proposals", __name__, url_prefix="/initiatives")


def open_calls() -> list[Call]:
    """Calls a proposer may pick, the standing call first."""
    operations.standing_call()
    # Keep a standing call made just now: the form shows its id and must get the same id back
    # (PostgreSQL never reuses an id a rollback gave up, so the form would say "not valid").
    db.session.commit()
    return [c for c in Call.query.order_by(Call.is_standing.desc(), Call.id).all() if c.is_open()]


def load_initiative(initiative_id: int, check=Initiative.can_view) -> Initiative:
    """The initiative, or 404; 403 when ``check(initiative, current_user)`` fails."""
    initiative = load_or_404(Initiative, initiative_id)
    require(check(initiative, current_user))
    return initiative


@blueprint.route("/mine")
@role_required(Role.PROPOSER)
def mine():
    """The proposer's own initiatives with status and last change."""
    items = (Initiative.query.filter_by(proposer_id=current_user.id)
             .order_by(Initiative.updated_at.desc()).all())
    return render_template("initiatives/mine.html", items=items)


@blueprint.route("/new", methods=["GET", "POST"])
@role_required(Role.PROPOSER)
def create():
    """Start a new draft."""
    form = InitiativeForm(calls=open_calls())
    if request.method == "GET":
        form.organisation.data = current_user.organisation
        form.language.data = current_user.locale if current_user.locale in ("vi", "en") else "vi"
    if form.validate_on_submit():
        try:
            initiative = operations.create_draft(current_user, **form.values())
            db.session.commit()
        except operations.InitiativeError as error:
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            flash(_("Your draft is saved. You can attach files and submit it when it is complete."), "success")
            return redirect(url_for("proposals.view", initiative_id=initiative.id))
    return render_template("initiatives/edit.html", form=form, initiative=None), (400 if form.errors else 200)


@blueprint.route("/<int:initiative_id>")
def view(initiative_id):
    """The initiative page."""
    return render_initiative(load_initiative(initiative_id))


def render_initiative(initiative: Initiative, status: int = 200, **extra):
    """The initiative page for the current user, with ``extra`` (such as an upload error)."""
    trail = audit.trail("initiative", initiative.id) if current_user.is_authenticated and current_user.is_admin else []
    context = dict(
        initiative=initiative, trail=trail, attachment_form=AttachmentForm(), confirm_form=ConfirmForm(),
        missing=operations.missing_for_submission(initiative),
        can_edit=initiative.can_edit(current_user),
        can_withdraw=initiative.can_withdraw(current_user),
        panels=[panel(initiative) for panel in initiative_panels],
    )
    context.update(extra)
    return render_template("initiatives/view.html", **context), status


# Other areas add sections to the initiative page: callables (initiative) -> Markup or "".
initiative_panels: list = []


@blueprint.route("/<int:initiative_id>/edit", methods=["GET", "POST"])
@login_required
def edit(initiative_id):
    """Edit a draft or a requested revision."""
    initiative = load_initiative(initiative_id, Initiative.can_edit)
    calls = open_calls()
    if initiative.call and initiative.call not in calls:
        calls.append(initiative.call)
    form = InitiativeForm(obj=initiative, calls=calls)
    if request.method == "GET":
        form.keywords.data = ", ".join(initiative.keywords or [])
        form.team_members.data = "\n".join(initiative.team_members or [])
    if form.validate_on_submit():
        try:
            operations.update_initiative(initiative, current_user, **form.values())
            db.session.commit()
        except operations.InitiativeError as error:
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            flash(_("Your changes are saved."), "success")
            return redirect(url_for("proposals.view", initiative_id=initiative.id))
    return render_template("initiatives/edit.html", form=form, initiative=initiative), (400 if form.errors else 200)


@blueprint.route("/<int:initiative_id>/attachments", methods=["POST"])
@login_required
def attach(initiative_id):
    """Attach a file to an editable initiative."""
    initiative = load_initiative(initiative_id, Initiative.can_edit)
    form = AttachmentForm()
    if not form.validate_on_submit():
        flash(_("Choose a file to attach."), "danger")
        return redirect(url_for("proposals.view", initiative_id=initiative.id)), 303
    try:
        attachment = operations.add_attachment(initiative, current_user, form.file.data)
        db.session.commit()
    except (uploads.UploadError, operations.InitiativeError) as error:
        db.session.rollback()
        flash(_("The file was not attached: %(reason)s", reason=str(error)), "danger")
        # A full or read-only folder is the portal's fault, not the file's: 507 or 503, not 400.
        status = getattr(error, "status", 400)
        response = render_initiative(initiative, status, attachment_form=form, upload_error=str(error))
        return (*response, {"Retry-After": "300"}) if status == 503 else response
    flash(_("“%(name)s” is attached.", name=attachment.original_name), "success")
    return redirect(url_for("proposals.view", initiative_id=initiative.id))


@blueprint.route("/<int:initiative_id>/attachments/<int:attachment_id>")
def download(initiative_id, attachment_id):
    """Download an attachment, for those who may see the initiative."""
    initiative = load_initiative(initiative_id)
    attachment = load_or_404(Attachment, attachment_id)
    if attachment.initiative_id != initiative.id:
        abort(404)
    path = uploads.attachment_path(attachment.stored_name)
    if path is None:
        abort(404)
    return send_file(path, mimetype=attachment.content_type, as_attachment=True,
                     download_name=attachment.original_name)


@blueprint.route("/<int:initiative_id>/rounds/<int:round_number>/files/<int:index>")
@login_required
def round_file(initiative_id, round_number, index):
    """A file as it was submitted in a round (kept even if removed since), for the proposer,
    admins and the initiative's reviewers."""
    initiative = load_initiative(initiative_id, Initiative.can_see_rounds)
    version = InitiativeVersion.query.filter_by(initiative_id=initiative.id, round=round_number).first()
    files = (version.snapshot or {}).get("files", []) if version else []
    if not 0 <= index < len(files):
        abort(404)
    kept = files[index]
    path = uploads.attachment_path(kept["stored_name"])
    if path is None:
        abort(404)
    return send_file(path, mimetype=kept["content_type"], as_attachment=True, download_name=kept["name"])


@blueprint.route("/<int:initiative_id>/attachments/<int:attachment_id>/delete", methods=["POST"])
@login_required
def delete_attachment(initiative_id, attachment_id):
    """Remove an attachment from an editable initiative."""
    initiative = load_initiative(initiative_id, Initiative.can_edit)
    attachment = load_or_404(Attachment, attachment_id)
    if attachment.initiative_id != initiative.id:
        abort(404)
    operations.remove_attachment(attachment, current_user)
    db.session.commit()
    flash(_("The file is removed."), "info")
    return redirect(url_for("proposals.view", initiative_id=initiative.id))


@blueprint.route("/<int:initiative_id>/submit", methods=["GET", "POST"])
@login_required
def submit(initiative_id):
    """Confirm and submit: shows what is missing and any warnings before the proposer confirms."""
    initiative = load_initiative(initiative_id, Initiative.can_edit)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            operations.submit(initiative, current_user)
            db.session.commit()
        except operations.InitiativeError as error:
            db.session.rollback()
            flash(str(error), "danger")
            return redirect(url_for("proposals.submit", initiative_id=initiative.id)), 303
        flash(_("Your initiative is submitted. It now goes through screening."), "success")
        return redirect(url_for("proposals.view", initiative_id=initiative.id))
    warnings = []
    for check in operations.submission_warnings:
        warnings.extend(check(initiative))
    return render_template("initiatives/submit.html", initiative=initiative, form=form,
                           missing=operations.missing_for_submission(initiative), warnings=warnings)


@blueprint.route("/<int:initiative_id>/withdraw", methods=["POST"])
@login_required
def withdraw(initiative_id):
    """Withdraw before a decision."""
    initiative = load_initiative(initiative_id, Initiative.can_withdraw)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            operations.withdraw(initiative, current_user, form.reason.data or "")
            db.session.commit()
        except operations.InitiativeError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            flash(_("The initiative is withdrawn."), "info")
    return redirect(url_for("proposals.view", initiative_id=initiative.id))


@blueprint.route("/all")
@role_required(Role.ADMIN)
def admin_list():
    """Every initiative, filtered by status, field, province and call, page by page."""
    from .. import taxonomy
    from ..labels import state_label

    form = InitiativeFilterForm(request.args)
    form.state.choices = [("", "—")] + [(s.value, state_label(s)) for s in InitiativeState]
    form.field.choices = [("", "—")] + taxonomy.field_choices()
    form.province.choices = [("", "—")] + taxonomy.province_choices()
    form.call.choices = [("", "—")] + [(str(c.id), c.title) for c in Call.query.order_by(Call.id)]
    query = Initiative.query
    if form.q.data:
        query = query.filter(Initiative.title.ilike(f"%{form.q.data.strip()}%"))
    if form.state.data:
        query = query.filter(Initiative.state == form.state.data)
    if form.field.data:
        query = query.filter(Initiative.field == form.field.data)
    if form.province.data:
        query = query.filter(Initiative.province == form.province.data)
    if form.call.data and form.call.data.isdigit():
        query = query.filter(Initiative.call_id == int(form.call.data))
    page = paginate(query.order_by(Initiative.updated_at.desc(), Initiative.id.desc()))
    return render_template("initiatives/admin_list.html", form=form, page=page)
