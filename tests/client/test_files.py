"""What ``ofca push`` reads: snapshot files in both shapes, account and messages exports,
and a bad file refused with the place at fault."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from ofca.client.files import PushFileError, read_push_file
from ofca.domain.onlyfans import Message
from ofca.synthetic import cache_update_frame, generate_account


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_snapshot_file_as_frame_or_payload(tmp_path: Path) -> None:
    account = generate_account(200, seed=8, fans=4)
    frame = _write(tmp_path, "frame.json", cache_update_frame(account))
    payload = _write(
        tmp_path,
        "payload.json",
        json.dumps({"chats": account.chats, "messages": account.messages}, indent=2),
    )
    for path in (frame, payload):
        source = read_push_file(path)
        assert source.kind == "snapshot"
        assert len(source.chats) == len(account.chats)
        assert [json.loads(m)["id"] for m in source.messages] == [m["id"] for m in account.messages]
    assert read_push_file(frame).digest != read_push_file(payload).digest


def test_account_export_keeps_the_stored_raw_json(tmp_path: Path) -> None:
    raw = '{"id": 5,  "chat_id": 9, "text": "as it came", "fromUser": {"id": 9}}'
    lines = [
        {
            "table": "ofca_chat",
            "row": {
                "account_id": "a1",
                "chat_id": "9",
                "fan_id": "9",
                "fan_name": "Fan",
                "raw": None,
            },
        },
        {
            "table": "ofca_message",
            "row": {
                "account_id": "a1",
                "message_id": "5",
                "chat_id": "9",
                "raw": raw,
                "source": "onlyfans",
            },
        },
        {
            "table": "ofca_message",
            "row": {
                "account_id": "a1",
                "message_id": "6",
                "chat_id": "9",
                "raw": '{"event": "x"}',
                "source": "webhook",
                "direction": "outbound",
                "text": "from a webhook",
                "created_at": "2026-01-02T03:04:05Z",
                "media_count": 2,
            },
        },
        {"table": "ofca_session", "row": {"account_id": "a1", "chat_id": "9"}},
    ]
    path = _write(tmp_path, "acct.ndjson", "\n".join(json.dumps(line) for line in lines) + "\n")
    source = read_push_file(path)
    assert source.kind == "account_export"
    assert source.accounts == {"a1"}
    assert source.ignored_rows == 1
    assert source.messages[0] == raw.encode()  # byte for byte: the server hashes it
    rebuilt = msgspec.json.decode(source.messages[1], type=Message)
    assert (rebuilt.id, rebuilt.chat_id, rebuilt.text) == ("6", "9", "from a webhook")
    assert rebuilt.is_inbound is False and rebuilt.mediaCount == 2
    chat = json.loads(source.chats[0])
    assert chat == {
        "withUser": {"id": "9", "name": "Fan", "username": None, "avatar": None},
        "chat_id": "9",
    }


def test_messages_export_becomes_onlyfans_messages(tmp_path: Path) -> None:
    records = [
        {
            "message_id": "1",
            "chat_id": "c1",
            "created_at": "2026-01-01T00:00:00Z",
            "changed_at": None,
            "direction": "inbound",
            "text": "hey",
            "sentiment": 0.4,
            "topics": [],
            "is_tip": False,
            "price": None,
            "media_count": 0,
        },
        {
            "message_id": "2",
            "chat_id": "c2",
            "created_at": None,
            "changed_at": None,
            "direction": "unknown",
            "text": None,
            "sentiment": None,
            "topics": [],
            "is_tip": True,
            "price": 5.0,
            "media_count": 1,
        },
    ]
    path = _write(tmp_path, "m.ndjson", "".join(json.dumps(r) + "\n" for r in records))
    source = read_push_file(path)
    assert source.kind == "messages_export"
    assert source.chats == []
    assert source.chat_ids == ["c1", "c2"]
    first, second = (json.loads(m) for m in source.messages)
    assert first["is_inbound"] is True and first["createdAt"] == "2026-01-01T00:00:00Z"
    assert "is_inbound" not in second
    assert second["isTip"] is True and second["price"] == 5.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ('{"message_id": "1", "chat_id": "c"}\nnot json\n', "line 2: not a JSON object"),
        (
            '{"message_id": "1", "chat_id": "c"}\n{"table": "ofca_chat", "row": {}}\n',
            "line 2: mixes",
        ),
        ('{"message_id": "1"}\n', "line 1: expected a message_id and a chat_id"),
        ('{"chats": [], "messages": [{"id": -1, "chat_id": 1}]}', "messages[0]"),
        ('{"chats": [], "messages": [{"id": 1}]}', "messages[0]: the message has no chat_id"),
        ('{"type": "keepalive", "payload": {}}', "is not a snapshot"),
        ('{"chats": {}}', "not a snapshot file"),
    ],
)
def test_bad_files_are_refused_naming_the_place(
    tmp_path: Path, content: str, expected: str
) -> None:
    with pytest.raises(PushFileError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        read_push_file(_write(tmp_path, "bad", content))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PushFileError, match="cannot read"):
        read_push_file(tmp_path / "nope.json")
