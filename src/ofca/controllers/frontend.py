"""``GET /``: the dashboard (Bridge), and its built assets under ``/static/dist/``.

The page is a Jinja template that links the hashed entry files named in Vite's manifest and
injects the runtime configuration (extension id, the WebSocket base URL computed from the
request, built-in topic labels) as inline JSON. The assets are immutable (their names change
with their content), so they are cached for a year; the page itself is revalidated on every
load so a new build is picked up at once. Without a build, ``/`` explains how to make one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from markupsafe import Markup

from ofca import __version__
from ofca.domain.taxonomy import DEFAULT_TOPICS
from ofca.settings import Settings

__all__ = [
    "ASSETS_PATH",
    "PACKAGED_DIST_DIR",
    "EntryAssets",
    "dashboard_assets_router",
    "dashboard_dist_dir",
    "dashboard_index",
    "load_entry_assets",
    "template_config",
    "websocket_base_url",
]

log = logging.getLogger("ofca.frontend")

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
PACKAGED_DIST_DIR = _PACKAGE_DIR / "static" / "dist"
"""Where ``cd web && npm run build`` writes the dashboard (shipped in the wheel)."""
TEMPLATES_DIR = _PACKAGE_DIR / "templates"
ASSETS_PATH = "/static/dist"
ENTRY_SOURCE = "src/main.tsx"
_MANIFEST_CANDIDATES = ("manifest.json", ".vite/manifest.json")

IMMUTABLE = CacheControlHeader(public=True, max_age=31_536_000, immutable=True)
REVALIDATE = CacheControlHeader(no_cache=True)


class _ManifestChunk(msgspec.Struct, kw_only=True):
    file: str
    css: list[str] = []
    imports: list[str] = []
    isEntry: bool = False


_Manifest = dict[str, _ManifestChunk]
_manifest_decoder = msgspec.json.Decoder(_Manifest)


@dataclass(frozen=True)
class EntryAssets:
    """The files the page links: one module script, its stylesheets and preloads."""

    script: str
    stylesheets: tuple[str, ...]
    preloads: tuple[str, ...]


# (manifest path, mtime_ns) -> assets; re-read only when a new build replaces the manifest.
_entry_cache: dict[tuple[str, int], EntryAssets | None] = {}


def dashboard_dist_dir(settings: Settings) -> Path:
    return Path(settings.web_dist_dir) if settings.web_dist_dir else PACKAGED_DIST_DIR


def _asset_url(file: str) -> str:
    return f"{ASSETS_PATH}/{file}"


def _entry_from_manifest(manifest: _Manifest, dist_dir: Path) -> EntryAssets | None:
    entry = manifest.get(ENTRY_SOURCE) or next(
        (chunk for chunk in manifest.values() if chunk.isEntry), None
    )
    if entry is None or not (dist_dir / entry.file).is_file():
        return None
    stylesheets: list[str] = []
    preloads: list[str] = []
    seen: set[str] = set()

    def visit(chunk: _ManifestChunk) -> None:
        for css in chunk.css:
            if css not in stylesheets:
                stylesheets.append(css)
        for name in chunk.imports:
            if name in seen or name not in manifest:
                continue
            seen.add(name)
            imported = manifest[name]
            preloads.append(imported.file)
            visit(imported)

    visit(entry)
    return EntryAssets(
        script=_asset_url(entry.file),
        stylesheets=tuple(_asset_url(name) for name in stylesheets),
        preloads=tuple(_asset_url(name) for name in preloads),
    )


def load_entry_assets(dist_dir: Path) -> EntryAssets | None:
    """The entry files of the build in ``dist_dir``, or ``None`` when there is no usable build."""
    for candidate in _MANIFEST_CANDIDATES:
        path = dist_dir / candidate
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            continue
        key = (str(path), mtime)
        if key not in _entry_cache:
            try:
                manifest = _manifest_decoder.decode(path.read_bytes())
            except (OSError, msgspec.DecodeError) as exc:
                log.warning("unreadable dashboard manifest %s: %s", path, exc)
                _entry_cache[key] = None
            else:
                _entry_cache[key] = _entry_from_manifest(manifest, dist_dir)
        return _entry_cache[key]
    return None


def _root_path(request: Request[Any, Any, Any]) -> str:
    """The prefix ofca is mounted under (ASGI ``root_path``), without a trailing slash."""
    return str(request.scope.get("root_path") or "").rstrip("/")


def websocket_base_url(request: Request[Any, Any, Any]) -> str:
    """``ws://host[/root]`` or ``wss://...``: TLS is detected from the request's own scheme
    (uvicorn applies trusted proxy headers) or an ``X-Forwarded-Proto`` of https/wss."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    scheme = forwarded if forwarded in ("http", "https", "ws", "wss") else request.url.scheme
    secure = scheme in ("https", "wss")
    host = request.headers.get("host") or request.url.netloc
    return f"{'wss' if secure else 'ws'}://{host}{_root_path(request)}"


def _script_json(value: dict[str, Any]) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # safe: every "<", ">" and "&" is escaped above


def _runtime_config(request: Request[Any, Any, Any], settings: Settings) -> dict[str, Any]:
    return {
        "extensionId": settings.extension_id,
        "wsBaseUrl": websocket_base_url(request),
        "apiBaseUrl": _root_path(request),
        "version": __version__,
        "topicLabels": {topic.id: topic.label for topic in DEFAULT_TOPICS},
        "triageHorizonHours": settings.triage_horizon_hours,
        "replySlaSeconds": settings.reply_sla_seconds,
    }


@get("/", include_in_schema=False, cache_control=REVALIDATE, name="dashboard")
async def dashboard_index(request: Request[Any, Any, Any]) -> Template:
    """The dashboard page, or instructions to build it; never an error page."""
    settings: Settings = request.app.state.settings
    dist_dir = dashboard_dist_dir(settings)
    assets = load_entry_assets(dist_dir)
    if assets is None:
        return Template(
            template_name="build_missing.html.j2",
            context={"dist_dir": str(dist_dir), "version": __version__},
        )
    return Template(
        template_name="index.html.j2",
        context={
            "root": _root_path(request),
            "assets": assets,
            "config_json": _script_json(_runtime_config(request, settings)),
            "version": __version__,
        },
    )


def dashboard_assets_router(settings: Settings) -> Router:
    """``/static/dist/*``: the build's hashed files, cached for a year as immutable."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[dashboard_dist_dir(settings)],
        cache_control=IMMUTABLE,
        name="dashboard-assets",
        include_in_schema=False,
    )


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine)
