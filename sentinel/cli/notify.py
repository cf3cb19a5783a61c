"""``sentinel notify-test``: one test message through one channel now."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp

from sentinel import __version__
from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.notify import NotifierDeps, build_notifier
from sentinel.notify.base import DeliveryError, Notice
from sentinel.notify.render import Renderer


async def notify_test(config: Config, channel: str, to: str | None, clock: Clock) -> int:
    """Send one test notice through a channel now; 0 when the provider accepted it."""
    spec = config.channels.get(channel)
    if spec is None:
        print(f"unknown channel {channel!r}; known: {', '.join(config.channels)}", file=sys.stderr)
        return 2
    renderer = Renderer(
        Path(config.notifications.templates) if config.notifications.templates else None
    )
    notice = Notice(
        kind="test",
        at=clock.now().timestamp(),
        text=f"Test message from sentinel {__version__} through channel {channel}.",
    )
    async with aiohttp.ClientSession() as session:
        deps = NotifierDeps(
            session, renderer, lambda: clock.now().timestamp(), config.notifications.timeout
        )
        notifier = build_notifier(channel, spec, deps)
        try:
            await notifier.send(notice, to, None)
        except DeliveryError as exc:
            kind = "temporary" if exc.retry else "permanent"
            print(f"{channel}: not delivered ({kind}): {exc}", file=sys.stderr)
            return 1
        finally:
            await notifier.close()
    print(f"{channel}: delivered")
    return 0
