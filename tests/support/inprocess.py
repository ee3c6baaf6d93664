"""The in-process app served by uvicorn on a real port, for tests that change a function
of the app (``monkeypatch``) and still talk to it over real sockets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
from piccolo.engine.base import Engine

from ofca.app import create_app
from ofca.persistence.engine import bind_tables
from ofca.settings import Settings
from tests.support.server import free_port

__all__ = ["ServedApp", "served_app"]

T = TypeVar("T")


@dataclass
class ServedApp:
    ws_url: str
    loop: asyncio.AbstractEventLoop | None = field(default=None)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop (where the app's engine lives)."""
        assert self.loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))


@contextmanager
def served_app(settings: Settings, engine: Engine) -> Iterator[ServedApp]:
    """``create_app(settings)`` served in a thread of its own.

    The app opens its own engine (with the pool the Postgres writer needs) on the server's
    loop, and the tables are bound to it until it stops; then they are bound to the test
    session's ``engine`` again. Query the database after the block, or inside it through
    :meth:`ServedApp.run`."""
    config = uvicorn.Config(
        create_app(settings, run_migrations=False),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    served = ServedApp(f"ws://127.0.0.1:{config.port}")

    async def serve() -> None:
        served.loop = asyncio.get_running_loop()
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        yield served
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        bind_tables(engine)
