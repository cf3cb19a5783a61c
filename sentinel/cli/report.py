"""``sentinel report``: a report from the store the config names, for a terminal."""

from __future__ import annotations

from datetime import datetime

from sentinel.config import Config
from sentinel.reports.build import build_report, parse_period
from sentinel.reports.render import Format, render_report
from sentinel.store import StoreError, open_store


async def report_command(
    config: Config, period: str, fmt: Format, now: datetime
) -> tuple[int, str]:
    """``sentinel report``: (exit code, text). 0 with the report (for stdout), 2 for a
    bad period, 1 when the store cannot be read (the text then goes to stderr)."""
    try:
        seconds = parse_period(period)
    except ValueError as exc:
        return 2, f"--period: {exc}"
    try:
        store = open_store(
            config.storage.url.get_secret_value(), pool_size=config.storage.pool_size
        )
        await store.open()
    except StoreError as exc:
        return 1, f"cannot read the store: {exc}"
    try:
        report = await build_report(store, config, now, seconds)
    except StoreError as exc:
        return 1, f"cannot read the store: {exc}"
    finally:
        await store.close()
    return 0, render_report(report, fmt)
