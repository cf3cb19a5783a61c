"""The command line: the parser (each command's help), and ``main``, which loads the
settings and the config and hands each command to its module in this package
(``check``, ``notify``, ``simulate``, ``report``, ``remote`` for silence and ack,
``oncall``, ``healthcheck``; ``migrate`` and ``store copy`` in :mod:`sentinel.store.cli`).
Tables come from :mod:`sentinel.tables`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog
import uvloop
from pydantic import ValidationError

from sentinel import __version__
from sentinel.app.daemon import Daemon, StartError
from sentinel.cli import cluster as cluster_cli
from sentinel.cli import incident as incident_cli
from sentinel.cli import slo as slo_cli
from sentinel.cli.check import check_once
from sentinel.cli.healthcheck import add_arguments as add_health_arguments
from sentinel.cli.healthcheck import healthcheck
from sentinel.cli.notify import notify_test
from sentinel.cli.oncall import oncall_command
from sentinel.cli.remote import ack_command, silence_command
from sentinel.cli.report import report_command
from sentinel.cli.simulate import simulate_command
from sentinel.clock import SystemClock
from sentinel.config import Config, ConfigError, load_config, secret_values
from sentinel.config.schema import render_schema
from sentinel.config.settings import Settings, apply_settings, load
from sentinel.logs import (
    Redactor,
    configure,
    log_thread_crash,
    log_uncaught,
    loop_exception_handler,
)
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
        if args.output:
            Path(args.output).write_text(render_schema(), encoding="utf-8")
        else:
            sys.stdout.write(render_schema())
        return 0
    if args.command == "healthcheck":  # before the config loads: it must work without one
        return healthcheck(args.url, args.config, os.environ, sys.stdout, sys.stderr)
    if args.command in store_cli.COMMANDS:  # migrate, store copy: a config is optional
        return store_cli.main(args)
    if args.command in slo_cli.COMMANDS:  # SLOs of a running sentinel (issue 19)
        return slo_cli.main(args)
    if args.command in cluster_cli.COMMANDS:  # a running sentinel's cluster (issue 16)
        return cluster_cli.main(args)
    env = dict(os.environ)
    try:
        settings = Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "SENTINEL_" + str(err["loc"][0]).upper() if err["loc"] else "SENTINEL_*"
            print(f"{name}: {err['msg']}", file=sys.stderr)
        return 2
    if args.config:
        settings = settings.model_copy(update={"config": args.config})
    if getattr(args, "force", False):
        settings = settings.model_copy(update={"force_store": True})
    redactor = Redactor()
    configure(settings.log_level, settings.log_format, redactor)
    try:
        if args.command == "simulate":  # it sends nothing: unset secrets read as <VAR>
            config = apply_settings(load_config(settings.config, env, placeholders=True), settings)
        else:
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
    if args.command == "ack":
        return ack_command(args, config, env)
    if args.command == "incident":  # incident list|show|update (issue 20)
        return incident_cli.main(args, config, env)
    if args.command == "oncall":
        return oncall_command(args, config)
    if args.command == "notify-test":
        return asyncio.run(notify_test(config, args.channel, args.to, SystemClock()))
    if args.command == "simulate":
        return simulate_command(config, args.scenario)
    if args.command == "report":
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


DESCRIPTION = """\
sentinel probes services on intervals, turns the results into alerts with rules,
and pages people through an escalation matrix until someone acknowledges.

