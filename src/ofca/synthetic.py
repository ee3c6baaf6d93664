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
    "CHATTERS",
    "CREATOR_ID",
    "WHALES",
    "SyntheticAccount",
    "cache_update_frame",
    "generate_account",
    "new_raw_message_frame",
]

CREATOR_ID = 4_000_001
_FIRST_FAN_ID = 700_000
_FIRST_MESSAGE_ID = 5_000_000_000

_FIRST_NAMES = (
    "Jake", "Mike", "Chris", "Ryan", "Daniel", "Marco", "Luis", "Kenji", "Omar", "Ben",
    "Tyler", "Brandon", "Kevin", "Josh", "Matt", "Nick", "Adam", "Ethan", "Liam", "Noah",
    "Lucas", "Mateo", "Andre", "Hugo", "Felix", "Jonas", "Pierre", "Aaron", "Derek", "Sean",
    "Victor", "Tomasz", "Raj", "Arjun", "Diego", "Samuel", "Caleb", "Logan", "Owen", "Elena",
)  # fmt: skip
_LAST_NAMES = (
    "Miller", "Johnson", "Garcia", "Rossi", "Tanaka", "Nguyen", "Schmidt", "Dubois", "Kowalski",
    "Smith", "Brown", "Wilson", "Martinez", "Lopez", "Clark", "Lewis", "Walker", "Young",
    "Hughes", "Bennett", "Fischer", "Moreau", "Silva", "Costa", "Patel", "Khan", "Reyes",
    "Murphy", "O'Brien", "Novak",
)  # fmt: skip
_EMOJI = ("😘", "😍", "🔥", "❤️", "😉", "🥰", "😂", "💋", "🙈", "😈", "👀", "🥺", "💕", "😊")

# What fans write, by intent: whole lines as people type them in a chat, and follow-ups for
# a second or third line in a row. The creator answers the intent of the fan's last line.
_FAN_LINES: dict[str, tuple[str, ...]] = {
    "greeting": (
        "hey", "hi babe", "hello gorgeous", "good morning beautiful", "hey you, how are you?",
        "hiii", "good night babe", "morning ☀️", "hey, how's your day going?", "hey stranger",
    ),
    "compliment": (
        "you look amazing in the new set", "your last post was insane", "love your new pics",
        "honestly you're the most beautiful girl on here", "that red outfit is perfect on you",
        "your smile kills me every time", "stunning as always", "that beach video 😍",
    ),
    "request": (
        "can I get a custom video?", "do you do customs?",
        "could you send a few more pics from that shoot?",
        "would you make a birthday video for me? it's on Saturday", "any new content coming soon?",
        "can you do one in the black dress?",
    ),
    "pricing": (
        "how much for a custom?", "what's the price for the full set?",
        "is the ppv from yesterday worth it?",
        "$25 is a lot for one video tbh", "do you have a discount for old subscribers?",
        "too expensive for me right now, sorry",
    ),
    "tip": (
        "sent you a tip", "here's a little tip for the new set", "tip for you babe",
        "a small gift for you",
    ),
    "subscription": (
        "just renewed my sub for another month", "my subscription ends next week",
        "will you do a renewal discount?", "just subscribed, hi!", "thinking about cancelling tbh",
    ),
    "small_talk": (
        "how was your day?", "what are you up to tonight?", "long day at work, finally home",
        "just got back from the gym", "watching a movie and thinking of you",
        "it's raining all day here",
        "how was your trip?", "can't sleep lol", "did you see the game last night?",
    ),
    "off_platform": (
        "do you have snapchat?", "can we talk on telegram instead?", "what's your whatsapp?",
        "could we meet up sometime?", "add me on instagram?",
    ),
    "complaint": (
        "the video didn't load", "I paid for the bundle but can't see it",
        "can I get a refund? the link doesn't work", "you never answer me anymore",
        "honestly that was disappointing", "the link is broken again",
    ),
    "schedule": (
        "when are you online tonight?", "are you free later?", "what time do you usually post?",
        "will you be live this weekend?", "are you around tomorrow?",
    ),
}  # fmt: skip
_FAN_FOLLOW_UPS: tuple[str, ...] = (
    "?", "hello?", "haha", "lol", "seriously", "no pressure", "just saying", "miss you",
    "let me know", "btw", "👀", "you there?", "anyway", "sorry for the spam lol",
)  # fmt: skip
_CREATOR_LINES: dict[str, tuple[str, ...]] = {
    "greeting": (
        "hey you 😘 how's your day going?", "hiii, I missed you!", "good morning handsome ☀️",
        "heyy, just woke up lol", "hey babe, what are you up to?",
    ),
    "compliment": (
        "aww thank you, you just made my day", "you're too sweet 🥰", "stop it, I'm blushing 🙈",
        "thank you babe, that one took forever to shoot", "glad you liked it!",
    ),
    "request": (
        "I'd love to! tell me what you have in mind", "customs start at $50, what would you like?",
        "yes! I can have it ready by Friday", "new set is coming this weekend 😉",
        "sending you something special tonight",
    ),
    "pricing": (
        "customs start at $50 babe", "the full set is $15 and it's one of my favourites",
        "I can do 20% off for you this week", "it's worth it, trust me 😈",
        "no worries at all, maybe next time 💕",
    ),
    "tip": (
        "omg thank you so much 🥺", "you're the best, thank you!!",
        "thank you babe, that's so kind", "aww you didn't have to ❤️",
    ),
    "subscription": (
        "thank you for sticking around ❤️", "yay, welcome! so happy you're here",
        "I'll send you a renewal discount", "I'd miss you! anything I can do better?",
    ),
    "small_talk": (
        "just finished a shoot, so tired lol", "not much, lazy evening on the couch",
        "glad you're home, relax a bit", "the gym was brutal today",
        "same here, it's so grey outside",
        "the trip was amazing, pics coming soon",
    ),
    "off_platform": (
        "sorry babe, I only chat here 💕", "I keep everything on here, but I'm always around",
        "can't share other apps, sorry! I'm here though",
    ),
    "complaint": (
        "so sorry about that, let me fix it right now", "I just resent it, can you check?",
        "sorry for the late reply, I was travelling",
        "that's on me, here's a bonus clip to make up for it",
    ),
    "schedule": (
        "I'll be online around 9 tonight", "yes, I'm free later!", "I usually post around 6pm",
        "probably Saturday evening, I'll let you know",
    ),
}  # fmt: skip
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


