"""The child processes of a real server (its worker processes), read from ``/proc``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["alive", "children"]


def children(parent_pid: int) -> dict[int, tuple[str, bytes]]:
    """``parent_pid``'s child processes: pid -> (name as ``/proc/<pid>/comm``, command
    line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            name = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent_pid:
            found[int(entry.name)] = (name, cmdline)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
