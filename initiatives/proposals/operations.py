"""Initiative operations: drafts, attachments, submission, withdrawal, state changes. They never commit."""

from flask_babel import lazy_gettext as _l

from .. import audit, taxonomy, uploads
from ..extensions import db
from ..models import (
    Attachment,
    Call,
    Initiative,
    InitiativeState,
    InitiativeVersion,
    TransitionError,
)
from ..models.initiative import INITIATIVE_MACHINE, IP_STATUSES, LANGUAGES
from ..models.user import utcnow
from ..signals import announce_after_commit, initiative_changed, initiative_submitted

S = InitiativeState
EDITABLE_FIELDS = (
    "title", "summary", "description", "field", "keywords", "trl", "ip_status", "province",
    "organisation", "team_members", "budget_vnd", "expected_impact", "language", "call_id",
)

# Other areas add warnings shown before a proposer confirms a submission:
# callables (initiative) -> list of (message, [related initiatives]).
submission_warnings: list = []


class InitiativeError(ValueError):
    """An initiative operation refused, with a message for the user."""


def standing_call() -> Call:
    """The always-open call, created on first use."""
    call = Call.query.filter_by(is_standing=True).order_by(Call.id).first()
    if call is None:
        call = Call(slug="standing", title="Standing call / Đợt tiếp nhận thường xuyên",
                    description="Initiatives can be submitted at any time.", is_standing=True)
        db.session.add(call)
        db.session.flush()
    return call


def _clean(values: dict) -> dict:
    """Normalise editable values: lists from text, blanks to None, unknown slugs refused."""
    cleaned = {}
    for name, value in values.items():
        if name not in EDITABLE_FIELDS:
            continue
        if isinstance(value, str):
            value = value.strip()
        if name in ("keywords", "team_members"):
            if isinstance(value, str):
                separator = "," if name == "keywords" else "\n"
                value = [part.strip() for part in value.replace("\r", "").split(separator)]
            value = [part for part in (value or []) if part]
        elif name in ("title", "summary", "description", "organisation", "expected_impact"):
            value = value or ""
        elif value in ("", None):
            value = None
        cleaned[name] = value
    if cleaned.get("field") and cleaned["field"] not in taxonomy.fields():
        raise InitiativeError(_l("Unknown field."))
    if cleaned.get("province") and cleaned["province"] not in taxonomy.provinces():
        raise InitiativeError(_l("Unknown province."))
    if cleaned.get("ip_status") and cleaned["ip_status"] not in IP_STATUSES:
        raise InitiativeError(_l("Unknown intellectual property status."))
    if cleaned.get("language") and cleaned["language"] not in LANGUAGES:
        raise InitiativeError(_l("Unknown language."))
    if cleaned.get("trl") is not None and not 1 <= int(cleaned["trl"]) <= 9:
        raise InitiativeError(_l("The technology readiness level runs from 1 to 9."))
    if cleaned.get("budget_vnd") is not None and int(cleaned["budget_vnd"]) < 0:
        raise InitiativeError(_l("The budget cannot be negative."))
    return cleaned


def create_draft(proposer, **values) -> Initiative:
    """Start a draft owned by ``proposer``; only a title is needed to save it."""
    cleaned = _clean(values)
    if not cleaned.get("title"):
        raise InitiativeError(_l("A draft needs at least a title."))
    cleaned.setdefault("call_id", None)
    if cleaned["call_id"] is None:
        cleaned["call_id"] = standing_call().id
    initiative = Initiative(proposer_id=proposer.id, state=S.DRAFT.value, **cleaned)
    db.session.add(initiative)
    db.session.flush()
    audit.record("initiative.created", initiative, actor=proposer, after=S.DRAFT)
    announce_after_commit(db.session, initiative_changed, initiative_id=initiative.id)
    return initiative


def update_initiative(initiative: Initiative, user, **values) -> Initiative:
    """Change the fields of an editable initiative."""
    if not initiative.can_edit(user):
        raise InitiativeError(_l("This initiative cannot be edited now."))
    cleaned = _clean(values)
    if "title" in cleaned and not cleaned["title"]:
        raise InitiativeError(_l("A draft needs at least a title."))
    changed = sorted(name for name, value in cleaned.items() if getattr(initiative, name) != value)
    for name, value in cleaned.items():
        setattr(initiative, name, value)
    if changed:
        audit.record("initiative.edited", initiative, actor=user, fields=changed)
        announce_after_commit(db.session, initiative_changed, initiative_id=initiative.id)
    return initiative


def add_attachment(initiative: Initiative, user, storage) -> Attachment:
    """Check and store an uploaded file for ``initiative``; raises UploadError or InitiativeError."""
    if not initiative.can_edit(user):
        raise InitiativeError(_l("Files can be attached only while the initiative is editable."))
    checked = uploads.check_upload(storage)
    stored_name = uploads.store_in_transaction(db.session, checked)
    attachment = Attachment(
        initiative=initiative, original_name=checked.original_name, stored_name=stored_name,
        content_type=checked.content_type, size=len(checked.content), sha256=checked.sha256,
        uploaded_by_id=user.id,
    )
    db.session.add(attachment)
    db.session.flush()
    audit.record("initiative.attachment_added", initiative, actor=user, file=checked.original_name)
    return attachment


