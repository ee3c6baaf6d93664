"""What ``ofca push`` sends: a snapshot file or an NDJSON export, read into chats and messages.

Three inputs are understood:

- a snapshot file: one JSON object, either a ``cache_update`` frame
  (``{"type": "cache_update", "payload": {"chats": [...], "messages": [...]}}``) or its
  payload alone (``{"chats": [...], "messages": [...]}``);
- an account export (``GET /api/v1/accounts/{id}/export``): ``{"table", "row"}`` lines, of
  which the ``ofca_chat`` and ``ofca_message`` rows are used. A message is sent as the raw
  JSON it was stored from (so pushing it to the same server again is a duplicate);
- a messages export (``GET /api/v1/export/messages``): one message per line with its
  enrichment; each becomes an OnlyFans-shaped message (``is_inbound`` from ``direction``).

Every chat and message is validated here against the protocol's Structs, so a bad file is
refused with the line (or index) at fault before anything is sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from ofca.domain.onlyfans import Chat, Message

__all__ = ["InputKind", "PushFileError", "PushInput", "read_push_file"]

InputKind = Literal["snapshot", "account_export", "messages_export"]

_encoder = msgspec.json.Encoder()
_message_decoder = msgspec.json.Decoder(Message)
_chat_decoder = msgspec.json.Decoder(Chat)
_line_decoder = msgspec.json.Decoder(dict[str, Any])


class PushFileError(ValueError):
    """The file is not something ``ofca push`` can send; the message says where and why."""


@dataclass
class PushInput:
    kind: InputKind
    chats: list[bytes]
    messages: list[bytes]
    digest: str
    """A hash of the file's content (names the stream a push resumes on)."""
    accounts: set[str] = field(default_factory=set)
    """Accounts an account export's rows belong to."""
    ignored_rows: int = 0
    """Account export rows of other tables."""

    @property
    def chat_ids(self) -> list[str]:
        """Chat ids the messages refer to, in first-seen order."""
        seen: dict[str, None] = {}
        for raw in self.messages:
            message = _message_decoder.decode(raw)
            if message.chat_id is not None:
                seen[str(message.chat_id)] = None
        return list(seen)


class _RawPayload(msgspec.Struct):
    chats: list[msgspec.Raw] = []
    messages: list[msgspec.Raw] = []


class _RawSnapshotFile(msgspec.Struct):
    type: str | None = None
    payload: _RawPayload | None = None
    chats: list[msgspec.Raw] | None = None
    messages: list[msgspec.Raw] | None = None

    @property
    def is_snapshot(self) -> bool:
        return (
            self.type is not None
            or self.payload is not None
            or self.chats is not None
            or self.messages is not None
        )


def _checked(raw: bytes, decoder: msgspec.json.Decoder[Any], where: str) -> bytes:
    try:
        decoded = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise PushFileError(f"{where}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise PushFileError(f"{where}: not JSON ({exc})") from None
    if isinstance(decoded, Message) and decoded.chat_id is None:
        raise PushFileError(f"{where}: the message has no chat_id")
    return raw


def _read_snapshot(frame: _RawSnapshotFile, digest: str) -> PushInput:
    if frame.type not in (None, "cache_update"):
        raise PushFileError(f"a {frame.type!r} frame is not a snapshot (cache_update)")
    payload = frame.payload or _RawPayload(chats=frame.chats or [], messages=frame.messages or [])
    chats = [
        _checked(bytes(raw), _chat_decoder, f"chats[{index}]")
        for index, raw in enumerate(payload.chats)
    ]
    messages = [
        _checked(bytes(raw), _message_decoder, f"messages[{index}]")
        for index, raw in enumerate(payload.messages)
    ]
    return PushInput("snapshot", chats, messages, digest)


def _direction_fields(direction: Any) -> dict[str, Any]:
    if direction == "inbound":
        return {"is_inbound": True}
    if direction == "outbound":
        return {"is_inbound": False}
    return {}


def _message_from_columns(row: dict[str, Any]) -> bytes:
    """An OnlyFans-shaped message from an export's columns (its original JSON unknown)."""
    message: dict[str, Any] = {
        "id": row.get("message_id"),
        "chat_id": row.get("chat_id"),
        "text": row.get("text"),
        "createdAt": row.get("created_at"),
        "changedAt": row.get("changed_at"),
        **_direction_fields(row.get("direction")),
        "isTip": bool(row.get("is_tip")),
        "price": row.get("price"),
        "mediaCount": int(row.get("media_count") or 0),
    }
    return _encoder.encode(message)


def _message_from_row(row: dict[str, Any], where: str) -> bytes:
    raw = row.get("raw")
    if row.get("source") in (None, "onlyfans") and isinstance(raw, str) and raw:
        data = raw.encode("utf-8")
        try:
            message = _message_decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            message = None
        if message is not None and message.chat_id is not None:
            return data  # exactly as stored: same hash, a duplicate if already there
    return _checked(_message_from_columns(row), _message_decoder, where)


def _chat_from_row(row: dict[str, Any], where: str) -> bytes:
    raw = row.get("raw")
    if isinstance(raw, str) and raw:
        data = raw.encode("utf-8")
        try:
            _chat_decoder.decode(data)
            return data
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    chat_id = row.get("chat_id")
    # The platform names a chat by its fan's user id: without a stored fan, that is it.
    user = {
        "id": row.get("fan_id") or chat_id,
        "name": row.get("fan_name"),
        "username": row.get("fan_username"),
        "avatar": row.get("fan_avatar"),
    }
    return _checked(_encoder.encode({"withUser": user, "chat_id": chat_id}), _chat_decoder, where)


def _read_ndjson(data: bytes, digest: str) -> PushInput:
    chats: list[bytes] = []
    messages: list[bytes] = []
    kind: InputKind | None = None
    accounts: set[str] = set()
    ignored = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = _line_decoder.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PushFileError(f"{where}: not a JSON object ({exc})") from None
        line_kind: InputKind = "account_export" if "table" in record else "messages_export"
        if kind is None:
            kind = line_kind
        elif kind != line_kind:
            raise PushFileError(f"{where}: mixes account export and messages export lines")
        if kind == "messages_export":
            if "message_id" not in record or "chat_id" not in record:
                raise PushFileError(f"{where}: expected a message_id and a chat_id")
            messages.append(_checked(_message_from_columns(record), _message_decoder, where))
            continue
        table, row = record.get("table"), record.get("row")
        if not isinstance(row, dict):
            raise PushFileError(f"{where}: expected {{'table': ..., 'row': {{...}}}}")
        if table == "ofca_chat":
            chats.append(_chat_from_row(row, where))
        elif table == "ofca_message":
            messages.append(_message_from_row(row, where))
        else:
            ignored += 1
            continue
        if isinstance(row.get("account_id"), str):
            accounts.add(row["account_id"])
    if kind is None:
        raise PushFileError("the file holds no records")
    return PushInput(kind, chats, messages, digest, accounts, ignored)


def read_push_file(path: Path) -> PushInput:
    """The chats and messages of ``path`` (see the module doc for the formats)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PushFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if not data.strip():
        raise PushFileError(f"{path} is empty")
    try:
        # One JSON object is a snapshot file; NDJSON fails here (data after the first line).
        frame = msgspec.json.decode(data, type=_RawSnapshotFile)
    except msgspec.ValidationError as exc:
        raise PushFileError(f"not a snapshot file: {exc}") from None
    except msgspec.DecodeError:
        frame = None
    if frame is not None and frame.is_snapshot:
        return _read_snapshot(frame, digest)
    return _read_ndjson(data, digest)
