"""A hostile target: one way to misbehave per path (and per TLS port), on raw asyncio streams.

Used in-process by tests/probes/test_hostile.py, and as a process of its own by
the real-process robustness test: ``python -m tests.probes.hostile DIR`` serves
on 127.0.0.1 and writes ``DIR/hostile.json`` (its ports and CA file) once it
listens. The checks run against it are in tests/probes/hostile_cases.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
import sys
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import trustme

MIB = 1 << 20
BOMB = 960 * MIB  # zeros; compressed: about 990 kB, under the default max_body of 1 MiB
SLICE = 256 * 1024

Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


def bomb(encoding: str, size: int = BOMB) -> bytes:
    """``size`` zero bytes compressed as gzip or deflate (zlib): about 1 kB per MiB.

    Built from one fully flushed 1 MiB block repeated (a flushed block does not
    depend on what came before), so it costs a fraction of a second, not the
    seconds compressing 1 GiB would."""
    zeros = bytes(MIB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    last = c.compress(zeros) + c.flush()
    count = size // MIB
    raw = first + block * (count - 2) + last
    if encoding == "gzip":
        crc = 0
        for _ in range(count):
            crc = zlib.crc32(zeros, crc)
        return (
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
            + raw
            + struct.pack("<II", crc, size % 2**32)
        )
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(zeros, adler)
    return b"\x78\xda" + raw + struct.pack(">I", adler)


@cache
def gzip_bomb() -> bytes:
    return bomb("gzip")


@cache
def deflate_bomb() -> bytes:
    return bomb("deflate")


@cache
def big_json() -> bytes:
    """50 MB of valid JSON, many small objects."""
    item = b'{"id": 1234567, "name": "item", "ok": true},'
    count = 50 * 1000 * 1000 // len(item)
    return b'{"status": "healthy", "items": [' + item * count + b'{"id": 0}]}'


def head(status: str = "200 OK", /, **headers: str | int) -> bytes:
    """A status line and headers; every answer closes its connection."""
    headers.setdefault("Connection", "close")
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write in slices, waiting for the client, so a large body is never copied whole."""
    view = memoryview(data)
    for start in range(0, len(view), SLICE):
        writer.write(view[start : start + SLICE])
        await writer.drain()


async def reply(writer: asyncio.StreamWriter, body: bytes, **headers: str | int) -> None:
    await send(
        writer, head(**{"Content_Type": "application/json", "Content_Length": len(body), **headers})
    )
    await send(writer, body)


async def healthy(writer: asyncio.StreamWriter) -> None:
    await reply(writer, b'{"status": "healthy"}')


async def garbage_status(writer: asyncio.StreamWriter) -> None:
    await send(writer, b"\x16\x03\x01 HTTP/9 \xff\xfe garbage\r\nnot: a header line\r\n\r\n")


async def huge_headers(writer: asyncio.StreamWriter) -> None:
    await send(
        writer, b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * MIB + b"\r\nContent-Length: 2\r\n\r\n{}"
    )


async def endless_chunked(writer: asyncio.StreamWriter) -> None:
    await send(writer, head(Content_Type="application/json", Transfer_Encoding="chunked"))
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    while True:
        await send(writer, chunk)


async def trickle(writer: asyncio.StreamWriter) -> None:
    """A byte a second, from the status line on."""
    for byte in head(Content_Length=2) + b"{}":
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1)


async def redirect_loop(writer: asyncio.StreamWriter) -> None:
    await send(writer, head("302 Found", Location="/redirect-loop", Content_Length=0))


async def gzip_bomb_sized(writer: asyncio.StreamWriter) -> None:
    await reply(writer, gzip_bomb(), Content_Encoding="gzip")


async def gzip_bomb_chunked(writer: asyncio.StreamWriter) -> None:
    await send(writer, head(Content_Type="application/json", Content_Encoding="gzip"))
    await send(writer, gzip_bomb())


async def deflate_bomb_sized(writer: asyncio.StreamWriter) -> None:
    await reply(writer, deflate_bomb(), Content_Encoding="deflate")


async def bad_gzip(writer: asyncio.StreamWriter) -> None:
    await reply(writer, b"this is not gzip at all" * 10, Content_Encoding="gzip")


async def brotli_unasked(writer: asyncio.StreamWriter) -> None:
    """An encoding the probe never offered (aiohttp asks for br only with Brotli installed)."""
    await reply(writer, b"\x8b\x03\x80{}\x03", Content_Encoding="br")


async def invalid_utf8(writer: asyncio.StreamWriter) -> None:
    await reply(writer, b'{"status": "\xff\xfehealthy\xc3"}')


async def reset_mid_body(writer: asyncio.StreamWriter) -> None:
    await send(writer, head(Content_Type="application/json", Content_Length=100_000))
    await send(writer, b'{"status": "healthy", "pad": "' + b"x" * 1000)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def big_json_sized(writer: asyncio.StreamWriter) -> None:
    await reply(writer, big_json())


async def big_json_unsized(writer: asyncio.StreamWriter) -> None:
    await send(writer, head(Content_Type="application/json"))
    await send(writer, big_json())


