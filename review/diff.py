"""What changed between two submitted rounds of an initiative, field by field, for its reviewers."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from initiatives import taxonomy
from initiatives.models import Initiative, InitiativeVersion

FIELD_LABELS = {
    "title": _l("Title"), "summary": _l("Summary"), "description": _l("Description"),
    "expected_impact": _l("Expected impact"), "field": _l("Field"), "keywords": _l("Keywords"),
    "trl": _l("Technology readiness level"), "ip_status": _l("Intellectual property status"),
    "province": _l("Province or city"), "budget_vnd": _l("Requested budget"), "language": _l("Language"),
    "organisation": _l("Organisation"), "team_members": _l("Team members"), "attachments": _l("Attachments"),
}
TEXT_FIELDS = ("title", "summary", "description", "expected_impact")
LIST_FIELDS = ("keywords", "team_members", "attachments")
# Who proposed it: never shown to reviewers of a double-blind call.
IDENTITY_FIELDS = ("organisation", "team_members")
_TOKENS = re.compile(r"\s+|[^\s]+")


@dataclass
class FieldChange:
    name: str
    label: str
    html: Markup = Markup("")
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    before: str = ""
    after: str = ""


def inline_diff(before: str, after: str) -> Markup:
    """``after`` with removed words struck out and added words marked, word by word."""
    old, new = _TOKENS.findall(before or ""), _TOKENS.findall(after or "")
    parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            parts.append(escape("".join(old[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            parts.append(Markup('<del class="diff-removed">%s</del>') % "".join(old[i1:i2]))
        if tag in ("insert", "replace"):
            parts.append(Markup('<ins class="diff-added">%s</ins>') % "".join(new[j1:j2]))
    return Markup("").join(parts)


def _readable(name: str, value) -> str:
    if value in (None, "", []):
        return "—"
    if name == "field":
        return taxonomy.field_name(value) or str(value)
    if name == "province":
        return taxonomy.province_name(value) or str(value)
    if name == "budget_vnd":
        return f"{int(value):,}".replace(",", ".") + " ₫"
    return str(value)


def changes(before: dict, after: dict, *, hide_identity: bool = False) -> list[FieldChange]:
    """The fields that differ between two snapshots, in reading order."""
    result = []
    for name, label in FIELD_LABELS.items():
        if hide_identity and name in IDENTITY_FIELDS:
            continue
        old, new = before.get(name), after.get(name)
        if (old or None) == (new or None):
            continue
        change = FieldChange(name, str(label))
        if name in TEXT_FIELDS:
            change.html = inline_diff(old or "", new or "")
        elif name in LIST_FIELDS:
            old_items, new_items = list(old or []), list(new or [])
            change.added = [item for item in new_items if item not in old_items]
            change.removed = [item for item in old_items if item not in new_items]
            if not (change.added or change.removed):  # only the order changed
                change.before, change.after = ", ".join(old_items), ", ".join(new_items)
        else:
            change.before, change.after = _readable(name, old), _readable(name, new)
        result.append(change)
    return result


def version(initiative: Initiative, round_number: int) -> InitiativeVersion | None:
    return InitiativeVersion.query.filter_by(initiative_id=initiative.id, round=round_number).first()


def since_round(initiative: Initiative, earlier: int, later: int, *, hide_identity: bool = False) -> list[FieldChange] | None:
    """The changes from round ``earlier`` to round ``later`` (None when a snapshot is missing)."""
    old, new = version(initiative, earlier), version(initiative, later)
    if old is None or new is None:
        return None
    return changes(old.snapshot, new.snapshot, hide_identity=hide_identity)
