"""A dashboard that stops reading cannot grow the server's memory or stall the others:
its bounded backlog overflows and it is disconnected with 1013 and a reason, while a
dashboard that keeps reading receives every event (issue 5, "Faults")."""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket

from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.support.server import live_server

DELTAS = 150
BIG_TEXT = "so " * 25_000  # ~75 kB: each append_message carries it twice (the message and
# its node), so 150 of them (~22 MB) are far more than the kernel buffers of the stalled
# client's connection hold (a few MB on loopback) and the server's sends back up.


async def _stalled_dashboard(
    port: int, account_id: str, key: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open the dashboard socket by hand: handshake, then nothing read until asked."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=raw, limit=2**20)
    nonce = base64.b64encode(secrets.token_bytes(16)).decode()
    writer.write(
        f"GET /ws/frontend/{account_id}?token={key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status[:80]
    return reader, writer


async def _read_frames(
    stalled: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> list[tuple[int, bytes]]:
    """(opcode, payload) of every server frame up to and including the close frame."""
    reader, writer = stalled
    frames: list[tuple[int, bytes]] = []
    while True:
        head = await reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        frames.append((head[0] & 0x0F, await reader.readexactly(length)))
        if frames[-1][0] == 0x8:
            writer.close()
            return frames


async def test_stalled_dashboard_is_disconnected_and_others_get_everything(
    backend_env: dict[str, str], make_key, account_id: str
) -> None:
    extension_key = await make_key(account_id, "extension")
    dashboard_key = await make_key(account_id, "dashboard")
    account = generate_account(20, seed=5, fans=1)
    env = {**backend_env, "OFCA_SUBSCRIBER_MAX_BACKLOG": "5"}
    with live_server(env) as server:
        dashboard_url = f"{server.ws_url}/ws/frontend/{account_id}?token={dashboard_key}"
        extension_url = f"{server.ws_url}/ws/extension/{account_id}?token={extension_key}"
        async with open_socket(extension_url) as extension:
            assert (await extension.next())["type"] == "connection_ack"
            await extension.send(cache_update_frame(account))
            await extension.until("ingest_ack", within=60)

            # A browser tab that froze: it completes the handshake, then never reads. The
            # small receive buffer also turns off the kernel's autotuning (up to 32 MB on
            # loopback here), so the server's sends back up after a few events.
            stalled = await _stalled_dashboard(server.port, account_id, dashboard_key)
            async with open_socket(dashboard_url) as reader:
                assert (await reader.next())["type"] == "connection_ack"
                await reader.until("full_sync_response", within=30)
                await asyncio.sleep(0.5)  # let the stalled one subscribe and sync too

                template = account.messages[-1]
                for index in range(DELTAS):
                    message = {**template, "id": 8_000_000_000 + index, "text": BIG_TEXT}
                    await extension.send(new_raw_message_frame(message))
                    ack = await extension.until("ingest_ack", within=30)
                    assert ack["payload"]["accepted"] == 1

                received: set[str] = set()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                while len(received) < DELTAS:
                    assert loop.time() < deadline, f"reader got {len(received)}/{DELTAS}"
                    frame = await reader.next(within=30)
                    if frame["type"] == "append_message":
                        received.add(frame["payload"]["message"]["id"])
                assert len(received) == DELTAS

            # Now drain the stalled client: after what was already in flight comes the close.
            frames = await asyncio.wait_for(_read_frames(stalled), 60)
            close = frames[-1]
            assert close[0] == 0x8, f"last of {len(frames)} frames is not a close"
            code = int.from_bytes(close[1][:2], "big")
            reason = close[1][2:].decode()
            assert code == 1013, (code, reason)
            assert "slow consumer" in reason
            appends = [f for f in frames if f[0] == 0x1 and b'"append_message"' in f[1][:40]]
            assert len(appends) < DELTAS  # it was cut off instead of buffered without bound
            assert server.process.poll() is None  # the server kept serving
