"""``sentinel migrate [--check]`` and ``sentinel store copy --from URL --to URL``.

Exit codes: 0 done (or, for ``--check``, nothing would run), 1 ``--check`` found
steps to run or a copy's two sides differ, 2 the store or the arguments are
unusable (one line on stderr, never a password).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any, TextIO

from sentinel.config import ConfigError, parse_duration
from sentinel.config.settings import Settings, load
from sentinel.store import StoreError, open_store
from sentinel.store.copy import Line, copy_store
from sentinel.store.migrations import LATEST, pending, refuse_newer
from sentinel.store.tables import tables_of
from sentinel.tables import render_table

COMMANDS = ("migrate", "store")


def add_commands(sub: Any) -> None:
    """The ``migrate`` and ``store`` subcommands, on the CLI's subparsers."""
    mig = sub.add_parser("migrate", help="bring the store's schema up to date")
    mig.add_argument(
        "--check", action="store_true", help="only print the steps that would run (exit 1 if any)"
    )
    mig.add_argument("-c", "--config", help="config file (its storage.url is used)")
    mig.add_argument(
        "--url", help="storage URL instead of the config's (best from $SENTINEL_STORAGE_URL)"
    )
    store = sub.add_parser("store", help="store maintenance: copy all state to another store")
    actions = store.add_subparsers(dest="store_action", required=True)
    cp = actions.add_parser(
        "copy",
        help="copy all state between stores (SQLite <-> PostgreSQL), then mark the source moved",
    )
    cp.add_argument("--from", dest="from_url", required=True, metavar="URL", help="source store")
    cp.add_argument("--to", dest="to_url", required=True, metavar="URL", help="destination store")
    cp.add_argument(
        "--since", metavar="DURATION", help="copy check results this far back (default: all)"
    )


def main(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.command == "migrate":
            return asyncio.run(migrate_command(_url(args), args.check, out))
        return asyncio.run(copy_command(args.from_url, args.to_url, _since(args.since), out, err))
    except (StoreError, ConfigError, ValueError) as exc:
        problems = getattr(exc, "problems", None) or [str(exc)]
        print("\n".join(problems), file=err)
        return 2


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if url := os.environ.get("SENTINEL_STORAGE_URL"):
        return url
    settings = Settings()
    if args.config:
        settings = settings.model_copy(update={"config": args.config})
    return load(settings, dict(os.environ)).storage.url.get_secret_value()


def _since(text: str | None) -> float | None:
    return None if text is None else time.time() - parse_duration(text)


async def migrate_command(url: str, check: bool, out: TextIO) -> int:
    store = open_store(url, force=True)
    db = tables_of(store)
    version = await db.version()
    refuse_newer(version, LATEST, db.where)
    steps = pending(version)
    if check:
        print(f"{db.where}: schema version {version} of {LATEST}", file=out)
        for step in steps:
            print(f"would run {step}", file=out)
        if not steps:
            print("nothing to run", file=out)
        return 1 if steps else 0
    await store.open()
    await store.close()
    for step in steps:
        print(f"ran {step}", file=out)
    print(f"{db.where}: schema version {LATEST}", file=out)
    return 0


async def copy_command(
    from_url: str, to_url: str, since: float | None, out: TextIO, err: TextIO
) -> int:
    if from_url == to_url:
        raise StoreError("--from and --to name the same store")
    where = {u: tables_of(open_store(u)).where for u in (from_url, to_url)}
    if where[from_url] == where[to_url]:
        raise StoreError("--from and --to name the same store")
    live = err.isatty()

    def progress(table: str, rows: int) -> None:
        if live:
            print(f"\r{table}: {rows} rows", end="", file=err, flush=True)

    lines = await copy_store(from_url, to_url, since=since, progress=progress)
    if live:
        print("\r", end="", file=err)
    print(render(lines, where[from_url], where[to_url]), file=out)
    if not all(line.same for line in lines):
        print("the two sides differ: the source is NOT marked as moved", file=out)
        return 1
    print(f"{where[from_url]} is marked as moved to {where[to_url]}", file=out)
    return 0


def render(lines: list[Line], source: str, destination: str) -> str:
    head = ("table", "rows (source)", "checksum (source)", "rows (dest)", "checksum (dest)", "")
    rows = [
        (
            line.table,
            str(line.source.rows),
            line.source.hex,
            str(line.destination.rows),
            line.destination.hex,
            "ok" if line.same else "DIFFERENT",
        )
        for line in lines
    ]
    return f"from {source}\nto   {destination}\n" + render_table(head, rows)
