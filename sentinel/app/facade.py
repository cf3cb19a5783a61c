"""What the web app reads and writes: status, one alert, silences, acks, pings,
readiness, uptime bars and the read-side views.

:class:`Facade` answers from the daemon's parts (:class:`~sentinel.app.reads.Parts`,
which the daemon provides) without knowing the daemon, so ``daemon.py`` stays
lifecycle and wiring. What it reads is :class:`~sentinel.app.reads.Reads` (the
status, one alert, the members, readiness, the views); what is here changes state:
silences, acknowledgements and answers, pings, inbound alerts, reloads.
"""

from __future__ import annotations

import hmac
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any

import structlog

from sentinel.app.reads import Reads
from sentinel.config.checks import HeartbeatCheck
from sentinel.escalation.answers import Answered
from sentinel.notify.acklink import check_token
from sentinel.notify.slack import SlackNotifier
from sentinel.probes.heartbeats import PingKind
from sentinel.routing.silences import silence_from_request
from sentinel.sources.inbound import Inbound
from sentinel.web.twilio_sms import Open

log = structlog.get_logger("sentinel.daemon")

LOGGED = 20  # a batch of inbound alerts with more transitions is logged as one summary


class Facade(Reads):
    """What the web app reads (:class:`~sentinel.app.reads.Reads`) and changes."""

    async def reload(self) -> list[str]:
        return await self.parts.reload()

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

    async def located(self, ref: str) -> str | None:
        """:meth:`find_alert`, and, several replicas, again after reading every member's
        alerts from the store when it found none: an answer may reach this member
        before its heartbeat read the alert (taken by another member a moment ago, or
        while this one was cut off from the store)."""
        fp = self.find_alert(ref)
        if fp is None and await self.parts.node.read_shared():
            fp = self.find_alert(ref)
        return fp

    async def acknowledge(self, ref: str, by: str, via: str) -> dict[str, Any] | None:
        """Acknowledge a firing alert (``via``: how the answer came); None when no
        escalating alert has that id."""
        fp = await self.located(ref)
        if fp is None or not await self.parts.escalator.acknowledge(fp, by, via):
            return None
        return self.alert(fp)

    async def answer(self, fingerprint: str, firing: str, by: str, via: str) -> Answered:
        """An acknowledgement that names its firing (a Slack button, an SMS reply code)."""
        return await self.parts.escalator.answer(fingerprint, firing, by, via)

    async def answer_ref(self, ref: str, by: str, via: str) -> Answered:
        """An acknowledgement by the alert's id (an SMS "ACK a1b2c3"): its current firing."""
        fp = await self.located(ref)
        facts = None if fp is None else await self.parts.escalator.facts_of(fp)
        if fp is None or facts is None:
            return Answered("gone", None, None)
        return await self.parts.escalator.answer(fp, facts.firing, by, via)

    async def texted(self, number: str) -> list[Open]:
        """The alerts texted to ``number`` whose escalation still runs, by reply code
        (several replicas: as stored, whichever member texted them)."""
        escalator = self.parts.escalator
        stored = await escalator.stored_escalations()
        out: list[Open] = []
        for r in escalator.replies.of(number):
            if stored is None:
                progress, facts = (
                    escalator.progress.get(r.fingerprint),
                    escalator.facts.get(r.fingerprint),
                )
            else:
                progress, facts = stored.get(r.fingerprint, (None, None))
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
        fp = await self.located(ref)
        if fp is None or not await self.parts.escalator.unacknowledge(fp):
            return None
        return self.alert(fp)

    async def escalate_now(self, fingerprint: str, by: str) -> bool:
        """Send the alert's next escalation step at once (a call's keypress "2")."""
        return await self.parts.escalator.escalate_now(fingerprint, by)

    async def call_unanswered(self, fingerprint: str, sid: str, outcome: str) -> bool:
        """A voice call nobody answered: the contact's next method gets the page."""
        return await self.parts.escalator.unanswered(fingerprint, sid, outcome)

    async def check_ack_link(self, fingerprint: str, token: str) -> bool | str:
        """The link must name the alert's current firing (a link of an earlier outage
        never acknowledges a later one). Several replicas: a signed link to an alert
        this member does not know yet reads every member's alerts again first."""
        verdict = self._check_link(fingerprint, token)
        unknown = verdict == "over" and self._instance(fingerprint) is None
        if unknown and await self.parts.node.read_shared():
            verdict = self._check_link(fingerprint, token)
        return verdict

    def _check_link(self, fingerprint: str, token: str) -> bool | str:
        inst = self._instance(fingerprint)
        fired = inst.state.fired_at if inst is not None else None
        now = self.clock.now().timestamp()
        return check_token(fingerprint, token, self.parts.alerts.ack_key, now, fired)
