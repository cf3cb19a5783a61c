"""Command line: ``sentinel run | validate | check | oncall | silence | ack | notify-test |
simulate | report | healthcheck | version``.

Exit codes: 0 success, 1 a check failed (``check``), 2 the config is unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import structlog
import uvloop

from sentinel import __version__
from sentinel.clock import Clock, SystemClock
from sentinel.config import Config, ConfigError, format_duration, secret_values, split_listen
from sentinel.daemon import Daemon, load
from sentinel.escalation.oncall_cli import oncall_command
from sentinel.healthcheck import healthcheck
from sentinel.logs import Redactor, configure
from sentinel.notify import build_notifier
from sentinel.notify.base import DeliveryError, Notice
from sentinel.notify.render import Renderer
from sentinel.probes import ProbeContext, registry
from sentinel.results import Result
from sentinel.runner import Armed, execute
from sentinel.settings import Settings
from sentinel.simulate import ScenarioError, load_scenario, simulate
from sentinel.store import cli as store_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "version":
        print(f"sentinel {__version__}")
        return 0
    if args.command == "schema":  # before the config loads: it needs none
        from sentinel.config.schema import render_schema

        if args.output:
            Path(args.output).write_text(render_schema(), encoding="utf-8")
        else:
            sys.stdout.write(render_schema())
        return 0
    if args.command == "healthcheck":  # before the config loads: it must work without one
        return healthcheck(args.url, args.config, os.environ, sys.stdout, sys.stderr)
    if args.command in store_cli.COMMANDS:  # migrate, store copy: a config is optional
        return store_cli.main(args)
    env = dict(os.environ)
    settings = Settings()
    if args.config:
        settings = settings.model_copy(update={"config": args.config})
    redactor = Redactor()
    configure(settings.log_level, settings.log_format, redactor)
    try:
        config = load(settings, env)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    redactor.set_secrets(secret_values(config))
    if args.command == "validate":
        print(
            f"{settings.config}: ok ({len(config.checks)} checks, {len(config.rules)} rules, "
            f"{len(config.channels)} channels)"
        )
        return 0
    if args.command == "check":
        return asyncio.run(check_once(config, SystemClock(), args.only))
    if args.command == "silence":
        return silence_command(args, config, env)
    if args.command == "oncall":
        return oncall_command(args, config)
    if args.command == "ack":
        path = f"/api/v1/alerts/{args.id}/" + ("unack" if args.undo else "ack")
        return api_call(args, config, env, "POST", path, None if args.undo else {"by": args.by})
    if args.command == "notify-test":
        return asyncio.run(notify_test(config, args.channel, args.to, SystemClock()))
    if args.command == "simulate":
        return simulate_command(config, args.scenario)
    if args.command == "report":
        from sentinel.reports import report_command

        code, text = asyncio.run(
            report_command(config, args.period, args.format, SystemClock().now())
        )
        print(
            text, end="" if text.endswith("\n") else "\n", file=sys.stderr if code else sys.stdout
        )
        return code
    # uvloop cuts the event loop's share of every probe by about a third (docs/performance.md).
    factory = uvloop.new_event_loop if settings.event_loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_run(config, settings, env, redactor))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sentinel", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    for name, text in (
        ("run", "run the daemon"),
        ("validate", "check a config file and exit (0 valid, 2 invalid)"),
        ("check", "run every check once now and print a table (exit 1 if any fails)"),
        ("oncall", "who is on call now, and the next handoffs"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "-c",
            "--config",
            help="config file (default: $SENTINEL_CONFIG or /etc/sentinel/sentinel.yaml)",
        )
        if name == "oncall":
            cmd.add_argument(
                "--at", metavar="TIME", help="ISO 8601 time, naive means UTC (default: now)"
            )
            cmd.add_argument("--schedule", metavar="NAME", help="one schedule (default: all)")
        if name == "check":
            cmd.add_argument(
                "--only", action="append", metavar="NAME", help="run only this check (repeatable)"
            )
    silence = sub.add_parser("silence", help="add, list or expire silences on a running sentinel")
    silence.add_argument("-c", "--config", help="config file (for the address and the API token)")
    silence.add_argument("--url", help="sentinel's address (default: from server.listen)")
    actions = silence.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="silence matching alerts for a while")
    add.add_argument(
        "--match",
        action="append",
        required=True,
        metavar="LABEL=VALUE",
        help="label=value, or label=~regex (repeatable; all must match)",
    )
    add.add_argument("--duration", default="1h", help="how long (default 1h)")
    add.add_argument("--author", default=os.environ.get("USER", ""), help="who (default $USER)")
    add.add_argument("--comment", default="", help="why")
    actions.add_parser("list", help="active and upcoming silences")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id")
    ack = sub.add_parser("ack", help="acknowledge a firing alert on a running sentinel")
    ack.add_argument("id", help="the alert's id, or its first 6+ characters (as in an SMS)")
    ack.add_argument("--by", default=os.environ.get("USER", ""), help="who (default $USER)")
    ack.add_argument("--undo", action="store_true", help="withdraw the acknowledgement")
    ack.add_argument("-c", "--config", help="config file (for the address and the API token)")
    ack.add_argument("--url", help="sentinel's address (default: from server.listen)")
    test = sub.add_parser("notify-test", help="send a test message through one channel")
    test.add_argument("channel", help="a channel name from the config")
    test.add_argument(
        "--to", help="recipient (email, +E.164 number, #channel) if the channel needs one"
    )
    test.add_argument("-c", "--config", help="config file")
    sim = sub.add_parser("simulate", help="replay a scenario on a fake clock; nothing is sent")
    sim.add_argument("--scenario", required=True, help="scenario YAML file")
    sim.add_argument("-c", "--config", help="config file")
    health = sub.add_parser(
        "healthcheck", help="exit 0 when a running sentinel answers /ready with 200, else 1"
    )
    health.add_argument("--url", help="the /ready URL (default: from SENTINEL_LISTEN or config)")
    health.add_argument("-c", "--config", help="config file (only for server.listen; optional)")
    report = sub.add_parser("report", help="uptime, latency, incidents and notifications")
    report.add_argument("-c", "--config", help="config file (its storage: is read)")
    report.add_argument("--period", default="7d", help="how far back from now (default 7d)")
    report.add_argument(
        "--format", default="table", choices=("table", "markdown", "json"), help="default table"
    )
    schema = sub.add_parser("schema", help="print the config file's JSON Schema (for editors)")
    schema.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead")
    store_cli.add_commands(sub)
    sub.add_parser("version", help="print the version")
    return parser


def silence_command(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    if args.action == "list":
        return api_call(args, config, env, "GET", "/api/v1/silences")
    if args.action == "expire":
        return api_call(args, config, env, "DELETE", f"/api/v1/silences/{args.id}")
    matchers = {}
    for item in args.match:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"--match {item!r}: use label=value", file=sys.stderr)
            return 2
        matchers[key] = value
    body = {
        "matchers": matchers,
        "duration": args.duration,
        "author": args.author,
        "comment": args.comment,
    }
    return api_call(args, config, env, "POST", "/api/v1/silences", body)


def api_call(
    args: argparse.Namespace,
    config: Config,
    env: Mapping[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> int:
    """Talk to a running sentinel's API; prints its answer, exit 0, or 1 with the reason."""
    host, port = split_listen(config.server.listen)
    base = (
        args.url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    ).rstrip("/")
    token = env.get("SENTINEL_API_TOKEN") or (
        config.server.api_token.get_secret_value() if config.server.api_token else ""
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            print(json.dumps(json.loads(resp.read()), indent=2))
            return 0
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        print(f"sentinel answered {exc.code}: {detail}", file=sys.stderr)
    except OSError as exc:
        print(f"cannot reach sentinel at {base}: {exc}", file=sys.stderr)
    return 1


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
        notifier = build_notifier(
            channel,
            spec,
            session,
            renderer,
            lambda: clock.now().timestamp(),
            timeout=config.notifications.timeout,
        )
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


def simulate_command(config: Config, scenario: str) -> int:
    try:
        plan = load_scenario(Path(scenario))
    except ScenarioError as exc:
        print(f"{scenario}: {exc}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(simulate(config, plan))
    except ScenarioError as exc:
        print(f"{scenario}: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


async def _run(
    config: Config, settings: Settings, env: Mapping[str, str], redactor: Redactor
) -> int:
    daemon = Daemon(config, settings, SystemClock(), env, redactor)
    try:
        await daemon.run_until_signalled()
    except OSError as exc:
        structlog.get_logger("sentinel").error("sentinel_start_failed", error=str(exc))
        return 1
    return 0


async def check_once(config: Config, clock: Clock, only: Sequence[str] | None) -> int:
    """Run the selected checks once, concurrently, print a table; 0 if all pass."""
    checks = [c for c in config.checks if not only or c.name in only]
    missing = sorted(set(only or []) - {c.name for c in checks})
    if missing:
        print(f"unknown check: {', '.join(missing)}", file=sys.stderr)
        return 2
    factories = registry()
    context = ProbeContext(clock=clock)
    slots = asyncio.Semaphore(config.scheduler.max_concurrency)
    armed = [Armed(c, c.type, factories[c.type](c, context)) for c in checks if c.type in factories]

    async def one(a: Armed) -> Result:
        async with slots:
            return await execute(a, clock)

    try:
        results = {r.check: r for r in await asyncio.gather(*(one(a) for a in armed))}
    finally:
        for a in armed:
            await a.probe.close()
        await context.close()
    rows = []
    for c in checks:
        r = results.get(c.name)
        if r is None:
            rows.append((c.name, c.type, "SKIP", "-", f"probe type {c.type!r} not available yet"))
        else:
            rows.append(
                (
                    c.name,
                    c.type,
                    "ok" if r.ok else "FAIL",
                    format_duration(round(r.duration, 3)),
                    r.error or "",
                )
            )
    print(render_table(("CHECK", "TYPE", "OK", "LATENCY", "REASON"), rows))
    return 0 if all(r.ok for r in results.values()) and len(results) == len(checks) else 1


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
