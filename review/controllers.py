"""Admin pages of the review: calls and their rubrics, the screening queue, the assignment of a
call, an initiative's reviewers, results and decision, the call's ranking and its exports."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from initiatives.access import load_or_404, require, role_required
from initiatives.extensions import db
from initiatives.models import Call, ExpertProfile, Initiative, InitiativeState, Role
from initiatives.proposals.operations import standing_call
from review import assign, calibration, operations, results, reviewing, rubrics
from review.forms import (
    CallForm,
    DecisionForm,
    ReasonForm,
    RubricForm,
    ScreeningRejectForm,
)
from review.models import (
    ACTIVE_STATES,
    Assignment,
    AssignmentState,
    Decision,
    Review,
    Rubric,
)
from review.operations import ReviewError
from review.rubrics import RubricError

blueprint = Blueprint("review", __name__, url_prefix="/review")
S = InitiativeState
A = AssignmentState
REFUSALS = (ReviewError, RubricError, assign.AssignmentError)


def commit_or_refuse(action):
    """Run ``action`` and commit; on a refusal roll back and return the error instead.

    A unique constraint that fires at commit means someone did the same thing a moment earlier."""
    try:
        result = action()
        db.session.commit()
    except REFUSALS as error:
        db.session.rollback()
        return None, str(error)
    except IntegrityError:
        db.session.rollback()
        return None, _("Someone else changed this at the same moment. Please reload the page and try again.")
    return result, None


def refused(message: str, page, status: int = 409):
    """The page again, with the refusal on top, and a 4xx status."""
    flash(message, "danger")
    return page(), status


# Calls --------------------------------------------------------------------------------------

@blueprint.route("/calls")
@role_required(Role.ADMIN)
def calls():
    """Every call with its settings and what waits in it: screening, assignment, overdue
    reviews, ranking."""
    standing_call()
    rubrics.default_rubric()
    db.session.commit()
    rows = []
    for call in Call.query.order_by(Call.is_standing.desc(), Call.id):
        rows.append({"call": call, "waiting": len(assign.screened(call)),
                     "screening": len(operations.screening_queue(call)),
                     "rubric": rubrics.rubric_for(call),
                     "under_review": Initiative.query.filter_by(call_id=call.id, state=S.UNDER_REVIEW.value).count(),
                     "reviewed": Initiative.query.filter_by(call_id=call.id, state=S.REVIEWED.value).count(),
                     "overdue": len(operations.overdue_assignments(call))})
    return render_template("review/calls.html", rows=rows)


@blueprint.route("/calls/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def call_new():
    form = CallForm()
    if form.validate_on_submit():
        call, error = commit_or_refuse(lambda: operations.create_call(current_user, **form.values()))
        if error is None:
            flash(_("The call “%(title)s” is created.", title=call.title), "success")
            return redirect(url_for("review.calls"))
        form.form_errors.append(error)
    return render_template("review/call_edit.html", form=form, call=None), (400 if form.errors or form.form_errors else 200)


@blueprint.route("/calls/<int:call_id>/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def call_edit(call_id):
    call = load_or_404(Call, call_id)
    form = CallForm(obj=call)
    if form.validate_on_submit():
        _result, error = commit_or_refuse(lambda: operations.update_call(call, current_user, **form.values()))
        if error is None:
            flash(_("The call is saved."), "success")
            return redirect(url_for("review.calls"))
        form.form_errors.append(error)
    return render_template("review/call_edit.html", form=form, call=call), (400 if form.errors or form.form_errors else 200)


@blueprint.route("/calls/<int:call_id>/delete", methods=["POST"])
@role_required(Role.ADMIN)
def call_delete(call_id):
    call = load_or_404(Call, call_id)
    _result, error = commit_or_refuse(lambda: operations.delete_call(call, current_user))
    if error:
        return refused(error, calls)
    flash(_("The call is removed."), "info")
    return redirect(url_for("review.calls"))


# Rubrics ------------------------------------------------------------------------------------

@blueprint.route("/calls/<int:call_id>/rubric")
@role_required(Role.ADMIN)
def call_rubric(call_id):
    """The rubric the call's reviewers score against now."""
    call = load_or_404(Call, call_id)
    rubric = rubrics.rubric_for(call)
    db.session.commit()
    return redirect(url_for("review.rubric_edit", rubric_id=rubric.id, call=call.id))


