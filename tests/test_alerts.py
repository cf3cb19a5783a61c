"""The alert shell (sentinel/app/alerts.py): persist, then act, by structure."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.app.alerts import Alerts
from sentinel.clock import FakeClock
from sentinel.config import load_config
from sentinel.escalation.escalator import Escalator
from sentinel.metrics import Metrics
from sentinel.notify.dispatcher import Dispatcher
from sentinel.probes.results import LatestResults, Result, Sample
from sentinel.rules.engine import RuleEngine, Transition
from sentinel.store.sqlite import SqliteStore
from tests.examples import EXAMPLE_ENV, PROJECT_EXAMPLE

CHECK = "production-api"


def failing(check: str, clock: FakeClock) -> Result:
    return Result(
        check=check,
        type="http",
        ok=False,
        started_at=clock.now(),
        duration=0.05,
        error="connection refused",
        samples=(Sample("up", 0.0), Sample("duration_seconds", 0.05)),
    )


async def saved_state(store: SqliteStore, fingerprint: str) -> str | None:
    rows = {a.fingerprint: a.state.state for a in await store.load_alerts()}
    return rows.get(fingerprint)


async def test_an_alert_is_left_out_of_escalation_until_its_row_is_written() -> None:
    """A firing alert whose firing the store has not saved yet is not handed to the escalator (so
    no page is queued for it); once the save is done it is, and the row is there."""
    config = load_config(PROJECT_EXAMPLE, EXAMPLE_ENV)
    clock = FakeClock(datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    store = SqliteStore(":memory:")
    await store.open()
    metrics = Metrics(CollectorRegistry(), LatestResults(), __version__)
    dispatcher = Dispatcher(store, clock, metrics, config.notifications)
    escalator = Escalator(config, store, dispatcher, clock, metrics)
    latest = LatestResults()
    engine = RuleEngine()
    engine.configure(config)
    alerts = Alerts(config, engine, latest, store, escalator, clock, ack_links=False)
    try:
        firing: list[Transition] = []
        for _ in range(20):
            result = failing(CHECK, clock)
            latest.record(result)
            for t in engine.observe(result, clock.now()) + engine.tick(clock.now()):
                if t.event == "firing":
                    firing.append(t)
                else:
                    await alerts.accept(t)
            if firing:
                break
            await clock.advance(15)
        assert firing, "the example's ServiceDown never fired"
        fp = firing[0].instance.fingerprint
        saving = alerts.accept(firing[0])
        assert fp not in alerts.live()  # engine says firing, the row is not written yet
        assert await saved_state(store, fp) == "pending"  # as the pending transition left it
        await saving
        assert await saved_state(store, fp) == "firing"
        assert alerts.live()[fp].facts.check == CHECK
    finally:
        await store.close()
