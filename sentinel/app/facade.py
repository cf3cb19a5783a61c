"""What the web app reads and writes: status, one alert, silences, acks, pings,
readiness, uptime bars and the read-side views.

:class:`Facade` answers from the daemon's parts (:class:`Parts`, which the
daemon provides) without knowing the daemon, so ``daemon.py`` stays lifecycle
and wiring. A single lookup (``alert(ref)``) is answered directly, not by
building the status of every check.
"""

from __future__ import annotations

import hmac
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from sentinel import __version__
from sentinel.app.alerts import Alerts, Firing
from sentinel.app.cluster import Node
from sentinel.clock import Clock, iso
from sentinel.cluster.sharing import Sharing
from sentinel.config import Config
from sentinel.config.checks import HeartbeatCheck
from sentinel.config.models import Channel
from sentinel.escalation.answers import Answered
from sentinel.escalation.desk import Desk
from sentinel.escalation.escalator import Escalator
from sentinel.notify.acklink import check_token
from sentinel.notify.base import Notifier
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.slack import SlackNotifier
from sentinel.probes.heartbeats import HeartbeatBook, PingKind
from sentinel.probes.results import LatestResults, RecentRuns
from sentinel.probes.runner import Armed, CheckRunner
from sentinel.probes.scheduler import Scheduler
from sentinel.routing.silences import silence_from_request
from sentinel.rules.engine import Instance, RuleEngine
from sentinel.rules.slo_keeper import SloKeeper
from sentinel.sources.inbound import Inbound
from sentinel.store import Store
from sentinel.web import views
from sentinel.web.twilio_sms import Open

log = structlog.get_logger("sentinel.daemon")

LOGGED = 20  # a batch of inbound alerts with more transitions is logged as one summary


class Parts(Protocol):
    """What the facade reads of the daemon (it provides them all)."""

    config: Config
    clock: Clock
    store: Store
    latest: LatestResults
    recent: RecentRuns
    rules: RuleEngine
    alerts: Alerts
    escalator: Escalator
    incidents: Desk
    slo_keeper: SloKeeper | None
    dispatcher: Dispatcher
    heartbeats: HeartbeatBook
    runner: CheckRunner
    scheduler: Scheduler
    node: Node
    armed: dict[str, Armed]
    sharing: Sharing | None
    unsupported: dict[str, str]
    notifiers: dict[str, tuple[Channel, Notifier]]
    started_at: datetime

    async def reload(self) -> list[str]: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...


