"""Schema migrations for the SQLite store, tracked in ``PRAGMA user_version``.

Each entry upgrades from version N to N+1 and runs in one transaction.
Append new entries; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: check result history
    """
    CREATE TABLE results (
        check_name TEXT NOT NULL,
        type TEXT NOT NULL,
        started_at REAL NOT NULL,
        duration REAL NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT,
        samples TEXT NOT NULL
    );
    CREATE INDEX results_by_check ON results (check_name, started_at);
    CREATE INDEX results_by_time ON results (started_at);
    """,
)

LATEST = len(MIGRATIONS)
