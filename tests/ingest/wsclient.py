"""A small client for ofca's sockets in tests: connect, send frames, read until a type."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["Socket", "open_socket"]


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.seen: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | bytes | str) -> None:
        if isinstance(frame, dict):
            frame = json.dumps(frame)
        await self.connection.send(frame)

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), within)
        frame = json.loads(raw)
        self.seen.append(frame)
        return frame

    async def until(self, frame_type: str, within: float = 15.0, **match: Any) -> dict[str, Any]:
        """The next frame of ``frame_type`` whose payload has ``match`` (others are kept)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {frame_type} {match} within {within}s")
            frame = await self.next(remaining)
            if frame["type"] == frame_type and all(
                frame["payload"].get(key) == value for key, value in match.items()
            ):
                return frame

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Frames received within ``seconds`` (expecting few or none)."""
        frames: list[dict[str, Any]] = []
        try:
            while True:
                frames.append(await self.next(seconds))
        except TimeoutError:
            return frames

    async def closed_with(self, within: float = 10.0) -> int | None:
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), within)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None


@asynccontextmanager
async def open_socket(url: str) -> AsyncIterator[Socket]:
    async with websockets.connect(url, max_size=None, open_timeout=10) as connection:
        yield Socket(connection)
