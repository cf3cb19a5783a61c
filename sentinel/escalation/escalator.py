"""The escalation room's shell: keeps each firing alert's progress, asks the pure
policy what is due, turns pages into outbox rows, and writes both at once.

    rule transition / tick / ack  ->  policy (pure)  ->  targets (pure)  ->  outbox rows
                                          |                                      |
                                     progress  ----- one store transaction -----+
                                                                                 |
                                                                        dispatcher.submit

An alert starts escalating the first time it is firing, not suppressed
(silence, maintenance, inhibition, a failed dependency) and not flapping:
a suppressed alert never pages, and one that stops being suppressed while
still firing starts then. While an escalation runs, a suppression pauses it.
Resolutions and acknowledgements always reach everyone already told in this
firing (:attr:`AlertFacts.firing`), never people told about an earlier outage
of the same alert. A step waits until the earlier steps' notices have left the
dispatcher (sent, merged into a digest, or failed for good), unless their
channel's provider is failing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

import structlog

from sentinel.config.models import Config
from sentinel.escalation import policy as pol
from sentinel.escalation.answers import Answering
from sentinel.escalation.gated import same_outage
from sentinel.escalation.outbound import PAGING, outbox_row
from sentinel.notify.base import AlertFacts, Notice
from sentinel.notify.outbox import Delivery

log = structlog.get_logger("sentinel.escalation")


@dataclass(frozen=True, slots=True)
class Live:
    """A firing alert as the escalator needs to see it on each tick."""

    facts: AlertFacts
    quiet: str | None  # why it is suppressed now, if it is
    flapping: bool
    policy: str | None  # a named policy of the rule, else None for the severity's


class Escalator(Answering):
    async def restore(self) -> None:
        await self.journal.restore()
        for fp, (p, facts) in (await self._stored()).items():
            self.progress[fp], self.facts[fp] = p, facts
        for fp, facts in self.facts.items():
            await self._learn_replies(fp, facts)

    async def _learn_replies(self, fp: str, facts: AlertFacts) -> None:
        """The SMS reply codes this firing's texted pages carry (kept in the outbox)."""
        for d in await self._store.deliveries_for(fp):
            alert = d.notice.alert
            if d.notice.reply.isdigit() and alert is not None and alert.firing == facts.firing:
                for number in self._texted(d.channel, d.address):
                    self.replies.learn(number, int(d.notice.reply), fp, facts.firing)

    async def stored_escalations(self) -> dict[str, tuple[pol.Progress, AlertFacts]] | None:
        """Several replicas: the escalations as stored, their SMS reply codes learned (a
        reply reaches whichever member the load balancer picks, not only the one that
        texted the page). None with one process: its memory is the truth."""
        if self.gate is None:
            return None
        stored = await self._stored()
        for fp, (_, facts) in stored.items():
            await self._learn_replies(fp, facts)
        return stored

    def configure(self, config: Config) -> None:
        """A reload changes targets' meaning (contacts, channels), never a running policy."""
        self.config = config

    # -- events --------------------------------------------------------------

    async def tick(self, live: dict[str, Live]) -> None:
        """Start, pause, resume and advance escalations for the firing alerts ``live``."""
        self.ticking = True
        try:
            async with self._turn:
                await self._tick(live)
        finally:
            self.ticking = False

    def idle(self) -> bool:
        """No tick in flight (tests on a fake clock wait for this before moving time: a
        tick's store write is real I/O)."""
        return not self.ticking

    async def _tick(self, live: dict[str, Live]) -> None:
        if self.gate is not None:
            if not self.gate.acting():
                return
            for fp in self._take_handed(live):
                await self.resolved(fp)
            if not live:
                await self._vanished(set())
                return
            held = await self._gated(list(live)) or set()
            for fp in sorted(await self._vanished(held)):
                # resolved through another member: this one holds the escalation, so
                # the resolution goes from here
                await self.resolved(fp)
                held.discard(fp)
            live = {fp: a for fp, a in live.items() if fp in held}
        for fp, alert in list(live.items()):
            kept = self.facts.get(fp)
            if fp in self.progress and kept is not None and kept.firing != alert.facts.firing:
                if self.gate is not None and same_outage(kept, alert.facts):
                    # Another member started this escalation from its own view of the
                    # alert (it fired there a moment apart): the escalation's identity stays.
                    live[fp] = replace(alert, facts=replace(alert.facts, since=kept.since))
                    continue
                # The outage this escalation was for ended unseen (a crash between the
                # alert's resolution and its notices): close it before the new one.
                await self.resolved(fp)
        now = self._now()
        before = self._snapshot()
        unsettled = self._unsettled()
        changed: list[pol.Progress] = []
        deliveries: list[Delivery] = []
        started: list[AlertFacts] = []
        paged: list[tuple[str, list[pol.Page]]] = []
        for fp, alert in live.items():
            current = self.progress.get(fp)
            if current is None:
                if alert.quiet is not None or alert.flapping:
                    continue
                policy = pol.policy_for(self.config.escalation, alert.facts.severity, alert.policy)
                current = pol.start(fp, policy, now)
                log.info("escalation_started", fingerprint=fp, policy=policy.name)
                self.progress[fp] = current
                changed.append(current)
                started.append(alert.facts)
            self.facts[fp] = alert.facts
            quiet = alert.quiet is not None
            if current.paused != quiet:
                current = pol.pause(current, quiet, now)
                self.progress[fp] = current
                if current not in changed:
                    changed.append(current)
            nxt, pages = pol.due(current, now, unsettled.get(alert.facts.firing, frozenset()))
            if pages or nxt != current:
                self.progress[fp] = nxt
                changed = [p for p in changed if p.fingerprint != fp] + [nxt]
            deliveries += self._deliveries(nxt, alert.facts, pages, now)
            if pages:
                paged.append((fp, pages))
        for facts in started:  # the record opens before its first notice can be logged
            await self.journal.opened(facts, now)
        if changed or deliveries:
            await self._commit(changed, [], deliveries, now, undo=before)
        for fp, pages in paged:
            await self.journal.paged(fp, pages, now)

    async def resolved(self, fp: str) -> None:
        held = await self._gated([fp])
        if held is not None and fp not in held:
            # Another member escalates it (or we may not act now): the resolution is
            # tried again each tick, until the claim is ours or the escalation gone.
            self.handed.add(fp)
            return
        current = self.progress.get(fp)
        if current is None:
            if held:
                await self._release(fp)
            return  # never paged: nobody to tell
        now = self._now()
        before = self._snapshot()
        done, pages = pol.resolve(current, now)
        facts = self.facts.get(fp)
        deliveries = [] if facts is None else await self._follow_up(done, facts, pages, now)
        root_cause = await self._root_cause(fp)
        if root_cause:
            deliveries = [
                d.with_(notice=replace(d.notice, root_cause=root_cause)) for d in deliveries
            ]
        del self.progress[fp]
        self.facts.pop(fp, None)
        await self._commit([], [fp], deliveries, now, undo=before)
        if facts is not None:
            await self._dispatcher.drop_waiting(facts.firing)
        self.replies.drop(fp)
        await self.journal.resolved(fp, now)
        if held:
            await self._release(fp)

    async def flapping(self, facts: AlertFacts, policy: str | None) -> None:
        """One notice to the first step's targets instead of a stream of them."""
        held = await self._gated([facts.fingerprint])
        if held is not None and facts.fingerprint not in held:
            return
        now = self._now()
        steps = pol.policy_for(self.config.escalation, facts.severity, policy).steps
        if not steps:
            return
        notice = Notice(kind="flapping", at=now, alert=facts)
        key = f"flap:{facts.rule}:{facts.check}:{now}"
        await self._commit([], [], self._rows(key, notice, steps[0].notify, now), now)

    async def announce(self, key: str, notice: Notice, targets: Iterable[str]) -> None:
        """A notice that is not about an alert (a scheduled report) to these targets."""
        now = self._now()
        await self._commit([], [], self._rows(f"{key}:{now}", notice, targets, now), now)

    def _unsettled(self) -> dict[str, frozenset[int]]:
        """Per firing, the steps whose pages sentinel itself still holds: queued,
        rate-limited, or held for a storm digest (a permanent failure's fallback is
        queued again, so it counts). A channel whose provider is failing (a row in
        retry) holds nothing back: escalating is the answer to an unreachable
        on-call person, and a retry can last up to ``notifications.max_age``."""
        out: dict[str, set[int]] = {}
        for items in self._dispatcher.lanes().values():
            if any(d.attempts > 0 for d in items):
                continue
            for d in items:
                alert = d.notice.alert
                # a method waiting for a call is the call's business, not sentinel's backlog
                if alert is not None and d.notice.kind in PAGING and d.state != "waiting":
                    out.setdefault(alert.firing, set()).add(d.notice.step)
        return {k: frozenset(v) for k, v in out.items()}

    async def update(self, fp: str, notice: Notice, sms: bool = False) -> int | None:
        """An incident status update to every address told about this firing so far
        (SMS only when ``sms``; PagerDuty keeps its own incident, so never); None when the
        alert is not escalating, else the number of outbox rows written."""
        current, facts = self.progress.get(fp), self.facts.get(fp)
        if current is None or facts is None:
            return None
        now = self._now()
        told = await self._told(fp, facts)
        notice = replace(notice, alert=facts, at=now)
        # Two updates in the same instant are two messages: the text is part of the key.
        digest = hashlib.sha256(repr(notice.update).encode()).hexdigest()[:12]
        key = f"{fp}:{current.fired_at}:update:{now}:{digest}"
        rows = [outbox_row(key, notice, target, route, now) for route, target in told.items()]
        rows = self._carrying(rows, sms)
        if rows:
            await self._commit([], [], rows, now)
        return len(rows)

    async def remind(self, fp: str, notice: Notice, targets: Iterable[str]) -> int:
        """A reminder to write a status update, to ``targets`` as they resolve now."""
        held = await self._gated([fp])
        if held is not None and fp not in held:
            return 0
        now = self._now()
        facts = self.facts.get(fp)
        notice = replace(notice, alert=facts, at=now)
        rows = self._carrying(self._rows(f"{fp}:remind:{now}", notice, targets, now), sms=True)
        if rows:
            await self._commit([], [], rows, now)
        return len(rows)
