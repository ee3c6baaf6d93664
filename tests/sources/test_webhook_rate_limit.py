"""Seed 004's rate limits: the webhook routes 100 requests per minute per IP
(``OFCA_WEBHOOK_RATE_LIMIT_PER_MINUTE``), the API per key, health never limited.

Here with the production wiring (the app's own pool, as the webhook's Postgres path needs):
the ``app`` fixture below replaces the package's with tighter limits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from piccolo.engine.base import Engine

from ofca.app import create_app
from ofca.persistence.engine import bind_tables
from ofca.settings import Settings, SettingsError, load_settings
from tests.conftest import KeyMaker
from tests.security.test_rate_limits import _inside_one_window, limited
from tests.sources.helpers import auth, post_webhook
from tests.sources.payloads import webhook_body

__all__ = ["_inside_one_window"]  # autouse: each burst fits in one rate-limit window


def webhook_limited(settings: Settings, per_ip: int) -> Settings:
    return msgspec.structs.replace(
        limited(settings, rest=1000, ip=1000), webhook_rate_limit_per_minute=per_ip
    )


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[Litestar]:
    yield create_app(webhook_limited(settings, 3))
    bind_tables(engine)


async def test_webhook_routes_are_limited_per_ip_with_the_usual_429(
    client: httpx.AsyncClient, make_key: KeyMaker, account_id: str
) -> None:
    first = await make_key(account_id, "integration")
    second = await make_key(account_id, "owner")
    statuses, remaining = [], []
    for key, conversation in ((first, "c1"), (second, "c2"), (first, "c3")):
        response = await post_webhook(client, key, webhook_body(conversation))
        statuses.append(response.status_code)
        assert response.headers["x-ratelimit-limit"] == "3"  # the webhook limit binds
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert statuses == [200, 200, 200] and remaining == [2, 1, 0]
    # A fourth delivery from this IP, whichever key it carries, waits for the window.
    refused = await post_webhook(client, second, webhook_body("c4"))
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) >= {"detail", "status_code", "timestamp"} and body["status_code"] == 429
    assert "Rate limit exceeded" in body["detail"]
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Chatwoot's webhook shares the budget (its token is not even checked first).
    chatwoot = await client.post(
        f"/api/v1/integrations/chatwoot/{account_id}",
        params={"token": "ofcacw_not-a-token"},
        json={"event": "message_created"},
    )
    assert chatwoot.status_code == 429
    # The API routes keep their own per-key limit; health is never limited.
    listing = await client.get("/api/v1/conversations", headers=auth(second))
    assert listing.status_code == 200
    assert listing.headers["x-ratelimit-limit"] == "1000"
    assert listing.json()["total"] == 3
    for _ in range(5):
        health = await client.get("/health")
        assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers


def test_webhook_limit_setting_is_validated() -> None:
    assert load_settings({}, dotenv=None).webhook_rate_limit_per_minute == 100
    environ = {"OFCA_WEBHOOK_RATE_LIMIT_PER_MINUTE": "25"}
    assert load_settings(environ, dotenv=None).webhook_rate_limit_per_minute == 25
    with pytest.raises(SettingsError, match="OFCA_WEBHOOK_RATE_LIMIT_PER_MINUTE"):
        load_settings({"OFCA_WEBHOOK_RATE_LIMIT_PER_MINUTE": "0"}, dotenv=None)
