"""Write a synthetic creator account as extension frames (issue 8, part 1).

    python bench/generate.py --messages 100000 --seed 7 --out bench/data/acct100k

    python bench/generate.py --messages 100000 --chats 400 --text-words 20 --out bench/data/long400

writes ``snapshot.json`` (one ``cache_update`` frame) and ``deltas.ndjson`` (one
``new_raw_message`` frame per line: fresh messages after the snapshot, plus ``--edits``
changed versions and ``--duplicates`` identical resends of snapshot messages, shuffled).
The account comes from ``ofca.synthetic`` (the same generator the demo uses): fans with
bursts and long pauses, replies of varied delay (some never), emoji, HTML, tips and PPV.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from ofca.synthetic import (
    SyntheticAccount,
    cache_update_frame,
    generate_account,
    new_raw_message_frame,
)

_FILLER = (
    "honestly", "babe", "tonight", "really", "thinking", "about", "you", "and", "that",
    "video", "was", "so", "good", "can't", "wait", "for", "more", "tell", "me", "what",
    "you're", "doing", "later", "miss", "talking", "to", "you", "like", "this", "haha",
)  # fmt: skip


def lengthen_texts(account: SyntheticAccount, words: int, seed: int) -> None:
    """Give every text message about ``words`` more words (deterministic by ``seed``): real
    creator chats are longer than the generator's one-liners, and frame size is what the
    snapshot path pays for."""
    if words <= 0:
        return
    rng = random.Random(seed)
    for message in [*account.messages, *account.edits, *account.duplicates]:
        text = message.get("text")
        if isinstance(text, str) and text:
            extra = " ".join(
                rng.choice(_FILLER) for _ in range(rng.randint(words // 2, words * 3 // 2))
            )
            message["text"] = f"{text} {extra}"


def write_account(
    *,
    messages: int,
    seed: int = 7,
    fans: int | None = None,
    days: float = 90.0,
    deltas: int = 1000,
    edits: int = 100,
    duplicates: int = 100,
    text_words: int = 0,
    out: Path,
) -> tuple[SyntheticAccount, bytes]:
    """Write ``snapshot.json`` and ``deltas.ndjson`` under ``out``; returns the account (its
    messages: the snapshot's) and the snapshot frame."""
    account = generate_account(
        messages + deltas, seed=seed, fans=fans, days=days, edits=edits, duplicates=duplicates
    )
    lengthen_texts(account, text_words, seed)
    # The newest messages become live deltas; the rest is the snapshot the extension sends.
    ordered = sorted(account.messages, key=lambda m: (m["createdAt"], m["id"]))
    snapshot_messages = ordered[:messages]
    fresh = ordered[messages:]
    account.messages = snapshot_messages
    snapshot_ids = {m["id"] for m in snapshot_messages}
    rng = random.Random(seed)
    replays = [m for m in account.edits + account.duplicates if m["id"] in snapshot_ids]
    rng.shuffle(replays)
    out.mkdir(parents=True, exist_ok=True)
    snapshot = cache_update_frame(account)
    (out / "snapshot.json").write_bytes(snapshot)
    with (out / "deltas.ndjson").open("wb") as handle:
        for message in fresh + replays:
            handle.write(new_raw_message_frame(message) + b"\n")
    return account, snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="10k to 1M")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fans", "--chats", type=int, default=None, help="chats; default: messages / 50"
    )
    parser.add_argument("--days", type=float, default=90.0)
    parser.add_argument("--deltas", type=int, default=1000, help="fresh messages after it")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--duplicates", type=int, default=100)
    parser.add_argument(
        "--text-words", type=int, default=0, help="about this many more words per text"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/data/account"))
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= 5_000_000:
        parser.error("--messages must be between 1 and 5,000,000")

    started = time.perf_counter()
    account, snapshot = write_account(
        messages=args.messages,
        seed=args.seed,
        fans=args.fans,
        days=args.days,
        deltas=args.deltas,
        edits=args.edits,
        duplicates=args.duplicates,
        text_words=args.text_words,
        out=args.out,
    )
    elapsed = time.perf_counter() - started
    print(
        f"wrote {args.out}: {len(account.chats)} chats, {len(account.messages)} snapshot "
        f"messages ({len(snapshot) / 1e6:.1f} MB) and deltas in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
