"""Schemathesis against the running service's OpenAPI schema: no 5xx, responses as documented.

Each operation gets a bounded number of generated requests (valid and invalid bodies,
paths and queries), sent with a valid key, checked by schemathesis' default checks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.service.conftest import ServiceProcess

KEY = "schemathesis-key-1"
EXAMPLES = 25


@pytest.fixture(scope="module")
def schema_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = ServiceProcess(tmp_path_factory.mktemp("schema"), {"AITOMATIC_API_KEY": KEY})
    yield service
    service.stop()


def _operations(url: str) -> list[object]:
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_keeps_its_schema(schema_server: ServiceProcess) -> None:
    operations = _operations(schema_server.url)
    assert len(operations) >= 9
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())  # type: ignore[attr-defined]
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # a schema-valid body may still be bad input (code that does not parse: a
            # documented 400), so the "valid data is accepted" check does not apply
            case.call_and_validate(
                headers={"Authorization": f"Bearer {KEY}"},
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation}: {exc}")  # type: ignore[str-bytes-safe]
    assert not failures, "\n\n".join(failures)
