"""Property-based conformance: schemathesis v4 against the sandbox's own OpenAPI, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from drframe.sandbox import Sandbox


@pytest.fixture(scope="module")
def schema_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed_customers=20, seed=11) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def api_schema(schema_sandbox: Sandbox) -> Any:
    config = schemathesis.config.SchemathesisConfig()
    return schemathesis.openapi.from_url(f"{schema_sandbox.base_url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_sandbox_conforms_to_its_openapi(case: Any) -> None:
    # Every documented status only, never an undocumented one, never a 5xx (no faults are injected here).
    # positive_data_acceptance is left out: some rules are not expressible in a schema (a tax identifier's
    # format depends on its type; startingAfter and endingBefore exclude each other).
    case.call_and_validate(
        headers={"Authorization": "Bearer sk_test_sandbox"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
