"""Storage: Piccolo tables, the engine chosen from settings, migrations and repositories."""
