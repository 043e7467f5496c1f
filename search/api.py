"""``GET /api/v1/search``: the catalogue search in the JSON API, in its OpenAPI document."""

import marshmallow as ma
from marshmallow import fields, validate

from initiatives.api import ApiBlueprint, api_user, register_api_blueprint
from initiatives.api.schemas import QueryArgs
from search.catalogue import FILTER_NAMES, MODES, SORTS, catalogue
from search.pages import answer_document

blp = ApiBlueprint("search", __name__, url_prefix="/api/v1/search",
                   description="Search the catalogue: accepted initiatives for everyone, "
                               "everything for admin tokens.")


class SearchArgs(QueryArgs):
    q = fields.String(load_default="", validate=validate.Length(max=400),
                      metadata={"description": 'Words, "phrases", AND OR NOT, field:value, prefix*.'})
    mode = fields.String(load_default="hybrid", validate=validate.OneOf(MODES))
    sort = fields.String(load_default="relevance", validate=validate.OneOf(SORTS))
    kind = fields.String(load_default="initiative", validate=validate.OneOf(["initiative", "demand", "expert"]),
                         metadata={"description": "Demands and experts: admin tokens only."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    field = fields.String(validate=validate.Length(max=80))
    province = fields.String(validate=validate.Length(max=80))
    state = fields.String(validate=validate.Length(max=80))
    status = fields.String(validate=validate.Length(max=80), metadata={"description": "Another name for state."})
    year = fields.String(validate=validate.Length(max=8))
    call = fields.String(validate=validate.Length(max=20))
    trl = fields.String(validate=validate.Length(max=4))


class SearchHitSchema(ma.Schema):
    kind = fields.String(required=True)
    id = fields.Integer(required=True)
    external_ref = fields.String(allow_none=True)
    title = fields.String(required=True)
    score = fields.Float(required=True)
    highlights = fields.String(required=True, metadata={"description": "A snippet; matches in <mark>."})


class SearchAnswerSchema(ma.Schema):
    total = fields.Integer(required=True)
    total_exact = fields.Boolean(required=True, metadata={
        "description": "False when more matched than were counted: total and facet counts are then "
                       "lower bounds (shown as 1,000+)."})
    page = fields.Integer(required=True)
    mode = fields.String(required=True)
    results = fields.List(fields.Nested(SearchHitSchema), required=True)
    facets = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                         required=True)
    notice = fields.String(metadata={"description": "Present while the index is being rebuilt."})


@blp.route("")
@blp.arguments(SearchArgs, location="query")
@blp.response(200, SearchAnswerSchema)
def search(args):
    """Search the catalogue with facets, in text, semantic or hybrid mode."""
    filters = {name: args[name] for name in FILTER_NAMES if args.get(name)}
    answer = catalogue().search(args["q"], api_user(), mode=args["mode"], kind=args["kind"],
                                filters=filters, page=args["page"], per_page=args["limit"],
                                sort=args["sort"])
    return answer_document(answer)


def init_app(app) -> None:
    register_api_blueprint(app, blp)
