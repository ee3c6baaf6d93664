"""Migrations, applied in name order by ``ofca.persistence.migrate``.

Each module snapshots the tables as they were when it was written (never import the live
classes from ``ofca.persistence.tables`` here), so replaying history on a fresh database
always produces the same schema.
"""