def submitted_in_a_round(attachment: Attachment) -> bool:
    """Whether a submission round of the attachment's initiative kept this file."""
    return any(f.get("stored_name") == attachment.stored_name
               for version in InitiativeVersion.query.filter_by(initiative_id=attachment.initiative_id)
               for f in (version.snapshot or {}).get("files", []))


def remove_attachment(attachment: Attachment, user) -> None:
    """Remove an attachment; its file goes once the removal commits."""
    initiative = attachment.initiative
    if not initiative.can_edit(user):
        raise InitiativeError(_l("Files can be removed only while the initiative is editable."))
    if not submitted_in_a_round(attachment):  # else the round's snapshot still refers to the file
        uploads.remove_after_commit(db.session, attachment.stored_name)
    audit.record("initiative.attachment_removed", initiative, actor=user, file=attachment.original_name)
    db.session.delete(attachment)


REQUIRED_FOR_SUBMISSION = {
    "title": _l("Title"), "summary": _l("Summary"), "description": _l("Description"),
    "field": _l("Field"), "keywords": _l("Keywords"), "trl": _l("Technology readiness level"),
    "ip_status": _l("Intellectual property status"), "province": _l("Province or city"),
    "expected_impact": _l("Expected impact"), "language": _l("Language"),
}


def missing_for_submission(initiative: Initiative) -> list[str]:
    """The labels of required fields still empty (an empty list means ready)."""
    return [str(label) for name, label in REQUIRED_FOR_SUBMISSION.items()
            if getattr(initiative, name) in (None, "", [])]


def transition(initiative: Initiative, target: InitiativeState, *, actor=None, action=None,
               **detail) -> None:
    """Move ``initiative`` to ``target`` if its machine allows it, with an audit event."""
    before = initiative.status
    try:
        INITIATIVE_MACHINE.check(before, target)
    except TransitionError as error:
        raise InitiativeError(str(error)) from error
    initiative.state = target.value
    if target in (S.ACCEPTED, S.REJECTED, S.REVISION_REQUESTED):
        initiative.decided_at = utcnow()
    audit.record(action or f"initiative.{target.value}", initiative, actor=actor,
                 before=before, after=target, **detail)
    announce_after_commit(db.session, initiative_changed, initiative_id=initiative.id)


def submit(initiative: Initiative, user) -> Initiative:
    """Submit an editable initiative: checks it is complete and its call open, keeps a snapshot."""
    if not initiative.can_edit(user):
        raise InitiativeError(_l("Only the proposer can submit a draft or a requested revision."))
    missing = missing_for_submission(initiative)
    if missing:
        raise InitiativeError(_l("Please fill in: %(fields)s.", fields=", ".join(missing)))
    call = initiative.call or standing_call()
    if not call.is_open():
        raise InitiativeError(_l("The call “%(title)s” is closed: submissions are no longer accepted.", title=call.title))
    initiative.call_id = call.id
    resubmission = initiative.status == S.REVISION_REQUESTED
    initiative.round = (initiative.round or 0) + 1
    initiative.submitted_at = utcnow()
    transition(initiative, S.SUBMITTED, actor=user, action="initiative.submitted", round=initiative.round)
    db.session.add(InitiativeVersion(initiative=initiative, round=initiative.round,
                                     snapshot=initiative.snapshot()))
    if not resubmission:
        # Round 1 enters the screening queue at once (DESIGN section 3, step 1).
        transition(initiative, S.SCREENING, actor=user, action="initiative.entered_screening")
    announce_after_commit(db.session, initiative_submitted, initiative_id=initiative.id,
                          round=initiative.round)
    return initiative


# How a freshly submitted initiative (in screening) is walked to a later state, for loaders and
# imports that bring in initiatives whose review happened elsewhere.
PATH_AFTER_SUBMISSION = {
    S.DRAFT: [], S.SUBMITTED: [], S.SCREENING: [],
    S.UNDER_REVIEW: [S.UNDER_REVIEW],
    S.REVIEWED: [S.UNDER_REVIEW, S.REVIEWED],
    S.ACCEPTED: [S.UNDER_REVIEW, S.REVIEWED, S.ACCEPTED],
    S.REJECTED: [S.UNDER_REVIEW, S.REVIEWED, S.REJECTED],
    S.REVISION_REQUESTED: [S.UNDER_REVIEW, S.REVIEWED, S.REVISION_REQUESTED],
    S.WITHDRAWN: [S.WITHDRAWN],
}


def withdraw(initiative: Initiative, user, reason: str = "") -> Initiative:
    """The proposer withdraws before a decision."""
    if not initiative.is_proposer(user) and not user.is_admin:
        raise InitiativeError(_l("Only the proposer can withdraw an initiative."))
    if not INITIATIVE_MACHINE.allowed(initiative.status, S.WITHDRAWN):
        raise InitiativeError(_l("An initiative cannot be withdrawn after a decision."))
    transition(initiative, S.WITHDRAWN, actor=user, action="initiative.withdrawn", reason=reason)
    return initiative
