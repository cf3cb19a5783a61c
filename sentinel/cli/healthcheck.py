"""``sentinel healthcheck``: ask a running sentinel on this host whether it is ready.

Made for a container's HEALTHCHECK: the standard library only (no curl in the
image), no config needed, one line of output, exit 0 when ``/ready`` answers
200 and 1 otherwise. The address is, in order: ``--url``, ``$SENTINEL_LISTEN``,
``server.listen`` from the config file, then ``127.0.0.1:9464``. A config file
that cannot be read or does not validate falls back to that default rather than
failing: the check is about the running process, not about the file on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TextIO

from sentinel.config import ConfigError, load_config, split_listen

DEFAULT_LISTEN = "127.0.0.1:9464"
DEFAULT_CONFIG = "/etc/sentinel/sentinel.yaml"
TIMEOUT = 3.0
_WILDCARD = {"", "0.0.0.0", "::"}  # noqa: S104 recognises a wildcard listen, binds nothing
_MAX_DETAIL = 200


def ready_url(listen: str) -> str:
    """``0.0.0.0:9464`` -> ``http://127.0.0.1:9464/ready``; a specific host is kept."""
    host, port = split_listen(listen)
    if host in _WILDCARD:
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/ready"


def resolve_url(url: str | None, config: str | None, env: Mapping[str, str]) -> str:
    """The /ready address to ask; see the module docstring for the order."""
    if url:
        return url
    listen = env.get("SENTINEL_LISTEN")
    if not listen:
        path = config or env.get("SENTINEL_CONFIG") or DEFAULT_CONFIG
        try:
            listen = load_config(path, env).server.listen
        except (ConfigError, ValueError):  # ValueError: a file that is not UTF-8
            listen = DEFAULT_LISTEN
    try:
        return ready_url(listen)
    except ValueError:
        return ready_url(DEFAULT_LISTEN)


def probe(url: str, timeout: float = TIMEOUT) -> tuple[bool, str]:
    """GET ``url``: (True, "ready: ...") on 200, else (False, a one-line reason)."""
    # No proxy: an HTTP_PROXY in the container's environment must not divert a
    # request to the loopback address.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 --url or the http:// address of server.listen
    try:
        with opener.open(request, timeout=timeout) as resp:
            status = int(resp.status)
            body = resp.read(4096)
    except urllib.error.HTTPError as exc:
        status = exc.code
        body = exc.read(4096)
    except (OSError, ValueError) as exc:
        # URLError, refused, timeouts (TimeoutError is an OSError); ValueError: a malformed --url.
        reason = getattr(exc, "reason", None) or exc
        return False, _one_line(f"not ready: cannot reach {url}: {reason}")
    if status == 200:
        return True, f"ready: {url}"
    return False, _one_line(f"not ready: {url} answered {status}: {_detail(body)}")


def _detail(body: bytes) -> str:
    """The readiness JSON, compact; anything else as text."""
    try:
        return json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True)
    except ValueError:
        return body.decode(errors="replace")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL + 80 else text[: _MAX_DETAIL + 77] + "..."


def healthcheck(
    url: str | None,
    config: str | None,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    timeout: float = TIMEOUT,
) -> int:
    """The command: 0 when sentinel answers /ready with 200, else 1; one line either way."""
    ok, line = probe(resolve_url(url, config, env), timeout)
    (out if ok else err).write(line + "\n")
    return 0 if ok else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options, shared by ``sentinel --help`` and :func:`command`."""
    parser.add_argument("--url", help="the /ready URL (default: from SENTINEL_LISTEN or config)")
    parser.add_argument(
        "-c", "--config", metavar="FILE", help="config file (only for server.listen; optional)"
    )


def command(argv: Sequence[str]) -> int:
    """``sentinel healthcheck [--url URL] [-c FILE]`` as the console script runs it."""
    parser = argparse.ArgumentParser(
        prog="sentinel healthcheck",
        description="Ask a running sentinel's /ready; exit 0 on 200, else 1.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return healthcheck(args.url, args.config, os.environ, sys.stdout, sys.stderr)
