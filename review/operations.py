"""Review operations from screening to decision: screening, calls, invitations and their answers,
reminders, completion of a round, decisions and the next round. Each checks the state machine and
the actor's right and writes its audit event in the caller's transaction; none commits."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from initiatives import audit
from initiatives.access import acts_as_admin
from initiatives.extensions import db
from initiatives.mail import mail_user, notify, queue_mail
from initiatives.models import (
    Call,
    ExpertProfile,
    Initiative,
    InitiativeConflict,
    InitiativeState,
    Role,
    User,
    UserRole,
)
from initiatives.models.initiative import INITIATIVE_MACHINE
from initiatives.models.user import utcnow
from initiatives.proposals.operations import InitiativeError, transition
from review.models import (
    ASSIGNMENT_MACHINE,
    COUNTED_STATES,
    Assignment,
    AssignmentState,
    Decision,
    Outcome,
)
from search.textfold import fold

S = InitiativeState
A = AssignmentState
log = logging.getLogger(__name__)


class ReviewError(ValueError):
    """A review operation refused, with a message for the person who asked."""


# Helpers ------------------------------------------------------------------------------------

def portal_url(endpoint: str, **values) -> str:
    """An absolute link for e-mails, also from the command line (PORTAL_URL, else localhost)."""
    return _link(endpoint, True, values)


def app_link(endpoint: str, **values) -> str:
    """A link inside the portal (for the bell), also from the command line."""
    return _link(endpoint, False, values)


def _link(endpoint: str, external: bool, values: dict) -> str:
    try:
        return url_for(endpoint, _external=external, **values)
    except RuntimeError:  # no request and no SERVER_NAME: cron jobs
        base = current_app.config.get("PORTAL_URL") or "http://localhost:5000"
        with current_app.test_request_context(base_url=base):
            return url_for(endpoint, _external=external, **values)


# The review's e-mails, by template, in the kinds a user may opt out of on their account page
# (``review.init_app`` registers them); the in-app notification always arrives. A template not
# listed here is always sent.
EMAIL_KINDS = {
    "review_invitation": _l("Invitations to review an initiative"),
    "review_reminder": _l("Reviews due soon or overdue: reminders to reviewers, summaries to administrators"),
    "review_update": _l("A review of yours was cancelled or reopened"),
    "screening": _l("The screening result of your initiative"),
    "decision": _l("The committee's decision on your initiative"),
}
TEMPLATE_KINDS = {
    "mail/review_invitation.txt": "review_invitation",
    "mail/review_reminder.txt": "review_reminder",
    "mail/review_overdue_admin.txt": "review_reminder",
    "mail/review_cancelled.txt": "review_update",
    "mail/review_reopened.txt": "review_update",
    "mail/review_screening_rejected.txt": "screening",
    "mail/review_decision.txt": "decision",
}


def mail_expert(expert: ExpertProfile, subject, template: str, **context) -> None:
    """E-mail an expert: through their account (in their language, if they want e-mail of this
    kind), else to the address of an imported profile."""
    user = expert.user
    if user is not None:
        if user.active and user.email_notifications:
            mail_user(user, subject, template, kind=TEMPLATE_KINDS.get(template), expert=expert, **context)
        return
    if expert.email:
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            body = render_template(template, user=None, expert=expert, **context)
            queue_mail(expert.email, str(subject), body)


def notify_in_their_language(user: User, message, link: str) -> None:
    """A bell notification worded in the recipient's language, not the actor's."""
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        notify(user, str(message), link)


def notify_expert(expert: ExpertProfile, message, link: str) -> None:
    if expert.user is not None:
        notify_in_their_language(expert.user, message, link)


def mail_person(user: User, subject, template: str, **context) -> None:
    """E-mail a person with an account, in their language, if they want e-mail of this kind."""
    if user is not None and user.active and user.email_notifications:
        mail_user(user, subject, template, kind=TEMPLATE_KINDS.get(template), **context)


def admins() -> list[User]:
    """Every active administrator: they follow the review and act on declines."""
    return (User.query.join(UserRole, UserRole.user_id == User.id)
            .filter(UserRole.role == Role.ADMIN.value, User.active.is_(True)).order_by(User.id).all())


def tell_admins_submitted(initiative: Initiative) -> None:
    """The bell of every administrator: a first submission waits in the screening queue, a
    resubmission without reviewers left waits for reviewers on its review page."""
    if initiative.status == S.SCREENING:
        message = _l("“%(title)s” was submitted and waits in the screening queue.", title=initiative.title)
        link = app_link("review.screening")
    elif initiative.status == S.SUBMITTED:
        message = _l("“%(title)s” was resubmitted (round %(round)s) and waits for reviewers.",
                     title=initiative.title, round=initiative.round or 1)
        link = app_link("review.initiative_page", initiative_id=initiative.id)
    else:
        return
    for admin in admins():
        notify_in_their_language(admin, message, link)


def require_admin(actor) -> None:
    if not acts_as_admin(actor):
        raise ReviewError(_l("Only an administrator can do this."))


def move(assignment: Assignment, target: AssignmentState, actor, **detail) -> None:
    """Move an assignment along its machine, with an audit event in the same transaction."""
    before = assignment.status
    if not ASSIGNMENT_MACHINE.allowed(before, target):
        raise ReviewError(_l("This assignment is %(state)s: it cannot become %(target)s.",
                             state=assignment.label, target=_assignment_label(target)))
    assignment.state = target.value
    audit.record(f"assignment.{target.value}", assignment, actor=actor, before=before, after=target, **detail)


def _assignment_label(state: AssignmentState) -> str:
    from review.models import ASSIGNMENT_LABELS

    return str(ASSIGNMENT_LABELS.get(state.value, state.value))


def _transition(initiative: Initiative, target: InitiativeState, actor, action: str, **detail) -> None:
    try:
        transition(initiative, target, actor=actor, action=action, **detail)
    except InitiativeError as error:
        raise ReviewError(str(error)) from error


def due_date(call: Call | None, today: date | None = None) -> date:
    return (today or date.today()) + timedelta(days=(call.review_days if call else 21) or 21)


def double_blind(initiative: Initiative) -> bool:
    return bool(initiative.call and initiative.call.double_blind)


# Screening ----------------------------------------------------------------------------------

def screening_queue(call: Call | None = None) -> list[Initiative]:
    """Submissions an admin has not screened yet, oldest first."""
    query = Initiative.query.filter(Initiative.state == S.SCREENING.value, Initiative.screened_at.is_(None))
    if call is not None:
        query = query.filter(Initiative.call_id == call.id)
    return query.order_by(Initiative.submitted_at, Initiative.id).all()


def pass_screening(initiative: Initiative, actor, note: str = "") -> Initiative:
    """The submission is eligible: it stays in screening and now waits for its reviewers."""
    require_admin(actor)
    if initiative.status != S.SCREENING or initiative.screened_at is not None:
        raise ReviewError(_l("Only a submission waiting in screening can be passed."))
    initiative.screened_at = utcnow()
    initiative.screening_note = (note or "").strip()[:2000] or None
    audit.record("initiative.screening_passed", initiative, actor=actor, before=S.SCREENING, after=S.SCREENING)
    return initiative


def reject_screening(initiative: Initiative, actor, reason: str) -> Initiative:
    """The submission is ineligible: rejected with a reason its proposer reads."""
    require_admin(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(_l("Give the reason the proposer will read."))
    if initiative.status != S.SCREENING:
        raise ReviewError(_l("Only a submission in screening can be rejected as ineligible."))
    initiative.screening_note = reason[:2000]
    initiative.screened_at = initiative.screened_at or utcnow()
    _transition(initiative, S.REJECTED, actor, "initiative.screening_rejected", reason=reason[:500])
    link = app_link("proposals.view", initiative_id=initiative.id)
    notify_in_their_language(initiative.proposer, _l("“%(title)s” was not admitted to review.", title=initiative.title), link)
    mail_person(initiative.proposer, _l("Your initiative was not admitted to review"),
                "mail/review_screening_rejected.txt", initiative=initiative, reason=reason,
                link=portal_url("proposals.view", initiative_id=initiative.id))
    return initiative


# Calls --------------------------------------------------------------------------------------

CALL_FIELDS = ("title", "slug", "description", "opens_on", "closes_on", "reviewers_per_initiative",
               "default_max_load", "review_days", "blind_mode", "reviewers_see_others")


def _call_values(values: dict, call: Call | None) -> dict:
    cleaned = {name: values[name] for name in CALL_FIELDS if name in values}
    cleaned["title"] = (cleaned.get("title") or "").strip()
    if not cleaned["title"]:
        raise ReviewError(_l("A call needs a title."))
    slug = (cleaned.get("slug") or "").strip().lower() or re.sub(r"[^a-z0-9]+", "-", fold(cleaned["title"]).lower())
    cleaned["slug"] = re.sub(r"[^a-z0-9-]+", "-", slug).strip("-")[:80] or "call"
    clash = Call.query.filter(Call.slug == cleaned["slug"])
    if call is not None:
        clash = clash.filter(Call.id != call.id)
    if clash.first():
        raise ReviewError(_l("Another call already uses the short name “%(slug)s”.", slug=cleaned["slug"]))
    if cleaned.get("opens_on") and cleaned.get("closes_on") and cleaned["closes_on"] < cleaned["opens_on"]:
        raise ReviewError(_l("A call cannot close before it opens."))
    if cleaned.get("blind_mode", "single") not in ("single", "double"):
        raise ReviewError(_l("The blind mode is single or double."))
    for name, label, low, high in (("reviewers_per_initiative", _l("Reviewers per initiative"), 1, 10),
                                   ("default_max_load", _l("Default maximum load per expert"), 1, 50),
                                   ("review_days", _l("Days to review"), 1, 365)):
        if name in cleaned and (cleaned[name] is None or not low <= int(cleaned[name]) <= high):
            raise ReviewError(_l("%(name)s runs from %(low)d to %(high)d.", name=label, low=low, high=high))
    cleaned["description"] = (cleaned.get("description") or "").strip()
    cleaned["reviewers_see_others"] = bool(cleaned.get("reviewers_see_others"))
    return cleaned


def create_call(actor, **values) -> Call:
    """A new call for initiatives."""
    require_admin(actor)
    call = Call(**_call_values(values, None))
    db.session.add(call)
    db.session.flush()
    audit.record("call.created", call, actor=actor, slug=call.slug)
    return call


def update_call(call: Call, actor, **values) -> Call:
    """Change a call's settings; the blind mode is fixed once reviewers have been invited."""
    require_admin(actor)
    cleaned = _call_values(values, call)
    if cleaned.get("blind_mode", call.blind_mode) != call.blind_mode and Assignment.query.filter(
            Assignment.call_id == call.id, Assignment.state != A.PROPOSED.value).first():
        raise ReviewError(_l("The blind mode cannot change once reviewers have been invited: they "
                             "may already have seen what the new mode would hide."))
    if call.is_standing:
        cleaned.pop("opens_on", None)
        cleaned.pop("closes_on", None)
    changed = sorted(name for name, value in cleaned.items() if getattr(call, name) != value)
    for name, value in cleaned.items():
        setattr(call, name, value)
    if changed:
        audit.record("call.edited", call, actor=actor, fields=changed)
    return call


