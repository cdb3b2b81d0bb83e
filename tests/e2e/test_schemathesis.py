"""A bounded schemathesis run against the live server: every operation of the published OpenAPI document, with
cases generated from it; no 5xx, and every answer as the document describes it (status, headers, body)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    env = {"PIXELFORGE_PLAN_LIMITS": '{"pro": {"rpm": 100000}}'}
    with LiveService(tmp_path_factory.mktemp("schemathesis") / "instance", env=env) as service:
        yield service, service.user_with_key("schemathesis@example.com", credits=100000)


def operations(base: str) -> list:
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_the_live_api_answers_as_its_contract_says(live):
    service, key = live
    found = operations(service.base)
    assert len(found) >= 11  # six submissions, four job routes, the account
    for operation in found:
        checked_against_the_contract(operation, service.base, key)


def checked_against_the_contract(operation, base: str, key: str) -> None:
    """Every schemathesis check but "a schema-valid request is accepted": a schema cannot say that an image must
    decode, so random bytes in the image part are rightly refused (422, in the documented shape)."""
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        case = data.draw(operation.as_strategy())
        case.call_and_validate(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"},
                               excluded_checks=[positive_data_acceptance])

    check()
