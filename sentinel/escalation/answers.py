"""The answer path: an acknowledgement (whatever it came through), an answer that
names its firing (a Slack button, an SMS reply code), a keypress asking for the next
step now, a call nobody answered, and taking an acknowledgement back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from sentinel.escalation import policy as pol
from sentinel.escalation.gated import Gated
from sentinel.escalation.incidents import shown_target
from sentinel.escalation.outbound import Outbound
from sentinel.notify.base import AlertFacts

log = structlog.get_logger("sentinel.escalation")


@dataclass(frozen=True, slots=True)
class Answered:
    """What an acknowledgement that names its firing did: ``acked`` (now, ``by`` is
    "<who> via <how>"), ``already`` (``by`` had it first) or ``gone`` (that firing's
    escalation is over; ``facts`` of the alert's current one, if any)."""

    outcome: Literal["acked", "already", "gone"]
    by: str | None
    facts: AlertFacts | None


class Answering(Outbound, Gated):
    """The escalator's answer path."""

    async def acknowledge(self, fp: str, by: str, via: str) -> bool:
        """Stop the escalation at once and tell everyone told so far; False if unknown.

        The one way every acknowledgement goes, whatever it came through (``via``: api,
        cli, link, page, slack, sms, voice, or an alert source's name): the timeline and
        the notices say "<by> via <via>", and the follow-up notices reach every address
        told in this firing (Slack's message edited, PagerDuty acknowledged, ...)."""
        await self._reread(fp)
        current = self.progress.get(fp)
        if current is None:
            return False
        now = self._now()
        by = f"{by} via {via}"
        nxt, pages = pol.acknowledge(current, by, now)
        if nxt == current:
            return True
        before = self._snapshot()
        self.progress[fp] = nxt
        facts = self.facts[fp]
        follow_up = await self._follow_up(nxt, facts, pages, now)
        await self._commit([nxt], [], follow_up, now, undo=before)
        await self._dispatcher.drop_waiting(facts.firing)  # keypress 1: no text after the call
        await self.journal.acknowledged(fp, by, now)
        log.info("alert_acknowledged", fingerprint=fp, by=by)
        return True

    async def answer(self, fp: str, firing: str, by: str, via: str) -> Answered:
        """Acknowledge ``firing`` of the alert only (a Slack button, an SMS reply code
        say which outage they were sent about), saying who had it first if someone did.
        Several replicas: the click may reach a member that does not escalate the alert,
        so the stored progress is read first, as :meth:`acknowledge` does."""
        await self._reread(fp)
        current, facts = self.progress.get(fp), self.facts.get(fp)
        if current is None or facts is None or facts.firing != firing:
            return Answered("gone", None, facts)
        if current.acked:
            return Answered("already", current.acked_by, facts)
        await self.acknowledge(fp, by, via)
        return Answered("acked", self.progress[fp].acked_by, facts)

    async def facts_of(self, fp: str) -> AlertFacts | None:
        """The escalating alert's facts (several replicas: as stored, whichever member
        escalates it); None when it does not escalate."""
        await self._reread(fp)
        return self.facts.get(fp)

    async def escalate_now(self, fp: str, by: str) -> bool:
        """Send the next step at once (a call's keypress "2"); False if nothing to send."""
        await self._reread(fp)
        current = self.progress.get(fp)
        if current is None:
            return False
        now = self._now()
        nxt, pages = pol.escalate_now(current, now)
        if not pages:
            return False
        self.progress[fp] = nxt
        await self._commit([nxt], [], self._deliveries(nxt, self.facts[fp], pages, now), now)
        await self.journal.note(fp, "escalated", f"escalated now by {by}", now)
        await self.journal.paged(fp, pages, now)
        log.info("escalated_now", fingerprint=fp, by=by, step=pages[0].step)
        return True

    async def unanswered(self, fp: str, sid: str, outcome: str) -> bool:
        """A call (Twilio ``sid``) for this firing was not answered (``outcome``: busy,
        no-answer, failed, canceled, machine_*): its delivery fails and the contact's
        next method gets the page. False when the call is unknown, already failed,
        or the alert was acknowledged or resolved meanwhile (nothing left to say).
        Several replicas: Twilio's callback reaches any member; the stored progress is
        read first, as for an acknowledgement."""
        await self._reread(fp)
        current = self.progress.get(fp)
        if current is None or current.acked or current.resolved:
            return False
        firing, now = self.facts[fp].firing, self._now()
        rows = await self._store.deliveries_for(fp)
        for d in rows:
            alert = d.notice.alert
            if (
                d.state == "sent"
                and d.ref is not None
                and sid in d.ref.get("sid", "").split(",")
                and alert is not None
                and alert.firing == firing
            ):
                await self.journal.note(
                    fp,
                    "note",
                    f"call to {shown_target(d.target, False)} not answered ({outcome})",
                    now,
                )
                then = [x for x in rows if x.waits_for == d.dedup]
                await self._dispatcher.unanswered(d, outcome, then)
                return True
        return False

    async def unacknowledge(self, fp: str) -> bool:
        await self._reread(fp)
        current = self.progress.get(fp)
        if current is None or not current.acked:
            return False
        nxt = pol.unacknowledge(current, self._now())
        before = self._snapshot()
        self.progress[fp] = nxt
        await self._commit([nxt], [], [], self._now(), undo=before)
        await self.journal.acknowledged(fp, None, self._now())
        return True