def delete_call(call: Call, actor) -> None:
    """Remove a call nothing was submitted into (never the standing call)."""
    require_admin(actor)
    if call.is_standing:
        raise ReviewError(_l("The standing call cannot be removed."))
    if Initiative.query.filter_by(call_id=call.id).first():
        raise ReviewError(_l("Initiatives were filed under this call: it can be closed, not removed."))
    audit.record("call.removed", call, actor=actor, slug=call.slug)
    from review.models import Rubric

    Rubric.query.filter_by(call_id=call.id).delete()
    Assignment.query.filter_by(call_id=call.id).delete()
    db.session.delete(call)


# Invitations --------------------------------------------------------------------------------

def _invitation_context(assignment: Assignment) -> dict:
    initiative = assignment.initiative
    return dict(assignment=assignment, initiative=initiative, hide_identity=double_blind(initiative),
                link=portal_url("review.assignment_page", assignment_id=assignment.id))


def send_invitation(assignment: Assignment) -> None:
    """Tell the expert in the app and by e-mail: title, summary (identity hidden in double-blind
    calls) and the due date."""
    assignment.invited_at = utcnow()
    if assignment.due_on is None:
        assignment.due_on = due_date(assignment.call)
    initiative = assignment.initiative
    notify_expert(assignment.expert, _l("You are invited to review “%(title)s” (due %(due)s).",
                                        title=initiative.title, due=assignment.due_on.isoformat()),
                  app_link("review.assignment_page", assignment_id=assignment.id))
    subject = (_l("Invitation to review again: %(title)s", title=initiative.title) if assignment.round > 1
               else _l("Invitation to review: %(title)s", title=initiative.title))
    mail_expert(assignment.expert, subject, "mail/review_invitation.txt", **_invitation_context(assignment))


