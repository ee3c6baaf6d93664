"""Runs stored while a publication is under way are published as one: their changes keep
their order, and each edit stays marked as an edit (and a new message as new)."""

from __future__ import annotations

from ofca.ingest.deltas import StoredRun, merged_runs


def test_merged_runs_keep_order_and_edits() -> None:
    first = StoredRun([], [(0, ("a",), None), (2, ("b",), "cmd-1")], {2})
    second = StoredRun([], [(0, ("c",), None), (1, ("d",), None)], {0})
    merged = merged_runs([first, second])
    assert [row for _, row, _ in merged.changed] == [("a",), ("b",), ("c",), ("d",)]
    assert [index for index, _, _ in merged.changed] == [0, 1, 2, 3]
    assert merged.edited == {1, 2}  # "b" of the first run, "c" of the second
    assert merged.changed[1][2] == "cmd-1"
    assert merged_runs([first]) is first
