"""The console: each notice's rendered text, one block per notice, on a stream.

For a first run and for tests of routing; it never fails a send, since a
console that cannot be written to has nobody reading it either.
"""

from __future__ import annotations

import sys
from typing import TextIO

from sentinel.config.models import ConsoleChannel
from sentinel.notify.base import DeliveryError, Notice, Sent
from sentinel.notify.deps import NotifierDeps


class ConsoleNotifier:
    min_interval = 0.0
    digest = True

    def __init__(
        self,
        channel: ConsoleChannel,
        deps: NotifierDeps,
        name: str = "console",
        *,
        stream: TextIO | None = None,
    ) -> None:
        self.name = name
        self._renderer = deps.renderer
        self._stream = stream

    async def send(
        self, notice: Notice, address: str | None, thread: dict[str, str] | None
    ) -> Sent:
        try:
            block = self._renderer.text(notice)
        except DeliveryError as exc:  # a broken user template still says something
            block = f"{notice.kind} notice (template failed: {exc})"
        to = f" (to {address})" if address else ""
        stream = self._stream or sys.stdout  # looked up late: tests swap sys.stdout
        try:
            stream.write(f"--- sentinel {notice.kind}{to} ---\n{block}\n\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # closed or broken stream: nothing better to do
        return Sent()

    async def close(self) -> None:
        """Nothing to release: the stream belongs to the caller."""
