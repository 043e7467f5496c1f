"""Demo data: accounts, initiatives, demands and expert profiles from initiatives/data/demo/*.json.

Loading is idempotent: people are found by e-mail, everything else by an external reference
derived from its position in the files, so running the loader twice changes nothing.
"""

import json
from datetime import date, timedelta
from pathlib import Path

from .accounts import operations as accounts
from .demands import operations as demands
from .experts import operations as experts
from .extensions import db
from .models import (
    AuditEvent,
    Call,
    Demand,
    DemandState,
    ExpertProfile,
    Initiative,
    InitiativeState,
    InitiativeVersion,
    Role,
)
from .models.user import utcnow
from .proposals import operations as proposals

DEMO = Path(__file__).parent / "data" / "demo"
DEMO_PASSWORD = "demo1234"  # the documented demo accounts' password  # nosec B105
S = InitiativeState


def _read(name: str) -> list[dict]:
    with open(DEMO / name, encoding="utf-8") as f:
        return json.load(f)


def _user(entry: dict, admin=None):
    """The account for ``entry``, created when missing."""
    user = accounts.find_user(entry["email"])
    if user is None:
        user = accounts.register_user(
            entry["email"], entry["name"], entry.get("password", DEMO_PASSWORD),
            entry.get("roles") or [Role.PROPOSER], organisation=entry.get("organisation", ""),
            locale=entry.get("locale", "vi"), actor=admin, allow_admin=True,
        )
    return user


def load() -> dict[str, int]:
    """Load every demo file; return how many objects of each kind were created."""
    created = {"users": 0, "initiatives": 0, "experts": 0, "demands": 0}
    users = _read("users.json")
    before = db.session.query(db.func.count()).select_from(accounts.User).scalar()
    admin = None
    for entry in users:
        user = _user(entry, admin)
        if admin is None and user.is_admin:
            admin = user
    for index, entry in enumerate(_read("experts.json")):
        _expert(index, entry, admin)
    created["users"] = db.session.query(db.func.count()).select_from(accounts.User).scalar() - before
    call = _demo_call()
    for index, entry in enumerate(_read("initiatives.json")):
        created["initiatives"] += _initiative(index, entry, admin, call)
    for index, entry in enumerate(_read("demands.json")):
        created["demands"] += _demand(index, entry)
    created["experts"] = ExpertProfile.query.count()
    db.session.commit()
    return created


# A themed call besides the standing one; initiatives in these fields are filed under it.

DEMO_CALL_FIELDS = {"agriculture", "environment"}


def _demo_call() -> Call:
    call = Call.query.filter_by(slug="green-agriculture-2027").first()
    if call is None:
        call = Call(
            slug="green-agriculture-2027",
            title="Nông nghiệp xanh và thích ứng khí hậu 2027 / Green agriculture and climate adaptation 2027",
            description="Initiatives for climate-resilient farming, water and the environment.",
            opens_on=date(2026, 1, 1), closes_on=date(2027, 12, 31),
            reviewers_per_initiative=3, default_max_load=6, review_days=21,
        )
        db.session.add(call)
        db.session.flush()
    return call


def _expert(index: int, entry: dict, admin) -> None:
    user = _user({**entry, "roles": [Role.EXPERT]}, admin)
    profile = experts.profile_for(user)
    if profile.external_ref:
        return
    profile.external_ref = entry.get("external_ref") or f"demo-expert-{index}"
    until = entry.get("unavailable_until")
    experts.update_profile(
        profile, user, name=entry["name"], organisation=entry.get("organisation", ""),
        fields=entry.get("fields", []), keywords=entry.get("keywords", []),
        bio=entry.get("bio") or entry.get("expertise", ""),
        languages=entry.get("languages", ["vi", "en"]), max_load=entry.get("max_load", 5),
        available=entry.get("available", True),
        unavailable_until=date.fromisoformat(until) if until else None,
    )
    for item in entry.get("publications", []):
        experts.add_publication(profile, user, item["title"], item.get("abstract", ""),
                                item.get("year"), item.get("venue", ""))
    for conflict in entry.get("organisation_conflicts", []):
        if isinstance(conflict, str):
            conflict = {"organisation": conflict}
        experts.declare_conflict(profile, user, conflict["organisation"], conflict.get("reason", ""))


