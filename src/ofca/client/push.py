"""``ofca push``: send a snapshot file or an NDJSON export to a server's extension socket.

A snapshot (a snapshot file, an account export) goes as a chunked ``cache_update``: staged
by the server and applied at once when the last chunk is in. A messages export goes as
deltas (``new_raw_message``), which create the chats they need without touching the ones
the server has. The client keeps at most a window of frames unacknowledged, resends what
the server refused and reconnects when the connection drops.

Unless ``--stream`` is given, the stream is named after the file's content: frame *n* of
the push is seq *n* of its stream, so running the same command again after an interruption
skips what the server has committed and sends the rest (a snapshot resumes from the chunk
the server expects next).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from ofca.client.extension import ClientError, ExtensionClient, extension_url
from ofca.client.files import PushFileError, PushInput, read_push_file
from ofca.client.frames import MIB, plan_snapshot
from ofca.client.progress import ProgressBar

__all__ = ["PushOptions", "PushReport", "push_file"]

Mode = Literal["auto", "snapshot", "deltas"]

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3


@dataclass
class PushOptions:
    path: Path
    url: str
    key: str
    account: str | None = None
    stream: str | None = None
    chunk_bytes: int = MIB
    mode: Mode = "auto"
    window_frames: int = 256
    progress: bool = True


@dataclass
class PushReport:
    account: str
    stream: str
    mode: str
    frames: int
    skipped: int
    accepted: int
    updated: int
    duplicates: int
    rejected: int
    failed: int
    resent: int
    seconds: float

    def summary(self) -> str:
        lines = [
            f"pushed to account {self.account}, stream {self.stream} ({self.mode}): "
            f"{self.frames:,} frames in {self.seconds:.1f} s"
            + (f", {self.skipped:,} already committed before" if self.skipped else ""),
            f"  messages: {self.accepted:,} new, {self.updated:,} updated, "
            f"{self.duplicates:,} duplicates, {self.rejected:,} rejected",
        ]
        if self.resent or self.failed:
            lines.append(f"  frames resent after a refusal: {self.resent:,}; failed: {self.failed}")
        return "\n".join(lines)


def _account_of_key(url: str, key: str) -> str | None:
    """The one account the key may use, asked of the server (``GET /api/v1/accounts/``)."""
    base = extension_url(url, "x", None).split("/ws/extension/", 1)[0]
    base = base.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    request = urllib.request.Request(
        f"{base}/api/v1/accounts/", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            accounts = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if isinstance(accounts, list) and len(accounts) == 1:
        found = accounts[0].get("account_id") if isinstance(accounts[0], dict) else None
        return found if isinstance(found, str) else None
    return None


def _mode_for(source: PushInput, requested: Mode) -> Literal["snapshot", "deltas"]:
    if requested != "auto":
        return requested
    return "deltas" if source.kind == "messages_export" else "snapshot"


def _chats_for(source: PushInput) -> list[bytes]:
    """A snapshot's chats: the file's, or for a messages export one per chat referred to
    (the platform names a chat by its fan's user id, the only fan id known here)."""
    if source.chats or source.kind != "messages_export":
        return source.chats
    return [
        json.dumps({"withUser": {"id": chat_id}, "chat_id": chat_id}).encode()
        for chat_id in source.chat_ids
    ]


async def push_file(options: PushOptions, err: TextIO = sys.stderr) -> int:
    """Push ``options.path``; prints progress and a summary on ``err``; the exit status."""
    try:
        source = read_push_file(options.path)
    except PushFileError as exc:
        err.write(f"ofca push: {options.path}: {exc}\n")
        return EXIT_USAGE
    account = options.account
    if account is None and len(source.accounts) == 1:
        account = next(iter(source.accounts))
    if account is None:
        account = await asyncio.to_thread(_account_of_key, options.url, options.key)
    if account is None:
        err.write("ofca push: name the account with --account (the key's is not known)\n")
        return EXIT_USAGE
    mode = _mode_for(source, options.mode)
    derived_stream = options.stream is None
    stream = options.stream or f"push-{mode[0]}{options.chunk_bytes:x}-{source.digest[:24]}"
    began = time.monotonic()
    try:
        report = await _push(options, source, account, stream, mode, derived_stream, err)
    except ClientError as exc:
        err.write(f"\nofca push: {exc}\n")
        err.write("ofca push: run the same command again to resume where it stopped\n")
        return EXIT_CONNECTION
    report.seconds = time.monotonic() - began
    err.write(report.summary() + "\n")
    return EXIT_INCOMPLETE if report.failed or report.rejected else EXIT_OK


async def _push(
    options: PushOptions,
    source: PushInput,
    account: str,
    stream: str,
    mode: Literal["snapshot", "deltas"],
    derived_stream: bool,
    err: TextIO,
) -> PushReport:
    client = ExtensionClient(
        options.url,
        options.key,
        account,
        stream=stream,
        window_frames=options.window_frames,
        chunk_bytes=options.chunk_bytes,
    )
    # The frames of the push, in order: a snapshot's chunks (in deltas mode, the file's
    # chats only, when it has any), then (deltas mode) one frame per message.
    deltas = source.messages if mode == "deltas" else []
    chats = _chats_for(source) if mode == "snapshot" else source.chats
    plan = plan_snapshot(chats, source.messages if mode == "snapshot" else [], options.chunk_bytes)
    chunks = plan.chunks if mode == "snapshot" or chats else []
    total = len(chunks) + len(deltas)
    bar = ProgressBar(total, "frames", err, enabled=options.progress)
    async with client:
        # On a stream named after the file, frame n is seq n: what is committed is done.
        committed = min(client.committed_seq, total) if derived_stream else 0
        skipped = queued = 0

        def note() -> str:
            stats = client.stats
            parts = []
            if stats.resends:
                parts.append(f"{stats.resends:,} resent")
            if stats.connections > 1:
                parts.append(f"{stats.connections - 1} reconnects")
            return ", ".join(parts)

        def draw(force: bool = False) -> None:
            done = skipped + queued - client.unacknowledged
            bar.update(done, client.stats.bytes_sent, note(), force=force)

        client.on_event = lambda kind, detail: draw()
        if chunks:
            pending = client.pending_snapshot
            resuming = (
                pending is not None and pending.id == plan.id and pending.chunks == len(chunks)
            )
            if derived_stream and not resuming and committed >= len(chunks):
                skipped = len(chunks)  # applied by an earlier run of this push
            else:
                skipped = pending.next_chunk if resuming and pending is not None else 0
                first = skipped

                def chunk_queued(count: int) -> None:
                    nonlocal queued
                    queued = count - first

                await client.send_snapshot(plan, progress=chunk_queued)
        done_deltas = max(committed - len(chunks), 0)
        skipped += done_deltas
        for message in deltas[done_deltas:]:
            await client.send_delta(message)
            queued += 1
        await client.drain()
        draw(force=True)
        bar.finish()
        stats = client.stats
        return PushReport(
            account=account,
            stream=stream,
            mode=mode,
            frames=stats.frames,
            skipped=skipped,
            accepted=stats.accepted,
            updated=stats.updated,
            duplicates=stats.duplicates,
            rejected=stats.rejected,
            failed=len(stats.failures),
            resent=stats.resends,
            seconds=0.0,
        )
