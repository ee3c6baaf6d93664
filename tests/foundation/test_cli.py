"""The ofca command, run as a real process against the run's database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


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
