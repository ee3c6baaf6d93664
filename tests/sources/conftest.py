"""The source tests drive the app in the test's own event loop.

Litestar's ``AsyncTestClient`` runs the app in a separate thread and loop, which forces a
pool-less engine; ingest's Postgres fast path needs a pool. ``httpx.ASGITransport`` runs the
app in this loop instead, so the app opens its own pool exactly as in production; its
lifespan runs in one task of its own (its task group must exit where it entered)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar
from piccolo.engine.base import Engine

from ofca.app import create_app
from ofca.persistence.engine import bind_tables
from ofca.settings import Settings


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[Litestar]:
    """The production wiring: the app opens (and closes) its own engine and pool."""
    yield create_app(settings)
    # The app bound every table to its engine; later tests use the session's again.
    bind_tables(engine)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    await asyncio.wait(
        {lifespan, asyncio.ensure_future(started.wait())},
        timeout=30,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if lifespan.done():
        lifespan.result()  # start-up failed: raise its error
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
        ) as client:
            yield client
    finally:
        stop.set()
        await lifespan
