"""A reference client of ofca's extension socket (docs/protocol.md): numbered frames,
resend of exactly what the server refused, back-pressure, resume and chunked snapshots.
It is what ``ofca push`` sends files with, and what the tests and benches drive the
server with. It depends on ``ofca.domain`` only."""

from ofca.client.extension import (
    AuthenticationFailed,
    ClientError,
    ClientStats,
    ConnectionLost,
    ExtensionClient,
    FrameFailure,
    StreamDiverged,
    Superseded,
    extension_url,
)
from ofca.client.frames import MIB, SnapshotPlan, plan_snapshot

__all__ = [
    "MIB",
    "AuthenticationFailed",
    "ClientError",
    "ClientStats",
    "ConnectionLost",
    "ExtensionClient",
    "FrameFailure",
    "SnapshotPlan",
    "StreamDiverged",
    "Superseded",
    "extension_url",
    "plan_snapshot",
]
