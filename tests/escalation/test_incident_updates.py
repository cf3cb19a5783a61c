"""Incident status updates end to end on a fake clock (issue 20): desk -> escalator ->
outbox -> dispatcher -> real notifiers -> strict provider fakes on loopback."""

from __future__ import annotations

import pytest

from sentinel.escalation.desk import Desk, remind_whom
from sentinel.escalation.escalator import Live
from sentinel.escalation.updates import Draft, UpdateRefused
from tests.escalation import test_timeline
from tests.escalation.test_timeline import World, facts, firing, run, settle

start, world = test_timeline.start, test_timeline.world  # the same fake providers and clock

FP = "f" * 20


def desk(w: World) -> Desk:
    return Desk(w.esc, w.store, w.clock, lambda: w.esc.config)


async def incident_id(w: World) -> str:
    return w.esc.journal.open[FP].id


async def test_an_update_reaches_exactly_those_told_in_the_slack_thread(world: World) -> None:
    """At 17m alice (on call), PagerDuty, Slack and the lead were told; the CTO was not.
    The update goes by email to alice and the lead and as a reply in the alert's Slack
    thread; no SMS (not asked), nothing to PagerDuty, nothing to the CTO."""
    live = firing()
    await run(world, 17 * 60, live)
    mark = len(world.log)
    slack_before = len(world.slack.accepted)
    posted = await desk(world).post(
        await incident_id(world), Draft("identified", "Bad deploy 42", by="alice", eta_in=1800)
    )
    await settle(world)
    after = sorted((p, w) for _, p, w in world.log[mark:])
    assert after == [
        ("mail", "alice@example.com"),
        ("mail", "lead@example.com"),
        ("slack", "chat.postMessage"),
    ]
    assert posted.recipients == 3
    first = world.slack.accepted[0]
    reply = world.slack.accepted[slack_before]
    assert first.json is not None
    assert reply.json is not None
    assert "thread_ts" not in first.json
    roots = [ts for (_, ts), m in world.slack.messages.items() if "thread_ts" not in m]
    assert reply.json["thread_ts"] == roots[0]  # the strict fake checked the thread exists
    assert "Bad deploy 42" in str(reply.json)
    text = world.mail.accepted[-1].json["content"][0]["value"]
    assert "Status: Identified" in text
    assert "Progress: Bad deploy 42" in text
    assert "ETA: 2026-01-05T09:47Z" in text


async def test_sms_only_when_asked_and_never_to_anyone_untold(world: World) -> None:
    live = firing()
    await run(world, 17 * 60, live)
    mark = len(world.log)
    await desk(world).post(await incident_id(world), Draft("monitoring", "Rolled back", sms=True))
    await settle(world)
    texts = sorted(w for _, p, w in world.log[mark:] if p == "sms")
    assert texts == ["+15550100001", "+15550100003"]  # alice and the lead; not the CTO
    body = world.sms.accepted[-1].form["Body"]
    assert "UPDATE MONITORING" in body
    assert "Rolled back" in body


async def test_an_email_update_threads_under_the_first_email(world: World) -> None:
    await run(world, 60, firing())
    await desk(world).post(await incident_id(world), Draft("identified", "Found it"))
    await settle(world)
    to_alice = [
        r.json
        for r in world.mail.accepted
        if r.json["personalizations"][0]["to"][0]["email"] == "alice@example.com"
    ]
    assert len(to_alice) == 2
    first_id = to_alice[0]["headers"]["Message-ID"]
    assert first_id.startswith("<sentinel.")
    assert first_id.endswith("@example.com>")
    assert to_alice[1]["headers"] == {"In-Reply-To": first_id, "References": first_id}


async def test_an_update_after_resolution_is_refused(world: World) -> None:
    live = firing()
    await run(world, 60, live)
    inc = await incident_id(world)
    await world.esc.resolved(FP)
    await settle(world)
    mark = len(world.log)
    with pytest.raises(UpdateRefused, match=r"resolved at .*add a note or the write-up"):
        await desk(world).post(inc, Draft("monitoring", "still watching"))
    await settle(world)
    assert world.log[mark:] == []
    found = await world.store.incident(inc)
    assert found is not None
    assert not [e for e in found[1] if e.kind == "update"]


async def test_a_bad_status_or_empty_text_is_refused_and_nothing_is_sent(world: World) -> None:
    await run(world, 60, firing())
    inc = await incident_id(world)
    mark = len(world.log)
    with pytest.raises(UpdateRefused, match="status must be one of"):
        await desk(world).post(inc, Draft("fixed", "done"))
    with pytest.raises(UpdateRefused, match="text"):
        await desk(world).post(inc, Draft("identified", "   "))
    await settle(world)
    assert world.log[mark:] == []


