"""Addresses in the config parsed when it loads, the way the code that uses them will.

Whatever ``sentinel validate`` accepts, ``run`` and ``check`` must be able to
use: a port that is not a number, a host name the resolver cannot encode or a
URL option the client library rejects is a config problem, found here, and
not a traceback at the first run. Messages never repeat the address: it may
hold a password.

    http_url(url)            http(s) URLs: checks, channels, watchdog, external_url
    postgres_dsn(dsn)        what asyncpg.connect accepts
    redis_url(url)           what redis.asyncio.from_url accepts
    host_port(target)        tcp and tls targets, host:port or [v6]:port
    host_name(name)          a DNS name or an IP address (tls server_name)
    storage_url(url)         what the store can open
    check_url(value)         a URL field (plain or secret, None when unset): http_url
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yarl
from pydantic import SecretStr
from redis.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url

from sentinel.config.quote import shown

PLACEHOLDER = re.compile(r"<[A-Za-z_][A-Za-z0-9_]*>")  # an unset ${VAR} under placeholders
_placeholders: ContextVar[bool] = ContextVar("placeholders", default=False)


@contextmanager
def placeholders_allowed() -> Iterator[None]:
    """While it lasts, an address holding a ``<VAR>`` placeholder is taken as it is
    (``sentinel simulate`` loads without secrets and opens no address)."""
    token = _placeholders.set(True)
    try:
        yield
    finally:
        _placeholders.reset(token)


def _parsed(check: Callable[[str], str]) -> Callable[[str], str]:
    @functools.wraps(check)
    def wrapper(value: str) -> str:
        if _placeholders.get() and PLACEHOLDER.search(value):
            return value
        return check(value)

    return wrapper


HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(?P<port>[0-9]{1,5})$")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")


@_parsed
def host_name(host: str) -> str:
    """A host the resolver can look up: an IP address, or a name whose labels IDNA encodes."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(literal.partition("%")[0])
        return host
    except ValueError:
        if literal is not host:
            raise ValueError("the address between [ and ] is not an IPv6 address") from None
    if not host or len(host) > 253:
        raise ValueError("a host name must be 1 to 253 characters")
    try:
        host.encode("idna")
    except UnicodeError:
        raise ValueError("not a valid host name (a label is empty or over 63 characters)") from None
    return host


def _port(text: str | None, what: str = "port") -> None:
    if text is not None and not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise ValueError(f"the {what} must be a number from 1 to 65535")


@_parsed
def host_port(target: str) -> str:
    m = HOST_PORT.fullmatch(target)
    if not m:
        raise ValueError("expected host:port, e.g. db.internal:5432 or [::1]:6379")
    _port(m.group("port"))
    host_name(m.group("host"))
    return target


@_parsed
def http_url(url: str) -> str:
    """An http:// or https:// URL with a host and a usable port."""
    try:
        parsed = yarl.URL(url)
        port = parsed.port
    except (ValueError, TypeError):
        raise ValueError("not a valid URL (check the port and any [IPv6] host)") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError("expected an http:// or https:// URL")
    if not parsed.raw_host:
        raise ValueError("the URL has no host")
    host_name(parsed.raw_host)
    _port(None if port is None else str(port))
    return url


@_parsed
def postgres_dsn(dsn: str) -> str:
    """A libpq URL as asyncpg reads it (asyncpg takes no ``key=value`` DSNs)."""
    scheme, sep, _ = dsn.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ValueError(
            "expected a URL such as postgresql://user:password@host:5432/dbname "
            "(postgres:// works too; key=value DSNs are not supported)"
        )
    try:
        netloc, query = urlsplit(dsn).netloc, urlsplit(dsn).query
    except ValueError:
        raise ValueError("not a valid URL (check any [IPv6] host)") from None
    hosts = netloc.rpartition("@")[2]
    for spec in hosts.split(",") if hosts else ():
        host, port = spec, None
        if spec.startswith("["):
            host, _, rest = spec.partition("]")
            host += "]"
            port = rest[1:] if rest.startswith(":") else None
        elif ":" in spec:
            host, _, port = spec.rpartition(":")
        if host:
            host_name(host)
        _port(port)
    options = dict(parse_qsl(query))
    if options.get("sslmode", "prefer") not in SSLMODES:
        raise ValueError(f"sslmode must be one of {', '.join(SSLMODES)}")
    if options.get("target_session_attrs", "any") not in SESSION_ATTRS:
        raise ValueError(f"target_session_attrs must be one of {', '.join(SESSION_ATTRS)}")
    if "port" in options:
        _port(options["port"], "port option")
    return dsn


@_parsed
def redis_url(url: str) -> str:
    """A URL redis-py's from_url takes, with only the options it knows."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            "expected a URL such as redis://:password@host:6379/0 (or rediss://, unix://)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if parts.hostname:
        host_name(parts.hostname)
    _port(None if port is None else str(port))
    path = parts.path.strip("/")
    if url.startswith("redis") and path and not path.isdigit():
        raise ValueError("the database (the URL's path) must be a number, e.g. /0")
    for key, _ in parse_qsl(parts.query):
        if key not in URL_QUERY_ARGUMENT_PARSERS and key not in ("db", "password", "username"):
            raise ValueError(f"unknown option {shown(key)} in the URL's query")
    try:
        parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    except (ValueError, TypeError):
        raise ValueError("an option in the URL's query has an invalid value") from None
    return url


@_parsed
def storage_url(url: str) -> str:
    """What the store opens: ``sqlite:///abs.db``, ``sqlite:relative.db``, ``sqlite::memory:``,
    or a PostgreSQL DSN (``postgresql://``, ``postgres://``, ``postgresql+asyncpg://``)."""
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if sep and scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        postgres_dsn("postgresql:" + rest)
        return url
    if not sep or scheme != "sqlite":
        raise ValueError(
            "expected sqlite:///absolute/path.db, sqlite:relative/path.db, sqlite::memory: "
            "or postgresql://user@host:5432/db"
        )
    if rest == ":memory:":
        return url
    path = rest[2:] if rest.startswith("//") else rest
    if rest.startswith("//") and not path.startswith("/"):
        raise ValueError("use sqlite:///abs/path.db (three slashes) or sqlite:relative/path.db")
    if not path or path.endswith("/"):
        raise ValueError("the sqlite URL needs a file name")
    return url


def is_placeholder(value: str) -> bool:
    """True for a value holding an unset ``${VAR}`` (read as ``<VAR>``) while
    :func:`placeholders_allowed` lasts: a check of its shape must let it through."""
    return _placeholders.get() and PLACEHOLDER.search(value) is not None


def secret_checked(check: Callable[[str], object]) -> Callable[[SecretStr], SecretStr]:
    """A validator of a secret field: ``check`` reads the secret's text (and raises
    ValueError when it is wrong); the field keeps the secret."""

    def validate(value: SecretStr) -> SecretStr:
        check(value.get_secret_value())
        return value

    return validate


def check_url(value: Any) -> Any:
    """A URL field (plain or secret), unless unset (None): an http(s) URL that works."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text is not None:
        http_url(text)
    return value
