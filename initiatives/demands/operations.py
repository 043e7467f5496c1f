"""Demand operations: create, edit, close, reopen, mark fulfilled. They never commit."""

from flask_babel import lazy_gettext as _l

from .. import audit, taxonomy
from ..extensions import db
from ..models import Demand, DemandState, TransitionError
from ..models.demand import DEMAND_MACHINE
from ..signals import announce_after_commit, demand_changed

FIELDS = ("title", "description", "organisation", "field", "province", "budget_min_vnd",
          "budget_max_vnd", "deadline", "language")


class DemandError(ValueError):
    """A demand operation refused, with a message for the user."""


def _clean(values: dict) -> dict:
    cleaned = {}
    for name in FIELDS:
        if name in values:
            value = values[name]
            if isinstance(value, str):
                value = value.strip()
            if value == "" and name not in ("title", "description", "organisation"):
                value = None
            cleaned[name] = value
    if "title" in cleaned and not cleaned["title"]:
        raise DemandError(_l("A demand needs a title."))
    if cleaned.get("field") and cleaned["field"] not in taxonomy.fields():
        raise DemandError(_l("Unknown field."))
    if cleaned.get("province") and cleaned["province"] not in taxonomy.provinces():
        raise DemandError(_l("Unknown province."))
    low, high = cleaned.get("budget_min_vnd"), cleaned.get("budget_max_vnd")
    if low is not None and high is not None and low > high:
        raise DemandError(_l("The lowest budget is above the highest."))
    return cleaned


def create_demand(owner, **values) -> Demand:
    """Post a new, open demand owned by ``owner``."""
    cleaned = _clean(values)
    if not cleaned.get("title"):
        raise DemandError(_l("A demand needs a title."))
    if not cleaned.get("organisation"):
        cleaned["organisation"] = owner.organisation or ""
    demand = Demand(owner_id=owner.id, state=DemandState.OPEN.value, **cleaned)
    db.session.add(demand)
    db.session.flush()
    audit.record("demand.created", demand, actor=owner, after=DemandState.OPEN)
    announce_after_commit(db.session, demand_changed, demand_id=demand.id)
    return demand


def update_demand(demand: Demand, user, **values) -> Demand:
    """Change a demand's fields."""
    if not demand.can_edit(user):
        raise DemandError(_l("Only the owner can change this demand."))
    cleaned = _clean(values)
    changed = sorted(n for n, v in cleaned.items() if getattr(demand, n) != v)
    for name, value in cleaned.items():
        setattr(demand, name, value)
    if changed:
        audit.record("demand.edited", demand, actor=user, fields=changed)
        announce_after_commit(db.session, demand_changed, demand_id=demand.id)
    return demand


def move_demand(demand: Demand, target: DemandState, user) -> Demand:
    """Close, reopen or mark fulfilled, as the demand machine allows."""
    if not demand.can_edit(user):
        raise DemandError(_l("Only the owner can change this demand."))
    before = demand.status
    try:
        DEMAND_MACHINE.check(before, target)
    except TransitionError as error:
        raise DemandError(str(error)) from error
    demand.state = target.value
    audit.record(f"demand.{target.value}", demand, actor=user, before=before, after=target)
    announce_after_commit(db.session, demand_changed, demand_id=demand.id)
    return demand
