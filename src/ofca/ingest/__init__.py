"""Ingest: one pipeline for every source (extension snapshots and deltas, the transcript
webhook, Chatwoot): frames -> records -> store -> publish."""