def invitations_confirmed(rows: list[Assignment], actor) -> None:
    """The ``assign.on_confirm`` hook: the confirmed proposal's experts are invited."""
    for assignment in rows:
        send_invitation(assignment)


def _start_review(initiative: Initiative, actor) -> None:
    """A screened (or resubmitted) initiative whose first reviewer is invited is under review."""
    if initiative.status in (S.SCREENING, S.SUBMITTED):
        _transition(initiative, S.UNDER_REVIEW, actor, "initiative.review_started")


def _conflict_or_busy(initiative: Initiative, expert: ExpertProfile) -> str:
    from search import matching

    reason = matching.conflict_reason(expert, initiative)
    if reason:
        return reason
    if Assignment.query.filter(Assignment.initiative_id == initiative.id, Assignment.expert_id == expert.id,
                               Assignment.round == (initiative.round or 1),
                               Assignment.state.in_([*COUNTED_STATES, A.PROPOSED.value])).first():
        return str(_l("already assigned to this initiative"))
    return ""


def invite_expert(initiative: Initiative, expert: ExpertProfile, actor, *, method: str = "manual",
                  affinity: float | None = None) -> Assignment:
    """Invite ``expert`` to review ``initiative`` now (a hand-picked or next-best reviewer);
    conflicts and double assignments are refused."""
    require_admin(actor)
    if initiative.status == S.SCREENING and initiative.screened_at is None:
        raise ReviewError(_l("Pass the screening of this initiative before inviting reviewers."))
    if initiative.status == S.REVIEWED:
        raise ReviewError(_l("All reviews of this round are in: record a decision instead."))
    if initiative.status not in (S.SCREENING, S.SUBMITTED, S.UNDER_REVIEW):
        raise ReviewError(_l("Reviewers can be invited only while an initiative waits for or is under review."))
    reason = _conflict_or_busy(initiative, expert)
    if reason:
        raise ReviewError(_l("%(name)s cannot review this initiative: %(reason)s.", name=expert.name, reason=reason))
    if affinity is None:
        affinity = _affinity(initiative, expert)
    assignment = Assignment(initiative=initiative, expert=expert, call_id=initiative.call_id,
                            round=initiative.round or 1, affinity=affinity, method=method,
                            state=A.PROPOSED.value, due_on=due_date(initiative.call))
    db.session.add(assignment)
    db.session.flush()
    audit.record("assignment.proposed", assignment, actor=actor, after=A.PROPOSED, method=method)
    move(assignment, A.INVITED, actor)
    _start_review(initiative, actor)
    send_invitation(assignment)
    return assignment


