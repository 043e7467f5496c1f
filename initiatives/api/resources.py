"""The API's routes: initiatives, demands, matches, experts, assignments, connections, the caller."""


from flask import abort, jsonify
from flask_babel import gettext as _
from sqlalchemy import or_

from ..access import MAX_ID
from ..extensions import db
from ..models import Demand, DemandState, ExpertProfile, Initiative, InitiativeState
from .core import ApiBlueprint, api_user
from .schemas import (
    DEMAND_PUBLIC,
    INITIATIVE_IDENTITY,
    INITIATIVE_PUBLIC,
    AssignmentArgs,
    AssignmentSchema,
    ConnectionArgs,
    ConnectionMoveSchema,
    ConnectionRequestSchema,
    ConnectionSchema,
    DemandArgs,
    DemandMatchListSchema,
    DemandSchema,
    ExpertArgs,
    ExpertSchema,
    InitiativeArgs,
    InitiativeMatchListSchema,
    InitiativeSchema,
    MatchArgs,
    MeSchema,
    ReviewArgs,
    ReviewSchema,
    page_of,
)

TOKEN = [{"bearerAuth": []}]
TOKEN_OR_NONE = [{}, {"bearerAuth": []}]


# Helpers -------------------------------------------------------------------------------------

def signed_in():
    """The token's user; 401 without one."""
    user = api_user()
    if not user.is_authenticated:
        abort(401, _("This needs an API token: send “Authorization: Bearer <token>”."))
    return user


def admin_only():
    """The token's user, who must be an admin: 401 without a token, 403 for others."""
    user = signed_in()
    if not user.is_admin:
        abort(403, _("Only administrators may use this."))
    return user


def allow(allowed: bool):
    """Go on only when ``allowed``: 401 for anonymous callers, 403 for others."""
    if not allowed:
        if not api_user().is_authenticated:
            abort(401, _("This needs an API token: send “Authorization: Bearer <token>”."))
        abort(403, _("You may not see this."))


def load(model, object_id: int):
    """The ``model`` row, or 404."""
    found = db.session.get(model, object_id) if 0 < object_id <= MAX_ID else None
    if found is None:
        abort(404, _("There is no such object."))
    return found


def dump(schema_class, item, only=None):
    return schema_class(only=only).dump(item)


def page_answer(schema_class, query, args, only=None):
    """One page of ``query`` as JSON: items, page, limit, total, pages."""
    page = query.paginate(page=args["page"], per_page=args["limit"], error_out=False)
    schema = schema_class(only=only, many=True)
    return jsonify({"items": schema.dump(page.items), "page": args["page"], "limit": args["limit"],
                    "total": page.total, "pages": page.pages})


def initiative_fields(initiative, user):
    """The fields of ``initiative`` that ``user`` may read (None: all)."""
    if user.is_authenticated and (user.is_admin or initiative.is_proposer(user)):
        return None
    return INITIATIVE_PUBLIC + (INITIATIVE_IDENTITY if initiative.identity_visible_to(user) else ())


def demand_fields(demand, user):
    """The fields of ``demand`` that ``user`` may read (None: all)."""
    if user.is_authenticated and (user.is_admin or demand.is_owner(user)):
        return None
    return DEMAND_PUBLIC


# Initiatives ---------------------------------------------------------------------------------

initiatives = ApiBlueprint("api_initiatives", __name__, url_prefix="/api/v1/initiatives",
                           description="Initiatives: the public catalogue for everyone, every field for admins.")

@initiatives.route("")
@initiatives.arguments(InitiativeArgs, location="query", as_kwargs=False)
@initiatives.response(200, page_of(InitiativeSchema))
@initiatives.alt_response(401, response="UNAUTHORIZED")
@initiatives.doc(security=TOKEN_OR_NONE)
def list_initiatives(args):
    """List initiatives.

    Anonymous callers and users see the accepted initiatives and their public fields (who proposed
    one only where its proposer's identity is visible to them); admins see every initiative and
    every field, and may filter by state."""
    user = api_user()
    query = Initiative.query
    if user.is_authenticated and user.is_admin:
        if args.get("state"):
            query = query.filter(Initiative.state == args["state"])
    else:
        query = query.filter(Initiative.state == InitiativeState.ACCEPTED.value)
        if args.get("state") and args["state"] != InitiativeState.ACCEPTED.value:
            query = query.filter(db.false())
    for name, column in (("field", Initiative.field), ("province", Initiative.province),
                         ("call", Initiative.call_id)):
        if args.get(name) is not None:
            query = query.filter(column == args[name])
    if args.get("q"):
        query = query.filter(Initiative.title.ilike(f"%{args['q'].strip()}%"))
    page = query.order_by(Initiative.id).paginate(page=args["page"], per_page=args["limit"], error_out=False)
    return jsonify({"items": [dump(InitiativeSchema, i, initiative_fields(i, user)) for i in page.items],
                    "page": args["page"], "limit": args["limit"], "total": page.total, "pages": page.pages})