def _rubric_form(rubric: Rubric, formdata=None) -> RubricForm:
    if formdata is not None:
        return RubricForm(formdata=formdata)
    form = RubricForm(data={"criteria": [
        {"id": str(c.id), "position": c.position, "name_en": c.name_en, "name_vi": c.name_vi,
         "guidance_en": c.guidance_en, "guidance_vi": c.guidance_vi, "weight": c.weight,
         "scale_min": c.scale_min, "scale_max": c.scale_max} for c in rubric.criteria]})
    form.criteria.append_entry({"position": len(rubric.criteria), "weight": 1.0, "scale_min": 1, "scale_max": 5})
    return form


def _render_rubric(rubric: Rubric, form: RubricForm):
    call = db.session.get(Call, request.args.get("call", type=int) or 0) if request.args.get("call") else rubric.call
    versions = (Rubric.query.filter(Rubric.call_id == rubric.call_id).order_by(Rubric.version.desc()).all()
                if rubric.call_id else [])
    users = Call.query.all() if rubric.is_default else []
    using_default = [c for c in users if rubrics.call_rubric(c) is None]
    return render_template("review/rubric.html", rubric=rubric, form=form, call=call, in_use=rubrics.in_use(rubric),
                           versions=versions, using_default=using_default,
                           current=rubrics.rubric_for(call) if call else None)


