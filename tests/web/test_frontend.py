"""GET / and /static/dist/: the dashboard page with its Vite manifest, or build instructions."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.app import create_app
from ofca.controllers.frontend import load_entry_assets
from ofca.domain.passwords import MIN_PASSWORD_LENGTH
from ofca.settings import Settings

ClientFactory = Callable[[Path], Any]


def write_build(dist: Path, *, with_import: bool = False) -> dict[str, str]:
    """A minimal Vite build: manifest.json plus the files it names."""
    assets = dist / "assets"
    assets.mkdir(parents=True)
    (assets / "main-abc123.js").write_text("console.log('dashboard');\n")
    (assets / "main-def456.css").write_text("body{margin:0}\n")
    manifest: dict[str, Any] = {
        "src/main.tsx": {
            "file": "assets/main-abc123.js",
            "src": "src/main.tsx",
            "isEntry": True,
            "css": ["assets/main-def456.css"],
        }
    }
    if with_import:
        (assets / "vendor-999.js").write_text("export const x = 1;\n")
        (assets / "vendor-999.css").write_text(".v{}\n")
        manifest["src/main.tsx"]["imports"] = ["_vendor-999.js"]
        manifest["_vendor-999.js"] = {
            "file": "assets/vendor-999.js",
            "css": ["assets/vendor-999.css"],
        }
    (dist / "manifest.json").write_text(json.dumps(manifest))
    return {
        "js": "/static/dist/assets/main-abc123.js",
        "css": "/static/dist/assets/main-def456.css",
    }


@pytest.fixture
async def client_for(settings: Settings, engine: Any) -> AsyncIterator[Callable[[Path], Any]]:
    """An HTTP client of an app whose dashboard build lives in the given directory."""
    clients: list[AsyncTestClient[Litestar]] = []

    async def make(dist: Path) -> AsyncTestClient[Litestar]:
        app = create_app(msgspec.structs.replace(settings, web_dist_dir=str(dist)), engine=engine)
        client = AsyncTestClient(app=app)
        await client.__aenter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.__aexit__(None, None, None)


def runtime_config(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="ofca-config">(.*?)</script>', html, re.S
    )
    assert match, "the page carries its runtime config"
    return json.loads(match.group(1))


async def test_index_links_the_manifest_entry_and_injects_config(
    client_for: Any, tmp_path: Path
) -> None:
    urls = write_build(tmp_path / "dist")
    client = await client_for(tmp_path / "dist")
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    html = response.text
    assert f'<script type="module" src="{urls["js"]}"></script>' in html
    assert f'<link rel="stylesheet" href="{urls["css"]}">' in html
    config = runtime_config(html)
    assert config["wsBaseUrl"] == "ws://testserver.local"
    assert config["extensionId"] is None
    assert config["topicLabels"]["pricing_ppv"] == "Pricing & PPV"


async def test_index_honours_tls_behind_a_proxy(client_for: Any, tmp_path: Path) -> None:
    write_build(tmp_path / "dist")
    client = await client_for(tmp_path / "dist")
    response = await client.get(
        "/", headers={"X-Forwarded-Proto": "https", "Host": "ofca.example.com"}
    )
    assert runtime_config(response.text)["wsBaseUrl"] == "wss://ofca.example.com"
    # A nonsense forwarded scheme is ignored rather than echoed into the page.
    response = await client.get("/", headers={"X-Forwarded-Proto": "javascript"})
    assert runtime_config(response.text)["wsBaseUrl"].startswith("ws://")


async def test_config_json_cannot_break_out_of_its_script(
    settings: Settings, engine: Any, tmp_path: Path
) -> None:
    write_build(tmp_path / "dist")
    evil = msgspec.structs.replace(
        settings, web_dist_dir=str(tmp_path / "dist"), extension_id="</script><b>x</b>&"
    )
    async with AsyncTestClient(app=create_app(evil, engine=engine)) as client:
        html = (await client.get("/")).text
    assert "</script><b>" not in html
    assert runtime_config(html)["extensionId"] == "</script><b>x</b>&"


async def test_assets_are_served_immutable(client_for: Any, tmp_path: Path) -> None:
    urls = write_build(tmp_path / "dist")
    client = await client_for(tmp_path / "dist")
    response = await client.get(urls["js"])
    assert response.status_code == 200
    assert response.text == "console.log('dashboard');\n"
    assert "javascript" in response.headers["content-type"]
    cache = {part.strip() for part in response.headers["cache-control"].split(",")}
    assert cache == {"public", "max-age=31536000", "immutable"}
    assert (await client.get("/static/dist/assets/missing.js")).status_code == 404
    # No escaping the build directory.
    assert (await client.get("/static/dist/../manifest.json")).status_code == 404


async def test_missing_build_explains_how_to_build(client_for: Any, tmp_path: Path) -> None:
    client = await client_for(tmp_path / "nothing-here")
    response = await client.get("/")
    assert response.status_code == 200
    assert "cd web &amp;&amp; npm ci &amp;&amp; npm run build" in response.text
    assert "ofca-config" not in response.text


async def test_broken_manifest_is_treated_as_missing(client_for: Any, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "manifest.json").write_text("{not json")
    client = await client_for(dist)
    response = await client.get("/")
    assert response.status_code == 200
    assert "npm run build" in response.text
    # A manifest naming a file that is not there is no build either.
    (dist / "manifest.json").write_text(json.dumps({"src/main.tsx": {"file": "gone.js"}}))
    assert load_entry_assets(dist) is None


def test_imported_chunks_are_preloaded_with_their_css(tmp_path: Path) -> None:
    write_build(tmp_path, with_import=True)
    assets = load_entry_assets(tmp_path)
    assert assets is not None
    assert assets.preloads == ("/static/dist/assets/vendor-999.js",)
    assert assets.stylesheets == (
        "/static/dist/assets/main-def456.css",
        "/static/dist/assets/vendor-999.css",
    )


def test_vite_5_manifest_location_is_found(tmp_path: Path) -> None:
    write_build(tmp_path)
    (tmp_path / ".vite").mkdir()
    (tmp_path / "manifest.json").rename(tmp_path / ".vite" / "manifest.json")
    assets = load_entry_assets(tmp_path)
    assert assets is not None and assets.script == "/static/dist/assets/main-abc123.js"


async def test_mounted_under_a_prefix_links_assets_and_sockets_below_it(
    settings: Settings, engine: Any, tmp_path: Path
) -> None:
    urls = write_build(tmp_path / "dist")
    app = create_app(
        msgspec.structs.replace(settings, web_dist_dir=str(tmp_path / "dist")), engine=engine
    )
    async with AsyncTestClient(app=app, root_path="/ofca") as client:
        html = (await client.get("/")).text
    assert f'src="/ofca{urls["js"]}"' in html
    config = runtime_config(html)
    assert config["apiBaseUrl"] == "/ofca"
    assert config["wsBaseUrl"].endswith("/ofca")


def test_the_signup_form_uses_the_servers_password_rule() -> None:
    """The form checks the password before asking (web/src/ui/Login.tsx): the same minimum."""
    login = (Path(__file__).resolve().parents[2] / "web" / "src" / "ui" / "Login.tsx").read_text()
    match = re.search(r"export const MIN_PASSWORD_LENGTH = (\d+);", login)
    assert match is not None
    assert int(match.group(1)) == MIN_PASSWORD_LENGTH


async def test_page_config_carries_the_triage_defaults(client_for: Any, tmp_path: Path) -> None:
    write_build(tmp_path / "dist")
    html = (await (await client_for(tmp_path / "dist")).get("/")).text
    config = runtime_config(html)
    assert config["triageHorizonHours"] == 24
    assert config["replySlaSeconds"] == 300
