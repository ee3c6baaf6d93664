"""Runtime settings, read once at start-up from ``OFCA_*`` variables and an optional ``.env``.

Every field of :class:`Settings` maps to the environment variable ``OFCA_<FIELD>``. Values
are validated by msgspec; a bad value stops start-up with a :class:`SettingsError` naming the
variable, so a typo in production fails loudly instead of running with a silent default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ofca.domain.triage import Triage

__all__ = ["Settings", "SettingsError", "load_settings", "read_dotenv"]

ENV_PREFIX = "OFCA_"

PositiveFloat = Annotated[float, Meta(gt=0)]
PositiveInt = Annotated[int, Meta(gt=0)]
Port = Annotated[int, Meta(ge=1, le=65535)]

# Fields given as comma-separated lists in the environment.
_LIST_FIELDS = frozenset({"cors_origins"})


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Validated configuration. Field ``foo_bar`` is set by ``OFCA_FOO_BAR``."""

    database_url: str = "sqlite:///ofca.sqlite"
    """``sqlite:///path`` (relative to the working directory) or ``postgres://...``."""
    redis_url: str | None = None
    """``redis://...``; unset means in-memory channels and rate limits (one process only)."""
    secret_key: Annotated[str, Meta(min_length=32)] | None = None
    """Signs login tokens. Unset: a random key is generated once and kept in the database."""
    admin_key: Annotated[str, Meta(min_length=16)] | None = None
    """Bearer key for the account/key admin API."""
    session_ttl_days: PositiveInt = 14
    """Lifetime of a dashboard login (``/auth/login``) before the user logs in again."""
    extension_id: str | None = None
    """Chrome extension id; adds ``chrome-extension://<id>`` to the CORS origins."""
    web_dist_dir: str | None = None
    """Built dashboard (Vite output with manifest.json); unset: the one inside the package."""
    cors_origins: tuple[str, ...] = ()
    max_ws_message_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024
    ws_per_message_deflate: bool = True
    """Offer permessage-deflate on WebSockets (``ofca serve``). It shrinks a dashboard's
    full sync several times, but uvicorn inflates or deflates each frame in one piece on
    the event loop (57-84 ms for an 18 MB snapshot on the 2-core bench box)."""
    host: str = "127.0.0.1"
    port: Port = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    channel_prefix: Annotated[str, Meta(pattern=r"^[a-z0-9_.:-]{1,40}$")] = "ofca"
    """Prefix of every Redis channel and key ofca uses (Redis pub/sub ignores key_prefix)."""
    subscriber_max_backlog: PositiveInt = 1000
    """Live events buffered per dashboard before it is treated as a slow consumer."""
    channels_probe_seconds: PositiveFloat = 1.0
    """How often the live channels backend (Redis) is probed, to detect outages and recover."""
    ws_credential_recheck_seconds: PositiveFloat = 30.0
    """Open sockets re-check their credential this often (backstop for revocation events)."""
    insights_worker: bool = True
    """On Postgres, recompute insight rows in a worker process per server process (off:
    in the server's own event loop, as SQLite always does)."""
    enrich_worker: bool = True
    """Score a large snapshot's texts (sentiment, topics) in a worker process per server
    process, off the event loop that carries live deltas (off: in that loop, in slices)."""
    refresh_sweep_seconds: PositiveFloat = 60.0
    """Each served process re-derives, this often, the chats whose insight refresh is
    overdue by twice this (the process that wrote them died before refreshing)."""

    # Analytics (docs/metrics.md).
    session_gap_minutes: PositiveFloat = 30.0
    silence_threshold_seconds: PositiveFloat = 120.0
    reply_sla_seconds: PositiveFloat = 300.0
    default_window_days: PositiveInt = 30
    platform_fee_percent: Annotated[float, Meta(ge=0, le=100)] = 20.0
    """The platform's cut: net revenue = gross * (1 - fee / 100) (docs/metrics.md, "Money")."""
    whale_spend: PositiveFloat = 100.0
    """Lifetime spend from which a fan is a ``whale`` (below it and > 0: ``spender``)."""
    tip_credit_hours: PositiveFloat = 24.0
    """A tip is credited to the chatter of the chat's latest outbound message when that
    message is at most this many hours older than the tip (docs/metrics.md, "Chatters")."""
    triage_horizon_hours: Annotated[int, Meta(ge=0, le=8760)] = 24
    """The inbox's default horizon: fans waiting longer than this are "stale" and listed in
    their own collapsed group (0: no horizon). Also decides which chats a full sync sends
    first (docs/metrics.md, "Inbox order (triage)")."""

    # Rate limits.
    rest_rate_limit_per_minute: PositiveInt = 1000
    """Requests per minute per API key (or per login session)."""
    ip_rate_limit_per_minute: PositiveInt = 300
    """Requests per minute per client IP for unauthenticated requests."""
    webhook_rate_limit_per_minute: PositiveInt = 100
    """Requests per minute per client IP to the webhook routes (seed 004: 100), on top of
    the per-key limit."""
    ws_frames_per_minute: PositiveInt = 6000
    """WebSocket frames per minute per credential (API key or login), shared by all its
    sockets in every process: 100 a second, an extension catching up at a steady 100/s
    is never refused."""
    ws_frame_burst: PositiveInt = 1000
    """Frames a credential may send at once beyond the sustained rate (at most the
    minute's allowance)."""
    snapshot_ttl_seconds: Annotated[float, Meta(ge=1, le=7 * 86400)] = 3600.0
    """A chunked snapshot that gets no chunk for this long is dropped with its staged
    chunks (docs/protocol.md, "Chunked snapshots")."""

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> str:
        """The SQLite file path of a ``sqlite:///`` URL."""
        return self.database_url.removeprefix("sqlite:///").removeprefix("sqlite://")

    @property
    def triage(self) -> Triage:
        """The inbox's default order (``ofca.domain.triage``)."""
        hours = self.triage_horizon_hours
        return Triage(
            horizon_seconds=hours * 3600.0 if hours else None,
            sla_seconds=self.reply_sla_seconds,
            whale_spend=self.whale_spend,
        )

    @property
    def allowed_origins(self) -> list[str]:
        origins = list(self.cors_origins)
        if self.extension_id:
            origins.append(f"chrome-extension://{self.extension_id}")
        return origins


