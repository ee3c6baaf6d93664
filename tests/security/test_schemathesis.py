"""schemathesis against the OpenAPI document of an in-process app, with an owner key:
no operation answers 5xx for any generated input.

Cases that name an account are pointed at the key's own account, so they get past the
account check into the handlers. Bounded: a few examples per operation, with a deadline.
"""

from __future__ import annotations

import os
import secrets
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from litestar import Litestar
from piccolo.engine.base import Engine

from ofca.app import create_app
from ofca.persistence.accounts import ensure_account
from ofca.persistence.keys import create_api_key
from ofca.settings import Settings

# Operations that would end the run's own credentials or account.
SKIPPED_OPERATIONS = {
    ("DELETE", "/api/v1/accounts/{account_id}"),
    ("DELETE", "/api/v1/accounts/{account_id}/data"),
    ("DELETE", "/api/v1/accounts/{account_id}/keys/{key_id}"),
    ("POST", "/auth/logout"),
}
ACCOUNT_PARAMETERS = ("account_id", "user_id")
# 10 keeps the run under a minute on Postgres; OFCA_FUZZ_EXAMPLES=200 for a deeper search.
EXAMPLES_PER_OPERATION = int(os.environ.get("OFCA_FUZZ_EXAMPLES", "10"))
# The same examples every run (CI must not flip on luck); OFCA_FUZZ_RANDOM=1 explores anew.
DERANDOMIZE = os.environ.get("OFCA_FUZZ_RANDOM") != "1"


class Fuzzed:
    def __init__(self, app: Litestar, account_id: str, key: str) -> None:
        self.app = app
        self.account_id = account_id
        self.key = key


@pytest.fixture(scope="module")
async def fuzzed(settings: Settings, engine: Engine) -> Fuzzed:
    account_id = f"fuzz-{secrets.token_hex(4)}"
    await ensure_account(account_id)
    _, key = await create_api_key(account_id=account_id, role="owner", name="schemathesis")
    return Fuzzed(create_app(settings, engine=engine), account_id, key)


def _check(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    for name in ACCOUNT_PARAMETERS:
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = fuzzed.account_id
        if case.query and name in case.query:
            case.query[name] = fuzzed.account_id
    response = case.call(headers={"X-API-Key": fuzzed.key})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert {"detail", "status_code"} <= set(body), body


def test_no_server_errors(fuzzed: Fuzzed) -> None:
    api = schemathesis.openapi.from_asgi("/schema/openapi.json", fuzzed.app)
    operations = [result.ok() for result in api.get_all_operations()]
    tested = []
    timings: list[tuple[float, str, str]] = []
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED_OPERATIONS:
            continue

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=5000,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            _check(case, fuzzed)

        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started, operation.method.upper(), operation.path))
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 10, tested
    slowest = sorted(timings, reverse=True)[:3]
    print("slowest operations:", [(round(t, 1), m, path) for t, m, path in slowest])


async def test_export_with_extreme_dates_is_a_client_error(fuzzed: Fuzzed) -> None:
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=fuzzed.app) as client:
        for path in ("/api/v1/export/messages", "/api/v1/export/conversations"):
            response = await client.get(
                path,
                params={"account_id": fuzzed.account_id, "start": "0001-01-01T00:00:00+01:00"},
                headers={"X-API-Key": fuzzed.key},
            )
            assert response.status_code in (200, 400, 422), response.text