class Facade:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    @property
    def config(self) -> Config:
        return self.parts.config

    @property
    def clock(self) -> Clock:
        return self.parts.clock

    @property
    def store(self) -> Store:
        return self.parts.store

    @property
    def incidents(self) -> Desk:
        return self.parts.incidents

    @property
    def slo_keeper(self) -> SloKeeper | None:
        return self.parts.slo_keeper

    @property
    def recent(self) -> RecentRuns:
        return self.parts.recent

    @property
    def ack_key(self) -> bytes:
        return self.parts.alerts.ack_key

    async def reload(self) -> list[str]:
        return await self.parts.reload()

    def api_token(self) -> str | None:
        token = self.config.server.api_token
        return token.get_secret_value() if token is not None and token.get_secret_value() else None

    def list_silences(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [
            dict(s.to_json(), active=s.active(now))
            for s in self.parts.alerts.silences
            if s.ends_at > now
        ]

    async def add_silence(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new silence from the API; ValueError with a reason for bad input."""
        silence = silence_from_request(body, self.clock.now())
        await self.store.save_silence(silence)
        self.parts.alerts.silences.append(silence)
        log.info(
            "silence_created",
            id=silence.id,
            author=silence.author,
            matchers=silence.matchers,
            ends_at=silence.ends_at.isoformat(),
        )
        return silence.to_json()

    async def expire_silence(self, silence_id: str) -> bool:
        now = self.clock.now()
        for i, silence in enumerate(self.parts.alerts.silences):
            if silence.id == silence_id and silence.ends_at > now:
                expired = replace(silence, ends_at=now)
                await self.store.save_silence(expired)
                self.parts.alerts.silences[i] = expired
                log.info("silence_expired", id=silence_id)
                return True
        return False

    async def ping(self, name: str, kind: PingKind, key: str | None) -> tuple[int, str]:
        """A push from a job: record it, keep it, and re-judge the heartbeat at once."""
        check = next(
            (c for c in self.config.checks if c.name == name and isinstance(c, HeartbeatCheck)),
            None,
        )
        if check is None:
            return 404, "unknown heartbeat"
        if check.key is not None and not hmac.compare_digest(
            (key or "").encode(), check.key.get_secret_value().encode()
        ):
            return 403, "wrong or missing key"
        beat = self.parts.heartbeats.ping(name, kind, self.clock.now())
        log.info("heartbeat_ping", check=name, kind=kind)
        try:
            await self.store.save_heartbeat(name, beat)
        except Exception as exc:
            log.error("heartbeat_save_failed", check=name, error=type(exc).__name__)
            return 503, "recorded but not stored; retry"
        if name in self.parts.armed:
            self.parts.spawn(self.parts.runner.run(name))
        return 200, "OK"

    async def take_alerts(self, source: str, batch: Sequence[Inbound]) -> dict[str, int]:
        """A source's batch: decided now, saved in one transaction, then acted on."""
        await self.parts.alerts.prepare(source, batch)  # several replicas: the store's word
        taken, act = self.parts.alerts.take(source, batch)
        if len(taken.transitions) <= LOGGED:
            for t in taken.transitions:
                inst = t.instance
                log.warning(
                    f"alert_{t.event}",
                    source=source,
                    rule=inst.rule,
                    severity=t.severity,
                    fingerprint=inst.fingerprint,
                )
        else:
            log.warning("source_alerts_taken", source=source, **taken.counts)
        await act
        return taken.counts

    def sources_status(self) -> list[dict[str, Any]]:
        """Each source, when it last spoke, and its open alerts."""
        book = self.parts.alerts.book
        counts = book.open_counts()
        return [
            {
                "name": s.name,
                "type": s.type,
                "last_spoke": iso(book.last_spoke.get(s.name)),
                "open_alerts": counts.get(s.name, 0),
            }
            for s in self.config.sources
        ]

    def find_alert(self, ref: str) -> str | None:
        """The fingerprint a reference names: the whole id or a unique prefix of 6+ chars."""
        ref = ref.strip().lower()
        if len(ref) < 6:
            return None
        known = {i.fingerprint for i in self.parts.rules.active()} | set(
            self.parts.escalator.progress
        )
        known |= set(self.parts.node.shared)  # several replicas: alerts other members evaluate
        found = [fp for fp in known if fp.startswith(ref)]
        return found[0] if len(found) == 1 else None

    async def acknowledge(self, ref: str, by: str, via: str) -> dict[str, Any] | None:
        """Acknowledge a firing alert (``via``: how the answer came); None when no
        escalating alert has that id."""
        fp = self.find_alert(ref)
        if fp is None or not await self.parts.escalator.acknowledge(fp, by, via):
            return None
        return self.alert(fp)

    async def answer(self, fingerprint: str, firing: str, by: str, via: str) -> Answered:
        """An acknowledgement that names its firing (a Slack button, an SMS reply code)."""
        return await self.parts.escalator.answer(fingerprint, firing, by, via)

    async def answer_ref(self, ref: str, by: str, via: str) -> Answered:
        """An acknowledgement by the alert's id (an SMS "ACK a1b2c3"): its current firing."""
        fp = self.find_alert(ref)
        facts = self.parts.escalator.facts.get(fp) if fp is not None else None
        if fp is None or facts is None:
            return Answered("gone", None, None)
        return await self.parts.escalator.answer(fp, facts.firing, by, via)

    def texted(self, number: str) -> list[Open]:
        """The alerts texted to ``number`` whose escalation still runs, by reply code."""
        escalator = self.parts.escalator
        out: list[Open] = []
        for r in escalator.replies.of(number):
            progress, facts = (
                escalator.progress.get(r.fingerprint),
                escalator.facts.get(r.fingerprint),
            )
            if progress is not None and facts is not None and facts.firing == r.firing:
                out.append(Open(r.code, r.fingerprint, r.firing, facts, progress.acked_by))
        return out

    def slack_notifier(self, channel: str) -> SlackNotifier | None:
        """The running notifier of a Slack channel (a button's answers go through it)."""
        found = self.parts.notifiers.get(channel)
        return found[1] if found is not None and isinstance(found[1], SlackNotifier) else None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.parts.spawn(coro)

    async def silence_alert(
        self, fingerprint: str, firing: str, by: str, via: str, seconds: float
    ) -> dict[str, Any] | None:
        """Silence one firing alert (its rule and check) for ``seconds``; None when that
        firing is over. The timeline says who, how and until when."""
        escalator = self.parts.escalator
        facts = escalator.facts.get(fingerprint)
        if facts is None or facts.firing != firing:
            return None
        now = self.clock.now()
        silence = await self.add_silence(
            {
                "matchers": {"alertname": facts.rule, "check": facts.check},
                "duration": f"{seconds:g}s",
                "author": f"{by} via {via}",
                "comment": f"silenced for {seconds / 3600:g}h from {via}",
            }
        )
        await escalator.journal.note(
            fingerprint,
            "note",
            f"silenced until {silence['ends_at']} by {by} via {via}",
            now.timestamp(),
        )
        return silence

    async def unacknowledge(self, ref: str) -> dict[str, Any] | None:
        fp = self.find_alert(ref)
        if fp is None or not await self.parts.escalator.unacknowledge(fp):
            return None
        return self.alert(fp)

    async def escalate_now(self, fingerprint: str, by: str) -> bool:
        """Send the alert's next escalation step at once (a call's keypress "2")."""
        return await self.parts.escalator.escalate_now(fingerprint, by)

    async def call_unanswered(self, fingerprint: str, sid: str, outcome: str) -> bool:
        """A voice call nobody answered: the contact's next method gets the page."""
        return await self.parts.escalator.unanswered(fingerprint, sid, outcome)

    def check_ack_link(self, fingerprint: str, token: str) -> bool | str:
        """The link must name the alert's current firing (a link of an earlier outage
        never acknowledges a later one)."""
        inst = self._instance(fingerprint)
        fired = inst.state.fired_at if inst is not None else None
        now = self.clock.now().timestamp()
        return check_token(fingerprint, token, self.parts.alerts.ack_key, now, fired)

    def alert(self, ref: str) -> dict[str, Any] | None:
        """One alert as the status lists it, looked up alone (not by building the status)."""
        fp = self.find_alert(ref)
        inst = None if fp is None else self._instance(fp)
        return None if inst is None else self._entry(inst, None, None)

    def _instance(self, fingerprint: str) -> Instance | None:
        """The alert as this member evaluates it, else (several replicas) as the store
        had it at the last heartbeat."""
        inst = next((i for i in self.parts.rules.active() if i.fingerprint == fingerprint), None)
        return inst if inst is not None else self.parts.node.shared.get(fingerprint)

    def _entry(
        self, inst: Instance, down: set[str] | None, firing: Firing | None
    ) -> dict[str, Any]:
        alerts = self.parts.alerts
        return views.alert_entry(
            inst,
            alerts.labels(inst),
            alerts.severity(inst),
            alerts.quiet(inst, down, firing),
            alerts.is_flapping(inst),
            self.parts.escalator.progress.get(inst.fingerprint),
        )

    async def uptime_bars(
        self, days: int = 90, checks: list[str] | None = None
    ) -> dict[str, list[float | None]]:
        return await views.uptime_bars(self.store, self.clock.now(), days, checks)

    def maintenance(self) -> list[dict[str, Any]]:
        return views.maintenance_view(self.config, self.clock.now())

    def oncall_now(self) -> list[dict[str, Any]]:
        return views.oncall_view(self.config, self.clock.now())

    def redacted_config(self) -> dict[str, Any]:
        return views.redacted_config(self.config)

    def readiness(self) -> dict[str, Any]:
        age = self.parts.scheduler.last_tick_age()
        running = self.parts.scheduler.running
        fresh = age is not None and age < 10.0
        out: dict[str, Any] = {
            "ready": running and fresh,
            "config_loaded": True,
            "scheduler_running": running,
            "last_tick_age_seconds": None if age is None else round(age, 3),
        }
        member = self.parts.node.readiness()  # empty for one process
        if member:
            out["ready"] = out["ready"] and member["ready"]
            out["cluster_lease_held"] = member["cluster_lease_held"]
            out["reason"] = member["reason"]
        return out

    async def cluster(self) -> dict[str, Any]:
        """Members, locations, leader, leases and claims (``GET /api/v1/cluster``)."""
        return await self.parts.node.status()

    async def store_reachable(self) -> bool:
        return bool(await self.store.ping())

    def status(self) -> dict[str, Any]:
        checks = [
            views.check_entry(c, self.parts.latest.get(c.name), c.name in self.parts.unsupported)
            for c in self.config.checks
        ]
        sharing = self.parts.sharing
        if sharing is not None and sharing.views:  # checks probed from several places
            for entry in checks:
                shown = sharing.views_of(entry["name"])
                if shown:
                    entry["locations"] = shown
        counts = {"up": 0, "down": 0, "pending": 0, "unsupported": 0}
        for entry in checks:
            counts[entry["state"]] += 1
        down, firing = self.parts.alerts.down(), self.parts.alerts.firing()
        alerts = [self._entry(i, down, firing) for i in self.parts.rules.active()]
        lanes = self.parts.dispatcher.lanes()
        channels = [
            {
                "name": name,
                "type": channel.type,
                "broken": self.parts.dispatcher.broken.get(name),
                "pending": len(lanes.get(name, [])),
            }
            for name, (channel, _) in self.parts.notifiers.items()
        ]
        return {
            "version": __version__,
            "started_at": self.parts.started_at.isoformat(),
            "summary": counts,
            "checks": checks,
            "alerts": alerts,
            "channels": channels,
            "sources": self.sources_status(),
        }