def _affinity(initiative: Initiative, expert: ExpertProfile) -> float | None:
    from search import matching, vectors

    vector = vectors.vector_of("initiative", initiative.id, initiative)
    if vector is None:
        return None
    return float(matching.affinities(vector[None, :], matching.expert_texts([expert]))[0, 0])


def next_best_expert(initiative: Initiative):
    """The matcher's best expert not yet asked in this round: no conflict, available, with room
    under their own maximum load and under the call's maximum load per expert (the caps the
    call's proposal respects). An ``ExpertSuggestion`` or None (nobody left, or the initiative
    not yet matched)."""
    from review import assign
    from search import matching

    suggested, _excluded = matching.suggest_experts(initiative, limit=1000)
    asked = {a.expert_id for a in Assignment.query.filter(
        Assignment.initiative_id == initiative.id,
        (Assignment.round == (initiative.round or 1)) | (Assignment.state == A.DECLINED.value))}
    candidates = [s for s in suggested if s.expert.id not in asked and s.expert.is_available()]
    if not candidates:
        return None
    # One rule for both: the one-click replacement may not push an expert past a cap the
    # proposal would have kept.
    if initiative.call is not None:
        room = assign.capacity_left([s.expert for s in candidates], initiative.call)
    else:
        room = [(s.expert.max_load or 0) - s.load for s in candidates]
    return next((s for s, left in zip(candidates, room, strict=True) if left > 0), None)


