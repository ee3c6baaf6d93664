"""Shared fixtures. The backend (SQLite + memory, or Postgres + Redis) is chosen per run by
``OFCA_TEST_BACKEND``; see tests/support/backends.py. ``./scripts/test`` runs both."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from piccolo.engine.base import Engine

from ofca.app import create_app
from ofca.domain.auth import Role
from ofca.persistence.accounts import ensure_account
from ofca.persistence.engine import bind_tables, create_engine
from ofca.persistence.keys import create_api_key
from ofca.persistence.migrate import migrate
from ofca.settings import Settings, load_settings
from tests.support.backends import BACKEND, backend_environment


def pytest_report_header() -> str:
    return f"ofca test backend: {BACKEND}"


@pytest.fixture(scope="session")
def backend_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The OFCA_* variables of this run's isolated backend (also for subprocess servers)."""
    with backend_environment(tmp_path_factory.mktemp("backend")) as env:
        # The whole run shares one client IP and (on Redis) one set of counters: keep rate
        # limits out of the way; tests of the limits build their own settings.
        env.setdefault("OFCA_REST_RATE_LIMIT_PER_MINUTE", "1000000")
        env.setdefault("OFCA_IP_RATE_LIMIT_PER_MINUTE", "1000000")
        env.setdefault("OFCA_WEBHOOK_RATE_LIMIT_PER_MINUTE", "1000000")
        yield env


@pytest.fixture(scope="session")
def settings(backend_env: dict[str, str]) -> Settings:
    return load_settings(backend_env, dotenv=None)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[object]:
    """The database engine with migrations applied; tables are bound to it.

    No connection pool: the test client runs the app on its own event loop (a thread) while
    tests query from theirs, and an asyncpg pool only works on the loop that opened it.
    Without a pool every query opens its own connection on the caller's loop.
    """
    engine = create_engine(settings)
    bind_tables(engine)
    await migrate(engine)
    yield engine


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Litestar:
    # The session's pool-less engine, usable from the test client's loop (see engine).
    return create_app(settings, engine=engine)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
def account_id() -> str:
    """A fresh account id per test: tests never share chat data."""
    return f"acct-{secrets.token_hex(4)}"


class KeyMaker:
    """Creates accounts and API keys for tests."""

    async def __call__(self, account_id: str | None, role: Role = "owner") -> str:
        if account_id is not None:
            await ensure_account(account_id)
        _, key = await create_api_key(account_id=account_id, role=role, name="test")
        return key


@pytest.fixture
def make_key(engine: object) -> KeyMaker:
    return KeyMaker()
