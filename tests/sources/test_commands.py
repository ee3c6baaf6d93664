"""Linking the extension's echoed messages to the commands that asked for them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from ofca.domain.metrics import Window
from ofca.ingest.commands import link_messages, text_hash
from ofca.insights.money import MoneyFilters, chatters
from ofca.insights.refresh import refresh_chats
from ofca.persistence.refresh_marks import overdue_marks
from ofca.persistence.tables import CommandRow, MessageRow, ReplyRow
from ofca.settings import load_settings


async def _command(
    account_id: str, chat_id: str, text: str, age: timedelta, issued_by: str | None = None
) -> str:
    command_id = f"cmd_{secrets.token_hex(6)}"
    await (
        CommandRow(
            command_id=command_id,
            account_id=account_id,
            chat_id=chat_id,
            text_hash=text_hash(text) or "",
            created_at=datetime.now(UTC) - age,
            issued_by=issued_by,
        )
        .save()
        .run()
    )
    return command_id


async def _message(
    account_id: str, chat_id: str, message_id: str, text: str, direction: str, minute: int
) -> None:
    now = datetime.now(UTC)
    await (
        MessageRow(
            account_id=account_id,
            message_id=message_id,
            chat_id=chat_id,
            direction=direction,
            created_at=now.replace(microsecond=0) + timedelta(minutes=minute),
            text=text,
            raw="{}",
            content_hash=secrets.token_hex(8),
            ingested_at=now,
            # As ingest stores it before any link (no operator on these messages).
            chatter="unassigned" if direction == "outbound" else None,
        )
        .save()
        .run()
    )


async def _links(account_id: str) -> dict[str, str | None]:
    rows = await MessageRow.select(MessageRow.message_id, MessageRow.command_id).where(
        MessageRow.account_id == account_id
    )
    return {row["message_id"]: row["command_id"] for row in rows}


async def test_each_echo_links_to_its_own_command(engine: object, account_id: str) -> None:
    first = await _command(account_id, "c1", "hi there", timedelta(minutes=2))
    second = await _command(account_id, "c1", "hi there", timedelta(minutes=1))
    other_chat = await _command(account_id, "c2", "hi there", timedelta(minutes=1))
    stale = await _command(account_id, "c1", "old news", timedelta(days=2))
    await _message(account_id, "c1", "m1", "hi there", "outbound", 0)
    await _message(account_id, "c1", "m2", "hi  there", "outbound", 1)  # same cleaned text
    await _message(account_id, "c1", "m3", "hi there", "inbound", 2)  # the fan: never linked
    await _message(account_id, "c1", "m4", "something else", "outbound", 3)
    await _message(account_id, "c1", "m5", "old news", "outbound", 4)  # command too old
    linked = await link_messages(account_id, ["m1", "m2", "m3", "m4", "m5"])
    assert linked == 2
    assert await _links(account_id) == {
        "m1": first,
        "m2": second,
        "m3": None,
        "m4": None,
        "m5": None,
    }
    # Linking again changes nothing; the other chat's command is still pending.
    assert await link_messages(account_id, ["m1", "m2"]) == 0
    pending = await CommandRow.select(CommandRow.command_id).where(
        (CommandRow.account_id == account_id) & CommandRow.linked_message_id.is_null()
    )
    assert {row["command_id"] for row in pending} == {other_chat, stale}


async def test_no_pending_commands_is_a_no_op(engine: object, account_id: str) -> None:
    await _message(account_id, "c1", "m1", "hello", "outbound", 0)
    assert await link_messages(account_id, ["m1"]) == 0
    assert await link_messages(account_id, []) == 0
    assert (await _links(account_id))["m1"] is None


async def test_a_link_makes_the_command_user_the_chatter_of_the_reply(
    engine: object, account_id: str
) -> None:
    """The refresh can derive a reply before its message is linked to the dashboard
    command that sent it: the link stores the user as the message's chatter and marks the
    chat due, and the next refresh moves the reply to them (docs/metrics.md, rule 1)."""
    await _command(account_id, "c1", "on my way", timedelta(minutes=1), issued_by="user:7")
    await _message(account_id, "c1", "m1", "are you there?", "inbound", -3)
    await _message(account_id, "c1", "m2", "on my way", "outbound", 0)
    await refresh_chats(account_id, ["c1"])
    replies = await ReplyRow.select(ReplyRow.chatter).where(ReplyRow.account_id == account_id)
    assert [row["chatter"] for row in replies] == ["unassigned"]

    assert await link_messages(account_id, ["m2"]) == 1
    stored = await MessageRow.select(MessageRow.chatter).where(
        (MessageRow.account_id == account_id) & (MessageRow.message_id == "m2")
    )
    assert stored == [{"chatter": "user:7"}]
    due = await overdue_marks(timedelta(seconds=-60))
    assert "c1" in due.get(account_id, {})

    await refresh_chats(account_id, ["c1"])
    replies = await ReplyRow.select(ReplyRow.chatter).where(ReplyRow.account_id == account_id)
    assert [row["chatter"] for row in replies] == ["user:7"]
    now = datetime.now(UTC)
    board = await chatters(
        account_id,
        Window(now - timedelta(days=1), now + timedelta(hours=1)),
        MoneyFilters(),
        load_settings({}, dotenv=None),
    )
    assert [(row.chatter, row.messages_sent, row.replies) for row in board.chatters] == [
        ("user:7", 1, 1)
    ]
