"""A hostile target: one way to misbehave per path (and per TLS port), on raw asyncio streams.

Used in-process by tests/probes/test_hostile.py, and as a process of its own by
the real-process robustness test: ``python -m tests.probes.hostile serve DIR``
serves on 127.0.0.1 and writes ``DIR/hostile.json`` (its ports and CA file) once
it listens; ``python -m tests.probes.hostile probe JSON`` runs every case against
a target once and prints the results and its peak RSS growth.
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
from pydantic import TypeAdapter

from sentinel.clock import SystemClock
from sentinel.config.checks import Check
from sentinel.probes import ProbeContext, registry
from sentinel.runner import Armed, execute

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


@dataclass(frozen=True)
class Case:
    """One check against the hostile target, and the reasons it may fail with (a reason
    ending in ``*`` is a prefix)."""

    spec: dict[str, Any]
    reasons: tuple[str, ...]

    def accepts(self, reason: str | None) -> bool:
        return reason is not None and any(
            reason.startswith(r[:-1]) if r.endswith("*") else reason == r for r in self.reasons
        )


def cases(port: int, tls_ports: dict[str, int], ca_file: str) -> dict[str, Case]:
    """Every hostile case by name: the HTTP probe expecting a healthy JSON answer on each
    path, the Prometheus, TCP and TLS probes on the ones that concern them."""
    base = f"http://127.0.0.1:{port}"

    def http(path: str, *reasons: str, **options: Any) -> Case:
        spec = {"type": "http", "url": base + path, "expect": {"json": {"$.status": "healthy"}}}
        return Case({**spec, **options}, reasons)

    def https(name: str, *reasons: str, **options: Any) -> Case:
        url = f"https://localhost:{tls_ports[name]}/healthy"
        return Case({"type": "http", "url": url, **options}, reasons)

    def tls(name: str, *reasons: str) -> Case:
        target = f"127.0.0.1:{tls_ports[name]}"
        spec = {"type": "tls", "target": target, "server_name": "localhost", "ca_file": ca_file}
        return Case(spec, reasons)

    def metrics(path: str, *reasons: str) -> Case:
        return Case({"type": "prometheus", "url": base + path}, reasons)

    mib = "body exceeds 1 MiB"
    return {
        "garbage-status": http("/garbage-status", "invalid HTTP response: bad status line"),
        "huge-headers": http(
            "/huge-headers", "invalid HTTP response: header or status line too long"
        ),
        "endless-chunked": http("/endless-chunked", mib),
        "trickle": http("/trickle", "timeout after 1s", timeout="1s"),
        "redirect-loop": http("/redirect-loop", "too many redirects (10)"),
        "gzip-bomb": http("/gzip-bomb", f"{mib} after gzip decoding"),
        "gzip-bomb-unsized": http("/gzip-bomb-unsized", f"{mib} after gzip decoding"),
        "gzip-bomb-no-expectations": Case(  # passed as healthy, given time, before
            {"type": "http", "url": base + "/gzip-bomb"}, (f"{mib} after gzip decoding",)
        ),
        "deflate-bomb": http("/deflate-bomb", f"{mib} after deflate decoding"),
        "bad-gzip": http("/bad-gzip", "body cannot be decoded as its Content-Encoding says"),
        "brotli-unasked": http(
            "/brotli",
            "invalid HTTP response: Content-Encoding not supported",
            "$.status: not found",
        ),
        "invalid-utf8": http("/invalid-utf8", "invalid JSON (not UTF-8)"),
        "reset-mid-body": http("/reset-mid-body", "incomplete body", "connection reset"),
        "big-json": http("/big-json", mib),
        "big-json-unsized": http("/big-json-unsized", mib),
        "lying-length-long": http("/lying-length-long", "incomplete body"),
        "lying-length-short": http(
            "/lying-length-short",
            "invalid JSON",
            "invalid HTTP response: data after the end of the body",
        ),
        "deep-nesting": http("/deep-nesting", "invalid JSON (nested too deep)"),
        "deep-objects": http("/deep-objects", "invalid JSON (nested too deep)"),
        "https-untrusted": https("tls-untrusted", "tls: unable to get local issuer certificate"),
        "https-expired": https(
            "tls-expired", "tls: certificate has expired", tls={"ca_file": ca_file}
        ),
        "https-wrong-host": https(
            "tls-wrong-host", "tls: Hostname mismatch*", tls={"ca_file": ca_file}
        ),
        "tls-untrusted": Case(
            {**tls("tls-untrusted").spec, "ca_file": None},
            ("tls: unable to get local issuer certificate",),
        ),
        "tls-expired": tls("tls-expired", 'tls: certificate "localhost" expired *'),
        "tls-wrong-host": tls("tls-wrong-host", "tls: Hostname mismatch*"),
        "metrics-bomb": metrics("/metrics-bomb", "body exceeds 32 MiB after gzip decoding"),
        "metrics-garbage": metrics("/metrics-garbage", "invalid metrics format"),
        "metrics-not-http": metrics("/garbage-status", "invalid HTTP response: bad status line"),
        "tcp-endless": Case(
            {
                "type": "tcp",
                "target": f"127.0.0.1:{port}",
                "send": "GET /endless-chunked HTTP/1.1\r\n\r\n",
                "expect": "+PONG",
            },
            ("expected reply '+PONG' not received",),
        ),
        "tcp-trickle": Case(
            {
                "type": "tcp",
                "target": f"127.0.0.1:{port}",
                "send": "GET /trickle HTTP/1.1\r\n\r\n",
                "expect": "+PONG",
                "timeout": "1s",
            },
            ("timeout after 1s",),
        ),
    }


CASE_NAMES = sorted(cases(1, dict.fromkeys(TLS_PORTS, 1), "ca.pem"))


def check_of(name: str, case: Case, **defaults: Any) -> Any:
    """The validated check of one case (interval and timeout from ``defaults`` unless the
    case sets them)."""
    adapter: TypeAdapter[Any] = TypeAdapter(Check)
    return adapter.validate_python({"name": name, **defaults, **case.spec})


async def probe_all(port: int, tls_ports: dict[str, int], ca_file: str) -> dict[str, Any]:
    """Run every case once, one after the other, in this process; report each result and
    how much the peak RSS grew over a warmed-up baseline."""
    clock = SystemClock()
    ctx = ProbeContext(clock=clock)
    factories = registry()
    results: dict[str, Any] = {}
    baseline = 0
    try:
        every = cases(port, tls_ports, ca_file)
        warm = {"warm-up": Case({"type": "http", "url": f"http://127.0.0.1:{port}/healthy"}, ())}
        for name, case in [*warm.items(), *every.items()]:
            check = check_of(name, case, interval="5s", timeout="3s")
            probe = factories[check.type](check, ctx)
            result = await execute(Armed(check, check.type, probe), clock)
            await probe.close()
            if name == "warm-up":
                baseline = reset_peak_rss()
                continue
            results[name] = {"ok": result.ok, "error": result.error, "duration": result.duration}
    finally:
        await ctx.close()
    peak = memory_kib("VmHWM")
    return {"results": results, "rss_growth_kib": peak - baseline, "baseline_kib": baseline}


def memory_kib(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of this process from /proc. Not getrusage: on Linux
    its ru_maxrss keeps the parent's peak across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> int:
    """Make the peak the current RSS (Linux ``clear_refs`` 5), and return it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return memory_kib("VmHWM")


async def main(directory: Path) -> None:
    hostile = await start(directory)
    described = {"port": hostile.port, "tls_ports": hostile.tls_ports, "ca_file": hostile.ca_file}
    (directory / "hostile.json.tmp").write_text(json.dumps(described))
    (directory / "hostile.json.tmp").rename(directory / "hostile.json")
    await asyncio.Event().wait()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main(Path(sys.argv[2])))
    else:  # probe '<json: port, tls_ports, ca_file>'
        where = json.loads(sys.argv[2])
        report = asyncio.run(probe_all(where["port"], where["tls_ports"], where["ca_file"]))
        sys.stdout.write(json.dumps(report) + "\n")
