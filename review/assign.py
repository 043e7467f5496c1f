"""Reviewer assignment of a whole call: build the problem from the database, solve it exactly,
keep the result as ``proposed`` assignments an admin inspects, edits and confirms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from flask_babel import lazy_gettext as _l

from initiatives import audit
from initiatives.access import acts_as_admin
from initiatives.extensions import db
from initiatives.models import Call, ExpertProfile, Initiative, InitiativeState
from review.models import ACTIVE_STATES, ASSIGNMENT_MACHINE, Assignment, AssignmentState
from search import matching, vectors
from search.assignment import (
    LOAD_EXHAUSTED,
    NOT_ENOUGH_EXPERTS,
    AssignmentProblem,
    solve_assignment,
)
from search.matching import organisation_key

S = InitiativeState
A = AssignmentState


class AssignmentError(ValueError):
    """An assignment operation refused, with a message for the admin."""


@dataclass
class Proposal:
    """What a solve produced, for the page and the command line."""

    call: Call
    initiatives: list[Initiative]
    created: int = 0
    objective: float = 0.0
    solve_time: float = 0.0
    uncovered: list[tuple[Initiative, int, str]] = field(default_factory=list)
    not_matched: list[Initiative] = field(default_factory=list)


def require_admin(actor, *, command_line: bool = False) -> None:
    """Assignment is an administrator's work; ``command_line`` lets the operator's own command
    (no actor) propose."""
    if actor is None and command_line:
        return
    if not acts_as_admin(actor):
        raise AssignmentError(_l("Only an administrator can assign reviewers."))


NOT_PROPOSED = "not_proposed"
REASONS = {NOT_ENOUGH_EXPERTS: _l("not enough non-conflicted experts"),
           LOAD_EXHAUSTED: _l("load exhausted"),
           NOT_PROPOSED: _l("eligible experts still have load: compute the proposal or add one by hand")}


def capacity_left(experts: list[ExpertProfile], call: Call) -> np.ndarray:
    """How many more assignments each expert may take in ``call``, under two caps: the expert's
    own maximum load over everything they review, and the call's maximum load per expert over
    this call; both less what the expert holds and what the call's proposal already gives them."""
    ids = [e.id for e in experts]
    loads = matching.current_loads(ids)

    def per_expert(states):
        return dict(db.session.query(Assignment.expert_id, db.func.count(Assignment.id)).filter(
            Assignment.call_id == call.id, Assignment.state.in_(states),
            Assignment.expert_id.in_(ids)).group_by(Assignment.expert_id))

    in_call, proposed_here = per_expert(ACTIVE_STATES), per_expert([A.PROPOSED.value])
    return np.array([max(0, min((e.max_load or 0) - loads.get(e.id, 0) - proposed_here.get(e.id, 0),
                                (call.default_max_load or 0) - in_call.get(e.id, 0)
                                - proposed_here.get(e.id, 0)))
                     for e in experts])


def why_uncovered(initiative: Initiative, call: Call) -> str:
    """Why ``initiative`` lacks reviewers in the call's proposal: too few experts may review it
    at all (conflicts, declines, unavailability), those who may have no load left, or some who
    may still take it were not proposed (no proposal computed yet, or a reviewer removed)."""
    on_it = {a.expert_id for a in Assignment.query.filter(
        Assignment.initiative_id == initiative.id,
        Assignment.state.in_([*ACTIVE_STATES, A.PROPOSED.value]))}
    declined = {a.expert_id for a in Assignment.query.filter_by(initiative_id=initiative.id,
                                                                 state=A.DECLINED.value)}
    experts = [e for e in ExpertProfile.reviewers().all() if e.is_available() and e.id not in declined]
    conflicts = matching.conflict_matrix([initiative], experts)[0] if experts else []
    eligible = [e for e, reason in zip(experts, conflicts, strict=True) if not reason]
    if len({e.id for e in eligible} | on_it) < call.reviewers_per_initiative:
        return str(REASONS[NOT_ENOUGH_EXPERTS])
    free = [e for e in eligible if e.id not in on_it]
    if free and capacity_left(free, call).any():
        return str(REASONS[NOT_PROPOSED])
    return str(REASONS[LOAD_EXHAUSTED])


def screened(call: Call) -> list[Initiative]:
    """The call's initiatives waiting for reviewers: in screening and passed by an admin, or
    submitted again after a revision (round 2 and later)."""
    passed = (Initiative.state == S.SCREENING.value) & Initiative.screened_at.isnot(None)
    resubmitted = (Initiative.state == S.SUBMITTED.value) & (Initiative.round > 1)
    return (Initiative.query.filter(Initiative.call_id == call.id, passed | resubmitted)
            .order_by(Initiative.id).all())