def _initiative(index: int, entry: dict, admin, call) -> int:
    ref = entry.get("external_ref") or f"demo-initiative-{index}"
    if Initiative.query.filter_by(external_ref=ref).first():
        return 0
    proposer = accounts.find_user(entry["proposer"])
    initiative = proposals.create_draft(
        proposer, title=entry["title"], summary=entry.get("summary", ""),
        description=entry.get("description", ""), field=entry.get("field"),
        keywords=entry.get("keywords", []), trl=entry.get("trl", 4),
        ip_status=entry.get("ip_status", "none"), province=entry.get("province"),
        organisation=entry.get("organisation", ""), team_members=entry.get("team_members", []),
        budget_vnd=entry.get("budget_vnd"),
        expected_impact=entry.get("expected_impact") or entry.get("summary", ""),
        language=entry.get("language", "vi"),
        call_id=call.id if entry.get("field") in DEMO_CALL_FIELDS else None,
    )
    initiative.external_ref = ref
    target = S(entry.get("state", "submitted"))
    if target != S.DRAFT:
        proposals.submit(initiative, proposer)
        # "submitted" ones wait in the screening queue; the others passed it already.
        if target not in (S.SUBMITTED, S.WITHDRAWN):
            initiative.screened_at = initiative.submitted_at
        for step in proposals.PATH_AFTER_SUBMISSION[target]:
            proposals.transition(initiative, step, actor=proposer if step == S.WITHDRAWN else admin,
                                 action=f"demo.{step.value}")
    db.session.flush()
    _spread_over_the_year(initiative, index)
    return 1


def _spread_over_the_year(initiative: Initiative, index: int) -> None:
    """Give each demo initiative its own past: it starts on a day of the last ten months and takes
    some days per step, so the dashboard's months and median days show something (loading them
    all in one second put every submission in one month and every median at 0)."""
    when = utcnow() - timedelta(days=60 + (index * 37) % 270, hours=(index * 5) % 24)
    events = (AuditEvent.query.filter_by(object_type="initiative", object_id=initiative.id)
              .order_by(AuditEvent.id).all())
    for step, event in enumerate(events):
        before = when
        if step:
            when += timedelta(days=(index + 3 * step) % 9 + 1, hours=(7 * step) % 24)
        event.created_at = when
        if step == 0:
            initiative.created_at = when
        if event.after_state == S.SUBMITTED.value:
            initiative.submitted_at = when
        if event.before_state == S.SCREENING.value and initiative.screened_at is not None:
            initiative.screened_at = before + (when - before) / 2  # passed, then waited for reviewers
        if event.after_state in (S.ACCEPTED.value, S.REJECTED.value, S.REVISION_REQUESTED.value):
            initiative.decided_at = when
    if initiative.screened_at is not None and initiative.submitted_at is not None:
        # Passed screening but waiting for reviewers: screened two days after submission.
        initiative.screened_at = max(initiative.screened_at, initiative.submitted_at)
        if initiative.screened_at == initiative.submitted_at:
            initiative.screened_at += timedelta(days=2)
    for version in InitiativeVersion.query.filter_by(initiative_id=initiative.id):
        version.submitted_at = initiative.submitted_at or version.submitted_at
    initiative.updated_at = when


def _demand(index: int, entry: dict) -> int:
    ref = entry.get("external_ref") or f"demo-demand-{index}"
    if Demand.query.filter_by(external_ref=ref).first():
        return 0
    owner = accounts.find_user(entry["owner"])
    demand = demands.create_demand(
        owner, title=entry["title"], description=entry.get("description", ""),
        organisation=entry.get("organisation", owner.organisation), field=entry.get("field"),
        province=entry.get("province"), budget_min_vnd=entry.get("budget_min_vnd"),
        budget_max_vnd=entry.get("budget_max_vnd", entry.get("budget_vnd")),
        deadline=date.fromisoformat(entry["deadline"]) if entry.get("deadline") else None,
        language=entry.get("language", "vi"),
    )
    demand.external_ref = ref
    state = DemandState(entry.get("state", "open"))
    if state != DemandState.OPEN:
        demands.move_demand(demand, state, owner)
    demand.created_at = demand.updated_at = utcnow() - timedelta(days=15 + (index * 23) % 200)
    db.session.flush()
    return 1
