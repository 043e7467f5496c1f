"""Expert pages: the own profile, publications, conflicts; the admin list of experts."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..access import load_or_404, require, role_required
from ..extensions import db
from ..models import ExpertProfile, OrganisationConflict, Publication, Role
from ..models.expert import PersonConflict
from ..pagination import paginate
from ..proposals.forms import ConfirmForm
from . import operations
from .forms import ConflictForm, ExpertProfileForm, PersonConflictForm, PublicationForm

blueprint = Blueprint("experts", __name__, url_prefix="/expert")


def own_profile() -> ExpertProfile:
    """The signed-in expert's profile (created on first visit)."""
    profile = operations.profile_for(current_user)
    db.session.commit()
    return profile


@blueprint.route("/profile", methods=["GET", "POST"])
@role_required(Role.EXPERT)
def profile():
    """The expert keeps their profile, publications and declared conflicts."""
    expert = own_profile()
    form = ExpertProfileForm(obj=expert)
    if request.method == "GET":
        form.keywords.data = ", ".join(expert.keywords or [])
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in operations.PROFILE_FIELDS}
        try:
            operations.update_profile(expert, current_user, **values)
            db.session.commit()
        except operations.ExpertError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("experts.profile"))
    return render_template("experts/profile.html", expert=expert, form=form,
                           publication_form=PublicationForm(prefix="pub"),
                           conflict_form=ConflictForm(prefix="coi"),
                           person_conflict_form=PersonConflictForm(prefix="person"),
                           confirm_form=ConfirmForm()), (400 if form.errors else 200)


@blueprint.route("/publications", methods=["POST"])
@role_required(Role.EXPERT)
def add_publication():
    """Add a publication to the own profile."""
    expert = own_profile()
    form = PublicationForm(prefix="pub")
    if form.validate_on_submit():
        operations.add_publication(expert, current_user, form.title.data, form.abstract.data,
                                   form.year.data, form.venue.data)
        db.session.commit()
        flash(_("The publication is added."), "success")
    else:
        flash(_("The publication needs a title (and a year between 1900 and 2100)."), "danger")
    return redirect(url_for("experts.profile"))


def load_publication(publication_id: int) -> Publication:
    """A publication the current user may edit, or 404/403."""
    publication = load_or_404(Publication, publication_id)
    require(publication.expert.can_edit(current_user))
    return publication


@blueprint.route("/publications/<int:publication_id>/edit", methods=["GET", "POST"])
@login_required
def edit_publication(publication_id):
    """Edit a publication."""
    publication = load_publication(publication_id)
    form = PublicationForm(obj=publication)
    if form.validate_on_submit():
        operations.update_publication(publication, current_user, title=form.title.data,
                                      abstract=form.abstract.data, year=form.year.data, venue=form.venue.data)
        db.session.commit()
        flash(_("The publication is saved."), "success")
        return redirect(url_for("experts.profile"))
    return render_template("experts/publication.html", form=form, publication=publication), (400 if form.errors else 200)


@blueprint.route("/publications/<int:publication_id>/delete", methods=["POST"])
@login_required
def delete_publication(publication_id):
    """Remove a publication."""
    publication = load_publication(publication_id)
    if ConfirmForm().validate_on_submit():
        operations.remove_publication(publication, current_user)
        db.session.commit()
        flash(_("The publication is removed."), "info")
    return redirect(url_for("experts.profile"))


@blueprint.route("/conflicts", methods=["POST"])
@role_required(Role.EXPERT)
def declare_conflict():
    """Declare a conflict of interest with an organisation."""
    expert = own_profile()
    form = ConflictForm(prefix="coi")
    if form.validate_on_submit():
        operations.declare_conflict(expert, current_user, form.organisation.data, form.reason.data)
        db.session.commit()
        flash(_("The conflict is recorded: you will not be asked to review its initiatives."), "success")
    else:
        flash(_("Name the organisation."), "danger")
    return redirect(url_for("experts.profile"))


@blueprint.route("/conflicts/<int:conflict_id>/delete", methods=["POST"])
@login_required
def delete_conflict(conflict_id):
    """Withdraw a declared conflict."""
    conflict = load_or_404(OrganisationConflict, conflict_id)
    require(conflict.expert.can_edit(current_user))
    if ConfirmForm().validate_on_submit():
        operations.remove_conflict(conflict, current_user)
        db.session.commit()
    return redirect(url_for("experts.profile"))


@blueprint.route("/person-conflicts", methods=["POST"])
@role_required(Role.EXPERT)
def declare_person_conflict():
    """Declare a conflict of interest with a person."""
    expert = own_profile()
    form = PersonConflictForm(prefix="person")
    if form.validate_on_submit():
        try:
            operations.declare_person_conflict(expert, current_user, form.name.data, form.email.data,
                                               form.relation.data, form.reason.data)
            db.session.commit()
        except operations.ExpertError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            flash(_("The conflict is recorded: you will not be asked to review the initiatives this "
                    "person proposes or works on."), "success")
    else:
        flash(" ".join(str(error) for errors in form.errors.values() for error in errors)
              or _("Name the person or give their e-mail."), "danger")
    return redirect(url_for("experts.profile"))


@blueprint.route("/person-conflicts/<int:conflict_id>/delete", methods=["POST"])
@login_required
def delete_person_conflict(conflict_id):
    """Withdraw a declared conflict with a person."""
    conflict = load_or_404(PersonConflict, conflict_id)
    require(conflict.expert.can_edit(current_user))
    if ConfirmForm().validate_on_submit():
        operations.remove_person_conflict(conflict, current_user)
        db.session.commit()
    return redirect(url_for("experts.profile"))


@blueprint.route("/all")
@role_required(Role.ADMIN)
def admin_list():
    """Every expert, searchable by name, organisation or keyword."""
    query = ExpertProfile.query
    term = (request.args.get("q") or "").strip()
    if term:
        like = f"%{term}%"
        query = query.filter(ExpertProfile.name.ilike(like) | ExpertProfile.organisation.ilike(like)
                             | db.cast(ExpertProfile.keywords, db.Text).ilike(like))
    page = paginate(query.order_by(ExpertProfile.name))
    return render_template("experts/admin_list.html", page=page, q=term)


# Other areas add sections to the expert page: callables (expert) -> Markup or "".
expert_panels: list = []


@blueprint.route("/<int:expert_id>")
@role_required(Role.ADMIN)
def view(expert_id):
    """An expert's profile as admins see it."""
    expert = load_or_404(ExpertProfile, expert_id)
    return render_template("experts/view.html", expert=expert,
                           panels=[panel(expert) for panel in expert_panels])