def propose(call: Call, *, maximin: bool = False, diverse: bool = False, actor=None,
            progress=None) -> Proposal:
    """Replace the call's proposed assignments with an optimal new proposal; commits."""
    require_admin(actor, command_line=True)
    initiatives = screened(call)
    proposal = Proposal(call, initiatives)
    if progress:
        progress("encode")
    vectors.sync(["initiative", "expert", "publication"])
    matched, init_rows = [], []
    for initiative in initiatives:
        vector = vectors.vector_of("initiative", initiative.id, initiative)
        if vector is None:
            proposal.not_matched.append(initiative)
        else:
            matched.append(initiative)
            init_rows.append(vector)
    experts = ExpertProfile.reviewers().all()
    texts = matching.expert_texts(experts)
    Assignment.query.filter(Assignment.call_id == call.id,
                            Assignment.state == A.PROPOSED.value).delete(synchronize_session=False)
    if not matched or not experts:
        db.session.commit()
        proposal.uncovered = [(i, call.reviewers_per_initiative, str(REASONS[NOT_ENOUGH_EXPERTS]))
                              for i in matched]
        return proposal
    if progress:
        progress("affinity")
    affinity = matching.affinities(np.vstack(init_rows), texts)
    conflicts = matching.conflict_matrix(matched, experts)
    allowed = np.array([[not reason for reason in row] for row in conflicts], dtype=bool)
    has_texts = texts.groups >= 0
    allowed &= has_texts[None, :]
    allowed &= np.array([e.is_available() for e in experts])[None, :]
    # An expert already reviewing an initiative is not proposed for it again.
    held = {(a.initiative_id, a.expert_id) for a in Assignment.query.filter(
        Assignment.initiative_id.in_([i.id for i in matched]), Assignment.state.in_(ACTIVE_STATES))}
    held_count = {i.id: 0 for i in matched}
    index = {e.id: j for j, e in enumerate(experts)}
    row_of = {i.id: r for r, i in enumerate(matched)}
    for initiative_id, expert_id in held:
        held_count[initiative_id] += 1
        if expert_id in index:
            allowed[row_of[initiative_id], index[expert_id]] = False
    # Nor is one who declined it, in any round, whatever the reason (DESIGN section 4).
    for initiative_id, expert_id in db.session.query(Assignment.initiative_id, Assignment.expert_id).filter(
            Assignment.initiative_id.in_(list(row_of)), Assignment.state == A.DECLINED.value):
        if expert_id in index:
            allowed[row_of[initiative_id], index[expert_id]] = False
    capacity = capacity_left(experts, call)  # the call's old proposal is deleted above
    wanted = np.array([max(0, call.reviewers_per_initiative - held_count[i.id]) for i in matched])
    # Colleagues are told apart as the conflict rules tell organisations apart ("ĐH Cần Thơ" is
    # "Trường Đại học Cần Thơ"); a name of generic words only groups nobody.
    organisations = {}
    names = [organisation_key(e.organisation or "").words for e in experts]
    groups = np.array([organisations.setdefault(name, len(organisations)) if name else -1
                       for name in names], dtype=np.int64)
    if diverse:
        # Diversity counts the reviewers already held too: nobody new from an organisation
        # that already reviews the initiative.
        for initiative_id, expert_id in held:
            group = groups[index[expert_id]]
            if group >= 0:
                allowed[row_of[initiative_id], groups == group] = False
    if progress:
        progress("solve")
    problem = AssignmentProblem(affinity=affinity, capacity=capacity, k=wanted, allowed=allowed,
                                organisation=groups, diverse=diverse, maximin=maximin)
    result = solve_assignment(problem)
    due = date.today() + timedelta(days=call.review_days or 21)
    for i, j, score in zip(result.init_idx, result.expert_idx, result.score, strict=True):
        db.session.add(Assignment(initiative_id=matched[i].id, expert_id=experts[j].id, call_id=call.id,
                                  round=matched[i].round or 1, affinity=float(score), method="auto",
                                  state=A.PROPOSED.value, due_on=due))
    audit.record("call.assignment_proposed", call, actor=actor, pairs=len(result.init_idx),
                 objective=round(float(result.objective), 4), maximin=maximin, diverse=diverse)
    db.session.commit()
    proposal.created = len(result.init_idx)
    proposal.objective = float(result.objective)
    proposal.solve_time = result.solve_time
    proposal.uncovered = [(matched[u.init_idx], u.missing, str(REASONS.get(u.reason, u.reason)))
                          for u in result.uncovered]
    return proposal


def proposed(call: Call) -> dict[Initiative, list[Assignment]]:
    """The call's proposed assignments, per initiative."""
    rows = (Assignment.query.filter_by(call_id=call.id, state=A.PROPOSED.value)
            .order_by(Assignment.initiative_id, Assignment.affinity.desc()).all())
    grouped: dict[Initiative, list[Assignment]] = {}
    for row in rows:
        grouped.setdefault(row.initiative, []).append(row)
    return grouped


@dataclass
class Card:
    """One initiative on the proposal page: its proposed reviewers, how many it holds already,
    how many the call wants, and why it lacks some."""

    initiative: Initiative
    rows: list[Assignment]
    held: int
    wanted: int
    reason: str = ""

    @property
    def have(self) -> int:
        """Reviewers held and proposed."""
        return self.held + len(self.rows)

    @property
    def missing(self) -> int:
        """Reviewers still lacking for the call's k."""
        return max(0, self.wanted - self.have)

    @property
    def total(self) -> float:
        """The total affinity of the proposed reviewers."""
        return sum(a.affinity or 0 for a in self.rows)


