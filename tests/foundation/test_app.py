"""The assembled app: health, schema endpoint, docs, error shape, auth basics."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca import __version__


async def test_health_reports_dependencies(client: AsyncTestClient[Litestar]) -> None:
    for path in ("/health", "/api/v1/health"):
        response = await client.get(path)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "healthy"
        assert body["version"] == __version__
        assert body["dependencies"] == {
            "database": "connected",
            "channels": "connected",
            "insights": "ok",
        }
        assert body["timestamp"].endswith("Z") or "+" in body["timestamp"]


async def test_schema_endpoint_serves_both_directions(client: AsyncTestClient[Litestar]) -> None:
    outgoing = (await client.get("/api/v1/schemas/wss")).json()
    incoming = (await client.get("/api/v1/schemas/wss", params={"direction": "incoming"})).json()
    assert outgoing["title"] == "OutgoingWssMessage"
    assert incoming["title"] == "IncomingWssMessage"
    assert "ingest_ack" in outgoing["discriminator"]["mapping"]
    assert "cache_update" in incoming["discriminator"]["mapping"]


async def test_bad_query_parameter_is_a_clear_400(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/schemas/wss", params={"direction": "sideways"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"detail", "status_code", "timestamp"}
    assert body["status_code"] == 400
    assert any(error.get("key") == "direction" for error in body["errors"])


async def test_unknown_route_uses_the_error_shape(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["status_code"] == 404
    assert "timestamp" in response.json()


async def test_docs_are_served(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/schema/openapi.json")).json()["info"]["title"] == "ofca"
    docs = await client.get("/docs", follow_redirects=False)
    assert docs.status_code in (301, 302, 307, 308)
    assert docs.headers["location"] == "/schema/swagger"
    assert (await client.get("/schema/swagger")).status_code == 200
    assert (await client.get("/schema/redoc")).status_code == 200


async def test_docs_load_every_asset_from_this_server(client: AsyncTestClient[Litestar]) -> None:
    """Offline, /docs and /redoc must not be blank: no CDN script, style or font."""
    for page in ("/schema/swagger", "/schema/redoc"):
        html = (await client.get(page)).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls, page
        assert not [url for url in urls if "://" in url or url.startswith("//")], (page, urls)
        for url in urls:
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 10_000, url