async def lying_length_long(writer: asyncio.StreamWriter) -> None:
    """Declares 1000 bytes, sends 21, closes."""
    await send(writer, head(Content_Type="application/json", Content_Length=1000))
    await send(writer, b'{"status": "healthy"}')


async def lying_length_short(writer: asyncio.StreamWriter) -> None:
    """Declares 5 bytes, sends more."""
    await send(writer, head(Content_Type="application/json", Content_Length=5))
    await send(writer, b'{"status": "healthy"}' + b" " * 1000)


async def deep_nesting(writer: asyncio.StreamWriter) -> None:
    await reply(writer, b"[" * 200_000)


async def deep_objects(writer: asyncio.StreamWriter) -> None:
    await reply(writer, b'{"a": ' * 100_000 + b"1" + b"}" * 100_000)


async def metrics_bomb(writer: asyncio.StreamWriter) -> None:
    await send(
        writer,
        head(Content_Type="text/plain", Content_Encoding="gzip", Content_Length=len(gzip_bomb())),
    )
    await send(writer, gzip_bomb())


async def metrics_garbage(writer: asyncio.StreamWriter) -> None:
    await reply(writer, b'# TYPE x counter\nx{a="\xff} 1 2 3 4\n\x00\x01{{{\n')


PATHS: dict[str, Handler] = {
    "/healthy": healthy,
    "/garbage-status": garbage_status,
    "/huge-headers": huge_headers,
    "/endless-chunked": endless_chunked,
    "/trickle": trickle,
    "/redirect-loop": redirect_loop,
    "/gzip-bomb": gzip_bomb_sized,
    "/gzip-bomb-unsized": gzip_bomb_chunked,
    "/deflate-bomb": deflate_bomb_sized,
    "/bad-gzip": bad_gzip,
    "/brotli": brotli_unasked,
    "/invalid-utf8": invalid_utf8,
    "/reset-mid-body": reset_mid_body,
    "/big-json": big_json_sized,
    "/big-json-unsized": big_json_unsized,
    "/lying-length-long": lying_length_long,
    "/lying-length-short": lying_length_short,
    "/deep-nesting": deep_nesting,
    "/deep-objects": deep_objects,
    "/metrics-bomb": metrics_bomb,
    "/metrics-garbage": metrics_garbage,
}


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await reader.readuntil(b"\r\n\r\n")
        parts = request.split(b" ", 2)
        path = parts[1].decode("ascii", "replace") if len(parts) > 1 else "/"
        await PATHS.get(path, healthy)(writer)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
        pass  # the client went away: that is what clients of a hostile target do
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


TLS_PORTS = ("tls-untrusted", "tls-expired", "tls-wrong-host")


@dataclass
class Hostile:
    port: int
    tls_ports: dict[str, int]
    ca_file: str
    servers: list[asyncio.Server]
    handlers: set[asyncio.Task[Any]]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for task in list(self.handlers):  # endless answers end with the test, not before
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()


def tls_contexts(directory: Path) -> tuple[dict[str, ssl.SSLContext], str]:
    """Server contexts for the TLS scenarios, and the CA file that trusts the
    expired and wrong-host ones (the untrusted one comes from a CA nobody trusts)."""
    trusted, stranger = trustme.CA(), trustme.CA()
    ca_file = directory / "hostile-ca.pem"
    trusted.cert_pem.write_to_path(str(ca_file))
    past = datetime.now(UTC) - timedelta(days=2)
    certs = {
        "tls-untrusted": stranger.issue_cert("localhost", "127.0.0.1"),
        "tls-expired": trusted.issue_cert(
            "localhost",
            "127.0.0.1",
            common_name="localhost",
            not_before=past - timedelta(days=30),
            not_after=past,
        ),
        "tls-wrong-host": trusted.issue_cert("elsewhere.invalid"),
    }
    contexts = {}
    for name, cert in certs.items():
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        contexts[name] = context
    return contexts, str(ca_file)


async def start(directory: Path, port: int = 0) -> Hostile:
    gzip_bomb(), deflate_bomb(), big_json()  # built once, before the first request
    handlers: set[asyncio.Task[Any]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await serve_one(reader, writer)
        except asyncio.CancelledError:
            pass  # closed by the test; asyncio 3.11 logs a cancelled handler as an error
        finally:
            handlers.discard(task)

    plain = await asyncio.start_server(tracked, "127.0.0.1", port, limit=64 * 1024)
    contexts, ca_file = tls_contexts(directory)
    servers = [plain]
    tls_ports = {}
    for name, context in contexts.items():
        server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        tls_ports[name] = server.sockets[0].getsockname()[1]
    return Hostile(plain.sockets[0].getsockname()[1], tls_ports, ca_file, servers, handlers)


async def main(directory: Path) -> None:
    hostile = await start(directory)
    described = {"port": hostile.port, "tls_ports": hostile.tls_ports, "ca_file": hostile.ca_file}
    (directory / "hostile.json.tmp").write_text(json.dumps(described))
    (directory / "hostile.json.tmp").rename(directory / "hostile.json")
    await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(Path(sys.argv[1])))
