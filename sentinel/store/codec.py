"""Rows to objects and back, the same for both stores.

Samples are kept as compact JSON, one ``[name, value]`` or
``[name, value, [[k, v], ...]]`` per sample. The ``up`` and ``duration_seconds``
samples every result starts with (see ``sentinel.runner``) repeat the ``ok`` and
``duration`` columns, so they are left out and rebuilt on read; a result whose
samples do not start with exactly those two is stored whole, behind a leading
``0``, so every result reads back equal to what was written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sentinel.cluster.quorum import View
from sentinel.escalation.incidents import Incident, IncidentEvent
from sentinel.notify.base import Notice
from sentinel.notify.outbox import Delivery, decode_fallback, encode_fallback
from sentinel.probes.results import Result, Sample
from sentinel.routing.silences import Silence
from sentinel.rules.engine import Instance
from sentinel.rules.state import AlertState

dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
loads = json.loads

_WHOLE = 0  # leading marker: the samples are stored whole, nothing to rebuild

RESULT_COLUMNS = "check_name, type, started_at, duration, ok, error, samples"
# Several replicas (docs/sources.md): the end of an inbound alert's last episode and
# when a source last spoke, shared by the members in the ``keys`` table under these
# prefixes (a fingerprint or a source name follows; the value is unix seconds).
END_KEY = "source_end:"
SPOKE_KEY = "source_spoke:"
ALERT_COLUMNS = (
    "fingerprint, rule, check_name, labels, state, active_since, fired_at, last_true, "
    "keep_firing_since, value"
)
VIEW_COLUMNS = "check_name, place, bucket, ok, error, at, duration, member"
SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, author, comment, created_at"
OUTBOX_COLUMNS = (
    "dedup, fingerprint, target, channel, address, notice, fallback, state, attempts, "
    "next_at, created_at, sent_at, error, ref"
)
INCIDENT_COLUMNS = (
    "id, fingerprint, rule, check_name, severity, title, started_at, acked_at, acked_by, "
    "resolved_at, root_cause, resolution, preventive"
)


def _starts_with_derived(r: Result) -> bool:
    samples = r.samples
    if len(samples) < 2:
        return False
    up, duration = samples[0], samples[1]
    return (
        up.name == "up"
        and not up.labels
        and up.value == (1.0 if r.ok else 0.0)
        and duration.name == "duration_seconds"
        and not duration.labels
        and duration.value == r.duration
    )


def encode_samples(r: Result) -> str:
    if _starts_with_derived(r):
        return dumps(
            [[s.name, s.value, s.labels] if s.labels else [s.name, s.value] for s in r.samples[2:]]
        )
    return dumps(
        [
            _WHOLE,
            *([s.name, s.value, s.labels] if s.labels else [s.name, s.value] for s in r.samples),
        ]
    )


def decode_samples(text: str, ok: bool, duration: float) -> tuple[Sample, ...]:
    items: list[Any] = loads(text)
    if items and items[0] == _WHOLE:
        out = []
        items = items[1:]
    else:
        out = [Sample("up", 1.0 if ok else 0.0), Sample("duration_seconds", duration)]
    for item in items:
        if len(item) > 2:
            out.append(Sample(item[0], float(item[1]), tuple((k, v) for k, v in item[2])))
        else:
            out.append(Sample(item[0], float(item[1])))
    return tuple(out)


def result_row(r: Result) -> tuple[Any, ...]:
    return (
        r.check,
        r.type,
        r.started_at.timestamp(),
        r.duration,
        1 if r.ok else 0,
        r.error,
        encode_samples(r),
    )


def result_of(row: Sequence[Any]) -> Result:
    name, type_, started_at, duration, ok, error, samples = row
    return Result(
        check=name,
        type=type_,
        started_at=datetime.fromtimestamp(started_at, UTC),
        duration=duration,
        ok=bool(ok),
        error=error,
        samples=decode_samples(samples, bool(ok), duration),
    )


def alert_row(alert: Instance) -> tuple[Any, ...]:
    st = alert.state
    return (
        alert.fingerprint,
        alert.rule,
        alert.check,
        dumps(alert.labels),
        st.state,
        st.active_since,
        st.fired_at,
        st.last_true,
        st.keep_firing_since,
        alert.value,
    )


def alert_of(row: Sequence[Any]) -> Instance:
    _, rule, check, labels, state, active_since, fired_at, last_true, keep_firing_since, value = row
    return Instance(
        rule,
        check,
        tuple((str(k), str(v)) for k, v in loads(labels)),
        AlertState(state, active_since, fired_at, last_true, keep_firing_since),
        value,
    )


def view_of(row: Sequence[Any]) -> View:
    """From VIEW_COLUMNS."""
    return View(
        check=str(row[0]),
        place=str(row[1]),
        bucket=int(row[2]),
        ok=bool(row[3]),
        error=None if row[4] is None else str(row[4]),
        at=float(row[5]),
        duration=float(row[6]),
        member=str(row[7]),
    )


def silence_row(silence: Silence) -> tuple[Any, ...]:
    return (
        silence.id,
        dumps(silence.matchers),
        silence.starts_at.timestamp(),
        silence.ends_at.timestamp(),
        silence.author,
        silence.comment,
        silence.created_at.timestamp(),
    )


def silence_of(row: Sequence[Any]) -> Silence:
    sid, matchers, starts, ends, author, comment, created = row
    return Silence(
        sid,
        {str(k): str(v) for k, v in loads(matchers).items()},
        datetime.fromtimestamp(starts, UTC),
        datetime.fromtimestamp(ends, UTC),
        author,
        comment,
        datetime.fromtimestamp(created, UTC),
    )


def delivery_row(d: Delivery) -> tuple[Any, ...]:
    return (
        d.dedup,
        d.fingerprint,
        d.target,
        d.channel,
        d.address,
        dumps(d.notice.to_json()),
        encode_fallback(d.fallback),
        d.state,
        d.attempts,
        d.next_at,
        d.created_at,
        d.sent_at,
        d.error,
        None if d.ref is None else dumps(d.ref),
    )


def delivery_update(d: Delivery) -> tuple[Any, ...]:
    """state, attempts, next_at, sent_at, error, ref, then the id."""
    ref = None if d.ref is None else dumps(d.ref)
    return (d.state, d.attempts, d.next_at, d.sent_at, d.error, ref, d.id)


def delivery_of(row: Sequence[Any]) -> Delivery:
    """From ``id, `` + OUTBOX_COLUMNS."""
    (
        rid,
        dedup,
        fp,
        target,
        channel,
        address,
        notice,
        fallback,
        state,
        attempts,
        next_at,
        created_at,
        sent_at,
        error,
        ref,
    ) = row
    return Delivery(
        dedup=dedup,
        fingerprint=fp,
        target=target,
        channel=channel,
        address=address,
        notice=Notice.from_json(loads(notice)),
        next_at=next_at,
        created_at=created_at,
        fallback=decode_fallback(fallback),
        state=state,
        attempts=attempts,
        sent_at=sent_at,
        error=error,
        ref=None if ref is None else loads(ref),
        id=rid,
    )


def incident_row(i: Incident) -> tuple[Any, ...]:
    """In the order of INCIDENT_COLUMNS, which is the order of Incident's fields."""
    return tuple(getattr(i, f.name) for f in fields(Incident))


def event_rows(incident_id: str, events: Sequence[IncidentEvent]) -> list[tuple[Any, ...]]:
    return [(incident_id, e.at, e.kind, e.text, dumps(e.detail)) for e in events]


def ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def dt(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def shared_rows(ended: Mapping[str, float], spoke: Mapping[str, float]) -> list[tuple[str, str]]:
    """``keys`` rows for the ends of episodes and the sources' last words (read back by
    :func:`shared_times`)."""
    rows = [(END_KEY + fp, repr(at)) for fp, at in ended.items()]
    return rows + [(SPOKE_KEY + name, repr(at)) for name, at in spoke.items()]


def shared_times(rows: Sequence[Any]) -> tuple[dict[str, float], dict[str, float]]:
    """The ends of episodes and the sources' last words among ``keys`` rows."""
    ends: dict[str, float] = {}
    spoke: dict[str, float] = {}
    for name, value in rows:
        try:
            at = float(value)
        except ValueError:
            continue
        if name.startswith(END_KEY):
            ends[name[len(END_KEY) :]] = at
        elif name.startswith(SPOKE_KEY):
            spoke[name[len(SPOKE_KEY) :]] = at
    return ends, spoke
