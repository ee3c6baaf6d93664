"""Login throttling per client IP and per (IP, e-mail address), on a real server whose
clients come from different loopback addresses (issue 16, item 8).

It used to be per address alone: ten wrong passwords from anywhere locked the owner of an
address out for the rest of the minute.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from ofca.access.ratelimit import (
    LOGIN_ATTEMPTS_PER_IP_PER_MINUTE,
    LOGIN_ATTEMPTS_PER_MINUTE,
    WINDOW_SECONDS,
)
from tests.security.conftest import PASSWORD, new_email
from tests.support.server import LiveServer, live_server


@pytest.fixture
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    # Counters of its own (Redis keys live under the prefix), whatever else ran this minute.
    prefix = f"{backend_env['OFCA_CHANNEL_PREFIX']}-lt{secrets.token_hex(3)}"
    with live_server({**backend_env, "OFCA_CHANNEL_PREFIX": prefix}) as running:
        left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
        if left < 20:  # the attempts below must fall in one fixed window
            time.sleep(left + 0.1)
        yield running


@asynccontextmanager
async def _client_from(server: LiveServer, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connections come from ``address`` (any 127.x.y.z is this host)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=server.http_url, transport=transport) as client:
        yield client


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(
    server: LiveServer,
) -> None:
    email = new_email()
    async with (
        _client_from(server, "127.0.0.1") as owner,
        _client_from(server, "127.0.0.2") as attacker,
    ):
        signed = await owner.post("/auth/signup", json={"email": email, "password": PASSWORD})
        assert signed.status_code == 201, signed.text
        owner.cookies.clear()
        statuses = [
            (await _login(attacker, email, f"guess-{n}")).status_code
            for n in range(LOGIN_ATTEMPTS_PER_MINUTE + 1)
        ]
        assert statuses == [401] * LOGIN_ATTEMPTS_PER_MINUTE + [429]
        refused = await _login(attacker, email.upper(), PASSWORD)  # even the right one
        assert refused.status_code == 429
        assert set(refused.json()) >= {"detail", "status_code", "timestamp"}
        assert int(refused.headers["retry-after"]) >= 1
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
            refused.headers
        )

        assert (await _login(owner, email, PASSWORD)).status_code == 200


async def test_one_address_gets_a_budget_whatever_the_e_mails(server: LiveServer) -> None:
    async with (
        _client_from(server, "127.0.0.3") as guesser,
        _client_from(server, "127.0.0.4") as other,
    ):
        statuses = [
            (await _login(guesser, new_email(), "wrong password")).status_code
            for _ in range(LOGIN_ATTEMPTS_PER_IP_PER_MINUTE + 1)
        ]
        assert statuses == [401] * LOGIN_ATTEMPTS_PER_IP_PER_MINUTE + [429]
        assert (await _login(guesser, new_email(), "wrong password")).status_code == 429
        assert (await _login(other, new_email(), "wrong password")).status_code == 401
