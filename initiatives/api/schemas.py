"""What the API reads and answers, as marshmallow schemas (the OpenAPI document is made from them)."""

from datetime import UTC

import marshmallow as ma
from flask_babel import gettext
from marshmallow import fields, validate

from .. import taxonomy
from ..access import MAX_ID
from ..connections.models import MOVES, OUTCOMES, ConnectionState
from ..models import DemandState, InitiativeState

# The states of a reviewer assignment (DESIGN section 2); the review area owns the model.
ASSIGNMENT_STATES = ["proposed", "invited", "accepted", "submitted", "declined", "overdue", "cancelled"]

Id = validate.Range(min=1, max=MAX_ID)
# Text the database can store (PostgreSQL refuses NUL characters).
Text = validate.Regexp(r"^[^\x00]*$", error="Text may not contain NUL characters.")


class UtcDateTime(fields.DateTime):
    """A time: stored in UTC without a zone, answered with it (RFC 3339, as OpenAPI wants)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def _field_slug():
    return fields.String(validate=validate.OneOf(list(taxonomy.fields())),
                         metadata={"description": "A slug of the field taxonomy."})


def _province_slug():
    return fields.String(validate=validate.OneOf(list(taxonomy.provinces())),
                         metadata={"description": "A slug of the 34 provinces and cities."})


class ProblemSchema(ma.Schema):
    """An error, as problem details (RFC 9457)."""

    type = fields.String(metadata={"description": "Always about:blank: the status says what happened."})
    title = fields.String(required=True, metadata={"description": "What went wrong, in the caller's language."})
    status = fields.Integer(required=True)
    detail = fields.String(metadata={"description": "More about this occurrence."})
    errors = fields.Dict(metadata={"description": "Per location and field, what is wrong with the request."})


class QueryArgs(ma.Schema):
    """Query arguments: unknown ones are ignored, as on any web page."""

    class Meta:
        unknown = ma.EXCLUDE


class PageArgs(QueryArgs):
    """Paging of every list."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000),
                          metadata={"description": "Page number, from 1."})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100),
                           metadata={"description": "Items per page, at most 100."})


_pages: dict = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The schema of one page of ``item_schema`` items (made once per item schema)."""
    if item_schema not in _pages:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _pages[item_schema] = type(name, (ma.Schema,), {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "page": fields.Integer(required=True),
            "limit": fields.Integer(required=True),
            "total": fields.Integer(required=True, metadata={"description": "Items on all pages."}),
            "pages": fields.Integer(required=True),
            "__doc__": f"One page of {item_schema.__name__.removesuffix('Schema').lower()} items.",
        })
    return _pages[item_schema]


# Initiatives ---------------------------------------------------------------------------------

class PersonSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)


class InitiativeSchema(ma.Schema):
    """An initiative. Anonymous callers and most users get the public fields; admins and the
    proposer get every field (the others are then absent). Who proposed it (organisation, team
    members, proposer name) is a contact detail, not a public field."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    summary = fields.String()
    description = fields.String(metadata={"description": "Markdown."})
    field = fields.String(allow_none=True, metadata={"description": "A slug of the field taxonomy."})
    keywords = fields.List(fields.String())
    trl = fields.Integer(allow_none=True, metadata={"description": "Technology readiness level, 1-9."})
    ip_status = fields.String(allow_none=True)
    province = fields.String(allow_none=True, metadata={"description": "A slug of the 34 provinces and cities."})
    language = fields.String()
    state = fields.String(required=True)
    budget_vnd = fields.Integer(allow_none=True)
    expected_impact = fields.String()
    call_id = fields.Integer(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    organisation = fields.String(metadata={"description": (
        "Who proposed it: admins, the proposer, its reviewers unless the call is double-blind, and a demand "
        "owner once both sides agreed on a connection with it; absent for everyone else.")})
    team_members = fields.List(fields.String(), metadata={"description": "As organisation."})
    proposer_name = fields.String(attribute="proposer.name", metadata={"description": "As organisation."})
    # admins and the proposer
    proposer = fields.Nested(PersonSchema, metadata={"description": "Admins and the proposer only."})
    round = fields.Integer()
    external_ref = fields.String(allow_none=True)
    screening_note = fields.String(allow_none=True)
    submitted_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


INITIATIVE_PUBLIC = ("id", "title", "summary", "description", "field", "keywords", "trl", "ip_status",
                     "province", "language", "state", "budget_vnd", "expected_impact", "call_id", "decided_at")
INITIATIVE_IDENTITY = ("organisation", "team_members", "proposer_name")


class InitiativeArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([s.value for s in InitiativeState]),
                          metadata={"description": "Admins only; others always see accepted initiatives."})
    field = _field_slug()
    province = _province_slug()
    call = fields.Integer(validate=Id, metadata={"description": "A call's id."})
    q = fields.String(validate=[validate.Length(max=200), Text], metadata={"description": "Title contains (not the search)."})


