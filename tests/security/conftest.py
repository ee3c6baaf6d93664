"""Fixtures for the security tests: an app with an admin key, logins."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from piccolo.engine.base import Engine

from ofca.app import create_app
from ofca.settings import Settings

ADMIN_KEY = "admin-" + secrets.token_hex(16)
PASSWORD = "correct horse battery"


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, admin_key=ADMIN_KEY)


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def admin_client(
    admin_settings: Settings, engine: Engine
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(admin_settings, engine=engine)) as client:
        yield client


def new_email() -> str:
    return f"user-{secrets.token_hex(6)}@example.com"


async def signup(
    client: AsyncTestClient[Litestar], *, account_id: str | None = None, **extra: object
) -> dict:
    body = {"email": new_email(), "password": PASSWORD, "name": "Creator", **extra}
    if account_id is not None:
        body["account_id"] = account_id
    response = await client.post("/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "email": body["email"]}