class SettingsError(ValueError):
    """A setting is invalid; the message names the ``OFCA_*`` variable."""


_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _field_for(variable: str) -> str:
    return variable.removeprefix(ENV_PREFIX).lower()


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) over ``dotenv``.

    Real environment variables win over the ``.env`` file, as with most tools.
    """
    source: dict[str, str] = read_dotenv(dotenv) if dotenv is not None else {}
    source.update(os.environ if environ is None else environ)
    known = set(Settings.__struct_fields__)
    raw: dict[str, Any] = {}
    for variable, value in source.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        name = _field_for(variable)
        if name not in known:
            # Other OFCA_* variables (test switches, tooling) are not settings.
            continue
        if value == "" and name not in _LIST_FIELDS:
            continue  # an empty variable means "use the default"
        if name in _LIST_FIELDS:
            raw[name] = [item.strip() for item in value.split(",") if item.strip()]
        else:
            raw[name] = value
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(exc)) from None
    if not (settings.is_postgres or settings.database_url.startswith("sqlite://")):
        raise SettingsError(
            "Invalid OFCA_DATABASE_URL: expected sqlite:///path or postgres://user@host/db"
        )
    if settings.redis_url is not None and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise SettingsError("Invalid OFCA_REDIS_URL: expected redis://host:port/db")
    return settings


def _explain(exc: msgspec.ValidationError) -> str:
    message = str(exc)
    match = re.search(r"at `\$\.([a-z_]+)", message)
    if match:
        variable = ENV_PREFIX + match.group(1).upper()
        detail = message.split(" - at ")[0]
        return f"Invalid {variable}: {detail}"
    return f"Invalid settings: {message}"