@initiatives.route("/<int:initiative_id>")
@initiatives.response(200, InitiativeSchema)
@initiatives.alt_response(401, response="UNAUTHORIZED")
@initiatives.alt_response(403, response="FORBIDDEN")
@initiatives.alt_response(404, response="NOT_FOUND")
@initiatives.doc(security=TOKEN_OR_NONE)
def get_initiative(initiative_id):
    """Read one initiative (public fields unless the caller is an admin or its proposer)."""
    initiative = load(Initiative, initiative_id)
    user = api_user()
    allow(initiative.can_view(user))
    return jsonify(dump(InitiativeSchema, initiative, initiative_fields(initiative, user)))


@initiatives.route("/<int:initiative_id>/demands")
@initiatives.arguments(MatchArgs, location="query", as_kwargs=False)
@initiatives.response(200, DemandMatchListSchema)
@initiatives.alt_response(401, response="UNAUTHORIZED")
@initiatives.alt_response(403, response="FORBIDDEN")
@initiatives.alt_response(404, response="NOT_FOUND")
@initiatives.doc(security=TOKEN)
def initiative_matches(args, initiative_id):
    """The open demands the matcher finds for an initiative (admins and its proposer)."""
    initiative = load(Initiative, initiative_id)
    user = signed_in()
    allow(user.is_admin or initiative.is_proposer(user))
    matching, vectors = _matching()
    if matching is None or initiative.status == InitiativeState.DRAFT:
        return jsonify({"items": [], "matched": False})
    matched = vectors.vector_of("initiative", initiative.id, initiative) is not None
    found = matching.demands_for_initiative(initiative, limit=args["limit"]) if matched else []
    return jsonify({"matched": matched, "items": [
        {"score": round(m.score, 4), "keywords": list(m.keywords),
         "demand": dump(DemandSchema, m.item, demand_fields(m.item, user))} for m in found]})


def _matching():
    """The matching modules, or (None, None) when the matching area is not installed."""
    try:
        from search import matching, vectors
    except ImportError:
        return None, None
    return matching, vectors


# Demands -------------------------------------------------------------------------------------

demands = ApiBlueprint("api_demands", __name__, url_prefix="/api/v1/demands",
                       description="Demands: problems posted by enterprises and authorities (a token is needed).")


@demands.route("")
@demands.arguments(DemandArgs, location="query", as_kwargs=False)
@demands.response(200, page_of(DemandSchema))
@demands.alt_response(401, response="UNAUTHORIZED")
@demands.doc(security=TOKEN)
def list_demands(args):
    """List demands: open ones and the caller's own; every demand for admins."""
    user = signed_in()
    query = Demand.query
    if not user.is_admin:
        query = query.filter(or_(Demand.state == DemandState.OPEN.value, Demand.owner_id == user.id))
    for name, column in (("state", Demand.state), ("field", Demand.field), ("province", Demand.province)):
        if args.get(name):
            query = query.filter(column == args[name])
    if args.get("q"):
        query = query.filter(Demand.title.ilike(f"%{args['q'].strip()}%"))
    page = query.order_by(Demand.id).paginate(page=args["page"], per_page=args["limit"], error_out=False)
    return jsonify({"items": [dump(DemandSchema, d, demand_fields(d, user)) for d in page.items],
                    "page": args["page"], "limit": args["limit"], "total": page.total, "pages": page.pages})


@demands.route("/<int:demand_id>")
@demands.response(200, DemandSchema)
@demands.alt_response(401, response="UNAUTHORIZED")
@demands.alt_response(403, response="FORBIDDEN")
@demands.alt_response(404, response="NOT_FOUND")
@demands.doc(security=TOKEN)
def get_demand(demand_id):
    """Read one demand (organisation and owner for admins and the owner only)."""
    user = signed_in()
    demand = load(Demand, demand_id)
    allow(demand.can_view(user))
    return jsonify(dump(DemandSchema, demand, demand_fields(demand, user)))


