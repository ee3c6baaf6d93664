"""Socket plumbing shared by the three sockets: authentication and close codes, one
connection's sending and closing, the credential re-check, reading frames, presence.

Authentication failures accept first and then close with 1008, so browsers can read the
code. A connection sends text frames (ASGI wants ``str``): the text of an outgoing frame is
decoded once for all the sockets a live event goes to (:func:`_as_text`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.types import WebSocketReceiveEvent

from ofca import __version__
from ofca.access.principals import (
    authenticate_token,
    credential_from_connection,
    cross_site_refusal,
)
from ofca.channels.publish import CONTROL_PREFIX, decode_control
from ofca.domain.auth import Principal
from ofca.domain.wss import ConnectionAck, ConnectionAckPayload, outgoing_encoder
from ofca.ingest.commands import ExtensionCommands
from ofca.ingest.extension import StreamView

__all__ = [
    "POLICY_VIOLATION",
    "TRY_AGAIN_LATER",
    "Connection",
    "Presence",
    "authenticate",
    "receive_frames",
    "send_connection_ack",
    "watch",
]

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


class Connection:
    """One authenticated socket: sending, closing once (``ingest.extension.FrameSink``)."""

    def __init__(
        self, socket: WebSocket[Any, Any, Any], principal: Principal, account_id: str
    ) -> None:
        self.socket = socket
        self.principal = principal
        self.account_id = account_id
        self.connection_id = secrets.token_hex(8)
        self.closed = False
        self.last_seen = time.monotonic()
        self._send_lock = asyncio.Lock()

    async def send(self, data: bytes) -> None:
        if self.closed:
            return
        text = _as_text(data)
        async with self._send_lock:
            try:
                await self.socket.send_data(text, mode="text")
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.closed = True

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.socket.close(code=code, reason=reason)

    async def on_control(self, data: bytes) -> bool:
        """Act on a control event; ``True`` when ``data`` was one."""
        if not data.startswith(CONTROL_PREFIX):
            return False
        event = decode_control(data)
        if (
            event is not None
            and event.action == "credential_revoked"
            and event.credential_id == self.principal.credential_id
        ):
            await self.close(POLICY_VIOLATION, "credential revoked")
        return True


_texts: dict[int, tuple[bytes, str]] = {}
_TEXTS_KEPT = 256
_SMALL_FRAME = 64 * 1024
_last_large: tuple[bytes, str] = (b"", "")


def _as_text(data: bytes) -> str:
    """``data`` as text (ASGI wants text frames as ``str``), decoded once for all the sockets
    a live event goes to: they are handed the same bytes object in turn. Small frames are
    kept by the hundred (events interleave), a large one (a full sync: MBs, and up to 4x
    that as text) only until the next large one."""
    global _last_large
    if len(data) > _SMALL_FRAME:
        if _last_large[0] is not data:
            _last_large = (data, data.decode("utf-8"))
        return _last_large[1]
    known = _texts.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    if len(_texts) >= _TEXTS_KEPT:
        del _texts[next(iter(_texts))]  # the oldest
    text = data.decode("utf-8")
    _texts[id(data)] = (data, text)
    return text


def _may_access(principal: Principal, account_id: str) -> bool:
    return principal.account_id == account_id or account_id in principal.account_ids


async def authenticate(
    socket: WebSocket[Any, Any, Any], account_id: str, roles: frozenset[str]
) -> Principal | None:
    """Accept, then the principal, or close with 1008 and ``None``."""
    await socket.accept()
    token = credential_from_connection(socket)
    principal: Principal | None = None
    if token:
        try:
            principal = await authenticate_token(token, socket.app.state.settings)
        except Exception as exc:
            log.warning("socket authentication failed: %s", type(exc).__name__)
            await socket.close(code=1011, reason="authentication unavailable")
            return None
    if principal is None:
        await socket.close(code=POLICY_VIOLATION, reason="missing or invalid credentials")
        return None
    if cross_site_refusal(socket, socket.app.state.settings) is not None:
        await socket.close(code=POLICY_VIOLATION, reason="cross-site socket refused")
        return None
    if principal.role not in roles and principal.kind != "session":
        await socket.close(
            code=POLICY_VIOLATION, reason=f"role {principal.role} may not use this socket"
        )
        return None
    if principal.kind == "session" and not principal.allows("live"):
        await socket.close(code=POLICY_VIOLATION, reason="this login may not use this socket")
        return None
    if not _may_access(principal, account_id):
        await socket.close(code=POLICY_VIOLATION, reason="no access to this account")
        return None
    return principal


async def send_connection_ack(connection: Connection, stream: StreamView | None = None) -> None:
    """The first frame; on the extension socket it names the stream and how far it is
    committed (``stream``)."""
    payload = ConnectionAckPayload(
        connection_id=connection.connection_id,
        user_id=connection.account_id,
        role=connection.principal.role,
        server_time=datetime.now(UTC),
        version=__version__,
    )
    if stream is not None:
        payload.stream = stream.stream
        payload.committed_seq = stream.committed_seq
        payload.pending_snapshot = stream.pending_snapshot
    await connection.send(outgoing_encoder.encode(ConnectionAck(payload=payload)))


async def watch(connection: Connection, *, idle_limit: float | None) -> None:
    """Re-check the credential periodically (revocation backstop) and drop idle sockets."""
    token = credential_from_connection(connection.socket) or ""
    settings = connection.socket.app.state.settings
    interval = settings.ws_credential_recheck_seconds
    step = min(interval, 5.0)
    next_check = time.monotonic() + interval
    while not connection.closed:
        await asyncio.sleep(step)
        if idle_limit is not None and time.monotonic() - connection.last_seen > idle_limit:
            await connection.close(1001, "no keepalive")
            return
        if time.monotonic() < next_check:
            continue
        next_check = time.monotonic() + interval
        try:
            principal = await authenticate_token(token, settings)
        except Exception:
            continue  # the database is down: not the credential's fault
        if principal is None or not _may_access(principal, connection.account_id):
            await connection.close(POLICY_VIOLATION, "credential revoked or expired")
            return


def _frame_bytes(event: WebSocketReceiveEvent) -> bytes:
    data = event.get("bytes")
    if data is not None:
        return data
    return (event.get("text") or "").encode("utf-8")


async def receive_frames(
    connection: Connection, handle: Callable[[bytes], Awaitable[None]]
) -> None:
    """Hand each frame the client sends to ``handle``, in order, until it goes away."""
    socket = connection.socket
    while not connection.closed:
        try:
            event = await socket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if event["type"] == "websocket.disconnect":
            connection.closed = True
            return
        if event["type"] != "websocket.receive":
            continue
        connection.last_seen = time.monotonic()
        await handle(_frame_bytes(event))


class Presence:
    """Whether an extension connection is there to run commands (``ExtensionCommands``);
    failures are logged, never raised (a socket works without presence)."""

    def __init__(self, commands: ExtensionCommands, connection: Connection) -> None:
        self._commands = commands
        self._connection = connection

    async def mark_present(self) -> None:
        await self._mark(present=True)

    async def mark_absent(self) -> None:
        await self._mark(present=False)

    async def _mark(self, *, present: bool) -> None:
        account_id, connection_id = self._connection.account_id, self._connection.connection_id
        try:
            if present:
                await self._commands.mark_present(account_id, connection_id)
            else:
                await self._commands.mark_absent(account_id, connection_id)
        except Exception as exc:
            log.warning("extension presence not recorded: %s", type(exc).__name__)
