"""Cross-site writes with the login cookie (issue 16, item 7), on a real server.

SameSite=Lax keeps the cookie off requests from other *sites*, but a sibling subdomain or
another port of the same host is the same site: a page there could POST with the cookie
(``Content-Type: text/plain`` needs no CORS preflight) and open a dashboard socket. So a
request or socket authenticated by the cookie must prove it comes from ofca's own origin
(or an allowed one): ``Origin``, or ``Sec-Fetch-Site: same-origin``; writes must also be
``application/json``. Bearer keys, ``X-API-Key`` and ``?token=`` are not affected: a
page elsewhere cannot make the browser send those.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.security.conftest import PASSWORD, new_email
from tests.support.server import LiveServer, live_server

DASHBOARD_ORIGIN = "https://dash.example"
EXTENSION_ID = "abcdefghijklmnopabcdefghijklmnop"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    env = {
        **backend_env,
        "OFCA_CORS_ORIGINS": DASHBOARD_ORIGIN,
        "OFCA_EXTENSION_ID": EXTENSION_ID,
    }
    with live_server(env) as running:
        yield running


async def _login(server: LiveServer) -> tuple[str, str]:
    """A new user owning a new account: (account id, login token)."""
    account_id = f"acct-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        signed = await http.post(
            "/auth/signup",
            json={"email": new_email(), "password": PASSWORD, "account_id": account_id},
        )
    assert signed.status_code == 201, signed.text
    return account_id, signed.json()["token"]


def _topic() -> bytes:
    name = f"t{secrets.token_hex(4)}"
    return json.dumps({"id": name, "label": name, "keywords": [name]}).encode()


async def _post_topic(server: LiveServer, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        return await http.post("/api/v1/topics/", content=_topic(), headers=headers)


async def test_cookie_writes_need_json_and_our_origin(server: LiveServer) -> None:
    _, token = await _login(server)
    cookie = {"Cookie": f"ofca_session={token}"}
    json_type = {"Content-Type": "application/json"}
    own = server.http_url

    refused: list[dict[str, str]] = [
        {"Content-Type": "text/plain", "Origin": EVIL},  # the probe's forged POST
        {**json_type, "Origin": EVIL},
        {"Content-Type": "text/plain", "Origin": own},  # a form or a simple request
        {**json_type, "Origin": "null"},  # sandboxed frames, redirects
        {**json_type, "Origin": own.replace("127.0.0.1", "localhost")},  # same site only
        {**json_type, "Sec-Fetch-Site": "same-site"},
        json_type,  # nothing says where it came from
    ]
    for headers in refused:
        response = await _post_topic(server, {**cookie, **headers})
        assert response.status_code == 403, (headers, response.status_code, response.text)
        body = response.json()
        assert set(body) >= {"detail", "status_code", "timestamp"}
        assert "cross-site" in body["detail"].lower() or "json" in body["detail"].lower()

    allowed: list[dict[str, str]] = [
        {**json_type, "Origin": own},
        {"Content-Type": "application/json; charset=utf-8", "Origin": own},
        {**json_type, "Sec-Fetch-Site": "same-origin"},
        {**json_type, "Origin": DASHBOARD_ORIGIN},  # OFCA_CORS_ORIGINS
        {**json_type, "Origin": f"chrome-extension://{EXTENSION_ID}"},  # OFCA_EXTENSION_ID
    ]
    for headers in allowed:
        response = await _post_topic(server, {**cookie, **headers})
        assert response.status_code == 201, (headers, response.status_code, response.text)

    async with httpx.AsyncClient(base_url=server.http_url) as http:
        # Reads change nothing: a cookie GET from anywhere is still answered.
        read = await http.get("/api/v1/topics/", headers={**cookie, "Origin": EVIL})
        assert read.status_code == 200
        # DELETE is a write too.
        gone = await http.delete("/api/v1/topics/anything", headers={**cookie, "Origin": EVIL})
        assert gone.status_code == 403


async def test_bearer_credentials_are_not_affected(server: LiveServer) -> None:
    _, token = await _login(server)
    for credential in ({"Authorization": f"Bearer {token}"}, {"X-API-Key": token}):
        headers: dict[str, Any] = {**credential, "Origin": EVIL, "Content-Type": "text/plain"}
        # The cookie of the same login alongside: the header is what authenticates.
        headers["Cookie"] = f"ofca_session={token}"
        response = await _post_topic(server, headers)
        assert response.status_code == 201, (credential, response.text)


async def _socket_answer(url: str, **connect: Any) -> tuple[str, int | None]:
    """The first frame's type, or ``closed`` and the close code."""
    async with websockets.connect(url, open_timeout=10, **connect) as socket:
        try:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
        except websockets.ConnectionClosed as closed:
            return "closed", closed.rcvd.code if closed.rcvd else None
        return frame["type"], None


async def test_cookie_sockets_check_the_origin(server: LiveServer) -> None:
    account_id, token = await _login(server)
    url = f"{server.ws_url}/ws/frontend/{account_id}"
    cookie = {"Cookie": f"ofca_session={token}"}

    for origin in (EVIL, "null", None):
        kind, code = await _socket_answer(url, additional_headers=cookie, origin=origin)
        assert (kind, code) == ("closed", 1008), origin
    for origin in (server.http_url, DASHBOARD_ORIGIN, f"chrome-extension://{EXTENSION_ID}"):
        kind, _ = await _socket_answer(url, additional_headers=cookie, origin=origin)
        assert kind == "connection_ack", origin
    # ?token= is not something another page can make the browser send.
    kind, _ = await _socket_answer(f"{url}?token={token}", origin=EVIL)
    assert kind == "connection_ack"
