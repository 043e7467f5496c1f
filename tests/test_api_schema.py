"""Property-based test of the API against its own OpenAPI document (schemathesis): whatever a
client sends, no answer is a server error, and every answer matches the document (status, content
type, headers, body). Bounded in examples and in time: EXAMPLES cases per operation, each case's
two calls within DEADLINE (Hypothesis fails an example that overruns it twice), and once the run
has used BUDGET the remaining operations get only MIN_EXAMPLES cases each, so a slow machine
shortens the fuzzing instead of stalling CI, and no operation goes untested."""

import time
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from initiatives.api import tokens
from initiatives.connections import operations as connections
from initiatives.models import InitiativeState
from initiatives.proposals import operations as proposals

EXAMPLES = 25
MIN_EXAMPLES = 3
DEADLINE = timedelta(seconds=10)
BUDGET = 180.0  # seconds for the whole run
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def api_world(people, make_initiative, make_demand, db):
    """A small portal: an accepted and a screened initiative, a demand, a connection, an admin token."""
    accepted = make_initiative(people["proposer"], submitted=True)
    for step in (InitiativeState.UNDER_REVIEW, InitiativeState.REVIEWED, InitiativeState.ACCEPTED):
        proposals.transition(accepted, step, actor=people["admin"])
    make_initiative(people["other"], submitted=True, title="Screened")
    demand = make_demand(people["owner"])
    connections.request_connection(demand, accepted, people["owner"], "Hello")
    _row, admin_token = tokens.create_token(people["admin"], "schemathesis")
    db.session.commit()
    return {"Authorization": f"Bearer {admin_token}"}


def test_every_answer_matches_the_document(app, api_world):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures, tried, shortened = [], 0, 0
    stop = time.monotonic() + BUDGET
    for result in schema.get_all_operations():
        operation = result.ok()
        tried += 1
        examples = EXAMPLES if time.monotonic() < stop else MIN_EXAMPLES
        shortened += examples < EXAMPLES

        # Every case runs twice: as an admin and anonymously; both must hold to the document.
        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=DEADLINE, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers=api_world, checks=CHECKS)
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except Exception as error:  # noqa: BLE001  (gather every operation's failure, then report)
            failures.append(f"{operation.label}: {error}")
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    methods = {"get", "post", "put", "patch", "delete"}
    operations = sum(len(methods & set(item)) for item in spec["paths"].values())
    assert tried == operations >= 18  # every operation of the document, none skipped
    assert failures == []
    if shortened:
        print(f"schemathesis: {shortened} of {tried} operations ran {MIN_EXAMPLES} cases (budget used)")
