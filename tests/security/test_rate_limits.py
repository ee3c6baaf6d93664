"""REST rate limits (seed 002): per key or login, per IP when anonymous, shared via Redis."""

from __future__ import annotations

import logging
import secrets
import time

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from piccolo.engine.base import Engine
from redis.asyncio import Redis

from ofca.access.ratelimit import WINDOW_SECONDS, RateLimiter
from ofca.app import create_app
from ofca.settings import Settings
from tests.conftest import KeyMaker
from tests.security.conftest import signup


@pytest.fixture(autouse=True)
def _inside_one_window() -> None:
    """Windows are whole epoch minutes: a burst that straddles a minute's end is counted in
    two windows (a 429 that should come does not), so start with 10 s of the window left."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 10:
        time.sleep(left + 0.1)


def limited(settings: Settings, rest: int = 5, ip: int = 3) -> Settings:
    # A fresh prefix per test: Redis counters of other tests never interfere.
    return msgspec.structs.replace(
        settings,
        rest_rate_limit_per_minute=rest,
        ip_rate_limit_per_minute=ip,
        channel_prefix=f"{settings.channel_prefix}-rl{secrets.token_hex(3)}",
    )


async def test_per_key_limit_headers_and_429_shape(
    settings: Settings, engine: Engine, make_key: KeyMaker, account_id: str
) -> None:
    key = await make_key(account_id, "owner")
    other_key = await make_key(account_id, "dashboard")
    headers = {"X-API-Key": key}
    async with AsyncTestClient(app=create_app(limited(settings), engine=engine)) as client:
        remaining = []
        for _ in range(5):
            response = await client.get("/auth/me", headers=headers)
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "5"
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
            reset = int(response.headers["x-ratelimit-reset"])
            assert time.time() < reset <= time.time() + 61
        assert remaining == [4, 3, 2, 1, 0]
        refused = await client.get("/auth/me", headers=headers)
        assert refused.status_code == 429
        body = refused.json()
        assert set(body) >= {"detail", "status_code", "timestamp"}
        assert body["status_code"] == 429
        assert "Rate limit exceeded" in body["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # Another key has its own budget; /health is never limited.
        assert (await client.get("/auth/me", headers={"X-API-Key": other_key})).status_code == 200
        for _ in range(10):
            assert (await client.get("/health")).status_code == 200


async def test_anonymous_requests_are_limited_per_ip(settings: Settings, engine: Engine) -> None:
    async with AsyncTestClient(app=create_app(limited(settings, ip=3), engine=engine)) as client:
        statuses = [(await client.get("/api/v1/schemas/wss")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        # Bad credentials count against the IP too: no free brute force.
        bad = await client.get("/auth/me", headers={"X-API-Key": "ofca_" + "x" * 40})
        assert bad.status_code == 429


async def test_login_session_has_its_own_budget(settings: Settings, engine: Engine) -> None:
    async with AsyncTestClient(
        app=create_app(limited(settings, rest=3, ip=100), engine=engine)
    ) as client:
        token = (await signup(client))["token"]
        statuses = [
            (await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]


async def test_limits_are_shared_between_processes_through_redis(
    settings: Settings, engine: Engine, make_key: KeyMaker, account_id: str
) -> None:
    if settings.redis_url is None:
        pytest.skip("the sqlite backend has no Redis; the postgres run covers sharing")
    key = await make_key(account_id, "owner")
    shared = limited(settings, rest=4)
    async with (
        AsyncTestClient(app=create_app(shared, engine=engine)) as first,
        AsyncTestClient(app=create_app(shared, engine=engine)) as second,
    ):
        statuses = []
        for client in (first, second, first, second, first):
            statuses.append((await client.get("/auth/me", headers={"X-API-Key": key})).status_code)
        assert statuses == [200, 200, 200, 200, 429]
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = [k.decode() async for k in redis.scan_iter(f"{shared.channel_prefix}:ratelimit:*")]
        assert keys and all(
            k.startswith(f"{shared.channel_prefix}:ratelimit:cred:key:") for k in keys
        )
        assert 0 < await redis.ttl(keys[0]) <= 120
    finally:
        await redis.aclose()


async def test_redis_down_falls_back_to_memory_and_warns(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # A Redis URL nobody answers on: every request must still be served and counted.
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RateLimiter(limited(settings, rest=2), dead)
    with caplog.at_level(logging.WARNING, logger="ofca.access.ratelimit"):
        decisions = [await limiter.hit("cred:key:1", 2) for _ in range(3)]
    await dead.aclose()
    assert [d.allowed for d in decisions] == [True, True, False]
    assert "fall back to process memory" in caplog.text
    assert caplog.text.count("fall back") == 1  # warned once, not per request


async def test_redis_down_does_not_fail_requests(
    settings: Settings, engine: Engine, make_key: KeyMaker, account_id: str
) -> None:
    key = await make_key(account_id, "owner")
    broken = msgspec.structs.replace(limited(settings, rest=3), redis_url="redis://127.0.0.1:1/0")
    app: Litestar = create_app(broken, engine=engine)
    async with AsyncTestClient(app=app) as client:
        statuses = [
            (await client.get("/auth/me", headers={"X-API-Key": key})).status_code for _ in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


def test_fixed_window_resets_each_minute(settings: Settings) -> None:
    import asyncio

    limiter = RateLimiter(limited(settings), None)

    async def run() -> list[bool]:
        start = 1_700_000_040.0  # 0 s into a window
        first = [(await limiter.hit("b", 2, now=start + i)).allowed for i in range(3)]
        later = await limiter.hit("b", 2, now=start + 60)
        return [*first, later.allowed]

    assert asyncio.run(run()) == [True, True, False, True]


async def test_login_attempts_are_limited_per_email(settings: Settings, engine: Engine) -> None:
    from ofca.controllers.auth import LOGIN_ATTEMPTS_PER_MINUTE
    from tests.security.conftest import PASSWORD

    app = create_app(limited(settings, rest=1000, ip=1000), engine=engine)
    async with AsyncTestClient(app=app) as client:
        victim = await signup(client)
        client.cookies.clear()
        statuses = [
            (
                await client.post(
                    "/auth/login", json={"email": victim["email"], "password": "guess-" + str(n)}
                )
            ).status_code
            for n in range(LOGIN_ATTEMPTS_PER_MINUTE + 1)
        ]
        assert statuses == [401] * LOGIN_ATTEMPTS_PER_MINUTE + [429]
        # Even the right password waits now; another address is unaffected.
        blocked = await client.post(
            "/auth/login", json={"email": victim["email"].upper(), "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert set(blocked.json()) >= {"detail", "status_code", "timestamp"}
        assert int(blocked.headers["retry-after"]) >= 1
        other = await signup(client)
        ok = await client.post("/auth/login", json={"email": other["email"], "password": PASSWORD})
        assert ok.status_code == 200