def open_slots(initiative: Initiative) -> int:
    """How many reviewers the current round still lacks."""
    wanted = initiative.call.reviewers_per_initiative if initiative.call else 3
    return max(0, wanted - len(round_assignments(initiative)))


def invite_next_best(initiative: Initiative, actor) -> Assignment:
    """One click after a decline: invite the matcher's next best expert."""
    require_admin(actor)
    suggestion = next_best_expert(initiative)
    if suggestion is None:
        raise ReviewError(_l("No further expert is free of conflicts, available and under their load "
                             "(or the initiative is not yet matched). Add a reviewer by hand."))
    return invite_expert(initiative, suggestion.expert, actor, method="auto", affinity=suggestion.score)


def accept_assignment(assignment: Assignment, user) -> Assignment:
    """The expert accepts the invitation."""
    if not assignment.is_reviewer(user):
        raise ReviewError(_l("Only the invited expert can answer this invitation."))
    if assignment.status != A.INVITED:  # submitted -> accepted is an admin's reopening, not this
        raise ReviewError(_l("This assignment is %(state)s: it cannot become %(target)s.",
                             state=assignment.label, target=_assignment_label(A.ACCEPTED)))
    move(assignment, A.ACCEPTED, user)
    assignment.accepted_at = utcnow()
    from review.reviewing import review_for

    review_for(assignment, create=True)  # the review starts on the call's rubric of today
    return assignment


def decline_assignment(assignment: Assignment, user, reason: str, conflict: bool = False) -> Assignment:
    """The expert declines with a reason; a conflict of interest is recorded so the matcher
    never proposes them for this initiative again. Admins are told and offered the next best."""
    if not assignment.is_reviewer(user):
        raise ReviewError(_l("Only the invited expert can answer this invitation."))
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(_l("Please give a reason for declining."))
    if assignment.review is not None and assignment.review.is_submitted:
        raise ReviewError(_l("A submitted review cannot be declined."))
    move(assignment, A.DECLINED, user, reason=reason[:500], conflict=bool(conflict))
    assignment.decline_reason = reason[:500]
    assignment.declined_for_conflict = bool(conflict)
    if conflict and not InitiativeConflict.query.filter_by(expert_id=assignment.expert_id,
                                                           initiative_id=assignment.initiative_id).first():
        db.session.add(InitiativeConflict(expert_id=assignment.expert_id, initiative_id=assignment.initiative_id,
                                          source="decline", reason=reason[:500]))
    link = app_link("review.initiative_page", initiative_id=assignment.initiative_id)
    for admin in admins():
        notify_in_their_language(admin, _l("%(name)s declined to review “%(title)s”: invite the next best expert.",
                         name=assignment.expert.name, title=assignment.initiative.title), link)
    return assignment


