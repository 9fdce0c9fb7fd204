"""A bounded schemathesis pass over the test app's ``/openapi.json``.

Every documented operation gets a few generated requests (valid and invalid ones),
sent to a real uvicorn server; each answer must not be a 5xx and must match what
the schema documents (status code, content type, body schema). The routes of
runnables that fail on purpose (``/fail``, ``/fail_mid_stream``) may answer 500 on
their run routes, which is documented; their answers are still checked against the
schema.

Bounded: ``MAX_EXAMPLES`` cases per operation, generation phase only, no shrinking.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from apps import build_app
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from servers import serve

from chainserve import add_routes

MAX_EXAMPLES = 3
# Runnables that raise by design, or on inputs their (untyped) schema allows: a 500
# from their routes is the expected, documented answer.
FAILING_BY_DESIGN = ("/fail/", "/fail_mid_stream/", "/words/")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_url() -> Iterator[str]:
    with serve(build_app(add_routes)) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(fuzz_url: str) -> object:
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_fuzz(case: schemathesis.Case) -> None:
    checks = CHECKS
    if case.operation.path.startswith(FAILING_BY_DESIGN):
        checks = [check for check in CHECKS if check is not not_a_server_error]
    case.call_and_validate(checks=checks, timeout=30)
