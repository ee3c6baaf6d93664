"""A real ofca server (uvicorn in a subprocess) for tests that need real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["LiveServer", "free_port", "live_server", "ofca_serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextmanager
def live_server(
    env: Mapping[str, str], *, timeout: float = 30.0, log_file: Path | None = None
) -> Iterator[LiveServer]:
    """Start ``ofca`` under uvicorn with ``env`` and wait until /health answers; its log
    (stderr: warnings and above) goes to ``log_file`` when given."""
    port = free_port()
    full_env = {**os.environ, **env}
    max_ws = full_env.get("OFCA_MAX_WS_MESSAGE_BYTES", str(64 * 1024 * 1024))
    with ExitStack() as files:  # the server keeps its own copy of the file
        log = None if log_file is None else files.enter_context(log_file.open("ab"))
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "ofca.app:create_app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--ws-max-size",
                max_ws,
                "--log-level",
                "warning",
            ],
            env=full_env,
            stderr=log,
        )
    with _serving(LiveServer(port=port, process=process), timeout) as server:
        yield server


@contextmanager
def ofca_serve(
    env: Mapping[str, str], output: Path, *, timeout: float = 60.0
) -> Iterator[LiveServer]:
    """``ofca serve`` (migrations, then uvicorn as the command configures it) with ``env``,
    its stdout and stderr both written to ``output``; waits until /health answers."""
    port = free_port()
    with output.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "ofca.cli", "serve", "--port", str(port)],
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    with _serving(LiveServer(port=port, process=process), timeout) as server:
        yield server


@contextmanager
def _serving(server: LiveServer, timeout: float) -> Iterator[LiveServer]:
    """Wait until ``server`` answers /health; terminate it on exit."""
    process = server.process
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ofca exited with {process.returncode} during start-up")
            try:
                if httpx.get(f"{server.http_url}/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ofca did not answer /health in time")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
