"""The API's fuzzing (tests/test_api_schema.py, schemathesis) walks the OpenAPI document; this
makes sure the document lists every API route, so no route escapes the fuzzing."""

# Routes under /api/v1 that are the documentation itself, not operations.
DOCUMENTATION = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/assets/<name>"}


def _openapi_path(rule: str) -> str:
    """``/api/v1/initiatives/<int:initiative_id>`` as the document writes it."""
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_api_route_is_in_the_openapi_document(client, db):
    document = client.get("/api/v1/openapi.json").json
    base = "/api/v1"
    listed = {(method.upper(), base + path if not path.startswith(base) else path)
              for path, operations in document["paths"].items()
              for method in operations if method in ("get", "post", "put", "patch", "delete")}
    routes = {(method, _openapi_path(rule.rule)) for rule in client.application.url_map.iter_rules()
              if rule.rule.startswith("/api/") and rule.rule not in DOCUMENTATION
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert len(routes) >= 14 and sorted(routes - listed) == []


def test_the_api_fuzzing_is_bounded_and_covers_every_operation():
    from tests import test_api_schema

    assert 10 <= test_api_schema.EXAMPLES <= 50
    assert 1 <= test_api_schema.MIN_EXAMPLES < test_api_schema.EXAMPLES
    assert test_api_schema.DEADLINE.total_seconds() <= 30 and test_api_schema.BUDGET <= 600
