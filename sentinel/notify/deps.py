"""What every notifier is built with besides its channel's own config, in one object.

A provider's constructor is ``(channel, deps, name)``; the registry
(:data:`sentinel.notify.NOTIFIERS`) builds every provider alike from one
:class:`NotifierDeps` that the daemon (or ``sentinel notify-test``) makes once.
It lives apart from :mod:`sentinel.notify.base` because it names the
:class:`~sentinel.notify.render.Renderer`, which itself renders ``base``'s notices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from sentinel.notify.render import Renderer

DEFAULT_TIMEOUT = 10.0  # seconds, for the whole request: connect, send, read


@dataclass(frozen=True, slots=True)
class NotifierDeps:
    """The shared parts every notifier takes."""

    session: aiohttp.ClientSession | None  # the caller's, shared; None where no HTTP is sent
    renderer: Renderer  # the templates (notifications.templates)
    now: Callable[[], float]  # unix time from the Clock: Retry-After dates, call spacing
    timeout: float = DEFAULT_TIMEOUT  # seconds per request (notifications.timeout)