@demands.route("/<int:demand_id>/initiatives")
@demands.arguments(MatchArgs, location="query", as_kwargs=False)
@demands.response(200, InitiativeMatchListSchema)
@demands.alt_response(401, response="UNAUTHORIZED")
@demands.alt_response(403, response="FORBIDDEN")
@demands.alt_response(404, response="NOT_FOUND")
@demands.doc(security=TOKEN)
def demand_matches(args, demand_id):
    """The initiatives the matcher finds for a demand: accepted ones for its owner, every
    submitted one for admins."""
    user = signed_in()
    demand = load(Demand, demand_id)
    allow(user.is_admin or demand.is_owner(user))
    matching, vectors = _matching()
    if matching is None:
        return jsonify({"items": [], "matched": False})
    matched = vectors.vector_of("demand", demand.id, demand) is not None
    found = matching.initiatives_for_demand(demand, only_accepted=not user.is_admin,
                                            limit=args["limit"]) if matched else []
    return jsonify({"matched": matched, "items": [
        {"score": round(m.score, 4), "keywords": list(m.keywords),
         "initiative": dump(InitiativeSchema, m.item, initiative_fields(m.item, user))} for m in found]})


# Experts (admins) ----------------------------------------------------------------------------

experts = ApiBlueprint("api_experts", __name__, url_prefix="/api/v1/experts",
                       description="Expert profiles with their publications and load (admins).")


def _loads(expert_ids):
    try:
        from review.models import ACTIVE_STATES, Assignment
    except ImportError:
        return {}
    rows = (db.session.query(Assignment.expert_id, db.func.count()).filter(
        Assignment.state.in_(ACTIVE_STATES), Assignment.expert_id.in_(expert_ids))
        .group_by(Assignment.expert_id).all())
    return dict(rows)


def _expert_answer(items):
    loads = _loads([e.id for e in items]) if items else {}
    answers = []
    for expert in items:
        answer = ExpertSchema().dump(expert)
        answer["load"] = loads.get(expert.id, 0)
        answers.append(answer)
    return answers


