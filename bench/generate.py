"""Write a synthetic creator account as extension frames (issue 8, part 1).

    python bench/generate.py --messages 100000 --seed 7 --out bench/data/acct100k

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

from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="10k to 1M")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fans", type=int, default=None, help="default: messages / 50")
    parser.add_argument("--days", type=float, default=90.0)
    parser.add_argument("--deltas", type=int, default=1000, help="fresh messages after it")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--duplicates", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/data/account"))
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= 5_000_000:
        parser.error("--messages must be between 1 and 5,000,000")

    started = time.perf_counter()
    account = generate_account(
        args.messages + args.deltas,
        seed=args.seed,
        fans=args.fans,
        days=args.days,
        edits=args.edits,
        duplicates=args.duplicates,
    )
    # The newest messages become live deltas; the rest is the snapshot the extension sends.
    ordered = sorted(account.messages, key=lambda m: (m["createdAt"], m["id"]))
    snapshot_messages = ordered[: args.messages]
    fresh = ordered[args.messages :]
    account.messages = snapshot_messages
    snapshot_ids = {m["id"] for m in snapshot_messages}
    rng = random.Random(args.seed)
    replays = [m for m in account.edits + account.duplicates if m["id"] in snapshot_ids]
    rng.shuffle(replays)
    deltas = fresh + replays

    args.out.mkdir(parents=True, exist_ok=True)
    snapshot = cache_update_frame(account)
    (args.out / "snapshot.json").write_bytes(snapshot)
    with (args.out / "deltas.ndjson").open("wb") as handle:
        for message in deltas:
            handle.write(new_raw_message_frame(message) + b"\n")
    elapsed = time.perf_counter() - started
    print(
        f"wrote {args.out}: {len(account.chats)} chats, {len(snapshot_messages)} snapshot "
        f"messages ({len(snapshot) / 1e6:.1f} MB), {len(deltas)} deltas "
        f"({len(fresh)} new, {len(replays)} edits/duplicates) in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