# Demands -------------------------------------------------------------------------------------

class DemandSchema(ma.Schema):
    """A demand. Organisation and owner are shown to admins and the owner only."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String()
    field = fields.String(allow_none=True)
    province = fields.String(allow_none=True)
    budget_min_vnd = fields.Integer(allow_none=True)
    budget_max_vnd = fields.Integer(allow_none=True)
    deadline = fields.Date(allow_none=True)
    language = fields.String()
    state = fields.String(required=True)
    created_at = UtcDateTime()
    organisation = fields.String()
    owner = fields.Nested(PersonSchema)
    external_ref = fields.String(allow_none=True)
    updated_at = UtcDateTime()


DEMAND_PUBLIC = ("id", "title", "description", "field", "province", "budget_min_vnd", "budget_max_vnd",
                 "deadline", "language", "state", "created_at")


class DemandArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([s.value for s in DemandState]),
                          metadata={"description": "Open demands and your own for users; any for admins."})
    field = _field_slug()
    province = _province_slug()
    q = fields.String(validate=[validate.Length(max=200), Text])


# Matches -------------------------------------------------------------------------------------

class MatchArgs(QueryArgs):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


class DemandMatchSchema(ma.Schema):
    score = fields.Float(required=True)
    keywords = fields.List(fields.String(), required=True, metadata={"description": "Shared keywords."})
    demand = fields.Nested(DemandSchema, required=True)


class InitiativeMatchSchema(ma.Schema):
    score = fields.Float(required=True)
    keywords = fields.List(fields.String(), required=True)
    initiative = fields.Nested(InitiativeSchema, required=True)


class DemandMatchListSchema(ma.Schema):
    items = fields.List(fields.Nested(DemandMatchSchema), required=True)
    matched = fields.Boolean(required=True, metadata={"description": "False while the text awaits its vector."})


class InitiativeMatchListSchema(ma.Schema):
    items = fields.List(fields.Nested(InitiativeMatchSchema), required=True)
    matched = fields.Boolean(required=True)


# Experts and assignments (admins) -------------------------------------------------------------

class PublicationSchema(ma.Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    abstract = fields.String()
    year = fields.Integer(allow_none=True)
    venue = fields.String()


class ExpertSchema(ma.Schema):
    id = fields.Integer(required=True)
    user_id = fields.Integer(allow_none=True)
    external_ref = fields.String(allow_none=True)
    name = fields.String(required=True)
    email = fields.String(allow_none=True)
    organisation = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")
    keywords = fields.List(fields.String())
    bio = fields.String()
    languages = fields.List(fields.String())
    max_load = fields.Integer()
    available = fields.Boolean()
    unavailable_until = fields.Date(allow_none=True)
    load = fields.Integer(metadata={"description": "Active assignments (invited, accepted, overdue)."})
    publications = fields.List(fields.Nested(PublicationSchema))


class ExpertArgs(PageArgs):
    field = _field_slug()
    available = fields.Boolean()
    q = fields.String(validate=[validate.Length(max=200), Text], metadata={"description": "Name or organisation contains."})


class AssignmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    initiative_id = fields.Integer(required=True)
    initiative_title = fields.String(attribute="initiative.title")
    expert_id = fields.Integer(required=True)
    expert_name = fields.String(attribute="expert.name")
    call_id = fields.Integer(allow_none=True)
    round = fields.Integer()
    affinity = fields.Float(allow_none=True)
    method = fields.String()
    state = fields.String(required=True)
    due_on = fields.Date(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AssignmentArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(ASSIGNMENT_STATES))
    call = fields.Integer(validate=Id)
    expert = fields.Integer(validate=Id)
    initiative = fields.Integer(validate=Id)


class ReviewScoreSchema(ma.Schema):
    criterion_id = fields.Integer(required=True)
    key = fields.String(attribute="criterion.key", metadata={"description": "Stable across rubric versions."})
    name = fields.String(attribute="criterion.name_en")
    weight = fields.Float(attribute="criterion.weight")
    scale_min = fields.Integer(attribute="criterion.scale_min")
    scale_max = fields.Integer(attribute="criterion.scale_max")
    value = fields.Integer(required=True)


class ReviewSchema(ma.Schema):
    id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True)
    initiative_id = fields.Integer(attribute="assignment.initiative_id")
    expert_id = fields.Integer(attribute="assignment.expert_id")
    expert_name = fields.String(attribute="assignment.expert.name")
    call_id = fields.Integer(attribute="assignment.call_id", allow_none=True)
    round = fields.Integer(attribute="assignment.round")
    rubric_id = fields.Integer()
    state = fields.Method("_state", metadata={"description": "draft or submitted"})
    scores = fields.List(fields.Nested(ReviewScoreSchema), attribute="score_rows")
    confidence = fields.Integer(allow_none=True)
    recommendation = fields.String(allow_none=True)
    comments_to_proposer = fields.String()
    confidential_comments = fields.String()
    submitted_at = UtcDateTime(allow_none=True)
    reopened_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()

    def _state(self, review):
        return "submitted" if review.submitted_at is not None else "draft"


class ReviewArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(["draft", "submitted"]))
    call = fields.Integer(validate=Id)
    expert = fields.Integer(validate=Id)
    initiative = fields.Integer(validate=Id)
    round = fields.Integer(validate=validate.Range(min=1, max=1000))


# Connections ---------------------------------------------------------------------------------

class ContactSchema(ma.Schema):
    role = fields.String(required=True, metadata={"description": "owner (of the demand) or proposer."})
    name = fields.String(required=True)
    email = fields.String(required=True)
    organisation = fields.String()


class ConnectionSideSchema(ma.Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    field = fields.String(allow_none=True)
    province = fields.String(allow_none=True)


class ConnectionSchema(ma.Schema):
    """A connection; ``contacts`` stays empty until the proposer accepted."""

    id = fields.Integer(required=True)
    state = fields.String(required=True)
    demand = fields.Nested(ConnectionSideSchema, required=True)
    initiative = fields.Nested(ConnectionSideSchema, required=True)
    score = fields.Float(allow_none=True)
    message = fields.String()
    reply = fields.String()
    outcome = fields.String(allow_none=True)
    note = fields.String()
    contacts = fields.List(fields.Nested(ContactSchema), required=True)
    created_at = UtcDateTime()
    requested_at = UtcDateTime(allow_none=True)
    agreed_at = UtcDateTime(allow_none=True)
    declined_at = UtcDateTime(allow_none=True)
    adopted_at = UtcDateTime(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)


class ConnectionArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([s.value for s in ConnectionState]))
    demand = fields.Integer(validate=Id)
    initiative = fields.Integer(validate=Id)
    province = fields.String(validate=validate.OneOf(list(taxonomy.provinces())), metadata={
        "description": "A slug of the 34 provinces and cities: the demand's or the initiative's."})
    field = fields.String(validate=validate.OneOf(list(taxonomy.fields())), metadata={
        "description": "A slug of the field taxonomy: the demand's or the initiative's."})


def _written(value: str) -> None:
    """Refuse a message of spaces only: it passes the minimum length but says nothing."""
    if not value.strip():
        raise ma.ValidationError(gettext("Please write a short message to the proposer."))


class ConnectionRequestSchema(ma.Schema):
    """A demand owner asks the proposer of an accepted initiative to connect."""

    demand_id = fields.Integer(required=True, validate=Id)
    initiative_id = fields.Integer(required=True, validate=Id, metadata={
        "description": "An initiative of the catalogue; any other answers 404, as one that does not exist."})
    message = fields.String(required=True, validate=[validate.Length(min=1, max=2000), Text, _written],
                            metadata={"description": "To the proposer; more than spaces."})


class ConnectionMoveSchema(ma.Schema):
    """One step: accept or decline (the proposer), discuss, adopt (with its outcome) or close."""

    action = fields.String(required=True, validate=validate.OneOf(list(MOVES)))
    note = fields.String(load_default="", validate=[validate.Length(max=2000), Text])
    outcome = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(OUTCOMES),
                            metadata={"description": "Needed to adopt."})


class MeSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    locale = fields.String()
    roles = fields.Method("role_names", required=True,
                          metadata={"type": "array", "items": {"type": "string"}})

    def role_names(self, user):
        return sorted(r.value for r in user.roles)