async def test_a_reminder_fires_after_the_interval_and_stops_after_an_update(
    world: World,
) -> None:
    """Critical, default 30m: acknowledged by alice at 1m, nobody writes an update: alice
    (only her) is reminded at 30m and again at 60m; an update stops the reminders."""
    live = firing()
    d = desk(world)
    await run(world, 60, live)
    await world.esc.acknowledge(FP, "alice", "api")
    await settle(world)
    await run(world, 28 * 60, live, step=60)
    assert await d.remind_due() == []
    mark = len(world.log)
    await run(world, 2 * 60, live, step=60)  # 31m
    inc = await incident_id(world)
    assert await d.remind_due() == [inc]
    await settle(world)
    reminded = sorted((p, w) for _, p, w in world.log[mark:])
    assert reminded == [("mail", "alice@example.com"), ("sms", "+15550100001")]
    assert await d.remind_due() == []  # not again at once
    await run(world, 30 * 60, live, step=60)  # 61m
    assert await d.remind_due() == [inc]
    await d.post(inc, Draft("identified", "Bad deploy 42"))
    await run(world, 3 * 3600, live, step=600)
    assert await d.remind_due() == []
    found = await world.store.incident(inc)
    assert found is not None
    assert [e.kind for e in found[1]].count("reminded") == 2


async def test_an_update_of_investigating_restarts_the_reminder_interval(world: World) -> None:
    live = firing()
    d = desk(world)
    await run(world, 20 * 60, live, step=60)
    inc = await incident_id(world)
    await d.post(inc, Draft("investigating", "Looking at the database"))
    await run(world, 20 * 60, live, step=60)  # 40m: 20m since the update
    assert await d.remind_due() == []
    await run(world, 11 * 60, live, step=60)  # 51m: 31m since the update
    assert await d.remind_due() == [inc]


async def test_the_resolution_carries_duration_acknowledger_and_root_cause(
    world: World,
) -> None:
    live = firing()
    await run(world, 60, live)
    await world.esc.acknowledge(FP, "alice", "api")
    await run(world, 16 * 60, live, step=60)
    inc = await incident_id(world)
    await world.store.write_up(inc, {"root_cause": "deploy 42 dropped an index"}, [])
    await world.esc.resolved(FP)
    await settle(world)
    text = world.mail.accepted[-1].json["content"][0]["value"]
    assert "[RESOLVED]" in text
    assert "Duration: 17m" in text
    assert "Acknowledged by: alice" in text
    assert "Root cause: deploy 42 dropped an index" in text


async def test_an_update_in_a_storm_is_sent_whole_not_folded_into_a_digest(
    world: World,
) -> None:
    """Eight alerts fire at once: alice's pages are held for a storm digest. An update
    posted meanwhile is a person's words: it goes by itself, never inside a digest."""
    live = {
        f"{n}" * 20: Live(facts=facts(fp=f"{n}" * 20), quiet=None, flapping=False, policy=None)
        for n in range(8)
    }
    await world.esc.tick(live)
    inc = world.esc.journal.open["7" * 20].id
    await desk(world).post(inc, Draft("identified", "One root cause for all eight"))
    await run(world, 60, live)
    to_alice = [
        r.json["content"][0]["value"]
        for r in world.mail.accepted
        if r.json["personalizations"][0]["to"][0]["email"] == "alice@example.com"
    ]
    updates = [t for t in to_alice if "Progress: One root cause for all eight" in t]
    assert len(updates) == 1
    assert any("DIGEST" in t for t in to_alice)  # the storm was folded, the update was not


async def test_two_updates_in_the_same_instant_are_both_sent(world: World) -> None:
    await run(world, 60, firing())
    inc = await incident_id(world)
    d = desk(world)
    await d.post(inc, Draft("identified", "First finding"))
    await d.post(inc, Draft("identified", "Second finding"))
    await settle(world)
    texts = [str(r.json["content"]) for r in world.mail.accepted]
    assert sum("First finding" in t for t in texts) == 1  # alice's email
    assert sum("Second finding" in t for t in texts) == 1


async def test_no_reminder_while_the_incident_is_silenced(world: World) -> None:
    await run(world, 60, firing())
    await run(world, 40 * 60, firing(quiet="silenced by s1"), step=60)
    assert await desk(world).remind_due() == []


def test_the_acknowledger_is_reminded_whatever_way_they_acknowledged() -> None:
    """An ack is recorded as "alice via voice" (or slack, sms, api): the reminder still
    goes to the contact alice, not to the first step as if alice were unknown."""
    contacts = {"alice": object(), "bob": object()}
    assert remind_whom("alice via voice", contacts, ["ops"]) == ["alice"]
    assert remind_whom("alice via slack", contacts, ["ops"]) == ["alice"]
    assert remind_whom("carol via api", contacts, ["ops"]) == ["ops"]
    assert remind_whom(None, contacts, ["ops"]) == ["ops"]
