"""Error shapes for 401/403/404/405/422/429/500/503, no internals leaked; CORS preflight."""

from __future__ import annotations

import errno
import secrets
import sqlite3

import msgspec
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from piccolo.engine.base import Engine

from ofca.app import create_app
from ofca.errors import is_database_unavailable
from ofca.settings import Settings
from tests.conftest import KeyMaker

Client = AsyncTestClient[Litestar]
SHAPE = {"detail", "status_code", "timestamp"}
SQL_TEXT = "SELECT key_hash FROM ofca_api_key WHERE key_hash = 'deadbeef'"


def assert_shape(response: object, status: int) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) >= SHAPE, body
    assert body["status_code"] == status
    assert body["timestamp"].endswith("Z")
    text = response.text  # type: ignore[attr-defined]
    for leak in ("Traceback", 'File "', "SELECT", "ofca_api_key", "deadbeef"):
        assert leak not in text, f"{leak!r} leaked in {text}"
    return body


@get("/api/v1/test-only/boom", include_in_schema=False)
async def boom() -> None:
    raise sqlite3.ProgrammingError(SQL_TEXT)


@get("/api/v1/test-only/value-refused", include_in_schema=False)
async def value_refused() -> None:
    import asyncpg

    raise asyncpg.exceptions._base.DataError(
        "invalid input for query argument $1: 99999999999 (value out of int32 range)"
    )


@get("/api/v1/test-only/db-refused", include_in_schema=False)
async def db_refused() -> None:
    raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 1)")


async def test_error_shapes(
    settings: Settings, engine: Engine, make_key: KeyMaker, account_id: str
) -> None:
    key = await make_key(account_id, "owner")
    other = await make_key(f"{account_id}-b", "owner")
    limited = msgspec.structs.replace(
        settings,
        rest_rate_limit_per_minute=3,  # boom, value-refused, db-refused
        channel_prefix=f"{settings.channel_prefix}-err{secrets.token_hex(3)}",
    )
    app = create_app(limited, engine=engine)
    app.register(boom)
    app.register(db_refused)
    app.register(value_refused)
    async with AsyncTestClient(app=app) as client:
        assert_shape(await client.get("/auth/me"), 401)
        forbidden = await client.get(
            f"/api/v1/accounts/{account_id}/keys", headers={"X-API-Key": other}
        )
        assert_shape(forbidden, 403)
        assert_shape(await client.get("/api/v1/no-such-thing"), 404)
        assert_shape(await client.put("/health"), 405)
        invalid = assert_shape(
            await client.post("/auth/signup", json={"email": "a@b.co", "password": "short"}), 422
        )
        assert [error["key"] for error in invalid["errors"]] == ["password"]
        malformed = await client.post(
            "/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_shape(malformed, 400)
        headers = {"X-API-Key": key}
        internal = assert_shape(await client.get("/api/v1/test-only/boom", headers=headers), 500)
        assert internal["detail"] == "Internal server error"
        refused = await client.get("/api/v1/test-only/value-refused", headers=headers)
        assert "99999999999" not in assert_shape(refused, 422)["detail"]
        unavailable = await client.get("/api/v1/test-only/db-refused", headers=headers)
        body = assert_shape(unavailable, 503)
        assert "database" in body["detail"].lower()
        assert unavailable.headers["retry-after"]
        assert_shape(await client.get("/auth/me", headers=headers), 429)


def test_database_unavailable_classification() -> None:
    import asyncpg

    assert is_database_unavailable(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert is_database_unavailable(OSError("Multiple exceptions: [Errno 111] Connect call failed"))
    assert is_database_unavailable(sqlite3.OperationalError("unable to open database file"))
    assert is_database_unavailable(asyncpg.exceptions.InvalidCatalogNameError("gone"))
    wrapped = RuntimeError("query failed")
    wrapped.__cause__ = asyncpg.exceptions.ConnectionDoesNotExistError("closed")
    assert is_database_unavailable(wrapped)
    assert is_database_unavailable(asyncpg.InterfaceError("connection is closed"))
    assert not is_database_unavailable(asyncpg.InterfaceError("another operation is in progress"))
    assert not is_database_unavailable(
        asyncpg.exceptions._base.DataError("invalid input for query argument $1")
    )
    assert not is_database_unavailable(sqlite3.OperationalError("no such table: x"))
    assert not is_database_unavailable(FileNotFoundError(errno.ENOENT, "nope"))
    assert not is_database_unavailable(ValueError("bug"))


async def test_cors_preflight_allows_configured_and_extension_origins(
    settings: Settings, engine: Engine
) -> None:
    configured = msgspec.structs.replace(
        settings, cors_origins=("https://dash.example.com",), extension_id="abcdefghijklmnop"
    )
    async with AsyncTestClient(app=create_app(configured, engine=engine)) as client:
        for origin in ("https://dash.example.com", "chrome-extension://abcdefghijklmnop"):
            response = await client.options(
                "/api/v1/accounts",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization, x-api-key",
                },
            )
            assert response.status_code in (200, 204), response.text
            assert response.headers["access-control-allow-origin"] == origin
            assert response.headers["access-control-allow-credentials"] == "true"
            allowed = response.headers["access-control-allow-headers"].lower()
            assert "authorization" in allowed and "x-api-key" in allowed
        evil = await client.options(
            "/api/v1/accounts",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert evil.headers.get("access-control-allow-origin") != "https://evil.example"
        simple = await client.get("/health", headers={"Origin": "https://dash.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://dash.example.com"


async def test_nul_characters_are_a_client_error_not_a_500(client: Client) -> None:
    signup = await client.post(
        "/auth/signup", json={"email": "a@b.co", "password": "x" * 12, "name": "nul\x00name"}
    )
    assert signup.status_code == 422
    assert signup.json()["errors"][0]["key"] == "name"
    # Postgres cannot store or compare NUL in text: 422 there; SQLite just finds no user.
    login = await client.post("/auth/login", json={"email": "a\x00@b.co", "password": "x" * 12})
    assert login.status_code in (401, 422)
    assert set(login.json()) >= {"detail", "status_code", "timestamp"}
