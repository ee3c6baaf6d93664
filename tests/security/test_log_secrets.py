"""No key, token, password, e-mail address or chat text in the server's log (issue 16,
item 4; SECURITY.md "What is logged").

A real ``ofca serve`` at ``OFCA_LOG_LEVEL=INFO`` is used the way its clients use it:
sockets with ``?token=`` (API keys, login tokens, a bogus token), the webhook and Chatwoot
routes with their secrets in the query, REST with keys in headers and in the query, a
search whose query is chat text, signup and (failed) logins. Then the whole of its stdout
and stderr is read. uvicorn's access and handshake lines used to carry every query
string: 36 keys in one probe's log.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import websockets

from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.security.conftest import ADMIN_KEY, PASSWORD, new_email
from tests.sources.payloads import chatwoot_message_created, webhook_body
from tests.support.server import ofca_serve

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _key(http: httpx.AsyncClient, account_id: str, role: str) -> str:
    made = await http.post(
        f"/api/v1/accounts/{account_id}/keys", json={"role": role}, headers=ADMIN
    )
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


async def test_the_server_log_holds_no_secret_and_no_chat_text(
    backend_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    env = {**backend_env, "OFCA_LOG_LEVEL": "INFO", "OFCA_ADMIN_KEY": ADMIN_KEY}
    account_id = f"acct-{secrets.token_hex(4)}"
    marker = f"zebra{secrets.token_hex(6)}"
    texts = {f"{source} {marker} says hi" for source in ("delta", "webhook", "chatwoot")}
    email = new_email()
    bogus = "ofca_" + secrets.token_urlsafe(32)
    own_account = f"{account_id}-own"  # the signed-up user's
    with ofca_serve(env, log) as server:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=15) as http:
            created = await http.post(
                "/api/v1/accounts", json={"account_id": account_id}, headers=ADMIN
            )
            assert created.status_code == 201, created.text
            owner = await _key(http, account_id, "owner")
            extension = await _key(http, account_id, "extension")
            integration = await _key(http, account_id, "integration")
            made = await http.post(
                f"/api/v1/accounts/{account_id}/chatwoot-token",
                headers={"Authorization": f"Bearer {owner}"},
            )
            chatwoot = made.json()["token"]

            signed_up = await http.post(
                "/auth/signup",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "name": "Creator",
                    "account_id": own_account,
                },
            )
            assert signed_up.status_code == 201, signed_up.text
            wrong = {"email": email, "password": "wrong" * 3}
            assert (await http.post("/auth/login", json=wrong)).status_code == 401
            login = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert login.status_code == 200
            login_token = login.json()["token"]
            http.cookies.clear()

            webhook = webhook_body(
                transcript=[
                    {
                        "timestamp": "2024-01-15T10:30:00Z",
                        "speaker": "user",
                        "content": f"webhook {marker} says hi",
                        "messageId": "msg_1",
                    }
                ]
            )
            answer = await http.post(
                "/api/v1/webhook/conversation",
                params={"api_key": integration, "account_id": account_id},
                json=webhook,
                headers={"X-API-Key": integration},
            )
            assert answer.status_code == 200, answer.text
            answer = await http.post(
                f"/api/v1/integrations/chatwoot/{account_id}",
                params={"token": chatwoot},
                json=chatwoot_message_created(content=f"chatwoot {marker} says hi"),
            )
            assert answer.status_code == 200, answer.text

            for headers, params in (
                ({"Authorization": f"Bearer {owner}"}, {"q": marker}),
                ({"X-API-Key": owner}, {"fan": marker}),
                ({}, {"api_key": owner}),  # not a way in on REST, but it is in the path
                ({"Authorization": f"Bearer {login_token}"}, {"token": login_token}),
            ):
                await http.get("/api/v1/conversations", params=params, headers=headers)

        base = f"{server.ws_url}/ws"
        async with open_socket(f"{base}/extension/{account_id}?token={extension}") as socket:
            assert (await socket.next())["type"] == "connection_ack"
            await socket.send(
                new_raw_message_frame(
                    {"id": 99_000_001, "chat_id": 5, "text": f"delta {marker} says hi",
                     "is_inbound": True, "createdAt": "2030-05-01T10:00:00Z"}
                )
            )  # fmt: skip
            await socket.until("ingest_ack")
        for account, token in ((account_id, owner), (own_account, login_token)):
            async with open_socket(f"{base}/frontend/{account}?token={token}") as socket:
                await socket.until("full_sync_response", within=30)
        rejected = await websockets.connect(f"{base}/extension/{account_id}?token={bogus}")
        await asyncio.wait_for(rejected.wait_closed(), 10)
        assert rejected.close_code == 1008

    output = log.read_text(errors="replace")
    leaked = {
        name: value
        for name, value in {
            "admin key": ADMIN_KEY,
            "owner key": owner,
            "extension key": extension,
            "integration key": integration,
            "chatwoot token": chatwoot,
            "login token": login_token,
            "bogus token": bogus,
            "password": PASSWORD,
            "e-mail address": email,
            "chat text": marker,
        }.items()
        if value in output
    }
    assert not leaked, f"in the server's log: {sorted(leaked)}"
    assert not [text for text in texts if text in output]
    # The log was on, and it shows what was asked without the values.
    assert f'"WebSocket /ws/extension/{account_id}?token=[redacted]" [accepted]' in output
    assert "/api/v1/integrations/chatwoot/" in output and "?token=[redacted]" in output
    assert "/api/v1/conversations?q=[redacted]" in output
