"""m0014: the chatter stored with outbound messages, reply runs and sessions, filled for
rows stored before it by the rules of docs/metrics.md "Chatters"."""

from __future__ import annotations

from ofca.domain.metrics import Window
from ofca.insights.money import MoneyFilters, sessions_of
from ofca.insights.refresh import refresh_chats
from ofca.persistence.migrations.m0014_stored_chatter import BACKFILL, SESSION_CHATTERS
from ofca.persistence.sql import raw_sql
from ofca.persistence.tables import CommandRow, MessageRow, ReplyRow, SessionChatterRow
from ofca.settings import Settings
from tests.insights.support import T0, Msg, at, store


async def _chatters(account_id: str) -> dict[str, str | None]:
    rows = await MessageRow.select(MessageRow.message_id, MessageRow.chatter).where(
        MessageRow.account_id == account_id
    )
    return {row["message_id"]: row["chatter"] for row in rows}


async def test_m0014_fills_the_chatters_of_earlier_rows(
    engine: object, account_id: str, settings: Settings
) -> None:
    await (
        CommandRow(
            command_id=f"{account_id}-cmd",
            account_id=account_id,
            chat_id="c1",
            text_hash="",
            created_at=T0,
            issued_by="user:9",
        )
        .save()
        .run()
    )
    # fmt: off
    messages = [
            Msg(chat="c1", id="in1", dir="inbound", at=at(0), text="hi"),
            Msg(
                chat="c1",
                id="cmd",
                dir="outbound",
                at=at(1),
                text="hey",
                command_id=f"{account_id}-cmd",
                operator="5",
            ),
            Msg(chat="c1", id="in2", dir="inbound", at=at(60 * 5), text="?"),
            Msg(chat="c1", id="op", dir="outbound", at=at(60 * 5 + 2), text="yes", operator="5"),
            Msg(chat="c2", id="in3", dir="inbound", at=at(0), text="hello"),
            Msg(chat="c2", id="none", dir="outbound", at=at(3), text="hi"),
    ]
    # fmt: on
    await store(account_id, messages, settings)
    expected = {
        "in1": None, "cmd": "user:9", "in2": None, "op": "ext:5", "in3": None,
        "none": "unassigned",
    }  # fmt: skip
    assert await _chatters(account_id) == expected
    # As stored before m0014: no chatter anywhere.
    await MessageRow.update({MessageRow.chatter: None}).where(MessageRow.account_id == account_id)
    await ReplyRow.update({ReplyRow.chatter: None}).where(ReplyRow.account_id == account_id)
    await SessionChatterRow.delete().where(SessionChatterRow.account_id == account_id)

    mine = " AND account_id = {}"
    for statement in BACKFILL:
        await raw_sql(statement + mine, account_id)
    await raw_sql(SESSION_CHATTERS + " AND s.account_id = {}", account_id)
    assert await _chatters(account_id) == expected
    replies = await ReplyRow.select(ReplyRow.first_inbound_message_id, ReplyRow.chatter).where(
        ReplyRow.account_id == account_id
    )
    assert {r["first_inbound_message_id"]: r["chatter"] for r in replies} == {
        "in1": "user:9",
        "in2": "ext:5",
        "in3": "unassigned",
    }
    sessions = await SessionChatterRow.select(
        SessionChatterRow.chat_id, SessionChatterRow.chatter, SessionChatterRow.start_at
    ).where(SessionChatterRow.account_id == account_id)
    assert sorted((r["chat_id"], r["chatter"], r["start_at"]) for r in sessions) == [
        ("c1", "ext:5", at(60 * 5)),
        ("c1", "user:9", at(0)),
        ("c2", "unassigned", at(0)),
    ]


async def test_a_tail_refresh_keeps_the_session_chatters(
    engine: object, account_id: str, settings: Settings
) -> None:
    """New messages re-derive a chat from its last session on: the session chatters of
    earlier sessions stay, the last session's are replaced (no duplicates)."""
    first = [
        Msg(chat="c1", id="a1", dir="inbound", at=at(0), text="hi"),
        Msg(chat="c1", id="a2", dir="outbound", at=at(1), text="hey", operator="1"),
        Msg(chat="c1", id="b1", dir="inbound", at=at(60 * 3), text="again"),
        Msg(chat="c1", id="b2", dir="outbound", at=at(60 * 3 + 1), text="yo", operator="1"),
    ]
    await store(account_id, first, settings=settings)
    later = [Msg(chat="c1", id="b3", dir="outbound", at=at(60 * 3 + 5), text="k", operator="2")]
    await store(account_id, later, settings=settings, refresh=False)
    await refresh_chats(account_id, ["c1"], settings=settings, since={"c1": at(60 * 3 + 5)})
    sessions = await SessionChatterRow.select(
        SessionChatterRow.chatter, SessionChatterRow.start_at
    ).where(SessionChatterRow.account_id == account_id)
    assert sorted((r["start_at"], r["chatter"]) for r in sessions) == [
        (at(0), "ext:1"),
        (at(60 * 3), "ext:1"),
        (at(60 * 3), "ext:2"),
    ]
    window = Window(at(-60), at(60 * 24))
    assert await sessions_of(account_id, window, MoneyFilters(chatter="ext:1")) == 2
    assert await sessions_of(account_id, window, MoneyFilters(chatter="ext:2")) == 1
