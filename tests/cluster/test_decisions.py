"""Pure cluster decisions on a fake timeline: the database clock's offset, claim
leases, and whether two members' views of an alert are one outage."""

from __future__ import annotations

from datetime import timedelta

from sentinel.clock import FakeClock
from sentinel.cluster.claims import claim_lease
from sentinel.cluster.dbclock import MAX_RTT, DbClock, OffsetClock, offset_of
from sentinel.cluster.membership import lease_held
from sentinel.escalation.gated import SAME_OUTAGE, same_outage
from tests.notify.fakes import alert


def test_offset_is_the_database_clock_minus_ours_at_the_middle_of_the_round_trip() -> None:
    """A query sent at 100.0 and answered at 100.2 that read 400.1: the database is 300 s ahead."""
    assert offset_of(100.0, 100.2, 400.1) == 300.0
    assert offset_of(100.0, 100.0 + MAX_RTT + 0.1, 400.0) is None  # too slow to say
    assert offset_of(100.0, 99.0, 400.0) is None  # our clock went backwards


def test_db_clock_follows_the_database_whatever_the_host_says() -> None:
    """A host 3 minutes ahead, corrected by the measured offset, reads the database's time."""
    fake = FakeClock()
    skewed = OffsetClock(fake, 180.0)
    clock = DbClock(skewed)
    assert clock.now() == fake.now() + timedelta(seconds=180)
    db_now = fake.now().timestamp()  # the database agrees with the true time
    sent = skewed.now().timestamp()
    clock.follow(offset_of(sent, sent, db_now) or 0.0)
    assert clock.now() == fake.now()
    assert clock.seconds == -180.0
    assert clock.monotonic() == fake.monotonic()


async def test_a_lease_not_renewed_in_time_is_lost_on_the_monotonic_clock() -> None:
    """Renewed at t; held until t + lease - margin; a skewed wall clock changes nothing."""
    fake = FakeClock()
    renewed = fake.monotonic()
    await fake.advance(13.9)
    assert lease_held(renewed, fake.monotonic(), 15.0, 1.0)
    await fake.advance(0.1)
    assert not lease_held(renewed, fake.monotonic(), 15.0, 1.0)


def test_an_outbox_claim_outlasts_two_send_attempts() -> None:
    """A row is never taken over while its sender may still be talking to the provider."""
    assert claim_lease(15.0, 2.0) == 15.0
    assert claim_lease(15.0, 10.0) == 25.0


def test_two_views_of_one_outage_fire_a_moment_apart_a_new_outage_later() -> None:
    """Members that fired the same alert seconds apart share its escalation; a firing
    more than SAME_OUTAGE later is another outage (and an unknown firing time never matches)."""
    kept = alert(since=1000.0)
    assert same_outage(kept, alert(since=1000.7))
    assert same_outage(kept, alert(since=1000.0 + SAME_OUTAGE))
    assert not same_outage(kept, alert(since=1000.0 + SAME_OUTAGE + 1))
    assert not same_outage(alert(since=None), alert(since=1000.0))
