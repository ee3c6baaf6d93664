"""Decode + validate one snapshot with ofca's msgspec contracts vs the Pydantic v2 baseline.

    python bench/generate.py --messages 100000 --out bench/data/acct100k
    python bench/contract_cost.py bench/data/acct100k/snapshot.json --runs 7

Both sides get the same bytes and must produce validated, typed objects:
- msgspec: ``ofca.domain.wss.incoming_decoder.decode`` (what the socket does);
- pydantic: ``TypeAdapter(IncomingWssMessage).validate_json`` (the peer design's best
  path; ``json.loads`` + ``validate_python`` is slower still and reported too).
Prints per-run times, medians and the ratio (target: msgspec >= 8x faster).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.pydantic_baseline import incoming_adapter
from ofca.domain.wss import CacheUpdate, incoming_decoder


def timed(work: Callable[[], Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
        del result
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    data = args.snapshot.read_bytes()

    decoded = incoming_decoder.decode(data)
    assert isinstance(decoded, CacheUpdate)
    baseline = incoming_adapter.validate_json(data)
    assert len(baseline.payload.messages) == len(decoded.payload.messages)
    print(
        f"snapshot: {len(decoded.payload.messages)} messages, {len(decoded.payload.chats)} "
        f"chats, {len(data) / 1e6:.1f} MB; cores: {os.cpu_count()}; runs: {args.runs}"
    )

    results = {
        "msgspec decode (ofca)": timed(lambda: incoming_decoder.decode(data), args.runs),
        "pydantic validate_json": timed(lambda: incoming_adapter.validate_json(data), args.runs),
        "pydantic json.loads+validate_python": timed(
            lambda: incoming_adapter.validate_python(json.loads(data)), args.runs
        ),
    }
    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, times in results.items():
        runs = " ".join(f"{t:.3f}" for t in times)
        print(f"{name:38s} median {medians[name]:.3f} s   runs: {runs}")
    ours = medians["msgspec decode (ofca)"]
    print(
        f"ratio pydantic validate_json / msgspec: {medians['pydantic validate_json'] / ours:.1f}x"
    )
    print(
        "ratio pydantic json.loads+validate_python / msgspec: "
        f"{medians['pydantic json.loads+validate_python'] / ours:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
