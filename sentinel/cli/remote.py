"""``sentinel silence`` and ``sentinel ack``: commands that drive a running sentinel
through its API, printing tables (``--json``: the API's objects, each once).

The address comes from ``--url`` or the config's ``server.listen``, the token from
``$SENTINEL_API_TOKEN`` or ``server.api_token``. Exit 0 on success, 1 when sentinel
cannot be reached or refuses (its reason on stderr), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from sentinel.config import Config, ConfigError, load_config, split_listen
from sentinel.config.settings import Settings
from sentinel.tables import minute, render_table

SILENCE_HEADER = ("ID", "STATE", "ENDS", "MATCHERS", "AUTHOR", "COMMENT")
ALERT_HEADER = ("ID", "RULE", "CHECK", "SEVERITY", "STATE", "ACKNOWLEDGED BY")
MAX_PAGES = 1000  # a list longer than this many pages is cut (it would be a bug)


class ApiError(Exception):
    """sentinel could not be reached or refused the request: one line for stderr."""


class Api:
    """A running sentinel's API, from the command's ``--url`` and ``-c`` config."""

    def __init__(self, args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> None:
        host, port = split_listen(config.server.listen)
        local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 compares, binds nothing
        self.base = (args.url or f"http://{local}:{port}").rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            raise ApiError(f"--url must start with http:// or https:// (got {self.base[:16]!r})")
        self.token = env.get("SENTINEL_API_TOKEN") or (
            config.server.api_token.get_secret_value() if config.server.api_token else ""
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer; ApiError with sentinel's reason otherwise."""
        request = urllib.request.Request(  # noqa: S310 http(s) only, checked in __init__
            urljoin(self.base + "/", path.lstrip("/")),
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 as above
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(f"sentinel answered {exc.code}: {_reason(exc.read())}") from None
        except OSError as exc:
            raise ApiError(f"cannot reach sentinel at {self.base}: {exc}") from None
        except ValueError:
            raise ApiError(f"sentinel at {self.base} did not answer JSON") from None

    def all_items(self, path: str) -> list[Any]:
        """Every item of a paged list, following ``next``."""
        items: list[Any] = []
        following: str | None = path
        for _ in range(MAX_PAGES):
            if following is None:
                break
            page = self.call("GET", following)
            items += page.get("items", [])
            following = page.get("next")
        return items


def remote_command(sub: Any, name: str, summary: str, description: str) -> Any:
    """The parser of a command that reads a running sentinel through its API: with
    ``-c`` (the config, for the address and token) and ``--url``."""
    cmd = sub.add_parser(name, help=summary, description=description)
    cmd.add_argument("-c", "--config", metavar="FILE", help="config file (address and token)")
    cmd.add_argument("--url", help="sentinel's address (default: from server.listen)")
    return cmd


def api_get(args: argparse.Namespace, path: str) -> tuple[Any, int]:
    """``GET path`` from the running sentinel the command names (``-c`` config, else
    ``$SENTINEL_CONFIG`` or the default file, for the address and token; ``--url``):
    (the decoded answer, 0), or (None, the exit status) with the reason on stderr:
    2 for a config that does not load, 1 when sentinel cannot be reached or refuses."""
    env = dict(os.environ)
    try:
        default = str(Settings.model_fields["config"].default)
        config = load_config(args.config or env.get("SENTINEL_CONFIG", default), env)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return None, 2
    try:
        return Api(args, config, env).call("GET", path), 0
    except ApiError as exc:
        print(exc, file=sys.stderr)
        return None, 1


def _reason(body: bytes) -> str:
    """The API's ``{"error": "..."}``, else the body as text."""
    text = body.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return str(data["error"]) if isinstance(data, dict) and "error" in data else text


def silence_rows(silences: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row a silence: an upcoming one says when it starts."""
    rows: list[tuple[str, ...]] = []
    for s in silences:
        state = "active" if s.get("active", True) else f"from {minute(s['starts_at'])}"
        matchers = ", ".join(f"{k}={v}" for k, v in s["matchers"].items())
        rows.append(
            (s["id"], state, minute(s["ends_at"]), matchers, s["author"] or "-", s["comment"])
        )
    return rows


def alert_rows(alerts: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row an alert; its id as short as ``sentinel ack`` takes it (6 characters)."""
    rows: list[tuple[str, ...]] = []
    for a in alerts:
        escalation = a.get("escalation") or {}
        by = escalation.get("acknowledged_by") or "-"
        rows.append((a["fingerprint"][:6], a["rule"], a["check"], a["severity"], a["state"], by))
    return rows


def _print(args: argparse.Namespace, data: Any, text: str) -> int:
    print(json.dumps(data, indent=2) if args.json else text)
    return 0


def silence_command(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """``silence add|list|expire``."""
    try:
        api = Api(args, config, env)
        if args.action == "list":
            silences = api.all_items("/api/v1/silences")
            text = (
                render_table(SILENCE_HEADER, silence_rows(silences))
                if silences
                else "no active or upcoming silences"
            )
            return _print(args, silences, text)
        if args.action == "expire":
            done = api.call("DELETE", f"/api/v1/silences/{args.id}")
            return _print(args, done, f"silence {args.id} expired")
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
        created = api.call("POST", "/api/v1/silences", body)
        return _print(args, created, render_table(SILENCE_HEADER, silence_rows([created])))
    except ApiError as exc:
        print(exc, file=sys.stderr)
        return 1


def ack_command(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """``ack ID [--undo]``: the alert as it stands afterwards."""
    path = f"/api/v1/alerts/{args.id}/" + ("unack" if args.undo else "ack")
    try:
        alert = Api(args, config, env).call(
            "POST", path, None if args.undo else {"by": args.by, "via": "cli"}
        )
    except ApiError as exc:
        print(exc, file=sys.stderr)
        return 1
    return _print(args, alert, render_table(ALERT_HEADER, alert_rows([alert])))