def cancel_assignment(assignment: Assignment, actor, reason: str = "") -> Assignment:
    """An admin withdraws an invitation or an unfinished review. When the others' reviews are
    all in, the round closes only if it still has the call's number of reviewers; short of them
    it stays open for a replacement until the admin closes it (``close_round``)."""
    require_admin(actor)
    if assignment.status == A.SUBMITTED:
        raise ReviewError(_l("A submitted review cannot be cancelled."))
    move(assignment, A.CANCELLED, actor, reason=(reason or "")[:500])
    assignment.cancel_reason = (reason or "").strip()[:500] or None
    notify_expert(assignment.expert, _l("Your review of “%(title)s” is no longer needed.",
                                        title=assignment.initiative.title),
                  app_link("review.mine"))
    mail_expert(assignment.expert, _l("Review cancelled: %(title)s", title=assignment.initiative.title),
                "mail/review_cancelled.txt", assignment=assignment, initiative=assignment.initiative,
                reason=assignment.cancel_reason or "")
    complete_round(assignment.initiative, actor)
    return assignment


def replace_assignment(assignment: Assignment, actor, expert: ExpertProfile | None = None) -> Assignment:
    """Cancel ``assignment`` (a declined one is already free) and invite ``expert`` instead, the
    matcher's next best when None."""
    require_admin(actor)
    initiative = assignment.initiative
    if assignment.status != A.DECLINED:
        if assignment.status == A.SUBMITTED:
            raise ReviewError(_l("A submitted review cannot be replaced."))
        move(assignment, A.CANCELLED, actor, reason="replaced")
        assignment.cancel_reason = str(_l("Replaced by another reviewer."))
        notify_expert(assignment.expert, _l("Your review of “%(title)s” is no longer needed.",
                                            title=initiative.title), app_link("review.mine"))
    if expert is None:
        return invite_next_best(initiative, actor)
    return invite_expert(initiative, expert, actor)


# Reminders and overdue assignments ----------------------------------------------------------

@dataclass
class ReminderRun:
    """What ``review remind`` did."""

    reminded: list[Assignment] = field(default_factory=list)
    overdue: list[Assignment] = field(default_factory=list)
    cancelled: list[Assignment] = field(default_factory=list)
    completed: list[Initiative] = field(default_factory=list)


def send_reminders(days: int = 3, today: date | None = None) -> ReminderRun:
    """E-mail reviewers whose due date is within ``days`` (once a day), mark past-due invitations
    and reviews overdue, cancel what a withdrawal left behind, and close finished rounds."""
    today = today or date.today()
    run = ReminderRun()
    active = (Assignment.query.filter(Assignment.state.in_([A.INVITED.value, A.ACCEPTED.value]))
              .order_by(Assignment.due_on, Assignment.id).all())
    for assignment in active:
        initiative = assignment.initiative
        if initiative.status not in (S.UNDER_REVIEW, S.REVIEWED):
            move(assignment, A.CANCELLED, None, reason="initiative is " + initiative.state)
            assignment.cancel_reason = str(_l("The initiative left review."))
            run.cancelled.append(assignment)
        elif assignment.due_on is not None and assignment.due_on < today:
            move(assignment, A.OVERDUE, None, due_on=assignment.due_on.isoformat())
            notify_expert(assignment.expert, _l("Your review of “%(title)s” is overdue.", title=initiative.title),
                          app_link("review.assignment_page", assignment_id=assignment.id))
            mail_expert(assignment.expert, _l("Overdue review: %(title)s", title=initiative.title),
                        "mail/review_reminder.txt", assignment=assignment, initiative=initiative,
                        overdue=True, link=portal_url("review.assignment_page", assignment_id=assignment.id))
            run.overdue.append(assignment)
        elif (assignment.due_on is not None and assignment.due_on <= today + timedelta(days=days)
              and assignment.reminded_on != today):
            assignment.reminded_on = today
            audit.record("assignment.reminded", assignment, actor=None, due_on=assignment.due_on.isoformat())
            notify_expert(assignment.expert, _l("Reminder: your review of “%(title)s” is due %(due)s.",
                                                title=initiative.title, due=assignment.due_on.isoformat()),
                          app_link("review.assignment_page", assignment_id=assignment.id))
            mail_expert(assignment.expert, _l("Reminder: review due %(due)s", due=assignment.due_on.isoformat()),
                        "mail/review_reminder.txt", assignment=assignment, initiative=initiative,
                        overdue=False, link=portal_url("review.assignment_page", assignment_id=assignment.id))
            run.reminded.append(assignment)
    # A safety net: a round whose last review was submitted without closing it is closed here.
    for initiative in Initiative.query.filter_by(state=S.UNDER_REVIEW.value).all():
        if complete_round(initiative, None):
            run.completed.append(initiative)
    if run.overdue:
        tell_admins_overdue(run.overdue)
    return run