def proposal_cards(call: Call) -> list[Card]:
    """A card for every initiative of the call that waits for reviewers, whether or not the
    proposal gave it any (an admin may add one by hand), then for any other initiative with
    proposed reviewers; reviewers already held count towards the call's k, as in ``propose``."""
    grouped = proposed(call)
    initiatives = screened(call)
    initiatives += [i for i in grouped if i not in initiatives]
    held = dict(db.session.query(Assignment.initiative_id, db.func.count(Assignment.id)).filter(
        Assignment.initiative_id.in_([i.id for i in initiatives]),
        Assignment.state.in_(ACTIVE_STATES)).group_by(Assignment.initiative_id)) if initiatives else {}
    cards = [Card(i, grouped.get(i, []), held.get(i.id, 0), call.reviewers_per_initiative)
             for i in initiatives]
    for card in cards:
        if card.missing:
            card.reason = why_uncovered(card.initiative, call)
    return cards


def add_manual(initiative: Initiative, expert: ExpertProfile, actor) -> Assignment:
    """An admin adds a reviewer by hand to the proposal; conflicts are refused, and so are
    initiatives that do not wait for reviewers (not yet screened, or already decided)."""
    require_admin(actor)
    waiting = initiative.call is not None and initiative in screened(initiative.call)
    if not waiting and initiative.status != S.UNDER_REVIEW:
        raise AssignmentError(_l("“%(title)s” does not wait for reviewers: pass its screening first.",
                                 title=initiative.title))
    reason = matching.conflict_reason(expert, initiative)
    if reason:
        raise AssignmentError(_l("%(name)s cannot review this initiative: %(reason)s.",
                                 name=expert.name, reason=reason))
    if expert.user is not None and not (expert.user.active and expert.user.has_role("expert")):
        raise AssignmentError(_l("%(name)s does not review: the account is deactivated or no longer "
                                 "holds the expert role.", name=expert.name))
    exists = Assignment.query.filter(Assignment.initiative_id == initiative.id,
                                     Assignment.expert_id == expert.id,
                                     Assignment.state.notin_([A.CANCELLED.value, A.DECLINED.value])).first()
    if exists:
        raise AssignmentError(_l("%(name)s is already assigned to this initiative.", name=expert.name))
    vector = vectors.vector_of("initiative", initiative.id, initiative)
    score = None
    if vector is not None:
        texts = matching.expert_texts([expert])
        score = float(matching.affinities(vector[None, :], texts)[0, 0])
    assignment = Assignment(initiative_id=initiative.id, expert_id=expert.id, call_id=initiative.call_id,
                            round=initiative.round or 1, affinity=score, method="manual",
                            state=A.PROPOSED.value,
                            due_on=date.today() + timedelta(days=(initiative.call.review_days if initiative.call else 21)))
    db.session.add(assignment)
    db.session.flush()
    audit.record("assignment.proposed", assignment, actor=actor, after=A.PROPOSED, method="manual")
    return assignment


def move(assignment: Assignment, target: AssignmentState, actor, **detail) -> None:
    """Move an assignment along its machine, with an audit event in the same transaction."""
    before = assignment.status
    if not ASSIGNMENT_MACHINE.allowed(before, target):
        raise AssignmentError(_l("An assignment cannot go from %(a)s to %(b)s.", a=before.value, b=target.value))
    assignment.state = target.value
    audit.record(f"assignment.{target.value}", assignment, actor=actor, before=before, after=target, **detail)


def remove_proposed(assignment: Assignment, actor) -> None:
    require_admin(actor)
    if assignment.status != A.PROPOSED:
        raise AssignmentError(_l("Only a proposed assignment can be removed."))
    audit.record("assignment.removed", assignment, actor=actor, before=A.PROPOSED)
    db.session.delete(assignment)


# Confirming hands the proposal to the review workflow; the review area adds what follows
# (invitations, notifications) by listening here: callables (assignments, actor) -> None.
on_confirm: list = []


def confirm(call: Call, actor) -> list[Assignment]:
    """Turn the call's proposed assignments into invitations and start the review of their
    initiatives; one transaction (the caller commits)."""
    require_admin(actor)
    rows = Assignment.query.filter_by(call_id=call.id, state=A.PROPOSED.value).all()
    if not rows:
        raise AssignmentError(_l("There is no proposal to confirm."))
    from initiatives.proposals.operations import transition

    for assignment in rows:
        move(assignment, A.INVITED, actor)
        initiative = assignment.initiative
        if initiative.status in (S.SCREENING, S.SUBMITTED):
            transition(initiative, S.UNDER_REVIEW, actor=actor, action="initiative.review_started")
    for hook in on_confirm:
        hook(rows, actor)
    return rows
