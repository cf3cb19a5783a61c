"""TCP probe: connect, optionally send a line and wait for an expected reply."""

from __future__ import annotations

import asyncio
import contextlib

from sentinel.clock import Clock
from sentinel.config.checks import TcpCheck
from sentinel.probes.base import ProbeContext
from sentinel.probes.errors import describe_os_error
from sentinel.probes.results import Outcome, Sample

READ_LIMIT = 64 * 1024


class TcpProbe:
    def __init__(self, check: TcpCheck, ctx: ProbeContext) -> None:
        host, _, port = check.target.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._send = check.send.encode() if check.send is not None else None
        self._expect = check.expect.encode() if check.expect is not None else None
        self._clock: Clock = ctx.clock
        self._local = None if ctx.source_address is None else (ctx.source_address, 0)

    async def run(self) -> Outcome:
        start = self._clock.monotonic()
        try:
            reader, writer = await asyncio.open_connection(
                self._host, self._port, local_addr=self._local
            )
        except OSError as exc:
            return Outcome.failed(describe_os_error(exc))
        samples = (Sample("connect_seconds", self._clock.monotonic() - start),)
        try:
            if self._send is not None:
                writer.write(self._send)
                await writer.drain()
            if self._expect is not None:
                received = b""
                while self._expect not in received and len(received) < READ_LIMIT:
                    chunk = await reader.read(4096)
                    if not chunk:
                        shown = self._expect.decode(errors="replace")
                        return Outcome.failed(f"expected reply {shown!r} not received", samples)
                    received += chunk
                if self._expect not in received:
                    shown = self._expect.decode(errors="replace")
                    return Outcome.failed(f"expected reply {shown!r} not received", samples)
            return Outcome(ok=True, samples=samples)
        except OSError as exc:
            return Outcome.failed(describe_os_error(exc), samples)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        return None
