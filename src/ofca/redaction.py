"""Keeping keys, tokens and chat text out of the server's log.

uvicorn writes every request (``uvicorn.access``) and every socket handshake
(``uvicorn.error``: ``"WebSocket /ws/extension/acct?token=..." [accepted]``) at INFO with
the full path, query string included. Query strings carry credentials (sockets take
``?token=`` because browsers cannot set headers on them; Chatwoot's webhook ``?token=``)
and chat text (``/api/v1/conversations?q=``). :func:`redact_server_logs` puts
:class:`QueryRedaction` on those loggers: each query parameter keeps its name and loses
its value. The app installs it when it is built, so it holds however uvicorn is started
(``ofca serve``, the container, ``uvicorn --factory ofca.app:create_app_from_env``).
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "QueryRedaction", "redact_query", "redact_server_logs"]

REDACTED = "[redacted]"

SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")
"""The loggers uvicorn (and the websockets library, through uvicorn) write paths to."""

_QUERY = re.compile(r"\?([^\s\"'<>]*)")


def _redact_parameters(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if equals:
            parts.append(f"{name}={REDACTED if value else ''}")
        else:
            parts.append(REDACTED if name else "")  # a bare value, e.g. ``?<token>``
    return "&".join(parts)


def redact_query(text: str) -> str:
    """``text`` with the value of every query parameter of every URL in it replaced."""
    if "?" not in text:
        return text
    return _QUERY.sub(lambda match: "?" + _redact_parameters(match[1]), text)


class QueryRedaction(logging.Filter):
    """Redacts query strings in a record's arguments (uvicorn passes the path as one), or
    in its message when it has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            if record.args:
                record.args = tuple(
                    redact_query(arg) if isinstance(arg, str) else arg for arg in record.args
                )
            elif isinstance(record.msg, str):
                record.msg = redact_query(record.msg)
        return True


def redact_server_logs() -> None:
    """Install :class:`QueryRedaction` on uvicorn's loggers (once per process)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, QueryRedaction) for existing in logger.filters):
            logger.addFilter(QueryRedaction())
