"""The reviewer's pages: my reviews, one assignment (accept or decline, the review form generated
from the rubric, what changed since the round reviewed), and the review panel of an initiative."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from initiatives.access import load_or_404, require, role_required
from initiatives.extensions import db
from initiatives.models import ExpertProfile, InitiativeVersion, Role
from review import diff, operations, results, reviewing, rubrics
from review.controllers import blueprint, commit_or_refuse, refused
from review.forms import DeclineForm, ReasonForm, review_form, review_values
from review.models import Assignment, AssignmentState, Decision

A = AssignmentState


@blueprint.route("/mine")
@role_required(Role.EXPERT)
def mine():
    """The signed-in expert's invitations and reviews, those needing action first."""
    profile = ExpertProfile.query.filter_by(user_id=current_user.id).first()
    rows = []
    if profile is not None:
        rows = (Assignment.query.filter(Assignment.expert_id == profile.id, Assignment.state != A.PROPOSED.value)
                .order_by(Assignment.due_on, Assignment.id).all())
    order = {A.INVITED: 0, A.OVERDUE: 1, A.ACCEPTED: 2, A.SUBMITTED: 3, A.DECLINED: 4, A.CANCELLED: 5}
    rows.sort(key=lambda a: (order.get(a.status, 9), a.due_on or a.created_at.date()))
    return render_template("review/mine.html", rows=rows)


def _previous_round(assignment: Assignment) -> int | None:
    """The latest earlier round this reviewer reviewed of the same initiative."""
    earlier = (Assignment.query.filter(Assignment.initiative_id == assignment.initiative_id,
                                       Assignment.expert_id == assignment.expert_id,
                                       Assignment.round < assignment.round,
                                       Assignment.state == A.SUBMITTED.value)
               .order_by(Assignment.round.desc()).first())
    return earlier.round if earlier else None


def _render_assignment(assignment: Assignment, form=None, decline_form=None):
    initiative = assignment.initiative
    hide_identity = operations.double_blind(initiative) and not current_user.is_admin
    version = InitiativeVersion.query.filter_by(initiative_id=initiative.id, round=assignment.round).first()
    snapshot = version.snapshot if version else initiative.snapshot()
    review = reviewing.review_for(assignment)
    if review is None:
        rubric = rubrics.rubric_for(assignment.call or initiative.call)
        db.session.commit()  # the default rubric, made on first use, keeps its ids for the form
    else:
        rubric = review.rubric
    writable = assignment.can_review(current_user) and initiative.status in reviewing.OPEN_FOR_REVIEW
    if form is None and writable:
        form = review_form(rubric, review)
    previous = _previous_round(assignment)
    changes = (diff.since_round(initiative, previous, assignment.round, hide_identity=hide_identity)
               if previous else None)
    others = []
    if review is not None and review.is_submitted:
        labels = results.reviewer_labels(initiative)
        others = [(labels.get(r.assignment.expert_id, "?"), r) for r in results.round_reviews(initiative, assignment.round)
                  if r.id != review.id and reviewing.can_see_review(r, current_user)]
    return render_template(
        "review/assignment_page.html", assignment=assignment, initiative=initiative, snapshot=snapshot,
        hide_identity=hide_identity, review=review, rubric=rubric, form=form, writable=writable,
        decline_form=decline_form or DeclineForm(), confirm_form=ReasonForm(prefix="accept"),
        previous=previous, changes=changes, others=others)


def _load(assignment_id: int) -> Assignment:
    assignment = load_or_404(Assignment, assignment_id)
    require(assignment.can_view(current_user))
    return assignment


@blueprint.route("/assignments/<int:assignment_id>")
@login_required
def assignment_page(assignment_id):
    """One assignment as its reviewer sees it (admins too)."""
    return _render_assignment(_load(assignment_id))


@blueprint.route("/assignments/<int:assignment_id>/accept", methods=["POST"])
@login_required
def accept(assignment_id):
    assignment = _load(assignment_id)
    _result, error = commit_or_refuse(lambda: operations.accept_assignment(assignment, current_user))
    if error:
        return refused(error, lambda: _render_assignment(assignment))
    flash(_("Thank you: the review is yours. Please submit it by %(due)s.",
            due=assignment.due_on.isoformat() if assignment.due_on else "—"), "success")
    return redirect(url_for("review.assignment_page", assignment_id=assignment.id))


@blueprint.route("/assignments/<int:assignment_id>/decline", methods=["POST"])
@login_required
def decline(assignment_id):
    assignment = _load(assignment_id)
    form = DeclineForm()
    if not form.validate_on_submit():
        return refused(_("Please give a reason for declining."),
                       lambda: _render_assignment(assignment, decline_form=form), 400)
    _result, error = commit_or_refuse(lambda: operations.decline_assignment(
        assignment, current_user, form.reason.data, bool(form.conflict.data)))
    if error:
        return refused(error, lambda: _render_assignment(assignment, decline_form=form))
    flash(_("You declined this review. Thank you for telling us."), "info")
    return redirect(url_for("review.mine"))


@blueprint.route("/assignments/<int:assignment_id>/review", methods=["POST"])
@login_required
def write(assignment_id):
    """Save the draft (the "save" button) or submit the review (the "submit" button)."""
    assignment = _load(assignment_id)
    review = reviewing.review_for(assignment)
    rubric = review.rubric if review is not None else rubrics.rubric_for(assignment.call or assignment.initiative.call)
    form = review_form(rubric, formdata=request.form)
    if not form.validate_on_submit():
        return refused(_("Please correct the marked fields."), lambda: _render_assignment(assignment, form), 400)
    submit = bool(form.submit.data)
    _result, error = commit_or_refuse(lambda: reviewing.save_review(assignment, current_user, submit=submit,
                                                                     **review_values(form)))
    if error:
        status = 409 if not assignment.can_review(current_user) or "already" in error else 400
        return refused(error, lambda: _render_assignment(assignment, form), status)
    flash(_("Your review is submitted. Thank you!") if submit else _("Your draft is saved."), "success")
    return redirect(url_for("review.assignment_page", assignment_id=assignment.id))


def review_panel(initiative) -> Markup:
    """On the initiative page: the screening outcome and, after a decision, the rationale and the
    reviewers' comments to the proposer (lettered); the reviewer's link to their assignment; the
    admin's link to the review."""
    user = current_user
    if not user.is_authenticated:
        return Markup("")
    context = {"initiative": initiative, "is_admin": user.is_admin, "is_proposer": initiative.is_proposer(user)}
    if not (context["is_admin"] or context["is_proposer"]):
        profile = ExpertProfile.query.filter_by(user_id=user.id).first()
        mine_rows = (Assignment.query.filter(Assignment.initiative_id == initiative.id,
                                             Assignment.expert_id == profile.id,
                                             Assignment.state != A.PROPOSED.value)
                     .order_by(Assignment.round).all()) if profile else []
        if not mine_rows:
            return Markup("")
        context["mine"] = mine_rows
    if context["is_proposer"] or context["is_admin"]:
        decisions = Decision.query.filter_by(initiative_id=initiative.id).order_by(Decision.round).all()
        labels = results.reviewer_labels(initiative)
        context["decided"] = [(d, [(labels.get(r.assignment.expert_id, "?"), r)
                                   for r in results.round_reviews(initiative, d.round)]) for d in decisions]
    return Markup(render_template("review/panel.html", **context))
