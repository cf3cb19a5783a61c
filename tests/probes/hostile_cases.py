"""The checks run against the hostile target (tests/probes/hostile.py), the reasons each
may fail with, and a run of them all that measures its own peak memory:
``python -m tests.probes.hostile_cases JSON`` (the target's port, TLS ports and CA
file) prints every result and the peak RSS growth as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from sentinel.clock import SystemClock
from sentinel.config.checks import Check
from sentinel.probes.base import ProbeContext
from sentinel.probes.registry import registry
from sentinel.probes.runner import Armed, execute
from tests.probes.hostile import TLS_PORTS


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


if __name__ == "__main__":
    where = json.loads(sys.argv[1])
    report = asyncio.run(probe_all(where["port"], where["tls_ports"], where["ca_file"]))
    sys.stdout.write(json.dumps(report) + "\n")
