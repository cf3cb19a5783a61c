"""Schemathesis against the running daemon's own OpenAPI document: every operation,
generated requests, and every response checked against the document."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sentinel.app.daemon import Daemon
from sentinel.clock import SystemClock
from sentinel.config import load_config, secret_values
from sentinel.config.settings import Settings
from sentinel.logs import Redactor
from tests.conftest import free_port
from tests.web.test_api import AUTH, config_text

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
EXAMPLES = 25
NEGATIVE_EXAMPLES = 10
ALL_PHASES = list(Phase)
# Seconds one generated request may take: a few ms alone, seconds when the 2-core host
# is shared by several test runs (a timed-out request fails, its replay then passes).
REQUEST_TIMEOUT = 60


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    """A real daemon on loopback, in a thread with its own event loop, since
    schemathesis calls it synchronously."""
    path = tmp_path / "sentinel.yaml"
    # ignored_auth sends a wrong token after every accepted request: far more than the
    # default 10 per address, and 429s would then hide every operation behind them.
    text = config_text(tmp_path, free_port(), heartbeats=5)
    path.write_text(text.replace("server:\n", "server:\n  auth_failures: {burst: 1000000}\n", 1))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    found: list[str] = []

    async def serve() -> None:
        config = load_config(path, {})
        redactor = Redactor()
        redactor.set_secrets(secret_values(config))
        daemon = Daemon(config, Settings(config=str(path)), SystemClock(), {}, redactor)
        await daemon.start()
        try:
            host, port = daemon.listening[0]
            found.append(f"http://{host}:{port}")
            started.set()
            await stop.wait()
        finally:
            await daemon.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(15), "the daemon did not start"
    # An open incident and a firing alert, so their operations have something to find.
    with requests.Session() as http:
        for _ in range(200):
            if http.get(f"{found[0]}/api/v1/incidents", timeout=5).json()["total"]:
                break
            threading.Event().wait(0.05)
    yield found[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


def runner(
    strategy: SearchStrategy[schemathesis.Case[Any]],
    examples: int,
    phases: list[Phase],
    checks: list[CheckFunction],
    base_url: str,
    session: requests.Session,
) -> Callable[[], None]:
    """A Hypothesis test: each generated request is sent (with the token) and checked."""

    # Replays must see what the first run saw, or Hypothesis calls the example flaky
    # ("Inconsistent results", "Unreliable assumption", FlakyFailure) instead of
    # reporting it. So: no deadline and no speed health checks (a loaded host is slow,
    # not wrong); the same examples every run (derandomize: CI runs what ran here); and
    # a request timeout (REQUEST_TIMEOUT) that a loaded host does not reach but a hang does.
    @given(case=strategy)
    @settings(
        max_examples=examples,
        phases=phases,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(
            base_url=base_url,
            session=session,
            headers=AUTH,
            checks=checks,
            timeout=REQUEST_TIMEOUT,
        )

    return run


def known_ids(base_url: str) -> dict[str, dict[str, str]]:
    """Real path parameters per path prefix, so generated requests reach real objects
    too (random ids only ever find a 404)."""
    with requests.Session() as http:
        incident = http.get(f"{base_url}/api/v1/incidents", timeout=5).json()["items"][0]
    return {
        "/api/v1/checks/": {"name": "dead"},
        "/api/v1/alerts/": {"id": incident["fingerprint"]},
        "/api/v1/incidents/": {"id": incident["id"]},
    }


# About 30 operations, each a few dozen generated requests: about 150 s alone here, and
# 354 s measured with the 2-core host at load 9 (several test runs): 900 s.
@pytest.mark.timeout(900)
def test_every_operation_conforms_to_the_document(base_url: str) -> None:
    """Generated requests to every documented operation, with random and with real ids:
    no 5xx, auth enforced, and every status, content type and body as documented."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    known = known_ids(base_url)
    failures: list[str] = []
    operations = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                failures.append(f"invalid operation in the document: {result.err()}")
                continue
            operation = result.ok()
            operations += 1
            runs = [(operation.as_strategy(), EXAMPLES, CHECKS, ALL_PHASES)]
            runs += [
                (operation.as_strategy(path_parameters=ids), EXAMPLES, CHECKS, ALL_PHASES)
                for prefix, ids in known.items()
                if operation.path.startswith(prefix)
            ]
            # Invalid input (wrong types, out-of-range numbers, missing fields) must be
            # refused with a 4xx; generation only, as shrinking these is slow.
            negative = operation.as_strategy(GenerationMode.NEGATIVE)
            runs.append(
                (negative, NEGATIVE_EXAMPLES, [*CHECKS, negative_data_rejection], [Phase.generate])
            )
            for strategy, examples, checks, phases in runs:
                run = runner(strategy, examples, phases, checks, base_url, session)
                try:
                    run()
                except Unsatisfiable:
                    assert strategy is negative  # nothing about it can be invalid (no input)
                except Exception as exc:  # collect every operation's failure, then fail once
                    failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 25
    assert not failures, "\n\n".join(failures)
