"""Response bodies a hostile target cannot use against us.

The limit applies to the *decoded* size: aiohttp inflates gzip and deflate as
the body is read, in steps of at most a chunk (it stops decompressing while
its buffer is full), so reading chunk by chunk and counting what comes out
stops a bomb (1 GB of zeros in 1 MB of gzip) after ``limit`` bytes, with never
more than a chunk inflated between two turns of the event loop.

Parsing a large body (JSON, the Prometheus text format) runs in a worker
thread so the loop keeps serving other checks and the web server; the work
is told to stop when the run is cancelled (its timeout), so an abandoned
parse does not keep burning a core.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

import aiohttp

from sentinel.config.units import format_size

CHUNK = 64 * 1024

T = TypeVar("T")


class BodyTooLarge(Exception):
    """The body is larger than the limit; ``str(exc)`` is the failure reason."""


class Stopped(Exception):
    """Work in a thread noticed that nobody waits for it any more."""


async def read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The decoded body, or ``BodyTooLarge`` as soon as more than ``limit`` bytes arrive
    (declared or decoded): never more than ``limit`` plus one chunk is held."""
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    decoded = encoding not in ("", "identity")
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"body exceeds {format_size(limit)}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(CHUNK):
        if chunks:
            # Reading buffered data does not suspend, and aiohttp inflates the next step as
            # the buffer drains: without this, a 32 MiB body is read and inflated in one
            # step. A body of one chunk (most health answers) costs no extra turn.
            await asyncio.sleep(0)
        size += len(chunk)
        if size > limit:
            after = f" after {encoding} decoding" if decoded else ""
            raise BodyTooLarge(f"body exceeds {format_size(limit)}{after}")
        chunks.append(chunk)
    return b"".join(chunks)


async def off_loop(work: Callable[[threading.Event], T]) -> T:
    """Run ``work(stop)`` in a worker thread; ``stop`` is set once the caller stops waiting
    (cancelled by the check's timeout), and ``work`` should then raise ``Stopped``."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(work, stop)
    finally:
        stop.set()