def _fan_text(rng: random.Random) -> tuple[str, str]:
    """One fan line and its intent."""
    intent = rng.choices(
        list(_FAN_LINES),
        weights=(14, 12, 8, 6, 3, 3, 16, 2, 3, 5),
    )[0]
    text = rng.choice(_FAN_LINES[intent])
    if rng.random() < 0.3:
        text += " " + "".join(rng.choice(_EMOJI) for _ in range(rng.randint(1, 2)))
    elif rng.random() < 0.2:
        text = text.lower().rstrip("?!.")
    return text, intent


def _creator_text(rng: random.Random, intent: str | None) -> str:
    """The creator's answer to the fan's last intent (or a generic line)."""
    text = rng.choice(_CREATOR_LINES[intent or rng.choice(list(_CREATOR_LINES))])
    if rng.random() < 0.25:
        text += " " + rng.choice(_EMOJI)
    return text


def _fan_name(rng: random.Random, fan_id: int) -> tuple[str, str]:
    """A display name and a username, in the forms fans pick."""
    first = rng.choice(_FIRST_NAMES)
    last = rng.choice(_LAST_NAMES)
    plain = last.lower().replace("'", "")
    name = rng.choice((f"{first} {last}", f"{first} {last[0]}.", first, f"{first} {last}"))
    username = rng.choice(
        (
            f"{first.lower()}{plain[:1]}{fan_id % 97}",
            f"{first.lower()}_{plain}",
            f"{first.lower()}.{plain}{fan_id % 89}",
            f"u{fan_id}",
        )
    )
    return name, username


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
    # Most fans have been around for a while; about a third arrived recently (new fans).
    if rng.random() < 0.7:
        clock = start + timedelta(seconds=rng.uniform(0, span * 0.6))
    else:
        clock = start + timedelta(seconds=rng.uniform(span * 0.6, span * 0.97))
    fan_turn = rng.random() < 0.8
    intent: str | None = None
    while len(messages) < count:
        if clock >= end:
            clock = end - timedelta(seconds=rng.uniform(60, 3 * 86400))
        run = rng.choice((1, 1, 1, 2, 2, 3)) if fan_turn else rng.choice((1, 1, 2))
        for line in range(run):
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
                    message["text"] = rng.choice(_FAN_LINES["tip"])
                    intent = "tip"
                elif line and intent in _FAN_LINES:
                    # A second line in a row keeps to the subject, or nudges.
                    if rng.random() < 0.55:
                        message["text"] = rng.choice(_FAN_FOLLOW_UPS)
                    else:
                        message["text"] = _html(rng, rng.choice(_FAN_LINES[intent]))
                else:
                    text, intent = _fan_text(rng)
                    message["text"] = _html(rng, text)
            elif rng.random() < 0.08:
                message["isFree"] = False
                message["price"] = float(rng.choice((4.99, 9.99, 14.99, 24.99, 49.99)))
                message["mediaCount"] = rng.randint(1, 4)
                message["text"] = _html(rng, rng.choice(_PPV_TEXTS) + " " + rng.choice(_EMOJI))
            else:
                message["text"] = _html(rng, _creator_text(rng, intent if line == 0 else None))
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
        name, username = _fan_name(rng, fan_id)
        chat_messages = _chat_messages(rng, fan_id, size, start, now, id_source)
        chat_messages.sort(key=lambda m: (m["createdAt"], m["id"]))
        chats.append(
            {
                "withUser": {
                    "id": fan_id,
                    "name": name,
                    "username": username,
                    "avatar": f"https://example.invalid/avatars/{fan_id}.jpg",
                },
                "unreadMessagesCount": rng.randint(0, 3),
                "lastMessage": chat_messages[-1] if chat_messages else None,
            }
        )
        all_messages.extend(chat_messages)
    _add_money(all_messages, sizes, seed, now)
    edited = [
        {**original, "text": f"{original.get('text') or ''} (edited)", "changedAt": _iso(now)}
        for original in rng.sample(all_messages, min(edits, len(all_messages)))
    ]
    repeated = [dict(m) for m in rng.sample(all_messages, min(duplicates, len(all_messages)))]
    return SyntheticAccount(chats=chats, messages=all_messages, edits=edited, duplicates=repeated)


