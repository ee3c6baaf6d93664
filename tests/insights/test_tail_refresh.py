"""A tail refresh (``refresh_chats(since=...)``, the live delta path) leaves exactly the rows
a whole re-derivation leaves: sessions, replies, activity, fan days, topic copies and the
hourly/daily rollups, for new messages anywhere after the given instant: appended to the
last session, after a long pause, in the middle of history, tied in time with stored ones,
answering a run left open across sessions."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from ofca.insights.refresh import refresh_chats
from ofca.persistence.tables import SessionRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

READ_MODELS = (
    "ofca_session",
    "ofca_session_topic",
    "ofca_reply",
    "ofca_activity",
    "ofca_chat_first",
    "ofca_fan_day",
    "ofca_reply_topic",
    "ofca_activity_topic",
    "ofca_session_hour",
    "ofca_session_day",
    "ofca_activity_hour",
    "ofca_topic_pair_hour",
    "ofca_topic_pair_day",
    "ofca_session_chatter",
    "ofca_chatter_day",
    "ofca_chatter_day_total",
    "ofca_reply_bucket_day",
)
TOPICS = (("greeting",), ("tips_gifts", "small_talk"), (), ("small_talk",))


def _chat_messages(rng: random.Random, chat: str, start: datetime, count: int) -> list[Msg]:
    """Bursts and pauses (some longer than the session gap, some silences, some ties)."""
    messages, instant = [], start
    for index in range(count):
        step = rng.choice([0, 5, 40, 90, 150, 600, 1700, 2000, 4000, 90_000])
        instant += timedelta(seconds=step)
        messages.append(_message(rng, chat, f"{chat}-{index}", instant))
    return messages


def _message(rng: random.Random, chat: str, message_id: str, instant: datetime) -> Msg:
    direction = rng.choice(["inbound", "inbound", "outbound", "outbound", "unknown"])
    money = rng.random() < 0.25  # a tip from the fan, an offer (bought or not) from the chat
    return Msg(
        is_tip=money and direction == "inbound",
        price=rng.choice([4.99, 10.0, 25.5]) if money and direction != "unknown" else None,
        is_opened=money and direction == "outbound" and rng.random() < 0.6,
        chat=chat,
        id=message_id,
        at=instant,
        dir=direction,
        sentiment=rng.choice([0.1, 0.5, 0.9, 0.75]),
        topics=rng.choice(TOPICS),
        operator=rng.choice([None, "1", "2"]) if direction == "outbound" else None,
    )


def _additions(rng: random.Random, chat: str, stored: list[Msg], round_: int) -> list[Msg]:
    """New messages of one chat, all at or after one instant, placed as a case picks."""
    times = sorted(m.at for m in stored if m.at is not None)
    case = rng.choice(["append", "pause", "middle", "tie", "burst"])
    if case == "append":
        first = times[-1] + timedelta(seconds=rng.choice([0, 30, 200]))
    elif case == "pause":
        first = times[-1] + timedelta(hours=rng.choice([1, 30]))
    elif case == "tie":
        first = rng.choice(times)
    else:
        first = rng.choice(times) + timedelta(seconds=rng.choice([1, 61, 1900]))
    count = rng.randint(1, 6)
    instants = [first] + [first + timedelta(seconds=rng.randint(0, 2500)) for _ in range(count - 1)]
    return [
        _message(rng, chat, f"{chat}-r{round_}-{index}", instant)
        for index, instant in enumerate(instants)
    ]


def _summed_to_nothing(row: dict) -> bool:
    counts = [v for k, v in row.items() if k in ("sessions", "messages", "answered")]
    return bool(counts) and not any(counts)


async def _rows(account_id: str) -> dict[str, list[tuple]]:
    found = {}
    for table in READ_MODELS:
        rows = await SessionRow.raw(f"SELECT * FROM {table} WHERE account_id = {{}}", account_id)
        found[table] = sorted(
            tuple(
                round(v, 6) if isinstance(v, float) else str(v)
                for k, v in row.items()
                if k not in ("account_id", "id")
            )
            for row in rows
            # Rollup rows that summed back to nothing are left in place by the tail's
            # delete-then-add; a whole refresh of fewer chats may never have made them.
            if not _summed_to_nothing(row)
        )
    return found


@pytest.mark.parametrize("seed", range(12))
async def test_tail_refresh_equals_whole_refresh(
    engine: object, account_id: str, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    tail_account, whole_account = account_id, f"{account_id}-whole"
    chats = {
        f"c{i}": _chat_messages(rng, f"c{i}", at(i * 13), rng.randint(3, 40)) for i in range(6)
    }
    base = [m for messages in chats.values() for m in messages]
    for account in (tail_account, whole_account):
        await store(account, base, settings)
    for round_ in range(4):
        changed = rng.sample(sorted(chats), rng.randint(1, len(chats)))
        new = {chat: _additions(rng, chat, chats[chat], round_) for chat in changed}
        added = [m for messages in new.values() for m in messages]
        for account in (tail_account, whole_account):
            await store(account, added, settings, refresh=False)
        since = {chat: min(m.at for m in messages if m.at) for chat, messages in new.items()}
        await refresh_chats(tail_account, changed, settings=settings, since=since)
        await refresh_chats(whole_account, changed, settings=settings)
        for chat, messages in new.items():
            chats[chat] += messages
        tail, whole = await _rows(tail_account), await _rows(whole_account)
        for table in READ_MODELS:
            assert tail[table] == whole[table], (table, round_)
    assert tail["ofca_session"] and tail["ofca_reply"] and tail["ofca_fan_day"]
    assert tail["ofca_session_chatter"] and tail["ofca_chatter_day"]
    assert tail["ofca_chatter_day_total"] and tail["ofca_reply_bucket_day"]
