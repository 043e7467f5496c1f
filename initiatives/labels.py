"""Translated names of states and roles, for pages and e-mails."""

from flask_babel import lazy_gettext as _l

STATE_LABELS = {
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "screening": _l("In screening"),
    "under_review": _l("Under review"),
    "reviewed": _l("Reviewed"),
    "accepted": _l("Accepted"),
    "rejected": _l("Rejected"),
    "revision_requested": _l("Revision requested"),
    "withdrawn": _l("Withdrawn"),
    "open": _l("Open"),
    "closed": _l("Closed"),
    "fulfilled": _l("Fulfilled"),
    # connections
    "suggested": _l("Suggested"),
    "requested": _l("Requested"),
    "declined": _l("Declined"),
    "in_discussion": _l("In discussion"),
    "adopted": _l("Adopted"),
}

STATE_STYLES = {
    "draft": "secondary", "submitted": "info", "screening": "info", "under_review": "primary",
    "reviewed": "primary", "accepted": "success", "rejected": "danger",
    "revision_requested": "warning", "withdrawn": "secondary", "open": "success",
    "closed": "secondary", "fulfilled": "primary",
    "suggested": "light", "requested": "info", "declined": "danger", "in_discussion": "primary",
    "adopted": "success",
}

ROLE_NAMES = {
    "proposer": _l("Proposer"),
    "expert": _l("Expert"),
    "demand_owner": _l("Demand owner"),
    "admin": _l("Administrator"),
}


def state_label(state) -> str:
    """The translated name of a state."""
    return str(STATE_LABELS.get(str(state), state))
