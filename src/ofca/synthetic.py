"""A realistic synthetic creator account, for the demo, tests and benchmarks (pure, seeded).

The shape is what the extension captures (``ofca.domain.onlyfans``): chats keyed by the
fan's id, messages with ``chat_id`` and ``fromUser``. The behaviour imitates an OnlyFans
inbox: a few very active fans and a long tail, conversations in bursts separated by long
pauses, fans writing one to three lines in a row, the creator answering after seconds to
hours (sometimes not at all), emoji, HTML-wrapped text, tips and PPV messages with prices.
Everything is spread over the last ``days`` days so insights have data to show.

The same ``seed`` and sizes always give the same account (relative to ``now``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

__all__ = [
    "CREATOR_ID",
    "SyntheticAccount",
    "cache_update_frame",
    "generate_account",
    "new_raw_message_frame",
]

CREATOR_ID = 4_000_001
_FIRST_FAN_ID = 700_000
_FIRST_MESSAGE_ID = 5_000_000_000

_FIRST_NAMES = (
    "Alex", "Sam", "Chris", "Jordan", "Mike", "Dave", "Tom", "Luis", "Kenji", "Omar",
    "Ben", "Ryan", "Marco", "Ivan", "Noah", "Liam", "Ethan", "Jack", "Leo", "Max",
)  # fmt: skip
_EMOJI = ("😘", "😍", "🔥", "❤️", "😉", "🥰", "😂", "💋", "🙈", "😈", "👀", "🥺", "💕", "😊")

# Fragments by intent; messages are composed of one or two fragments plus decoration,
# which gives the mix of exact repeats ("hi", "thank you") and unique lines real inboxes have.
_FAN_FRAGMENTS: dict[str, tuple[str, ...]] = {
    "greeting": (
        "hey", "hi babe", "hello gorgeous", "good morning beautiful", "hey you",
        "hi there", "good night babe", "morning", "hey how are you", "yo",
    ),
    "compliment": (
        "you look amazing", "you are so hot", "love your new pics", "so beautiful",
        "that outfit is perfect", "you're gorgeous", "your smile kills me", "stunning as always",
    ),
    "request": (
        "can I get a custom video", "do you do customs", "could you send more pics",
        "can you make a video for me", "I'd love a personalized pic", "any new content soon",
    ),
    "pricing": (
        "how much for a custom", "what's the price", "is the ppv worth it",
        "how much is that set", "do you have a discount", "too expensive for me rn",
    ),
    "tip": ("sent you a tip", "here's a little tip", "tip for you babe", "a gift for you"),
    "subscription": (
        "just renewed my sub", "my subscription ends soon", "will you do a renewal discount",
        "just subscribed", "thinking of cancelling my sub",
    ),
    "small_talk": (
        "how was your day", "what are you up to", "long day at work", "just got home",
        "watching a movie", "weather is awful here", "how was the gym", "i'm so tired lol",
    ),
    "off_platform": (
        "do you have snapchat", "can we talk on telegram", "what's your number",
        "can we meet up sometime", "add me on instagram",
    ),
    "complaint": (
        "the video didn't load", "I paid but can't see it", "can I get a refund",
        "you never answer me", "that was disappointing", "the link is broken",
    ),
    "schedule": (
        "when are you online", "are you free tonight", "what time do you post",
        "will you be live this weekend", "are you around tomorrow",
    ),
}  # fmt: skip
_CREATOR_FRAGMENTS: tuple[str, ...] = (
    "hey babe", "thank you so much", "aww you're sweet", "i'm good, you?",
    "just finished a shoot", "check your messages", "custom videos start at $50",
    "i'll send it tonight", "sorry for the late reply", "miss you",
    "made something special for you",
    "let me know what you think", "thanks for the tip babe", "i'm online later tonight",
    "that's so kind", "new set dropping tomorrow", "can't share other apps here, sorry",
    "i'll look into it right away", "glad you liked it", "have a great day",
)  # fmt: skip
_PPV_TEXTS = (
    "new exclusive set just for you", "unlock this one, you won't regret it",
    "special video, only for my favourites", "behind the scenes from today's shoot",
)  # fmt: skip


class SyntheticAccount(msgspec.Struct, kw_only=True):
    """One generated account: chats and messages as OnlyFans-shaped dicts.

    ``edits`` holds changed versions of some stored messages and ``duplicates`` exact
    resends, both ready to be sent as deltas.
    """

    chats: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    edits: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    creator_id: int = CREATOR_ID


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fan_text(rng: random.Random) -> str:
    intent = rng.choices(
        list(_FAN_FRAGMENTS),
        weights=(14, 12, 8, 6, 3, 3, 16, 2, 3, 5),
    )[0]
    text = rng.choice(_FAN_FRAGMENTS[intent])
    roll = rng.random()
    if roll < 0.35:
        # A second clause makes most longer messages unique, as in real chats.
        other = rng.choice(list(_FAN_FRAGMENTS))
        text = f"{text}, {rng.choice(_FAN_FRAGMENTS[other])}"
    if rng.random() < 0.15:
        text = f"{text} {rng.choice(_FIRST_NAMES).lower()} says hi {rng.randint(1, 99)}"
    if rng.random() < 0.45:
        text += " " + "".join(rng.choice(_EMOJI) for _ in range(rng.randint(1, 3)))
    elif rng.random() < 0.3:
        text += rng.choice(("!", "?", "!!", " lol", " haha", "..."))
    return text


def _creator_text(rng: random.Random) -> str:
    text = rng.choice(_CREATOR_FRAGMENTS)
    if rng.random() < 0.3:
        text = f"{text} {rng.choice(_CREATOR_FRAGMENTS)}"
    if rng.random() < 0.5:
        text += " " + rng.choice(_EMOJI)
    return text


def _html(rng: random.Random, text: str) -> str:
    """OnlyFans wraps many messages in markup; cleaning must undo it."""
    roll = rng.random()
    if roll < 0.25:
        return f"<p>{text}</p>"
    if roll < 0.3:
        return f"<p>{text.replace(' ', '&nbsp;', 1)}<br/></p>"
    return text


def _chat_sizes(rng: random.Random, total: int, fans: int) -> list[int]:
    """Messages per chat: a heavy-tailed split of ``total`` over ``fans`` chats, each >= 1."""
    weights = [rng.paretovariate(1.2) for _ in range(fans)]
    scale = sum(weights)
    sizes = [max(1, int(total * weight / scale)) for weight in weights]
    # Fix rounding so the sizes add up exactly.
    difference = total - sum(sizes)
    index = 0
    while difference != 0:
        slot = index % fans
        if difference > 0:
            sizes[slot] += 1
            difference -= 1
        elif sizes[slot] > 1:
            sizes[slot] -= 1
            difference += 1
        index += 1
    return sizes


def _reply_delay(rng: random.Random) -> float:
    """Seconds until the creator answers: mostly minutes, sometimes hours."""
    roll = rng.random()
    if roll < 0.45:
        return rng.uniform(10, 300)
    if roll < 0.8:
        return rng.uniform(300, 1800)
    return rng.uniform(1800, 6 * 3600)


def _chat_messages(
    rng: random.Random,
    chat_id: int,
    count: int,
    start: datetime,
    end: datetime,
    next_id: Iterator[int],
) -> list[dict[str, Any]]:
    span = (end - start).total_seconds()
    messages: list[dict[str, Any]] = []
    clock = start + timedelta(seconds=rng.uniform(0, span * 0.6))
    fan_turn = rng.random() < 0.8
    while len(messages) < count:
        if clock >= end:
            clock = end - timedelta(seconds=rng.uniform(60, 3 * 86400))
        run = rng.choice((1, 1, 1, 2, 2, 3)) if fan_turn else rng.choice((1, 1, 2))
        for _ in range(run):
            if len(messages) >= count:
                break
            message: dict[str, Any] = {
                "id": next(next_id),
                "chat_id": chat_id,
                "createdAt": _iso(clock),
                "fromUser": {"id": chat_id if fan_turn else CREATOR_ID},
                "isFree": True,
                "mediaCount": 0,
            }
            if fan_turn:
                if rng.random() < 0.04:
                    message["isTip"] = True
                    message["price"] = float(rng.choice((5, 10, 20, 25, 50, 100)))
                    message["text"] = rng.choice(_FAN_FRAGMENTS["tip"])
                else:
                    message["text"] = _html(rng, _fan_text(rng))
            elif rng.random() < 0.08:
                message["isFree"] = False
                message["price"] = float(rng.choice((4.99, 9.99, 14.99, 24.99, 49.99)))
                message["mediaCount"] = rng.randint(1, 4)
                message["text"] = _html(rng, rng.choice(_PPV_TEXTS) + " " + rng.choice(_EMOJI))
            else:
                message["text"] = _html(rng, _creator_text(rng))
            messages.append(message)
            clock += timedelta(seconds=rng.uniform(5, 90))
        if fan_turn:
            # Some fan runs stay unanswered; the conversation pauses for hours or days.
            if rng.random() < 0.12:
                clock += timedelta(seconds=rng.uniform(3 * 3600, 5 * 86400))
            else:
                clock += timedelta(seconds=_reply_delay(rng))
                fan_turn = False
                continue
        elif rng.random() < 0.3:
            clock += timedelta(seconds=rng.uniform(2 * 3600, 6 * 86400))  # burst ends
        else:
            clock += timedelta(seconds=rng.uniform(20, 600))
        fan_turn = True
    return messages


def generate_account(
    messages: int,
    *,
    seed: int = 7,
    fans: int | None = None,
    days: float = 90.0,
    now: datetime | None = None,
    edits: int = 0,
    duplicates: int = 0,
) -> SyntheticAccount:
    """A synthetic account of exactly ``messages`` messages over the last ``days`` days.

    ``fans`` defaults to about one chat per 50 messages. ``edits``/``duplicates`` extra
    changed/identical versions of random messages are returned separately for deltas.
    """
    if messages < 0:
        raise ValueError("messages must be >= 0")
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = now - timedelta(days=days)
    fan_count = max(1, min(messages, fans if fans is not None else max(1, messages // 50)))
    sizes = _chat_sizes(rng, messages, fan_count) if messages else []
    id_source = iter(range(_FIRST_MESSAGE_ID, _FIRST_MESSAGE_ID + 10 * messages + 10))
    chats: list[dict[str, Any]] = []
    all_messages: list[dict[str, Any]] = []
    for index, size in enumerate(sizes):
        fan_id = _FIRST_FAN_ID + index
        name = f"{rng.choice(_FIRST_NAMES)} {chr(65 + rng.randrange(26))}."
        chat_messages = _chat_messages(rng, fan_id, size, start, now, id_source)
        chat_messages.sort(key=lambda m: (m["createdAt"], m["id"]))
        chats.append(
            {
                "withUser": {
                    "id": fan_id,
                    "name": name,
                    "username": f"u{fan_id}",
                    "avatar": f"https://example.invalid/avatars/{fan_id}.jpg",
                },
                "unreadMessagesCount": rng.randint(0, 3),
                "lastMessage": chat_messages[-1] if chat_messages else None,
            }
        )
        all_messages.extend(chat_messages)
    edited = [
        {**original, "text": f"{original.get('text') or ''} (edited)", "changedAt": _iso(now)}
        for original in rng.sample(all_messages, min(edits, len(all_messages)))
    ]
    repeated = [dict(m) for m in rng.sample(all_messages, min(duplicates, len(all_messages)))]
    return SyntheticAccount(chats=chats, messages=all_messages, edits=edited, duplicates=repeated)


_encoder = msgspec.json.Encoder()


def cache_update_frame(account: SyntheticAccount) -> bytes:
    """The extension's snapshot frame for ``account``."""
    return _encoder.encode(
        {"type": "cache_update", "payload": {"chats": account.chats, "messages": account.messages}}
    )


def new_raw_message_frame(message: dict[str, Any]) -> bytes:
    """The extension's delta frame for one message."""
    return _encoder.encode({"type": "new_raw_message", "payload": {"message": message}})