@experts.route("")
@experts.arguments(ExpertArgs, location="query", as_kwargs=False)
@experts.response(200, page_of(ExpertSchema))
@experts.alt_response(401, response="UNAUTHORIZED")
@experts.alt_response(403, response="FORBIDDEN")
@experts.doc(security=TOKEN)
def list_experts(args):
    """List expert profiles (admins), filtered by availability, field and name."""
    admin_only()
    query = ExpertProfile.query
    if args.get("available") is not None:
        query = query.filter(ExpertProfile.available.is_(args["available"]))
    if args.get("q"):
        like = f"%{args['q'].strip()}%"
        query = query.filter(or_(ExpertProfile.name.ilike(like), ExpertProfile.organisation.ilike(like)))
    items = query.order_by(ExpertProfile.id).all()
    if args.get("field"):
        items = [e for e in items if args["field"] in (e.fields or [])]  # a JSON list: filtered here
    start = (args["page"] - 1) * args["limit"]
    total = len(items)
    return jsonify({"items": _expert_answer(items[start:start + args["limit"]]), "page": args["page"],
                    "limit": args["limit"], "total": total, "pages": -(-total // args["limit"])})


@experts.route("/<int:expert_id>")
@experts.response(200, ExpertSchema)
@experts.alt_response(401, response="UNAUTHORIZED")
@experts.alt_response(403, response="FORBIDDEN")
@experts.alt_response(404, response="NOT_FOUND")
@experts.doc(security=TOKEN)
def get_expert(expert_id):
    """Read one expert profile (admins)."""
    admin_only()
    return jsonify(_expert_answer([load(ExpertProfile, expert_id)])[0])


# Assignments (admins) ------------------------------------------------------------------------

assignments = ApiBlueprint("api_assignments", __name__, url_prefix="/api/v1/assignments",
                           description="Reviewer assignments (admins).")


@assignments.route("")
@assignments.arguments(AssignmentArgs, location="query", as_kwargs=False)
@assignments.response(200, page_of(AssignmentSchema))
@assignments.alt_response(401, response="UNAUTHORIZED")
@assignments.alt_response(403, response="FORBIDDEN")
@assignments.doc(security=TOKEN)
def list_assignments(args):
    """List assignments (admins), filtered by state, call, expert and initiative."""
    admin_only()
    from review.models import Assignment

    query = Assignment.query
    for name, column in (("state", Assignment.state), ("call", Assignment.call_id),
                         ("expert", Assignment.expert_id), ("initiative", Assignment.initiative_id)):
        if args.get(name) is not None:
            query = query.filter(column == args[name])
    return page_answer(AssignmentSchema, query.order_by(Assignment.id), args)


@assignments.route("/<int:assignment_id>")
@assignments.response(200, AssignmentSchema)
@assignments.alt_response(401, response="UNAUTHORIZED")
@assignments.alt_response(403, response="FORBIDDEN")
@assignments.alt_response(404, response="NOT_FOUND")
@assignments.doc(security=TOKEN)
def get_assignment(assignment_id):
    """Read one assignment (admins)."""
    admin_only()
    from review.models import Assignment

    return jsonify(dump(AssignmentSchema, load(Assignment, assignment_id)))


# Connections ---------------------------------------------------------------------------------

connections = ApiBlueprint("api_connections", __name__, url_prefix="/api/v1/connections",
                           description="Connections between demands and initiatives (their two sides and admins).")


def _connection_answer(connection, user):
    from ..connections.operations import contacts_for

    answer = ConnectionSchema(exclude=("contacts",)).dump(connection)
    answer["contacts"] = contacts_for(connection, user)
    return answer


@connections.route("")
@connections.arguments(ConnectionArgs, location="query", as_kwargs=False)
@connections.response(200, page_of(ConnectionSchema))
@connections.alt_response(401, response="UNAUTHORIZED")
@connections.doc(security=TOKEN)
def list_connections(args):
    """The caller's connections (as demand owner or proposer); every connection for admins.
    Filters by state, demand, initiative, and by province and field (of either side)."""
    from ..connections.models import Connection

    user = signed_in()
    query = (Connection.query.join(Demand, Connection.demand_id == Demand.id)
             .join(Initiative, Connection.initiative_id == Initiative.id))
    if not user.is_admin:
        query = query.filter(or_(Demand.owner_id == user.id,
                                 (Initiative.proposer_id == user.id) & Connection.requested_at.isnot(None)))
    for name, column in (("state", Connection.state), ("demand", Connection.demand_id),
                         ("initiative", Connection.initiative_id)):
        if args.get(name) is not None:
            query = query.filter(column == args[name])
    # As the admin list: a province or field matches either side of the connection.
    for name, sides in (("province", (Demand.province, Initiative.province)),
                        ("field", (Demand.field, Initiative.field))):
        if args.get(name) is not None:
            query = query.filter(or_(*(column == args[name] for column in sides)))
    page = query.order_by(Connection.id).paginate(page=args["page"], per_page=args["limit"], error_out=False)
    return jsonify({"items": [_connection_answer(c, user) for c in page.items], "page": args["page"],
                    "limit": args["limit"], "total": page.total, "pages": page.pages})


@connections.route("/<int:connection_id>")
@connections.response(200, ConnectionSchema)
@connections.alt_response(401, response="UNAUTHORIZED")
@connections.alt_response(403, response="FORBIDDEN")
@connections.alt_response(404, response="NOT_FOUND")
@connections.doc(security=TOKEN)
def get_connection(connection_id):
    """Read one connection; contacts appear once the proposer accepted."""
    from ..connections.models import Connection

    user = signed_in()
    connection = load(Connection, connection_id)
    allow(connection.can_view(user))
    return jsonify(_connection_answer(connection, user))


@connections.route("", methods=["POST"])
@connections.arguments(ConnectionRequestSchema)
@connections.response(201, ConnectionSchema)
@connections.alt_response(401, response="UNAUTHORIZED")
@connections.alt_response(403, response="FORBIDDEN")
@connections.alt_response(404, response="NOT_FOUND")
@connections.alt_response(409, response="CONFLICT")
@connections.doc(security=TOKEN)
def request_connection(body):
    """A demand owner asks the proposer of an accepted initiative to connect (the proposer is notified)."""
    from ..connections import operations

    user = signed_in()
    demand = load(Demand, body["demand_id"])
    initiative = load(Initiative, body["initiative_id"])
    if not initiative.can_view(user):  # a draft or a submission under review: its existence is not told
        abort(404, _("There is no such object."))
    try:
        connection = operations.request_connection(demand, initiative, user, body["message"])
        db.session.commit()
    except operations.ConnectionForbidden as error:
        db.session.rollback()
        abort(403, str(error))
    except operations.ConnectionRefused as error:
        db.session.rollback()
        abort(409, str(error))
    response = jsonify(_connection_answer(connection, user))
    response.status_code = 201
    return response


@connections.route("/<int:connection_id>/moves", methods=["POST"])
@connections.arguments(ConnectionMoveSchema)
@connections.response(200, ConnectionSchema)
@connections.alt_response(401, response="UNAUTHORIZED")
@connections.alt_response(403, response="FORBIDDEN")
@connections.alt_response(404, response="NOT_FOUND")
@connections.alt_response(409, response="CONFLICT")
@connections.doc(security=TOKEN)
def move_connection(body, connection_id):
    """Move a connection on: accept or decline (the proposer), discuss, adopt (with an outcome) or close."""
    from ..connections import operations
    from ..connections.models import Connection

    user = signed_in()
    connection = load(Connection, connection_id)
    allow(connection.can_view(user))
    if body["action"] == "adopt" and not body.get("outcome"):
        abort(422, _("Say what the adoption is: a pilot, a licence, a contract or an investment."))
    try:
        operations.move(connection, body["action"], user, note=body.get("note") or "", outcome=body.get("outcome"))
        db.session.commit()
    except operations.ConnectionForbidden as error:
        db.session.rollback()
        abort(403, str(error))
    except operations.ConnectionRefused as error:
        db.session.rollback()
        abort(409, str(error))
    return jsonify(_connection_answer(connection, user))


# The caller ----------------------------------------------------------------------------------

# Reviews (admins) ----------------------------------------------------------------------------

reviews = ApiBlueprint("api_reviews", __name__, url_prefix="/api/v1/reviews",
                       description="Reviews with their scores (admins).")


@reviews.route("")
@reviews.arguments(ReviewArgs, location="query", as_kwargs=False)
@reviews.response(200, page_of(ReviewSchema))
@reviews.alt_response(401, response="UNAUTHORIZED")
@reviews.alt_response(403, response="FORBIDDEN")
@reviews.doc(security=TOKEN)
def list_reviews(args):
    """List reviews (admins), filtered by state, call, expert, initiative and round."""
    admin_only()
    from review.models import Assignment, Review

    query = Review.query.join(Assignment, Review.assignment_id == Assignment.id)
    for name, column in (("call", Assignment.call_id), ("expert", Assignment.expert_id),
                         ("initiative", Assignment.initiative_id), ("round", Assignment.round)):
        if args.get(name) is not None:
            query = query.filter(column == args[name])
    if args.get("state") == "submitted":
        query = query.filter(Review.submitted_at.isnot(None))
    elif args.get("state") == "draft":
        query = query.filter(Review.submitted_at.is_(None))
    return page_answer(ReviewSchema, query.order_by(Review.id), args)


@reviews.route("/<int:review_id>")
@reviews.response(200, ReviewSchema)
@reviews.alt_response(401, response="UNAUTHORIZED")
@reviews.alt_response(403, response="FORBIDDEN")
@reviews.alt_response(404, response="NOT_FOUND")
@reviews.doc(security=TOKEN)
def get_review(review_id):
    """Read one review with its scores (admins)."""
    admin_only()
    from review.models import Review

    return jsonify(dump(ReviewSchema, load(Review, review_id)))


me = ApiBlueprint("api_me", __name__, url_prefix="/api/v1/me", description="The account the token belongs to.")


@me.route("")
@me.response(200, MeSchema)
@me.alt_response(401, response="UNAUTHORIZED")
@me.doc(security=TOKEN)
def who_am_i():
    """The account of the token."""
    return jsonify(MeSchema().dump(signed_in()))


def _blueprints():
    found = [initiatives, demands, experts, connections, me]
    try:
        import review.models  # noqa: F401
    except ImportError:  # without the review area there are no assignments
        return found
    return found[:3] + [assignments, reviews] + found[3:]


BLUEPRINTS = _blueprints()
