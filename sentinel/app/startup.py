"""What start-up and reload open before anything runs: the store (built from its URL,
then opened with backoff while waiting can fix it), the key that signs ack links,
the config file read again at a reload, and the web app's listening socket.

A failure that waiting will not fix is a :class:`StartError` with a one-line
message and the process's exit code.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping

import structlog
from aiohttp import web

from sentinel.clock import Clock, sleep_or_wake
from sentinel.config import Config, ConfigError, split_listen
from sentinel.config.settings import Settings, load
from sentinel.store import Store, StoreError, open_store

log = structlog.get_logger("sentinel.daemon")
RETRY_MAX = 30.0  # longest wait between two attempts to open the store at start


class StartError(Exception):
    """sentinel cannot start, and waiting will not change that; the message is one line,
    safe to log. ``exit_code``: 2 when the configuration is unusable, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def retry_delay(attempt: int) -> float:
    """Backoff before start-up retry ``attempt`` (1, 2, 4, ... seconds, at most 30)."""
    return float(min(RETRY_MAX, 2 ** min(attempt - 1, 10)))


def build_store(config: Config, settings: Settings) -> Store:
    """The store the URL names (not opened yet); StartError (exit 2) when it cannot be."""
    try:
        return open_store(
            config.storage.url.get_secret_value(),
            pool_size=config.storage.pool_size,
            force=settings.force_store,
        )
    except StoreError as exc:
        raise StartError(str(exc), exit_code=2) from None


async def open_with_retry(store: Store, clock: Clock, stop: asyncio.Event) -> bool:
    """Open the store; retry with backoff while the failure is one waiting can fix.
    False when a stop was requested meanwhile."""
    attempt = 0
    while True:
        try:
            await store.open()
            return True
        except StoreError as exc:
            if not exc.transient:
                raise
            attempt += 1
            delay = retry_delay(attempt)
            log.warning("store_unavailable", reason=str(exc), attempt=attempt, retry_in=delay)
        await sleep_or_wake(clock, stop, delay)
        if stop.is_set():
            return False


async def ack_key(config: Config, store: Store) -> bytes:
    """server.ack_secret, or a random key made once and kept in the store."""
    if config.server.ack_secret is not None and config.server.ack_secret.get_secret_value():
        return config.server.ack_secret.get_secret_value().encode()
    kept = await store.set_key_once("ack_secret", secrets.token_hex(32))
    return kept.encode()


async def load_again(settings: Settings, env: Mapping[str, str]) -> tuple[Config | None, list[str]]:
    """Parse the file in a worker thread (a hostile file must not stall the loop):
    the new config, or None and the problems. An unexpected error is reported by
    its type only: its message may quote the file."""
    try:
        return await asyncio.to_thread(load, settings, env), []
    except ConfigError as exc:
        return None, list(exc.problems) or [f"{settings.config}: invalid"]
    except Exception as exc:
        return None, [f"{settings.config}: cannot load ({type(exc).__name__})"]


async def serve(app: web.Application, listen: str) -> web.AppRunner:
    """``app`` listening on ``listen`` (host:port); StartError, in one line, if it cannot."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = split_listen(listen)
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno).lower() if exc.errno else type(exc).__name__
        raise StartError(f"cannot listen on {listen}: {reason}") from None
    return runner
