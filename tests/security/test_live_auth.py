"""A real server: dashboard sockets accept a login (cookie or ?token=), and logout or key
revocation closes open sockets with 1008 at once (not at the periodic re-check)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.security.conftest import ADMIN_KEY, PASSWORD, new_email
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    env = {
        **backend_env,
        "OFCA_ADMIN_KEY": ADMIN_KEY,
        # Far beyond the test: closing must come from the revocation event itself.
        "OFCA_WS_CREDENTIAL_RECHECK_SECONDS": "600",
    }
    with live_server(env) as running:
        yield running


async def _first_frame(socket: websockets.ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), 10))


async def _closed_code(socket: websockets.ClientConnection, wait: float = 10) -> int | None:
    try:
        while True:
            await asyncio.wait_for(socket.recv(), wait)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def test_dashboard_socket_accepts_login_by_token_and_cookie(server: LiveServer) -> None:
    account_id = f"acct-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        signed = await http.post(
            "/auth/signup",
            json={"email": new_email(), "password": PASSWORD, "account_id": account_id},
        )
        assert signed.status_code == 201, signed.text
        token = signed.json()["token"]
        other = f"acct-{secrets.token_hex(4)}"
        made = await http.post(
            "/api/v1/accounts",
            json={"account_id": other},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert made.status_code == 201

        by_query = await websockets.connect(
            f"{server.ws_url}/ws/frontend/{account_id}?token={token}"
        )
        by_cookie = await websockets.connect(
            f"{server.ws_url}/ws/frontend/{account_id}",
            additional_headers={"Cookie": f"ofca_session={token}"},
            origin=server.http_url,  # as the dashboard's own page (tests/security/test_cross_site)
        )
        for socket in (by_query, by_cookie):
            ack = await _first_frame(socket)
            assert ack["type"] == "connection_ack", ack
            assert ack["payload"]["user_id"] == account_id

        foreign = await websockets.connect(f"{server.ws_url}/ws/frontend/{other}?token={token}")
        assert await _closed_code(foreign) == 1008
        anonymous = await websockets.connect(f"{server.ws_url}/ws/frontend/{account_id}")
        assert await _closed_code(anonymous) == 1008

        logout = await http.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert logout.status_code == 200
        assert await _closed_code(by_query) == 1008
        assert await _closed_code(by_cookie) == 1008
        refused = await websockets.connect(
            f"{server.ws_url}/ws/frontend/{account_id}?token={token}"
        )
        assert await _closed_code(refused) == 1008


async def test_revoking_a_key_closes_its_sockets(server: LiveServer) -> None:
    account_id = f"acct-{secrets.token_hex(4)}"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=admin) as http:
        assert (
            await http.post("/api/v1/accounts", json={"account_id": account_id})
        ).status_code == 201
        keys = {}
        for role in ("dashboard", "integration"):
            made = await http.post(f"/api/v1/accounts/{account_id}/keys", json={"role": role})
            keys[role] = made.json()
        dashboard = await websockets.connect(
            f"{server.ws_url}/ws/frontend/{account_id}?token={keys['dashboard']['key']}"
        )
        integration = await websockets.connect(
            f"{server.ws_url}/ws/chatwoot/{account_id}?token={keys['integration']['key']}"
        )
        for socket in (dashboard, integration):
            assert (await _first_frame(socket))["type"] == "connection_ack"
        revoked = await http.delete(
            f"/api/v1/accounts/{account_id}/keys/{keys['dashboard']['info']['id']}"
        )
        assert revoked.status_code == 204
        assert await _closed_code(dashboard) == 1008
        # The other key's socket stays open: revocation is per credential.
        pong = await integration.ping()
        await asyncio.wait_for(pong, 5)
        await integration.close()
