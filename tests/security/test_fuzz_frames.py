"""Bad input at scale: random and mutated frames never crash the decoder or the server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polyfactory.factories.msgspec_factory import MsgspecFactory
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from ofca.domain.wss import (
    CacheUpdate,
    Keepalive,
    NewRawMessage,
    OnlineUsersUpdate,
    incoming_decoder,
)
from tests.security.conftest import ADMIN_KEY
from tests.support.server import LiveServer, live_server

FRAME_TYPES: tuple[type[msgspec.Struct], ...] = (
    CacheUpdate,
    NewRawMessage,
    Keepalive,
    OnlineUsersUpdate,
)


def _valid_frames() -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for frame_type in FRAME_TYPES:
        factory = MsgspecFactory.create_factory(frame_type)
        factory.__random_seed__ = 7
        for _ in range(3):
            frames.append(msgspec.to_builtins(factory.build()))
    return frames


VALID_FRAMES = _valid_frames()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame with one part replaced, removed or garbled, or its bytes cut/flipped."""
    frame = draw(st.sampled_from(VALID_FRAMES))
    paths = list(_paths(frame))
    path = draw(st.sampled_from(paths))
    how = draw(st.sampled_from(["replace", "drop", "type", "extra", "truncate", "flip"]))
    if how == "replace":
        frame = _replace(frame, path, draw(json_values))
    elif how == "drop" and path:
        parent = _get(frame, path[:-1])
        if isinstance(parent, dict):
            frame = _replace(frame, path[:-1], {k: v for k, v in parent.items() if k != path[-1]})
    elif how == "type":
        frame = _replace(frame, ("type",), draw(st.text(max_size=20) | json_values))
    elif how == "extra":
        frame = {**frame, draw(st.text(max_size=10)): draw(json_values)}
    data = json.dumps(frame).encode()
    if how == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif how == "flip" and data:
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([draw(st.integers(0, 255))]) + data[index + 1 :]
    return data


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


any_frame = (
    st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()) | mutated_frames()
)


def _decode_only_msgspec_errors(data: bytes) -> None:
    try:
        decoded = incoming_decoder.decode(data)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return
    assert isinstance(decoded, FRAME_TYPES)


def test_valid_frames_decode() -> None:
    for frame in VALID_FRAMES:
        assert isinstance(incoming_decoder.decode(json.dumps(frame).encode()), FRAME_TYPES)


@settings(max_examples=400, deadline=None)
@given(any_frame)
def test_decoder_raises_only_msgspec_errors(data: bytes) -> None:
    _decode_only_msgspec_errors(data)


def test_decoder_survives_deep_nesting() -> None:
    for depth in (100, 1000, 100_000):
        _decode_only_msgspec_errors(
            b'{"type":"cache_update","payload":' + b"[" * depth + b"]" * depth + b"}"
        )


# --------------------------------------------------------------------------- live server


@dataclass(frozen=True)
class FuzzTarget:
    server: LiveServer
    account_id: str
    keys: dict[str, str]
    """Socket kind (path segment) -> a key allowed on it."""


@pytest.fixture(scope="module")
def fuzz_server(backend_env: dict[str, str]) -> Iterator[FuzzTarget]:
    env = {**backend_env, "OFCA_ADMIN_KEY": ADMIN_KEY, "OFCA_WS_FRAMES_PER_MINUTE": "100000"}
    with live_server(env) as server:
        account_id = f"acct-{secrets.token_hex(4)}"
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=server.http_url, headers=admin) as http:
            assert http.post("/api/v1/accounts", json={"account_id": account_id}).status_code == 201
            made = http.post(f"/api/v1/accounts/{account_id}/keys", json={"role": "extension"})
            viewer = http.post(f"/api/v1/accounts/{account_id}/keys", json={"role": "dashboard"})
        yield FuzzTarget(
            server=server,
            account_id=account_id,
            keys={"extension": made.json()["key"], "frontend": viewer.json()["key"]},
        )


class _Socket:
    """One extension socket, reopened whenever the server closed it."""

    def __init__(
        self, server: LiveServer, account_id: str, key: str, socket: str = "extension"
    ) -> None:
        self.url = f"{server.ws_url}/ws/{socket}/{account_id}?token={key}"
        self.connection: ClientConnection | None = None
        self.closes: list[int | None] = []
        self._open = ExitStack()  # the current connection's context (reopened on close)

    def close(self) -> None:
        self._open.close()
        self.connection = None

    def send(self, data: bytes) -> None:
        for _ in range(2):
            if self.connection is None:
                self._open.close()
                self.connection = self._open.enter_context(connect(self.url, open_timeout=10))
                ack = json.loads(self.connection.recv(timeout=10))
                assert ack["type"] == "connection_ack", ack
            try:
                # Text frames as a browser sends them; undecodable bytes as binary frames.
                try:
                    self.connection.send(data.decode("utf-8"))
                except UnicodeDecodeError:
                    self.connection.send(data)
                return
            except ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else None)
                self.connection = None

    def drain(self) -> None:
        if self.connection is None:
            return
        try:
            while True:
                self.connection.recv(timeout=0.05)
        except TimeoutError:
            return
        except ConnectionClosed as closed:
            self.closes.append(closed.rcvd.code if closed.rcvd else None)
            self.connection = None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(any_frame, min_size=1, max_size=8))
@pytest.mark.parametrize("socket_kind", ["extension", "frontend"])
def test_live_server_keeps_serving_under_garbage(
    fuzz_server: FuzzTarget, socket_kind: str, frames: list[bytes]
) -> None:
    server = fuzz_server.server
    socket = _Socket(server, fuzz_server.account_id, fuzz_server.keys[socket_kind], socket_kind)
    try:
        for data in frames:
            socket.send(data)
            socket.drain()
        assert server.process.poll() is None
        # Whatever the server closed with, it was a deliberate close, never a crash
        # (1011, or Litestar's 4500 for an exception escaping the handler).
        assert not [code for code in socket.closes if code == 1011 or (code or 0) >= 4500], (
            socket.closes
        )
        assert httpx.get(f"{server.http_url}/health", timeout=10).status_code == 200
    finally:
        socket.close()


def test_invalid_utf8_in_the_type_gets_a_system_error(
    fuzz_server: FuzzTarget,
) -> None:
    server, account_id = fuzz_server.server, fuzz_server.account_id
    key = fuzz_server.keys["extension"]
    with connect(f"{server.ws_url}/ws/extension/{account_id}?token={key}") as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "connection_ack"
        socket.send(b'{"type":"\x80"}'.decode("unicode_escape").encode("latin-1"))
        reply = json.loads(socket.recv(timeout=10))
        assert reply["type"] == "system_error", reply
        assert reply["payload"]["code"] == "json_parse_error"
        # Still open and answering: a malformed frame gets its own system_error back
        # (a keepalive would prove nothing: it is acknowledged silently).
        socket.send("{not json")
        again = json.loads(socket.recv(timeout=10))
        assert again["payload"]["code"] == "json_parse_error"
