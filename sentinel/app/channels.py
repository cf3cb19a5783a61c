"""Notifier construction: one notifier per configured channel, built with the shared
:class:`~sentinel.notify.NotifierDeps`; at a reload an unchanged channel keeps its
notifier (and its connections), and the notifiers retired are closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import aiohttp
import structlog

from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.config.models import Channel
from sentinel.notify import NotifierDeps, build_notifier
from sentinel.notify.base import Notifier
from sentinel.notify.render import Renderer

log = structlog.get_logger("sentinel.daemon")

Notifiers = dict[str, tuple[Channel, Notifier]]
Options = tuple[str | None, float]  # notifications.templates, notifications.timeout


def options(config: Config) -> Options:
    """What every notifier is built with, from the config: a change rebuilds them all."""
    return (config.notifications.templates, config.notifications.timeout)


def build_notifiers(
    config: Config,
    previous: Notifiers,
    same_options: bool,
    session: aiohttp.ClientSession,
    clock: Clock,
) -> Notifiers:
    """One notifier per channel; an unchanged channel (same options) keeps its notifier."""
    templates = config.notifications.templates
    deps = NotifierDeps(
        session,
        Renderer(Path(templates) if templates else None),
        lambda: clock.now().timestamp(),
        config.notifications.timeout,
    )
    built: Notifiers = {}
    for name, channel in config.channels.items():
        kept = previous.get(name)
        if kept is not None and kept[0] == channel and same_options:
            built[name] = kept
            continue
        built[name] = (channel, build_notifier(name, channel, deps))
    return built


async def close_notifiers(notifiers: Iterable[Notifier]) -> None:
    for n in list(notifiers):
        try:
            await n.close()
        except Exception as exc:
            log.warning("notifier_close_failed", error=type(exc).__name__)
