"""The ``ofca`` command: serve, migrate, accounts, keys, schema, demo, push."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ofca import __version__
from ofca.client.frames import MIB
from ofca.client.push import PushOptions, push_file
from ofca.demo import load_demo
from ofca.domain.wss import wss_schema
from ofca.persistence.accounts import create_account, ensure_account, get_account, list_accounts
from ofca.persistence.engine import close_engine, open_engine
from ofca.persistence.keys import create_api_key, list_api_keys, revoke_api_key
from ofca.persistence.migrate import migrate
from ofca.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

KEY_ROLE_CHOICES = ("owner", "extension", "dashboard", "integration", "admin")


def _run_with_engine(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    """Open the database (migrating it), run ``work``, close it."""

    async def runner() -> int:
        engine = await open_engine(settings)
        try:
            await migrate(engine)
            return await work()
        finally:
            await close_engine(engine)

    return asyncio.run(runner())


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:

    async def runner() -> int:
        engine = await open_engine(settings)
        try:
            applied = await migrate(engine)
        finally:
            await close_engine(engine)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return 0

    return asyncio.run(runner())


def cmd_accounts(args: argparse.Namespace, settings: Settings) -> int:

    async def work() -> int:
        if args.accounts_command == "create":
            try:
                account = await create_account(args.account_id, args.name or "")
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"created account {account.account_id}")
        else:
            for account in await list_accounts():
                print(f"{account.account_id}\t{account.name}\t{account.created_at.isoformat()}")
        return 0

    return _run_with_engine(settings, work)


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:

    async def work() -> int:
        if args.keys_command == "create":
            account_id: str | None = args.account
            if args.role == "admin":
                if account_id is not None:
                    print("error: admin keys are not bound to an account", file=sys.stderr)
                    return 2
            elif account_id is None:
                print("error: --account is required for this role", file=sys.stderr)
                return 2
            elif await get_account(account_id) is None:
                try:
                    await ensure_account(account_id)
                except ValueError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 2
                print(f"created account {account_id}", file=sys.stderr)
            expires = (
                datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None
            )
            info, key = await create_api_key(
                account_id=account_id, role=args.role, name=args.name or "", expires_at=expires
            )
            print(
                f"key id {info.id} ({info.role}) for {account_id or 'admin'}; shown once:",
                file=sys.stderr,
            )
            print(key)
        elif args.keys_command == "list":
            for info in await list_api_keys(args.account):
                state = "revoked" if info.revoked_at else "active"
                if info.expires_at and info.expires_at <= datetime.now(UTC):
                    state = "expired"
                print(
                    f"{info.id}\t{info.prefix}…\t{info.account_id or '-'}\t{info.role}\t{state}"
                    f"\t{info.name}"
                )
        else:
            if not await revoke_api_key(args.key_id):
                print(f"error: no active key with id {args.key_id}", file=sys.stderr)
                return 1
            print(f"revoked key {args.key_id}")
        return 0

    return _run_with_engine(settings, work)


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:

    print(json.dumps(wss_schema(args.direction), indent=2, sort_keys=True))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    host = args.host or settings.host
    port = args.port or settings.port
    # Migrate once here so N workers do not all start by migrating.
    cmd_migrate(args, settings)
    if args.demo:
        demo_args = argparse.Namespace(account="demo", messages=args.demo_messages, seed=7)
        cmd_demo(demo_args, settings)
    shown_host = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
    print(f"ofca {_version()} serving on http://{shown_host}:{port}/  (dashboard)", flush=True)
    print(f"  API docs: http://{shown_host}:{port}/docs   health: /health", flush=True)
    uvicorn.run(
        "ofca.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        ws_max_size=settings.max_ws_message_bytes,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:

    async def work() -> int:
        report = await load_demo(args.account, messages=args.messages, seed=args.seed)
        print(report)
        return 0

    return _run_with_engine(settings, work)


def cmd_push(args: argparse.Namespace, settings: Settings) -> int:
    options = PushOptions(
        path=Path(args.file),
        url=args.url,
        key=args.key,
        account=args.account,
        stream=args.stream,
        chunk_bytes=args.chunk_bytes,
        mode=args.mode,
        window_frames=args.window,
        progress=not args.no_progress,
    )
    try:
        return asyncio.run(push_file(options))
    except KeyboardInterrupt:
        print("\nofca push: interrupted; run it again to resume", file=sys.stderr)
        return 130


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def _version() -> str:

    return __version__


DESCRIPTION = (
    "ofca: conversational analytics for creator-fan chat. Serve the API, the live sockets and "
    "the dashboard; manage accounts and API keys; load a demo. Settings come from OFCA_* "
    "environment variables (see the README)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ofca", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"ofca {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (migrates first)")
    serve.add_argument("--host", default=None, help="default: OFCA_HOST (127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="default: OFCA_PORT (8000)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (1)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load a synthetic account 'demo' first and print a dashboard key for it",
    )
    serve.add_argument(
        "--demo-messages",
        type=int,
        default=5000,
        metavar="N",
        help="messages in the demo account (5000)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        metavar="IPS",
        help="proxies trusted for X-Forwarded-* headers, comma-separated (127.0.0.1)",
    )
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(
        handler=cmd_migrate
    )

    accounts = commands.add_parser("accounts", help="manage accounts")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    create_account = accounts_sub.add_parser("create", help="create a creator account")
    create_account.add_argument(
        "account_id", help="the id used in URLs and keys (letters, digits, - and _)"
    )
    create_account.add_argument("--name", default=None, help="a display name")
    accounts_sub.add_parser("list", help="list every account")
    accounts.set_defaults(handler=cmd_accounts)

    keys = commands.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create_key = keys_sub.add_parser("create", help="create a key (printed once)")
    create_key.add_argument(
        "--account", default=None, help="the account the key works for (not for admin keys)"
    )
    create_key.add_argument(
        "--role",
        required=True,
        choices=KEY_ROLE_CHOICES,
        help="owner: everything; dashboard: read and reply; extension: the browser extension; "
        "integration: webhooks; admin: accounts and keys of every account",
    )
    create_key.add_argument("--name", default=None, help="a label to recognise the key by")
    create_key.add_argument(
        "--expires-days", type=int, default=None, metavar="N", help="expire after N days"
    )
    list_keys = keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    list_keys.add_argument("--account", default=None, help="only this account's keys")
    revoke_key = keys_sub.add_parser("revoke", help="revoke a key at once (sockets close)")
    revoke_key.add_argument("key_id", type=int, help="the id shown by keys create / keys list")
    keys.set_defaults(handler=cmd_keys)

    schema = commands.add_parser("schema", help="print the WebSocket JSON Schema")
    schema.add_argument(
        "--direction",
        choices=("outgoing", "incoming"),
        default="outgoing",
        help="outgoing: what ofca sends to clients; incoming: what the extension sends",
    )
    schema.set_defaults(handler=cmd_schema)

    push = commands.add_parser(
        "push",
        help="send a snapshot file or an NDJSON export to a server (chunked, resumable)",
        description="Send FILE (a cache_update snapshot file, an account export or a messages "
        "export) to a server's extension socket, with chunking, back-pressure and resume: "
        "run the same command again after an interruption to send only what is missing.",
    )
    push.add_argument("file", help="snapshot JSON file or NDJSON export")
    push.add_argument("--url", required=True, help="the server, e.g. https://ofca.example")
    push.add_argument("--key", required=True, help="an extension or owner API key")
    push.add_argument("--account", default=None, help="default: the export's or the key's")
    push.add_argument("--stream", default=None, help="default: one named after the file")
    push.add_argument(
        "--chunk-bytes",
        type=_positive,
        default=MIB,
        metavar="N",
        help="snapshot chunk size in bytes (1048576)",
    )
    push.add_argument(
        "--as",
        dest="mode",
        choices=("auto", "snapshot", "deltas"),
        default="auto",
        help="auto: a messages export as deltas, anything else as a snapshot",
    )
    push.add_argument(
        "--window",
        type=_positive,
        default=256,
        metavar="N",
        help="frames sent and not yet acknowledged, at most (256)",
    )
    push.add_argument("--no-progress", action="store_true", help="no progress bar")
    push.set_defaults(handler=cmd_push)

    demo = commands.add_parser("demo", help="load a realistic synthetic dataset")
    demo.add_argument("--account", default="demo", help="the account to load into (demo)")
    demo.add_argument(
        "--messages", type=int, default=5000, metavar="N", help="messages to generate (5000)"
    )
    demo.add_argument(
        "--seed", type=int, default=7, help="the same seed gives the same account (7)"
    )
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"ofca: {exc}", file=sys.stderr)
        return 2
    handler: Any = args.handler
    return int(handler(args, settings))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