def tell_admins_overdue(flagged: list[Assignment]) -> None:
    """One bell and one e-mail per administrator summarising the reviews a reminder run has
    just flagged overdue; those flagged on earlier runs are not in ``flagged``, so nobody is told
    twice."""
    calls = {a.call_id for a in flagged}
    # One call: its ranking lists them; several: the calls list shows each call's count.
    endpoint, values = (("review.ranking", {"call_id": next(iter(calls))}) if len(calls) == 1 and None not in calls
                        else ("review.calls", {}))
    titles = list(dict.fromkeys(f"“{a.initiative.title}”" for a in flagged))
    shown = ", ".join(titles[:3])
    if len(titles) > 3:
        shown = _l("%(titles)s and %(n)d more", titles=shown, n=len(titles) - 3)
    message = _l("%(n)d review(s) became overdue: %(titles)s.", n=len(flagged), titles=shown)
    links = {a.initiative_id: portal_url("review.initiative_page", initiative_id=a.initiative_id) for a in flagged}
    for admin in admins():
        notify_in_their_language(admin, message, app_link(endpoint, **values) + "#overdue")
        mail_person(admin, _l("Overdue reviews: %(n)d", n=len(flagged)), "mail/review_overdue_admin.txt",
                    assignments=flagged, links=links, link=portal_url(endpoint, **values) + "#overdue")


def overdue_assignments(call: Call | None = None) -> list[Assignment]:
    """Reviews past their due date: flagged overdue by ``review remind``, or invited or accepted
    with the due date passed and not flagged yet; the oldest due first."""
    late = ((Assignment.state == A.OVERDUE.value)
            | (Assignment.state.in_([A.INVITED.value, A.ACCEPTED.value]) & (Assignment.due_on < date.today())))
    query = Assignment.query.filter(late)
    if call is not None:
        query = query.filter(Assignment.call_id == call.id)
    return query.order_by(Assignment.due_on, Assignment.id).all()


def overdue_by_initiative(call: Call) -> list[tuple[Initiative, list[Assignment]]]:
    """The call's initiatives with overdue reviews, the one waiting longest first."""
    grouped: dict[Initiative, list[Assignment]] = {}
    for assignment in overdue_assignments(call):
        grouped.setdefault(assignment.initiative, []).append(assignment)
    return list(grouped.items())


# Rounds -------------------------------------------------------------------------------------

def round_assignments(initiative: Initiative, round_number: int | None = None,
                      states=COUNTED_STATES) -> list[Assignment]:
    """The assignments of one round (the current one by default) in ``states``."""
    return (Assignment.query.filter(Assignment.initiative_id == initiative.id,
                                    Assignment.round == (round_number or initiative.round or 1),
                                    Assignment.state.in_(states))
            .order_by(Assignment.id).populate_existing().all())


def complete_round(initiative: Initiative, actor, force: bool = False) -> bool:
    """When every reviewer still counted in the round has submitted, the initiative is reviewed.

    A decline or a cancellation leaves a slot the admin is expected to fill (next best, in one
    click), so a round short of its reviewers after one closes only when the admin closes it
    (``force``)."""
    if initiative.status != S.UNDER_REVIEW:
        return False
    rows = round_assignments(initiative)
    if not rows or any(a.status != A.SUBMITTED for a in rows):
        return False
    if not force and open_slots(initiative) and round_assignments(
            initiative, states=(A.DECLINED.value, A.CANCELLED.value)):
        return False
    _transition(initiative, S.REVIEWED, actor, "initiative.reviewed", reviews=len(rows))
    link = app_link("review.initiative_page", initiative_id=initiative.id)
    for admin in admins():
        notify_in_their_language(admin, _l("All reviews of “%(title)s” are in: a decision is needed.", title=initiative.title), link)
    return True


