"""A minimal WebSocket client on a raw asyncio protocol, for load generation.

The ``websockets`` package costs tens of microseconds per frame in Python; a bench that
receives 50 dashboards' worth of frames on the same 2 cores as the server would measure
itself. This client parses server frames (unmasked, never fragmented by uvicorn) straight
from the TCP buffer, answers pings, and masks its own frames with a zero key (valid per
RFC 6455; the payload is then sent as is). With ``deflate=True`` it negotiates
permessage-deflate as browsers do (the server then compresses every frame for it) and
inflates what it receives; its own frames go uncompressed (RSV1 clear). For benches only.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

FrameHandler = Callable[[int, bytes, int], None]
"""``(opcode, payload, receive time in monotonic ns)``."""


def _header(opcode: int, length: int) -> bytes:
    first = 0x80 | opcode
    if length < 126:
        return struct.pack("!BB", first, 0x80 | length) + b"\0\0\0\0"
    if length < 65536:
        return struct.pack("!BBH", first, 0x80 | 126, length) + b"\0\0\0\0"
    return struct.pack("!BBQ", first, 0x80 | 127, length) + b"\0\0\0\0"


class RawWebSocket(asyncio.Protocol):
    def __init__(self, on_frame: FrameHandler, deflate: bool = False) -> None:
        self.on_frame = on_frame
        self.deflate = deflate
        self._inflater: zlib._Decompress | None = None
        self._fresh_inflater_each_message = False
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.handshake_done = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self._upgraded = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(self.close_code)
        if not self.handshake_done.done():
            self.handshake_done.set_exception(ConnectionError("closed during handshake"))

    def data_received(self, data: bytes) -> None:
        now = _monotonic_ns()
        buffer = self.buffer
        buffer += data
        if not self._upgraded and not self._finish_handshake(buffer):
            return
        position = 0
        size = len(buffer)
        view = memoryview(buffer)
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length = second & 0x7F
            start = position + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(view[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(view[start : start + 8], "big")
                start += 8
            if size - start < length:
                break
            position = start + length
            self._frame(first, bytes(view[start:position]), now)
        view.release()
        if position:
            del buffer[:position]

    def _finish_handshake(self, buffer: bytearray) -> bool:
        """Consume the HTTP 101 answer; whether frames may follow in ``buffer``."""
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buffer[:end]).lower()
        status = bytes(buffer[: buffer.find(b"\r\n")])
        del buffer[: end + 4]
        if b" 101 " not in status:
            self.handshake_done.set_exception(ConnectionError(status.decode()))
            return False
        if self.deflate and b"permessage-deflate" in head:
            self._inflater = zlib.decompressobj(-15)
            self._fresh_inflater_each_message = b"server_no_context_takeover" in head
        elif self.deflate:
            self.handshake_done.set_exception(ConnectionError("no permessage-deflate"))
            return False
        self._upgraded = True
        self.handshake_done.set_result(None)
        return True

    def _frame(self, first: int, payload: bytes, now: int) -> None:
        opcode = first & 0x0F
        if first & 0x40 and self._inflater is not None:  # RSV1: a compressed message
            if self._fresh_inflater_each_message:
                self._inflater = zlib.decompressobj(-15)
            payload = self._inflater.decompress(payload + b"\x00\x00\xff\xff")
        if opcode == OP_PING:
            self.send(payload, OP_PONG)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        else:
            self.on_frame(opcode, payload, now)

    # -- sending
    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        assert self.transport is not None
        self.transport.write(_header(opcode, len(payload)) + payload)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.send(struct.pack("!H", 1000), OP_CLOSE)
            finally:
                self.transport.close()


def _monotonic_ns() -> int:
    import time

    return time.monotonic_ns()


async def connect(url: str, on_frame: FrameHandler, deflate: bool = False) -> RawWebSocket:
    """Open ``ws://host:port/path?query`` and complete the handshake (``deflate``: ask for
    permessage-deflate, as browsers do)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: RawWebSocket(on_frame, deflate), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    extensions = (
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        if deflate
        else ""
    )
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extensions}\r\n"
    )
    assert protocol.transport is not None
    protocol.transport.write(request.encode())
    await protocol.handshake_done
    return protocol
