"""The ofca command, run as a real process against the run's database."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from ofca.cli import build_parser
from tests.support.server import free_port


def run_ofca(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ofca.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_then_keys_lifecycle(backend_env: dict[str, str]) -> None:
    migrated = run_ofca(backend_env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied" in migrated.stdout

    created = run_ofca(backend_env, "keys", "create", "--account", "cli-acct", "--role", "owner")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("ofca_")

    listed = run_ofca(backend_env, "keys", "list", "--account", "cli-acct")
    assert listed.returncode == 0
    line = listed.stdout.strip().splitlines()[-1]
    key_id = line.split("\t")[0]
    assert "\towner\tactive" in line
    assert key not in listed.stdout

    revoked = run_ofca(backend_env, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    listed = run_ofca(backend_env, "keys", "list", "--account", "cli-acct")
    assert "\trevoked" in listed.stdout
    again = run_ofca(backend_env, "keys", "revoke", key_id)
    assert again.returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "create", "--role", "owner"), "--account is required"),
        (("keys", "create", "--role", "admin", "--account", "x"), "admin keys"),
        (("keys", "create", "--role", "owner", "--account", "bad id"), "account id must be"),
    ],
)
def test_key_creation_errors_are_clear(
    backend_env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = run_ofca(backend_env, *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_invalid_setting_stops_with_the_variable_name(backend_env: dict[str, str]) -> None:
    result = run_ofca({**backend_env, "OFCA_PORT": "eighty"}, "migrate")
    assert result.returncode == 2
    assert "OFCA_PORT" in result.stderr


def test_schema_command_prints_the_generated_schema(backend_env: dict[str, str]) -> None:
    result = run_ofca(backend_env, "schema", "--direction", "incoming")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "IncomingWssMessage"


@contextmanager
def _serving(env: dict[str, str], port: int, **output: Any) -> Iterator[subprocess.Popen]:
    """``ofca serve`` on ``port`` until ``/health`` answers; terminated on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ofca.cli", "serve", "--port", str(port)],
        env={**os.environ, **env},
        **output,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, "ofca serve exited during start-up"
                assert time.monotonic() < deadline, "ofca serve did not answer in time"
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        if process.stdout is None:
            process.wait(timeout=15)


def test_serve_answers_health_docs_and_schema(backend_env: dict[str, str]) -> None:
    port = free_port()
    with _serving(
        backend_env, port, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["dependencies"]["database"] == "connected"
        assert httpx.get(f"{base}/docs", follow_redirects=True).status_code == 200
        schema = httpx.get(f"{base}/api/v1/schemas/wss").json()
        assert schema["title"] == "OutgoingWssMessage"
    output, _ = process.communicate(timeout=15)
    assert f"http://localhost:{port}/" in output  # the dashboard URL is printed


@pytest.mark.parametrize(("value", "negotiated"), [(None, True), ("false", False)])
def test_serve_offers_permessage_deflate_unless_switched_off(
    backend_env: dict[str, str], value: str | None, negotiated: bool
) -> None:
    from websockets.sync.client import connect

    port = free_port()
    env = dict(backend_env)
    if value is not None:
        env["OFCA_WS_PER_MESSAGE_DEFLATE"] = value
    # The client offers permessage-deflate (as browsers do); a bad token is closed after
    # the handshake, whose answer says what was agreed.
    with (
        _serving(env, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        connect(f"ws://127.0.0.1:{port}/ws/frontend/acct?token=bad") as socket,
    ):
        extensions = socket.response.headers.get("Sec-WebSocket-Extensions") or ""
    assert ("permessage-deflate" in extensions) is negotiated


def test_every_command_and_option_has_plain_help() -> None:
    """CLI help is read by people: no reST backticks, no option without a help text."""

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        text = parser.format_help()
        assert "``" not in text, path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                assert action.help, f"{path}: {action.option_strings or action.dest} has no help"

    walk(build_parser(), "ofca")
