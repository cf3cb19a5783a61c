"""From pages to outbox rows: one row per route of each target (resolved at send
time, SMS reply codes attached), and the follow-ups (acknowledgements, resolutions,
status updates) to the very addresses told before in this firing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import structlog

from sentinel.escalation import policy as pol
from sentinel.escalation.ledger import Ledger
from sentinel.escalation.targets import resolve
from sentinel.notify.base import AlertFacts, Kind, Notice
from sentinel.notify.outbox import Delivery, Route, then_key

log = structlog.get_logger("sentinel.escalation")
NOTICE_KIND: dict[str, Kind] = {
    "firing": "firing",
    "escalation": "escalation",
    "reescalation": "escalation",
    "repeat": "repeat",
    "acknowledged": "acknowledged",
    "resolved": "resolved",
}
PAGING = frozenset({"firing", "escalation", "repeat"})  # notice kinds a step sends


class Outbound(Ledger):
    """The escalator's outbox rows: pages, and follow-ups to those told."""

    def _deliveries(
        self, progress: pol.Progress, facts: AlertFacts, pages: Iterable[pol.Page], now: float
    ) -> list[Delivery]:
        out: list[Delivery] = []
        for page in pages:
            self._metrics.escalations.labels(page.kind).inc()
            # One key per decision: a repeated tick or a replayed step writes nothing new.
            key = f"{progress.fingerprint}:{progress.fired_at}:{page.kind}:{page.step}"
            key += f":{progress.repeats}:{progress.base}"
            out += self._rows(key, page_notice(facts, page, now), page.targets, now)
        return out

    def _rows(self, key: str, notice: Notice, targets: Iterable[str], now: float) -> list[Delivery]:
        """One outbox row per route of each target, resolved now (on-call at send time);
        a page texted by SMS carries the numbers' reply code."""
        out: list[Delivery] = []
        at = self._clock.now()
        for target in targets:
            routes = resolve(self.config, target, at)
            if not routes:
                log.error("escalation_target_unreachable", target=target)
            for r in routes:
                said = self._with_reply(notice, *r.route)
                row = outbox_row(f"{key}:{target}", said, target, r.route, now, r.fallback)
                if r.after is not None and notice.kind in PAGING:
                    # After the contact's call: written now, sent only if the call fails.
                    call = outbox_row(f"{key}:{target}", notice, target, r.after, now).dedup
                    limit = now + self.config.notifications.max_age
                    row = row.with_(dedup=then_key(call, r.route), state="waiting", next_at=limit)
                out.append(row)
        return out

    def _texted(self, channel: str, address: str | None) -> list[str]:
        """The numbers an SMS row texts (its address, else the channel's ``to``); none
        for a row of another channel type."""
        found = self.config.channels.get(channel)
        if found is None or found.type != "sms":
            return []
        return [address] if address else list(found.to)

    def _with_reply(self, notice: Notice, channel: str, address: str | None) -> Notice:
        alert = notice.alert
        numbers = self._texted(channel, address)
        if alert is None or not numbers or notice.kind not in PAGING:
            return notice
        code = self.replies.code(numbers, alert.fingerprint, alert.firing)
        return replace(notice, reply=str(code))

    async def _follow_up(
        self, progress: pol.Progress, facts: AlertFacts, pages: Iterable[pol.Page], now: float
    ) -> list[Delivery]:
        """Acks and resolutions go to the very addresses told before in this firing
        (the on-call person then, not now), found in the outbox; rows of an earlier
        outage of the same alert are someone else's episode."""
        told = await self._told(progress.fingerprint, facts)
        out: list[Delivery] = []
        for page in pages:
            self._metrics.escalations.labels(page.kind).inc()
            notice = page_notice(facts, page, now)
            key = f"{progress.fingerprint}:{progress.fired_at}:{page.kind}:{now}"
            out += [outbox_row(key, notice, target, route, now) for route, target in told.items()]
        return out

    async def _root_cause(self, fp: str) -> str:
        """The open incident's root cause, when its write-up has one already."""
        opened = self.journal.open.get(fp)
        if opened is None:
            return ""
        try:
            found = await self._store.incident(opened.id)
        except Exception as exc:  # the resolution goes out without it
            log.error("incident_read_failed", incident=opened.id, error=type(exc).__name__)
            return ""
        return found[0].root_cause.strip() if found else ""

    async def _told(self, fingerprint: str, facts: AlertFacts) -> dict[Route, str]:
        """Every address told about this firing so far, with the target that named it."""
        told: dict[Route, str] = {}
        for d in await self._store.deliveries_for(fingerprint):
            alert = d.notice.alert
            if (
                alert is not None
                and alert.firing == facts.firing
                and d.state in ("sent", "merged", "pending", "held")
                and d.notice.kind not in ("resolved", "update", "reminder")
            ):
                told.setdefault((d.channel, d.address), d.target)
        return told

    def _carrying(self, rows: list[Delivery], sms: bool) -> list[Delivery]:
        """Rows on channels that carry an incident's messages: PagerDuty keeps its own
        incident (never), SMS only when asked."""
        skip = {"pagerduty"} | (set() if sms else {"sms"})
        channels = self.config.channels
        return [d for d in rows if d.channel in channels and channels[d.channel].type not in skip]


def outbox_row(
    key: str,
    notice: Notice,
    target: str,
    route: Route,
    now: float,
    fallback: tuple[Route, ...] = (),
) -> Delivery:
    """One outbox row, due now; ``key`` plus the route is its dedup key."""
    channel, address = route
    return Delivery(
        dedup=f"{key}:{channel}:{address}",
        fingerprint=notice.alert.fingerprint if notice.alert else "",
        target=target,
        channel=channel,
        address=address,
        notice=notice,
        next_at=now,
        created_at=now,
        fallback=fallback,
    )


def page_notice(facts: AlertFacts, page: pol.Page, now: float) -> Notice:
    return Notice(
        kind=NOTICE_KIND[page.kind],
        at=now,
        alert=facts,
        step=page.step,
        acked_by=page.acked_by,
        duration=page.duration,
    )