Exit codes: 0 success; 1 a check failed (check), a notification was refused
(notify-test), or a running sentinel could not be reached or said no (silence,
ack, healthcheck); 2 the config or the arguments are unusable.
"""
EPILOG = """\
FILE defaults to $SENTINEL_CONFIG, then /etc/sentinel/sentinel.yaml.
"sentinel COMMAND --help" describes a command and its options. Documentation:
docs/ in the source tree, starting with docs/getting-started.md.
"""

# name -> (one line for the command list, the command's own description)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "run the daemon",
        "Run the daemon: probe, evaluate rules, escalate and notify, and serve the "
        "status page, the API and /metrics. SIGHUP reloads the config file (a bad file "
        "keeps the running config); SIGTERM and Ctrl-C stop it gracefully.",
    ),
    "validate": (
        "check a config file and exit (0 valid, 2 invalid)",
        "Validate the config file whole and exit: 0 when it is valid, 2 with one line "
        "per problem (file:line: path: reason). ${VAR} references must be set in the "
        "environment or have a ${VAR:-default}.",
    ),
    "check": (
        "run every check once now and print a table (exit 1 if any fails)",
        "Run every check (or those named with --only) once now, concurrently, and "
        "print a table of results; exit 0 when all pass, 1 when any fails. Rules and "
        "notifications are not involved: it is the morning health check in one command.",
    ),
    "oncall": (
        "who is on call now, and the next handoffs",
        "Print who is on call in each schedule now (or at --at), and the next handoffs "
        "with the reason for each (rotation, override).",
    ),
    "silence": (
        "add, list or expire silences on a running sentinel",
        "Add, list or expire silences on a running sentinel through its API. The "
        "address is --url or the config's server.listen; the token is "
        "$SENTINEL_API_TOKEN or the config's server.api_token.",
    ),
    "ack": (
        "acknowledge a firing alert on a running sentinel",
        "Acknowledge a firing alert on a running sentinel (stops its escalation), or "
        "withdraw the acknowledgement with --undo. Prints the alert as it stands.",
    ),
    "notify-test": (
        "send a test message through one channel",
        "Send one test message through a configured channel now; exit 0 when the "
        "provider accepted it, 1 with the provider's reason when it did not.",
    ),
    "simulate": (
        "replay a scenario on a fake clock; nothing is sent",
        "Replay a scenario (failures, recoveries, samples, acks, silences) against the "
        "config on a fake clock, and print who would be told what, and when. Nothing "
        "is probed and nothing is sent, so secrets need not be set: a missing ${VAR} "
        "reads as <VAR>.",
    ),
    "report": (
        "uptime, latency, incidents and notifications over a period",
        "Print a report from the store the config names: uptime and latency per check, "
        "incidents with MTTA and MTTR, and notifications per channel, over --period.",
    ),
    "healthcheck": (
        "exit 0 when a running sentinel answers /ready with 200, else 1",
        "Ask a running sentinel's /ready; exit 0 on 200, else 1 (the container's "
        "HEALTHCHECK). Works without a config file.",
    ),
    "schema": (
        "print the config file's JSON Schema (for editors)",
        "Print the JSON Schema of the config file, for editors' completion and "
        "validation (yaml-language-server, VS Code, JetBrains). Needs no config.",
    ),
    "version": ("print the version", "Print sentinel's version (as --version does)."),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinel",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sentinel {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    cmds = {
        name: sub.add_parser(name, help=summary, description=text)
        for name, (summary, text) in COMMANDS.items()
    }
    for name in ("run", "validate", "check", "oncall", "notify-test", "simulate"):
        cmds[name].add_argument(
            "-c",
            "--config",
            metavar="FILE",
            help="config file (default: $SENTINEL_CONFIG or /etc/sentinel/sentinel.yaml)",
        )
    oncall = cmds["oncall"]
    oncall.add_argument(
        "--at", metavar="TIME", help="ISO 8601 time, naive means UTC (default: now)"
    )
    oncall.add_argument("--schedule", metavar="NAME", help="one schedule (default: all)")
    cmds["check"].add_argument(
        "--only", action="append", metavar="NAME", help="run only this check (repeatable)"
    )
    for name in ("silence", "ack"):
        cmds[name].add_argument(
            "-c", "--config", metavar="FILE", help="config file (for the address and the API token)"
        )
        cmds[name].add_argument("--url", help="sentinel's address (default: from server.listen)")
    actions = cmds["silence"].add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="silence matching alerts for a while",
        description="Silence the alerts whose labels match, from now for --duration.",
    )
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
    listing = actions.add_parser(
        "list",
        help="active and upcoming silences",
        description="List active and upcoming silences.",
    )
    expire = actions.add_parser(
        "expire", help="end a silence now", description="End a silence now."
    )
    expire.add_argument("id", help="the silence's id (sil-...)")
    ack = cmds["ack"]
    for command in (add, listing, expire, ack):
        command.add_argument(
            "--json", action="store_true", help="print the API's JSON instead of a table"
        )
    ack.add_argument("id", help="the alert's id, or its first 6+ characters (as in an SMS)")
    ack.add_argument("--by", default=os.environ.get("USER", ""), help="who (default $USER)")
    ack.add_argument("--undo", action="store_true", help="withdraw the acknowledgement")
    test = cmds["notify-test"]
    test.add_argument("channel", help="a channel name from the config")
    test.add_argument(
        "--to", help="recipient (email, +E.164 number, #channel) if the channel needs one"
    )
    cmds["simulate"].add_argument(
        "--scenario", required=True, metavar="FILE", help="scenario YAML file"
    )
    add_health_arguments(cmds["healthcheck"])
    report = cmds["report"]
    report.add_argument("-c", "--config", metavar="FILE", help="config file (its storage: is read)")
    report.add_argument("--period", default="7d", help="how far back from now (default 7d)")
    report.add_argument(
        "--format", default="table", choices=("table", "markdown", "json"), help="default table"
    )
    cmds["schema"].add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead")
    cmds["run"].add_argument(
        "--force",
        action="store_true",
        help="use a store that `sentinel store copy` marked as moved (two stores may then page)",
    )
    store_cli.add_commands(sub)
    incident_cli.add_command(sub)
    slo_cli.add_commands(sub)
    cluster_cli.add_commands(sub)
    return parser


async def _run(
    config: Config, settings: Settings, env: Mapping[str, str], redactor: Redactor
) -> int:
    """The daemon until SIGTERM/SIGINT: 0 after a clean stop. A start-up failure is one
    ``sentinel_start_failed`` line, everything opened is closed again, and the exit code
    is 2 for an unusable configuration, 1 for anything else (docs/operations.md)."""
    asyncio.get_running_loop().set_exception_handler(loop_exception_handler)
    sys.excepthook, threading.excepthook = log_uncaught, log_thread_crash
    log = structlog.get_logger("sentinel")
    try:
        daemon = Daemon(config, settings, SystemClock(), env, redactor)
        await daemon.run_until_signalled()
    except StartError as exc:
        log.error("sentinel_start_failed", reason=str(exc), exit_code=exc.exit_code)
        return exc.exit_code
    except Exception as exc:
        log.error("sentinel_start_failed", error=type(exc).__name__, exit_code=1, exc_info=exc)
        return 1
    return 0
