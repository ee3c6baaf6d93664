"""What a database failure means: "unavailable now, retry" or a refused value.

Every layer that reports storage trouble asks here, so an outage is told apart from a bug
the same way everywhere: REST answers 503, the extension socket a retryable
``storage_unavailable``, and nothing of the work was kept.
"""

from __future__ import annotations

import errno
import socket
import sqlite3

import asyncpg

__all__ = [
    "VALUE_REFUSED",
    "StorageUnavailable",
    "as_storage_error",
    "is_database_unavailable",
    "is_value_refused",
]

# asyncpg errors that mean "cannot talk to the database now", not "bad query".
_ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    # A standby that has not been promoted yet (or a database set read-only): it answers,
    # but nothing can be written now.
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)


# Values the input carried that Postgres (server-side DataError: NUL characters, bad
# encodings) or asyncpg (client-side: an int too large for the column) refuses.
VALUE_REFUSED: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.exceptions._base.DataError,
)


_NETWORK_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}
)


_SQLITE_UNAVAILABLE = ("unable to open", "locked", "disk", "readonly database")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the database cannot be reached now: the
    one test of "unavailable" for REST (503), sockets (``storage_unavailable``) and
    health."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, VALUE_REFUSED):
        return False
    if isinstance(exc, (*_ASYNCPG_UNAVAILABLE, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # The pool or connection went away under us (a connection lost mid-transaction is
        # "released back to the pool" for every later statement); other interface errors,
        # such as two queries at once on one connection, are bugs.
        message = str(exc).lower()
        return any(word in message for word in ("closed", "closing", "connect", "released"))
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(marker in message for marker in _SQLITE_UNAVAILABLE)
    if isinstance(exc, socket.gaierror):
        return True  # the database host's name does not resolve
    return isinstance(exc, OSError) and (
        exc.errno in _NETWORK_ERRNOS or "connect call failed" in str(exc).lower()
    )


def is_value_refused(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the database or its driver refusing a value
    the input carried (not an outage, not a bug): retrying the same value fails again."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, VALUE_REFUSED):
            return True
        if isinstance(current, OverflowError | UnicodeEncodeError):
            # sqlite3: "Python int too large to convert to SQLite INTEGER"; either driver:
            # a string it cannot encode as UTF-8.
            return True
        current = current.__cause__ or current.__context__
    return False


class StorageUnavailable(Exception):
    """The database cannot be reached; nothing of the work was stored."""


def as_storage_error(exc: BaseException) -> BaseException:
    """``exc`` as :class:`StorageUnavailable` when it means an outage, else itself."""
    return StorageUnavailable(type(exc).__name__) if is_database_unavailable(exc) else exc