@blueprint.route("/rubrics/<int:rubric_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def rubric_edit(rubric_id):
    """The rubric editor: ordered criteria with names and guidance in both languages, weight and
    scale; a new line adds a criterion."""
    rubric = load_or_404(Rubric, rubric_id)
    if request.method == "POST":
        form = _rubric_form(rubric, request.form)
        if not form.validate():
            flash(_("Please correct the marked fields."), "danger")
            return _render_rubric(rubric, form), 400
        rows = [entry.form.values() for entry in form.criteria]
        _result, error = commit_or_refuse(lambda: rubrics.save_criteria(rubric, rows, current_user))
        if error:
            return refused(error, lambda: _render_rubric(rubric, form), 409)
        flash(_("The rubric is saved."), "success")
        return redirect(url_for("review.rubric_edit", rubric_id=rubric.id, **request.args))
    return _render_rubric(rubric, _rubric_form(rubric))


@blueprint.route("/rubrics/<int:rubric_id>/copy", methods=["POST"])
@role_required(Role.ADMIN)
def rubric_copy(rubric_id):
    """Copy a rubric into a new version of a call's own rubric."""
    rubric = load_or_404(Rubric, rubric_id)
    call = load_or_404(Call, request.form.get("call_id", type=int) or rubric.call_id or 0)
    copy, error = commit_or_refuse(lambda: rubrics.copy_rubric(rubric, call, current_user))
    if error:
        return refused(error, lambda: _render_rubric(rubric, _rubric_form(rubric)))
    flash(_("Version %(n)d of the rubric of “%(call)s” is ready to edit; reviews already begun keep "
            "the version they started with.", n=copy.version, call=call.title), "success")
    return redirect(url_for("review.rubric_edit", rubric_id=copy.id, call=call.id))


# Screening ----------------------------------------------------------------------------------

def _render_screening(reject_forms=None):
    call = db.session.get(Call, request.args.get("call", type=int)) if request.args.get("call", type=int) else None
    queue = operations.screening_queue(call)
    reject_forms = reject_forms or {}
    forms = {i.id: reject_forms.get(i.id) or ScreeningRejectForm(prefix=f"r{i.id}") for i in queue}
    return render_template("review/screening.html", queue=queue, forms=forms, call=call,
                           calls=Call.query.order_by(Call.id).all(), confirm=ReasonForm(prefix="pass"))


@blueprint.route("/screening")
@role_required(Role.ADMIN)
def screening():
    """Submissions waiting to be screened: pass them on to review or reject them as ineligible."""
    return _render_screening()


@blueprint.route("/screening/<int:initiative_id>/pass", methods=["POST"])
@role_required(Role.ADMIN)
def screening_pass(initiative_id):
    initiative = load_or_404(Initiative, initiative_id)
    form = ReasonForm(prefix="pass")
    form.validate_on_submit()
    _result, error = commit_or_refuse(lambda: operations.pass_screening(initiative, current_user, form.reason.data or ""))
    if error:
        return refused(error, _render_screening)
    flash(_("“%(title)s” passed screening and waits for its reviewers.", title=initiative.title), "success")
    return redirect(request.form.get("next") if request.form.get("next", "").startswith("/review/")
                    else url_for("review.screening"))


@blueprint.route("/screening/<int:initiative_id>/reject", methods=["POST"])
@role_required(Role.ADMIN)
def screening_reject(initiative_id):
    initiative = load_or_404(Initiative, initiative_id)
    form = ScreeningRejectForm(prefix=f"r{initiative.id}")
    if not form.validate_on_submit():
        return refused(_("Give the reason the proposer will read."),
                       lambda: _render_screening({initiative.id: form}), 400)
    _result, error = commit_or_refuse(lambda: operations.reject_screening(initiative, current_user, form.reason.data))
    if error:
        return refused(error, _render_screening)
    flash(_("“%(title)s” is rejected as ineligible; the proposer is told why.", title=initiative.title), "info")
    return redirect(url_for("review.screening"))


# The assignment of a call -------------------------------------------------------------------

def _render_assignment(call: Call):
    from search import matching

    cards = assign.proposal_cards(call)
    waiting = assign.screened(call)
    reasons = matching.explain_pairs([(c.initiative, a.expert) for c in cards for a in c.rows])
    experts = ExpertProfile.reviewers().order_by(None).order_by(ExpertProfile.name).all()
    unscreened = len(operations.screening_queue(call))
    return render_template("review/assignment.html", call=call, cards=cards, waiting=waiting,
                           proposed=sum(len(c.rows) for c in cards),
                           uncovered=[c for c in cards if c.missing], total=sum(c.total for c in cards),
                           experts=experts, unscreened=unscreened, reasons=reasons)


@blueprint.route("/calls/<int:call_id>/assignment")
@role_required(Role.ADMIN)
def assignment(call_id):
    """The proposal: per initiative the reviewers, their affinity and why; totals; the uncovered."""
    return _render_assignment(load_or_404(Call, call_id))


@blueprint.route("/calls/<int:call_id>/assignment/run", methods=["POST"])
@role_required(Role.ADMIN)
def run(call_id):
    call = load_or_404(Call, call_id)
    proposal = assign.propose(call, maximin=bool(request.form.get("maximin")),
                              diverse=bool(request.form.get("diverse")), actor=current_user)
    flash(_("Proposed %(n)d assignments for %(m)d initiatives (total affinity %(t).2f).",
            n=proposal.created, m=len(proposal.initiatives), t=proposal.objective), "success")
    for initiative, missing, reason in proposal.uncovered:
        flash(_("“%(title)s” lacks %(n)d reviewer(s): %(reason)s.", title=initiative.title, n=missing,
                reason=reason), "warning")
    for initiative in proposal.not_matched:
        flash(_("“%(title)s” is not yet matched and was left out.", title=initiative.title), "warning")
    return redirect(url_for("review.assignment", call_id=call.id))


@blueprint.route("/calls/<int:call_id>/assignment/add", methods=["POST"])
@role_required(Role.ADMIN)
def add(call_id):
    call = load_or_404(Call, call_id)
    initiative = load_or_404(Initiative, request.form.get("initiative_id", type=int) or 0)
    expert = load_or_404(ExpertProfile, request.form.get("expert_id", type=int) or 0)
    if initiative.call_id != call.id:
        abort(404)
    try:
        assign.add_manual(initiative, expert, current_user)
        db.session.commit()
    except assign.AssignmentError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(url_for("review.assignment", call_id=call.id)), 303
    flash(_("%(name)s is added.", name=expert.name), "success")
    return redirect(url_for("review.assignment", call_id=call.id))


@blueprint.route("/assignments/<int:assignment_id>/remove", methods=["POST"])
@role_required(Role.ADMIN)
def remove(assignment_id):
    row = load_or_404(Assignment, assignment_id)
    call_id = row.call_id
    try:
        assign.remove_proposed(row, current_user)
        db.session.commit()
    except assign.AssignmentError as error:
        db.session.rollback()
        flash(str(error), "danger")
    return redirect(url_for("review.assignment", call_id=call_id))


@blueprint.route("/calls/<int:call_id>/assignment/confirm", methods=["POST"])
@role_required(Role.ADMIN)
def confirm(call_id):
    call = load_or_404(Call, call_id)
    try:
        rows = assign.confirm(call, current_user)
        db.session.commit()
    except REFUSALS as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(url_for("review.assignment", call_id=call.id)), 303
    flash(_("%(n)d invitations are sent; the initiatives are now under review.", n=len(rows)), "success")
    return redirect(url_for("review.assignment", call_id=call.id))


# One initiative: reviewers, results, decision -----------------------------------------------

def _candidates(initiative: Initiative, query: str) -> list[dict]:
    """Experts found by name or by topic, with their affinity to the initiative and any conflict."""
    from search import matching

    query = (query or "").strip()[:200]
    if not query:
        return []
    found: dict[int, ExpertProfile] = {}
    for expert in (ExpertProfile.reviewers().filter(ExpertProfile.name.ilike(f"%{query}%") |
                                                    ExpertProfile.organisation.ilike(f"%{query}%"))
                   .order_by(None).order_by(ExpertProfile.name).limit(10)):
        found[expert.id] = expert
    try:
        for suggestion in matching.experts_for_query(query, limit=10):
            found.setdefault(suggestion.expert.id, suggestion.expert)
    except Exception:  # the topic search needs the model; the name search still answers
        db.session.rollback()
    experts = list(found.values())
    if not experts:
        return []
    reasons = matching.conflict_matrix([initiative], experts)[0]
    loads = matching.current_loads([e.id for e in experts])
    rows = []
    for expert, reason in zip(experts, reasons, strict=True):
        rows.append({"expert": expert, "conflict": reason, "load": loads.get(expert.id, 0),
                     "affinity": operations._affinity(initiative, expert)})
    rows.sort(key=lambda r: (bool(r["conflict"]), -(r["affinity"] or -1)))
    return rows


def _render_initiative(initiative: Initiative, decision_form: DecisionForm | None = None):
    rounds: dict[int, list[Assignment]] = {}
    for row in (Assignment.query.filter(Assignment.initiative_id == initiative.id,
                                        Assignment.state != A.PROPOSED.value)
                .order_by(Assignment.round.desc(), Assignment.id)):
        rounds.setdefault(row.round, []).append(row)
    labels = results.reviewer_labels(initiative)
    round_number = results.latest_round(initiative)
    reviews, result = results.round_result(initiative, round_number, labels=labels)
    declined = any(a.status == A.DECLINED for a in rounds.get(initiative.round or 1, []))
    open_slots = operations.open_slots(initiative)
    next_best = None
    if initiative.status in (S.UNDER_REVIEW, S.SUBMITTED) or (initiative.status == S.SCREENING and initiative.screened_at):
        if open_slots or declined:
            next_best = operations.next_best_expert(initiative)
    return render_template(
        "review/initiative.html", initiative=initiative, rounds=rounds, labels=labels, reviews=reviews,
        result=result, round_number=round_number, next_best=next_best, open_slots=open_slots,
        candidates=_candidates(initiative, request.args.get("q", "")), q=request.args.get("q", ""),
        decisions=Decision.query.filter_by(initiative_id=initiative.id).order_by(Decision.round).all(),
        decision_form=decision_form or DecisionForm(), reason_form=ReasonForm(), shown=calibration.shown,
        can_close=(initiative.status == S.UNDER_REVIEW and bool(operations.round_assignments(initiative))
                   and all(a.status == A.SUBMITTED for a in operations.round_assignments(initiative))),
        active_states=ACTIVE_STATES)


@blueprint.route("/initiatives/<int:initiative_id>")
@role_required(Role.ADMIN)
def initiative_page(initiative_id):
    """The review of one initiative: its reviewers per round, the results and the decision."""
    return _render_initiative(load_or_404(Initiative, initiative_id))


def _back_to(initiative_id: int):
    return redirect(url_for("review.initiative_page", initiative_id=initiative_id))


def _on_initiative(initiative: Initiative, action, success: str):
    _result, error = commit_or_refuse(action)
    if error:
        return refused(error, lambda: _render_initiative(initiative))
    flash(success, "success")
    return _back_to(initiative.id)


@blueprint.route("/initiatives/<int:initiative_id>/next-best", methods=["POST"])
@role_required(Role.ADMIN)
def invite_next_best(initiative_id):
    """One click: invite the matcher's next best free expert."""
    initiative = load_or_404(Initiative, initiative_id)
    created, error = commit_or_refuse(lambda: operations.invite_next_best(initiative, current_user))
    if error:
        return refused(error, lambda: _render_initiative(initiative))
    flash(_("%(name)s is invited.", name=created.expert.name), "success")
    return _back_to(initiative.id)


@blueprint.route("/initiatives/<int:initiative_id>/invite", methods=["POST"])
@role_required(Role.ADMIN)
def invite(initiative_id):
    """Invite an expert picked by hand."""
    initiative = load_or_404(Initiative, initiative_id)
    expert = load_or_404(ExpertProfile, request.form.get("expert_id", type=int) or 0)
    return _on_initiative(initiative, lambda: operations.invite_expert(initiative, expert, current_user),
                          _("%(name)s is invited.", name=expert.name))


@blueprint.route("/initiatives/<int:initiative_id>/close-round", methods=["POST"])
@role_required(Role.ADMIN)
def close_round(initiative_id):
    initiative = load_or_404(Initiative, initiative_id)
    return _on_initiative(initiative, lambda: operations.close_round(initiative, current_user),
                          _("The round is closed with the reviews submitted."))


@blueprint.route("/assignments/<int:assignment_id>/cancel", methods=["POST"])
@role_required(Role.ADMIN)
def cancel(assignment_id):
    """Cancel one reviewer and say what became of the round: closed when the remaining reviews
    are in and enough, else open for a replacement."""
    row = load_or_404(Assignment, assignment_id)
    initiative = row.initiative
    form = ReasonForm()
    form.validate_on_submit()
    _result, error = commit_or_refuse(lambda: operations.cancel_assignment(row, current_user, form.reason.data or ""))
    if error:
        return refused(error, lambda: _render_initiative(initiative))
    flash(_("The assignment of %(name)s is cancelled.", name=row.expert.name), "success")
    remaining = operations.round_assignments(initiative)
    if initiative.status == S.REVIEWED:
        flash(_("The remaining reviews are all in: the round is closed and waits for a decision."), "info")
    elif initiative.status == S.UNDER_REVIEW and remaining and all(a.status == A.SUBMITTED for a in remaining):
        flash(_("The other reviews are all in, but the round now lacks %(n)d reviewer(s). It stays open: "
                "invite a replacement, or close the round with the reviews submitted.",
                n=operations.open_slots(initiative)), "warning")
    return _back_to(initiative.id)


@blueprint.route("/assignments/<int:assignment_id>/replace", methods=["POST"])
@role_required(Role.ADMIN)
def replace(assignment_id):
    """Replace a reviewer by a chosen expert, or by the matcher's next best."""
    row = load_or_404(Assignment, assignment_id)
    expert_id = request.form.get("expert_id", type=int)
    expert = load_or_404(ExpertProfile, expert_id) if expert_id else None
    initiative = row.initiative
    created, error = commit_or_refuse(lambda: operations.replace_assignment(row, current_user, expert))
    if error:
        return refused(error, lambda: _render_initiative(initiative))
    flash(_("%(name)s is invited instead.", name=created.expert.name), "success")
    return _back_to(initiative.id)


@blueprint.route("/reviews/<int:review_id>/reopen", methods=["POST"])
@role_required(Role.ADMIN)
def reopen(review_id):
    review = load_or_404(Review, review_id)
    form = ReasonForm()
    form.validate_on_submit()
    return _on_initiative(review.assignment.initiative,
                          lambda: reviewing.reopen_review(review, current_user, form.reason.data or ""),
                          _("The review is reopened; its reviewer is told."))


@blueprint.route("/initiatives/<int:initiative_id>/decision", methods=["POST"])
@role_required(Role.ADMIN)
def decide(initiative_id):
    initiative = load_or_404(Initiative, initiative_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return refused(_("Choose a decision and give its rationale."),
                       lambda: _render_initiative(initiative, form), 400)
    _result, error = commit_or_refuse(
        lambda: operations.record_decision(initiative, form.outcome.data, form.rationale.data, current_user))
    if error:
        return refused(error, lambda: _render_initiative(initiative, form))
    flash(_("The decision is recorded and the proposer is told."), "success")
    return _back_to(initiative.id)


# Ranking and exports ------------------------------------------------------------------------

def _ranking_rows(call: Call):
    sort = request.args.get("sort", "weighted")
    order = request.args.get("order", "desc")
    return results.ranking(call, sort=sort, descending=order != "asc", state=request.args.get("state", ""),
                           flagged=bool(request.args.get("flagged")), query=(request.args.get("q") or "")[:200])


@blueprint.route("/calls/<int:call_id>/ranking")
@role_required(Role.ADMIN)
def ranking(call_id):
    """The call's initiatives ranked by any total, filtered by state, disagreement and title; the
    overdue reviews listed above them."""
    call = load_or_404(Call, call_id)
    rows = _ranking_rows(call)
    overdue = operations.overdue_by_initiative(call)
    return render_template("review/ranking.html", call=call, rows=rows, shown=calibration.shown,
                           overdue=overdue, overdue_count={i.id: len(late) for i, late in overdue},
                           sort=request.args.get("sort", "weighted"), order=request.args.get("order", "desc"),
                           states=[S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED, S.REJECTED, S.REVISION_REQUESTED,
                                   S.SUBMITTED, S.WITHDRAWN])


def csv_response(text: str, filename: str) -> Response:
    # A BOM lets spreadsheet programs read the Vietnamese text as UTF-8.
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blueprint.route("/calls/<int:call_id>/ranking.csv")
@role_required(Role.ADMIN)
def ranking_csv(call_id):
    """The ranking as CSV: with reviewer names, or lettered with ``anonymous=1``."""
    call = load_or_404(Call, call_id)
    anonymous = bool(request.args.get("anonymous"))
    text = results.ranking_csv(_ranking_rows(call), with_names=not anonymous)
    return csv_response(text, f"ranking-{call.slug}{'-anonymous' if anonymous else ''}.csv")


@blueprint.route("/initiatives/<int:initiative_id>/reviews.csv")
@login_required
def proposer_export(initiative_id):
    """The proposer-facing export of the decided rounds' reviews: lettered, no confidential comments."""
    initiative = load_or_404(Initiative, initiative_id)
    require(current_user.is_admin or initiative.is_proposer(current_user))
    if not Decision.query.filter_by(initiative_id=initiative.id).first():
        abort(404, _("The reviews are released with the decision."))
    return csv_response(results.proposer_csv(initiative), f"reviews-{initiative.id}.csv")


@blueprint.route("/reviews/<int:review_id>")
@login_required
def review_view(review_id):
    """One review: admins see all of it; the reviewer their own; co-reviewers, when allowed, see
    another's scores and comments to the proposer under a letter."""
    review = load_or_404(Review, review_id)
    require(reviewing.can_see_review(review, current_user))
    assignment = review.assignment
    labels = results.reviewer_labels(assignment.initiative)
    return render_template("review/review.html", review=review, assignment=assignment,
                           label=labels.get(assignment.expert_id, "?"),
                           full=current_user.is_admin or assignment.is_reviewer(current_user),
                           reason_form=ReasonForm())


def init_app(app) -> None:
    """Register the blueprint and its reviewer pages."""
    from review import reviewer_controllers  # noqa: F401  (adds the reviewers' routes)

    app.register_blueprint(blueprint)