def start_next_round(initiative: Initiative, actor=None) -> list[Assignment]:
    """A resubmitted initiative goes back to the reviewers of its previous round (those who
    submitted, still free of conflicts); with none left it waits for the assignment page."""
    if initiative.status != S.SUBMITTED or (initiative.round or 1) < 2:
        return []
    previous = round_assignments(initiative, initiative.round - 1, states=(A.SUBMITTED.value,))
    invited = []
    from search import matching

    for old in previous:
        expert = old.expert
        if matching.conflict_reason(expert, initiative) or any(a.expert_id == expert.id for a in invited):
            continue
        assignment = Assignment(initiative=initiative, expert=expert, call_id=initiative.call_id,
                                round=initiative.round, affinity=old.affinity, method="rerun",
                                state=A.PROPOSED.value, due_on=due_date(initiative.call))
        db.session.add(assignment)
        db.session.flush()
        audit.record("assignment.proposed", assignment, actor=actor, after=A.PROPOSED, method="rerun",
                     previous=old.id)
        move(assignment, A.INVITED, actor)
        invited.append(assignment)
    if invited:
        _transition(initiative, S.UNDER_REVIEW, actor, "initiative.review_started", round=initiative.round)
        for assignment in invited:
            send_invitation(assignment)
    return invited


# Decisions ----------------------------------------------------------------------------------

OUTCOME_LABELS = {"accepted": _l("Accepted"), "rejected": _l("Rejected"),
                  "revision_requested": _l("Revision requested")}


def record_decision(initiative: Initiative, outcome: str, rationale: str, actor) -> Decision:
    """The committee decides on the reviewed round; the proposer is told and sees the rationale
    and the reviewers' comments to them."""
    require_admin(actor)
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise ReviewError(_l("Choose accepted, rejected or revision requested.")) from None
    rationale = (rationale or "").strip()
    if not rationale:
        raise ReviewError(_l("Give the rationale of the decision: the proposer reads it."))
    if initiative.status != S.REVIEWED or not INITIATIVE_MACHINE.allowed(initiative.status, S(outcome.value)):
        raise ReviewError(_l("A decision can be recorded only once all reviews of the round are in."))
    if Decision.query.filter_by(initiative_id=initiative.id, round=initiative.round or 1).first():
        raise ReviewError(_l("This round already has its decision."))
    if any(a.status != A.SUBMITTED for a in round_assignments(initiative)):
        raise ReviewError(_l("A reopened review has not been submitted again yet."))
    decision = Decision(initiative=initiative, round=initiative.round or 1, outcome=outcome.value,
                        rationale=rationale[:10000], decided_by_id=actor.id)
    db.session.add(decision)
    db.session.flush()
    _transition(initiative, S(outcome.value), actor, f"initiative.{outcome.value}", decision=decision.id)
    audit.record("decision.recorded", decision, actor=actor, after=outcome.value, initiative=initiative.id,
                 round=decision.round)
    link = app_link("proposals.view", initiative_id=initiative.id)
    notify_in_their_language(initiative.proposer, _l("A decision on “%(title)s”: %(outcome)s.", title=initiative.title,
                                   outcome=OUTCOME_LABELS[outcome.value]), link)
    mail_person(initiative.proposer, _l("Decision on your initiative: %(title)s", title=initiative.title),
                "mail/review_decision.txt", initiative=initiative, decision=decision,
                outcome=OUTCOME_LABELS[outcome.value], link=portal_url("proposals.view", initiative_id=initiative.id))
    return decision


def close_round(initiative: Initiative, actor) -> None:
    """An admin closes a round short of reviewers (after a decline or a cancellation nobody
    replaced)."""
    require_admin(actor)
    if not complete_round(initiative, actor, force=True):
        raise ReviewError(_l("The round can be closed only under review, with at least one review "
                             "submitted and none still expected."))