CHATTERS = (
    {"id": 9001, "name": "Alex"},
    {"id": 9002, "name": "Sam"},
    {"id": 9003, "name": "Jo"},
)
"""The agency's three chatters, on eight-hour shifts (UTC 0-8, 8-16, 16-24)."""
WHALES = 3
"""The biggest chats whose fans also tip big (their lifetime spend makes them whales)."""


def _add_money(messages: list[dict[str, Any]], sizes: list[int], seed: int, now: datetime) -> None:
    """Chatters, unlocks and whales, from a generator of their own (the rest of the account
    is the same as without them): each outbound message carries the ``operator`` on shift
    when it was sent (one in ten the creator's own, without one); a bit under half of the
    PPV offers were unlocked, minutes to days later (``isOpened``, ``changedAt``); the
    fans of the :data:`WHALES` biggest chats tip 50 to 200 on some of their lines."""
    rng = random.Random(seed * 7919 + 17)
    whales = {_FIRST_FAN_ID + i for i, _ in sorted(enumerate(sizes), key=lambda p: -p[1])[:WHALES]}
    for message in messages:
        created = datetime.fromisoformat(message["createdAt"].replace("Z", "+00:00"))
        if message["fromUser"]["id"] == CREATOR_ID:
            if rng.random() < 0.9:
                message["operator"] = dict(CHATTERS[created.hour // 8])
            if message.get("price") and message.get("isFree") is False:
                unlocked = rng.random() < 0.45
                message["isOpened"] = unlocked
                if unlocked:
                    later = created + timedelta(seconds=rng.uniform(600, 3 * 86400))
                    message["changedAt"] = _iso(min(later, now))
        elif message["chat_id"] in whales and not message.get("isTip") and rng.random() < 0.05:
            message["isTip"] = True
            message["price"] = float(rng.choice((50, 100, 150, 200)))


_encoder = msgspec.json.Encoder()


def cache_update_frame(account: SyntheticAccount) -> bytes:
    """The extension's snapshot frame for ``account``."""
    return _encoder.encode(
        {"type": "cache_update", "payload": {"chats": account.chats, "messages": account.messages}}
    )


def new_raw_message_frame(message: dict[str, Any]) -> bytes:
    """The extension's delta frame for one message."""
    return _encoder.encode({"type": "new_raw_message", "payload": {"message": message}})
