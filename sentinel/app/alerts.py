"""The alert shell: transition -> persist -> routing -> escalation -> outbox.

One class, :class:`Alerts`, used by the daemon and by ``sentinel simulate``, so
the replay cannot drift from production. The rule engine says what changed
(:class:`~sentinel.rules.engine.Transition`); the shell

1. persists it (``save_alert`` / ``delete_alert``) and only then acts on it: a
   firing wakes the escalation loop, a resolution closes the escalation, a
   flapping alert that is not quiet is announced;
2. answers what the escalator asks on each tick (:meth:`Alerts.live`): the
   firing alerts *whose state has been saved*, with their facts (labels,
   value, error, ack link, who is on call) and their quiet reason (routing:
   dependencies, maintenance, silences, inhibition).

Persist, then act, by structure: :meth:`Alerts.accept` marks the alert unsaved
before the caller gets the coroutine that saves it, and :meth:`Alerts.live`
leaves unsaved alerts out, so the escalation loop never queues a page for an
alert row not yet written. A save that fails is logged and the alert is then
treated as saved: paging through a sick store beats staying silent.

Several replicas (a gated escalator): inbound alerts are shared through the store,
by the :class:`~sentinel.app.alerts_shared.SharedInbound` the shell holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog

from sentinel.app.alerts_holds import InhibitionHolds
from sentinel.app.alerts_shared import SharedInbound
from sentinel.clock import Clock
from sentinel.config import Config
from sentinel.escalation.escalator import Escalator, Live
from sentinel.escalation.facts import alert_facts, external_facts
from sentinel.escalation.targets import who_is_on_call
from sentinel.notify.acklink import make_token
from sentinel.notify.base import AlertFacts
from sentinel.probes.results import Labels, LatestResults
from sentinel.routing.quiet import (
    Held,
    alert_labels,
    why_quiet,
)
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance, RuleEngine, Transition
from sentinel.sources.book import SourceBook
from sentinel.sources.external import External
from sentinel.sources.inbound import Inbound
from sentinel.sources.taken import Checkpoint, Taken
from sentinel.store import Store, StoreError

log = structlog.get_logger("sentinel.daemon")

RULE_TICK = 5.0  # re-evaluate every rule this often, for transitions between results
FOR_MARGIN = 0.005  # past a `for` deadline: uvloop's clock has millisecond resolution
KEPT = ("pending", "firing", "resolved", "cleared")  # transitions the store follows
CACHE_MAX = 10_000  # labels and facts kept for reuse, at most (then start over)

Firing = list[tuple[str, dict[str, str]]]


class Alerts:
    """The one alert shell. ``ack_links``: put signed ack links in the facts
    (the daemon; ``simulate`` has no server to click through to)."""

    def __init__(
        self,
        config: Config,
        rules: RuleEngine,
        latest: LatestResults,
        store: Store,
        escalator: Escalator,
        clock: Clock,
        *,
        ack_links: bool = True,
        on_firing: Callable[[], None] = lambda: None,
    ) -> None:
        self.rules = rules
        self.latest = latest
        self.store = store
        self.escalator = escalator
        self.clock = clock
        self.ack_links = ack_links
        self.on_firing = on_firing  # wakes the escalation loop once a firing is saved
        self.ack_key = b""
        self.silences: list[Silence] = []
        self._unsaved: Counter[str] = Counter()  # fingerprint -> transitions not yet saved
        self._labels: dict[tuple[str, str, Labels], dict[str, str]] = {}
        self._facts: dict[str, tuple[tuple[Any, ...], AlertFacts]] = {}
        self.inhibition = InhibitionHolds(rules, clock, self.labels, store)  # SLO alerts' holds
        self.book = SourceBook()  # inbound alerts (sources:), beside the rules'
        rules.attach(self.book)
        self.replicas = SharedInbound(
            store, self.book, escalator, clock, self._unsaved, self._facts, lambda: self.on_firing()
        )
        escalator.vanished = self.replicas.vanished
        self.configure(config)

    def configure(self, config: Config) -> None:
        self.config = config
        self.book.configure(config)
        self.replicas.configure(config)
        self.check_labels = {c.name: dict(c.labels) for c in config.checks}
        self._labels.clear()
        self._facts.clear()
        self.inhibition.configure(config)

    # -- transitions: persist, then act ---------------------------------------

    def accept(self, t: Transition) -> Coroutine[Any, Any, None]:
        """Take a transition: from now until the returned coroutine has saved it, the
        alert is left out of :meth:`live`. Await the coroutine (simulate) or run it as
        a task (the daemon)."""
        if t.event in KEPT:
            self._unsaved[t.instance.fingerprint] += 1
        self.inhibition.note(t)
        return self._act(t)

    async def _act(self, t: Transition) -> None:
        inst = t.instance
        if t.event in KEPT:
            await self._persist(t)
        if t.event == "firing":
            self.on_firing()
        elif t.event == "resolved":
            try:
                await self.escalator.resolved(inst.fingerprint)
            except Exception as exc:
                log.error(
                    "escalation_failed", fingerprint=inst.fingerprint, error=type(exc).__name__
                )
        elif t.event == "flapping" and self.quiet(inst) is None:
            await self._flapping(inst)

    async def _flapping(self, inst: Instance) -> None:
        if isinstance(inst, External):
            policy = inst.escalation
        else:
            rule = self.rules.rule(inst.rule, inst.check)
            policy = rule.escalation if rule is not None else None
        await self.escalator.flapping(self.facts(inst, self.oncall()), policy)

    async def _persist(self, t: Transition) -> None:
        """Alert state goes to the store at each transition, so a restart resumes it."""
        fp = t.instance.fingerprint
        try:
            try:
                if t.event in ("pending", "firing"):
                    await self.store.save_alert(t.instance)
                else:
                    await self.store.delete_alert(fp)
                    self._facts.pop(fp, None)
            except Exception as exc:
                log.error("alert_save_failed", fingerprint=fp, error=type(exc).__name__)
            await self.inhibition.save()  # an SLO alert's hold it starts or ends (never raises)
        finally:
            self._unsaved[fp] -= 1
            if self._unsaved[fp] <= 0:
                del self._unsaved[fp]

    # -- inbound alerts: decided at once, saved in one transaction, then acted on ----

    async def prepare(self, source: str, batch: Sequence[Inbound]) -> None:
        """Several replicas: the store's word on the batch's alerts, read right before
        :meth:`take` (:meth:`SharedInbound.prepare`). Nothing with one process."""
        await self.replicas.prepare(source, batch)

    def take(
        self, source: str, batch: Sequence[Inbound]
    ) -> tuple[Taken, Coroutine[Any, Any, None]]:
        """What a source's batch changes (decided now), and the coroutine that saves it
        all in one store transaction and then acts on it, as :meth:`accept` does for
        one transition. Until it has saved, the new alerts are left out of :meth:`live`."""
        before = self.book.checkpoint(source, batch)
        taken = self.book.take(source, batch, self.clock.now().timestamp())
        for fp in {t.instance.fingerprint for t in taken.transitions}:
            self._unsaved[fp] += 1  # once each: _act_batch takes it off once
        for t in taken.transitions:
            self.inhibition.note(t)
        return taken, self._act_batch(source, taken, before)

    async def _act_batch(self, source: str, taken: Taken, before: Checkpoint) -> None:
        saved = {t.instance.fingerprint: t.instance for t in taken.transitions}
        final: dict[str, Transition] = {}  # one key may fire and resolve in one batch
        for t in taken.transitions:
            if t.event in ("firing", "resolved"):
                final[t.instance.fingerprint] = t
        kept = [t.instance for t in final.values() if t.event == "firing"]
        kept += [a for a in taken.changed if a.fingerprint not in saved]
        gone = [fp for fp, t in final.items() if t.event == "resolved"]
        ended = [t.instance.fingerprint for t in taken.transitions if t.event == "resolved"]
        try:
            if self.replicas.shared:
                await self.replicas.save(source, taken, kept, gone)
            else:
                await self.store.save_alerts(kept, gone)
            await self.inhibition.save()  # never raises
        except Exception as exc:
            # Persist, then answer: the batch is undone and nothing acts on it; the
            # source is answered 503 and sends it again (web/sources.py).
            log.error("alert_save_failed", source=source, error=type(exc).__name__)
            self.book.undo(before)
            raise StoreError(f"saving alerts of source {source}") from exc
        finally:
            for fp in saved:
                self._unsaved[fp] -= 1
                if self._unsaved[fp] <= 0:
                    del self._unsaved[fp]
            if self.replicas.shared:
                self.book.touch([*saved, *(a.fingerprint for a in kept), *taken.ended])
        for fp in ended:
            self._facts.pop(fp, None)
            try:
                await self.escalator.resolved(fp)
            except Exception as exc:
                log.error("escalation_failed", fingerprint=fp, error=type(exc).__name__)
        for fp in taken.acknowledge:
            await self.escalator.acknowledge(fp, source, "events")
        for t in taken.transitions:
            if t.event == "flapping" and self.quiet(t.instance) is None:
                await self._flapping(t.instance)
        if kept:
            self.on_firing()

    def due_at(self, t: Transition) -> float | None:
        """When a pending alert's ``for`` has elapsed (unix time, just past the
        deadline), to evaluate it then rather than at the next result; None when
        nothing is due."""
        if t.event != "pending":
            return None
        rule = self.rules.rule(t.instance.rule, t.instance.check)
        if rule is None or rule.for_ <= 0:
            return None
        return t.at + rule.for_ + FOR_MARGIN

    # -- what the escalator sees ----------------------------------------------

    def idle(self) -> bool:
        """Every transition taken is saved (tests on a fake clock wait for this before
        moving time: an alert whose row is not written yet is left out of ``live``)."""
        return not self._unsaved

    def live(self, quiet: Callable[[Instance], str | None] | None = None) -> dict[str, Live]:
        """The firing alerts whose state is saved, as the escalator sees them on a
        tick. ``quiet``: the quiet reason of an alert (default :meth:`quiet`)."""
        firing = [
            i
            for i in self.rules.active()
            if i.state.state == "firing" and i.fingerprint not in self._unsaved
        ]
        if not firing:
            return {}
        if quiet is None:
            down, all_firing = self.down(), self.firing()

            def quiet(inst: Instance) -> str | None:
                return self.quiet(inst, down, all_firing)

        oncall = self.oncall()
        live = {}
        for inst in firing:
            if isinstance(inst, External):
                policy = inst.escalation
            else:
                rule = self.rules.rule(inst.rule, inst.check)
                policy = rule.escalation if rule is not None else None
            live[inst.fingerprint] = Live(
                facts=self.facts(inst, oncall),
                quiet=quiet(inst),
                flapping=self.is_flapping(inst),
                policy=policy,
            )
        return live

    def is_flapping(self, inst: Instance) -> bool:
        """A rule's alert flaps with its (rule, check); an inbound alert on its own."""
        if isinstance(inst, External):
            return inst.fingerprint in self.book.flapping
        return (inst.rule, inst.check) in self.rules.flapping

    def oncall(self) -> str | None:
        """Who is on call now (the first schedule's), for the notices."""
        return next(iter(who_is_on_call(self.config, self.clock.now()).values()), None)

    def facts(self, inst: Instance, oncall: str | None) -> AlertFacts:
        """What a notice says about the alert. The same inputs give the same facts
        (rendering the rule's templates each tick would be most of a replay's time)."""
        fp = inst.fingerprint
        result = None if isinstance(inst, External) else self.latest.get(inst.check)
        error = result.error if result is not None else None
        ack_url = self.ack_url(fp, inst.state.fired_at)
        key = (inst.value, error, inst.state.fired_at, oncall, ack_url, inst.labels)
        kept = self._facts.get(fp)
        if kept is not None and kept[0] == key:
            return kept[1]
        if isinstance(inst, External):
            facts = external_facts(inst, self.labels(inst), ack_url, oncall)
        else:
            facts = alert_facts(
                fingerprint=fp,
                rule=self.rules.rule(inst.rule, inst.check),
                rule_name=inst.rule,
                check=inst.check,
                labels=self.labels(inst),
                value=inst.value,
                error=error,
                fired_at=inst.state.fired_at,
                ack_url=ack_url,
                oncall=oncall,
            )
        if len(self._facts) > CACHE_MAX:
            self._facts.clear()
        self._facts[fp] = (key, facts)
        return facts

    def ack_url(self, fingerprint: str, fired_at: float | None) -> str | None:
        """A signed link that acknowledges this firing without the API token, while valid."""
        base = self.config.server.external_url
        if not self.ack_links or not base:
            return None
        expires = self.clock.now().timestamp() + self.config.server.ack_link_ttl
        token = make_token(fingerprint, fired_at, expires, self.ack_key)
        return f"{base.rstrip('/')}/ack/{fingerprint}/{token}"

    # -- routing ----------------------------------------------------------------

    def labels(self, inst: Instance) -> dict[str, str]:
        """An alert's labels as routing sees them: the rule's, the check's, the series'
        (an inbound alert's: its own, its source's and route's)."""
        if isinstance(inst, External):
            return inst.routing_labels()
        key = (inst.rule, inst.check, inst.labels)
        labels = self._labels.get(key)
        if labels is None:
            labels = alert_labels(
                inst.rule,
                inst.check,
                inst.labels,
                self.check_labels.get(inst.check, {}),
                self.rules.rule(inst.rule, inst.check),
            )
            if len(self._labels) > CACHE_MAX:
                self._labels.clear()
            self._labels[key] = labels
        return labels

    def severity(self, inst: Instance) -> str:
        if isinstance(inst, External):
            return inst.severity
        rule = self.rules.rule(inst.rule, inst.check)
        return rule.severity if rule is not None else "high"

    def counts(self) -> list[tuple[str, str]]:
        """(state, severity) of every pending and firing alert: the sentinel_alerts gauge."""
        return [(i.state.state, self.severity(i)) for i in self.rules.active()]

    def down(self) -> set[str]:
        """The checks whose latest result failed."""
        return {name for name, result in self.latest.items() if not result.ok}

    def firing(self) -> Firing:
        """(fingerprint, labels) of every firing alert, for inhibition."""
        return [
            (i.fingerprint, self.labels(i))
            for i in self.rules.active()
            if i.state.state == "firing"
        ]

    def quiet(
        self,
        inst: Instance,
        down: set[str] | None = None,
        firing: Firing | None = None,
        held: Held | None = None,
    ) -> str | None:
        """Why this alert is suppressed now (dependency, maintenance, silence, inhibition)."""
        return why_quiet(
            self.config,
            inst.check,
            self.check_labels.get(inst.check, {}),
            self.labels(inst),
            inst.fingerprint,
            self.clock.now(),
            self.down() if down is None else down,
            self.silences,
            self.firing if firing is None else lambda: firing,
            self.inhibition.held if held is None else lambda: held,
            self.inhibition.hold(inst),
            inst.state.fired_at,
        )
