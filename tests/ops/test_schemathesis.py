"""Property-based requests generated from `/openapi.json` against the real server: no input may get a 5xx.

Bounded (a few dozen valid and invalid examples per operation) so `make test` stays fast; a failure prints
the exact request to replay. Uses schemathesis' Hypothesis strategies directly, because its lazy pytest
fixture does not run under the pytest this project pins.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def operations(base_url: str) -> dict:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.update(base_url=base_url)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def test_schema_lists_the_public_endpoints(operations: dict) -> None:
    assert {"POST /v1/ask", "POST /v1/ask/stream", "POST /v1/retrieve", "GET /readyz"} <= set(operations)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.e2e
def test_no_generated_request_gets_a_server_error(operations: dict, mode: GenerationMode) -> None:
    seen: dict[str, set[int]] = {}
    if mode is GenerationMode.NEGATIVE:  # only operations that take input can be sent invalid input
        operations = {
            k: op
            for k, op in operations.items()
            if any(True for _ in op.iter_parameters()) or op.get_request_payload_content_types()
        }
    for name, operation in operations.items():
        exercise(operation, mode, lambda status, name=name: seen.setdefault(name, set()).add(status))
    assert set(seen) == set(operations)  # every operation was really exercised
    statuses = set().union(*seen.values())
    if mode is GenerationMode.NEGATIVE:
        assert 422 in statuses  # invalid input was really sent, and refused with a reason
    else:
        assert 200 in statuses


def exercise(operation, mode: GenerationMode, count) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case) -> None:
        response = case.call_and_validate(checks=[not_a_server_error], timeout=60)
        assert response.status_code < 500
        count(response.status_code)

    run()
