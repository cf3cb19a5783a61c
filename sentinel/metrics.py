"""Every metric sentinel exports, defined in one place against an injected registry.

Per-check series are kept few (up, last duration, last run time, last sample
values) and produced at scrape time from the latest results, so the probe hot
path only replaces one dict entry. Duration histograms are per check *type*:
a per-check histogram would multiply the series by ten.

The page is built in two steps so that rendering can leave the event loop:
:meth:`Metrics.snapshot` copies what the daemon's live state says (latest results,
alert counts, the history queue) on the loop, the only place it changes, and
:meth:`Metrics.page` turns that copy and prometheus-client's own (locked) metrics
into text in pieces of about 64 KiB, each made in a worker thread and sent before the
next is made, touching nothing the loop mutates. A page of 10,000 checks and 10,000
SLOs is 7.7 MB: made whole (and copied while joined), it left the allocator holding
tens of megabytes after the first scrape (docs/performance.md).

It runs past 400 lines because it is the one table of every metric name: those
registered in :class:`Metrics` and the families written at scrape time (per
check, live, SLOs). Someone looking for a name, or adding one, finds them all
here; splitting the file would scatter that table.
"""

from __future__ import annotations

import itertools
import math
import platform
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sentinel.probes.results import LatestResults, Result
from sentinel.rules.slo_table import Shape, SloTable, budget

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BUILTIN_SAMPLES = frozenset({"up", "duration_seconds"})
RESERVED_LABELS = frozenset({"check", "sample", "type"})


class Metrics:
    def __init__(self, registry: CollectorRegistry, latest: LatestResults, version: str) -> None:
        self.registry = registry
        self.check_runs = Counter(
            "sentinel_check_runs",
            "Check runs by probe type and result (ok or failed).",
            ["type", "result"],
            registry=registry,
        )
        self.check_duration = Histogram(
            "sentinel_check_duration_seconds",
            "How long check runs took, by probe type.",
            ["type"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.scheduler_lateness = Histogram(
            "sentinel_scheduler_lateness_seconds",
            "How late check runs started after their due time.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.scheduler_skipped = Counter(
            "sentinel_scheduler_skipped_runs",
            "Runs not started: overlap (the previous run was still going) or missed.",
            ["reason"],
            registry=registry,
        )
        self.scheduler_in_flight = Gauge(
            "sentinel_scheduler_in_flight_checks",
            "Check runs in progress.",
            registry=registry,
        )
        self.checks_configured = Gauge(
            "sentinel_checks_configured",
            "Configured checks by probe type and whether this build can run them.",
            ["type", "supported"],
            registry=registry,
        )
        self.config_reload_successful = Gauge(
            "sentinel_config_last_reload_successful",
            "1 when the last config load or reload succeeded, 0 when it failed.",
            registry=registry,
        )
        self.config_reload_timestamp = Gauge(
            "sentinel_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully.",
            registry=registry,
        )
        self.store_write_failures = Counter(
            "sentinel_store_write_failures",
            "Failed batch writes of check history (the rows are kept and retried).",
            registry=registry,
        )
        self.notifications = Counter(
            "sentinel_notifications",
            "Notification attempts by channel, channel type and outcome "
            "(sent, retry, failed: a permanent error, dead: given up after max_age, "
            "unanswered: a phone call nobody answered).",
            ["channel", "type", "outcome"],
            registry=registry,
        )
        self.notification_latency = Histogram(
            "sentinel_notification_latency_seconds",
            "From a notification entering the outbox to the provider accepting it.",
            ["type"],
            buckets=(*LATENESS_BUCKETS, 10.0, 30.0, 60.0, 300.0),
            registry=registry,
        )
        self.channel_broken = Gauge(
            "sentinel_channel_broken",
            "1 while a channel is broken: its last attempt failed permanently (bad token, unknown "
            "channel), or it has failed with retryable errors only for 5 minutes.",
            ["channel", "type"],
            registry=registry,
        )
        self.outbox_open = Gauge(
            "sentinel_outbox_pending",
            "Notifications written to the outbox and not yet delivered (pending or held).",
            registry=registry,
        )
        # Several replicas (issue 16, docs/scaling.md); one process shows 1 member, leader.
        self.cluster_members = Gauge(
            "sentinel_cluster_members",
            "Live cluster members as this member saw them at its last heartbeat.",
            registry=registry,
        )
        self.cluster_leader = Gauge(
            "sentinel_cluster_leader",
            "1 while this member holds the cluster's leader lock (and its lease).",
            registry=registry,
        )
        self.cluster_owned_checks = Gauge(
            "sentinel_cluster_owned_checks",
            "Checks each live member owns, as this member computed it.",
            ["member"],
            registry=registry,
        )
        self.cluster_rebalances = Counter(
            "sentinel_cluster_rebalances",
            "Changes of the live member set that moved check ownership.",
            registry=registry,
        )
        self.dead_letters = Counter(
            "sentinel_notifications_dead_letters",
            "Notifications given up after notifications.max_age without delivery.",
            ["channel"],
            registry=registry,
        )
        self.escalations = Counter(
            "sentinel_escalation_pages",
            "Escalation decisions by kind (firing, escalation, repeat, acknowledged, resolved, ...).",
            ["kind"],
            registry=registry,
        )
        self.answers = Counter(
            "sentinel_answers",
            "Answers to pages from where they arrived (via: slack, sms) by outcome: acked, "
            "already (someone had it), gone (that firing is over), silenced, help, "
            "unknown_user, unknown_code, none_open, listed, ignored.",
            ["via", "outcome"],
            registry=registry,
        )
        self.answers_refused = Counter(
            "sentinel_answers_refused",
            "Slack and Twilio callbacks refused or ignored, by reason: unsigned, stale, forged, "
            "replayed (Slack), forged, unknown_number, rate_limited (SMS).",
            ["via", "reason"],
            registry=registry,
        )
        for via, reason in (
            ("slack", "unsigned"),
            ("slack", "stale"),
            ("slack", "forged"),
            ("slack", "replayed"),
            ("sms", "forged"),
            ("sms", "unknown_number"),
            ("sms", "rate_limited"),
        ):
            self.answers_refused.labels(via, reason)
        self.watchdog_pings = Counter(
            "sentinel_watchdog_pings",
            "Dead-man's switch pings by outcome: ok (2xx), failed (refused, timeout, "
            "non-2xx) or skipped_unhealthy (withheld because sentinel is not healthy).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "failed", "skipped_unhealthy"):
            self.watchdog_pings.labels(outcome)
        # Inbound alerts (sources:). ``source`` is a configured name, or "unknown".
        self.source_requests = Counter(
            "sentinel_source_requests",
            "Requests taken from alert sources (authenticated and well-formed).",
            ["source"],
            registry=registry,
        )
        self.source_alerts = Counter(
            "sentinel_source_alerts",
            "Alerts received from sources, by what they changed: fired, resolved, "
            "repeated (a duplicate or resent group), stale (out of order), acknowledged, "
            "unknown.",
            ["source", "outcome"],
            registry=registry,
        )
        self.source_refusals = Counter(
            "sentinel_source_refusals",
            "Requests from sources refused, by reason: unknown_source, auth, malformed, "
            "too_large, unavailable.",
            ["source", "reason"],
            registry=registry,
        )
        self.source_last_spoke = Gauge(
            "sentinel_source_last_request_timestamp_seconds",
            "When each source last sent a request that was taken (unix time).",
            ["source"],
            registry=registry,
        )
        build = Gauge(
            "sentinel_build_info",
            "The running build; always 1.",
            ["version", "python"],
            registry=registry,
        )
        build.labels(version, platform.python_version()).set(1)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self._latest = latest
        self._live = LiveSources()
        self._runs: dict[tuple[str, bool], Counter] = {}
        self._durations: dict[str, Histogram] = {}
        self.lateness = self.scheduler_lateness.observe
        self.skipped_overlap = self.scheduler_skipped.labels("overlap").inc
        self.skipped_missed = self.scheduler_skipped.labels("missed").inc

    def record_result(self, result: Result) -> None:
        """Count one run; children are cached because this runs for every probe."""
        key = (result.type, result.ok)
        runs = self._runs.get(key)
        if runs is None:
            runs = self._runs[key] = self.check_runs.labels(
                result.type, "ok" if result.ok else "failed"
            )
        runs.inc()
        hist = self._durations.get(result.type)
        if hist is None:
            hist = self._durations[result.type] = self.check_duration.labels(result.type)
        hist.observe(result.duration)

    def snapshot(self) -> Snapshot:
        """Copy the live figures; call it on the event loop, where they change."""
        live = self._live
        return Snapshot(
            tuple(self._latest.snapshot()),
            tuple(live.alerts()),
            live.pending(),
            live.dropped(),
            live.slos(),
        )

    def page(self, snapshot: Snapshot) -> Iterator[bytes]:
        """The /metrics page of ``snapshot`` in pieces of about :data:`PIECE` bytes,
        each made when asked for. Safe in a worker thread: it reads the snapshot and
        prometheus-client's metrics (which lock themselves), never the daemon's state;
        successive pieces may be made in different threads."""
        yield generate_latest(_Page(self.registry, snapshot))  # a few dozen families
        lines = check_lines(snapshot.results)
        if snapshot.slos is not None:
            lines = itertools.chain(lines, slo_lines(snapshot.slos))
        yield from pieces(lines)

    def render(self, snapshot: Snapshot | None = None) -> bytes:
        """The whole page at once (tests, tools). Without a snapshot it takes one
        first, so it must then be called on the loop."""
        return b"".join(self.page(self.snapshot() if snapshot is None else snapshot))

    def watch_alerts(self, counts: Callable[[], list[tuple[str, str]]]) -> None:
        """``counts`` lists (state, severity) of every pending or firing alert."""
        self._live.alerts = counts

    def watch_store(self, pending: Callable[[], int], dropped: Callable[[], int]) -> None:
        self._live.pending = pending
        self._live.dropped = dropped

    def watch_slos(self, table: Callable[[], SloTable]) -> None:
        """``table`` is the SLO keeper's latest (replaced whole, never changed)."""
        self._live.slos = table


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The daemon's live figures at one moment, copied on the event loop."""

    results: tuple[Result, ...]
    alerts: tuple[tuple[str, str], ...]  # (state, severity) per pending or firing alert
    pending: int  # results waiting to be written
    dropped: int  # results dropped because the store could not keep up
    slos: SloTable | None = None  # the SLO keeper's statuses (None: no keeper)


_FAMILIES = (
    ("sentinel_check_up", "1 when the check's last run passed."),
    ("sentinel_check_last_duration_seconds", "Duration of the check's last run."),
    ("sentinel_check_last_run_timestamp_seconds", "When the check last ran."),
    ("sentinel_check_sample", "Values the check's last run observed, by sample name."),
)
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _num(value: float) -> str:
    if math.isfinite(value):
        return repr(value)
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _label_name(name: str) -> str:
    name = _LABEL_NAME.sub("_", name)
    if name in RESERVED_LABELS:
        return f"exported_{name}"
    return name if not name[:1].isdigit() else f"_{name}"


PIECE = 64 * 1024  # characters a piece of the page holds at least (but its last)


def pieces(lines: Iterable[str], size: int = PIECE) -> Iterator[bytes]:
    """``lines`` (each ending in a newline) joined into pieces of ``size`` characters
    or a line more, encoded: what is held at once is one piece, never the page, and no
    block is large enough for the allocator to map (and keep) on its own."""
    held: list[str] = []
    length = 0
    for line in lines:
        held.append(line)
        length += len(line)
        if length >= size:
            yield "".join(held).encode()
            held.clear()
            length = 0
    if held:
        yield "".join(held).encode()


def _header(name: str, doc: str) -> str:
    return f"# HELP {name} {doc}\n# TYPE {name} gauge\n"


def check_lines(results: Sequence[Result]) -> Iterator[str]:
    """Per-check series in the Prometheus text format, a line at a time (one pass over
    the results per family).

    Written by hand rather than through prometheus-client's collectors: for
    10,000 checks that library spends about 0.6 CPU-s building and formatting
    sample objects, and this string building about a tenth of it. Check names
    and types are validated identifiers; sample label values are escaped.
    """
    (up, up_doc), (duration, duration_doc), (last_run, last_run_doc), (sample, sample_doc) = (
        _FAMILIES
    )
    yield _header(up, up_doc)
    for r in results:
        yield f'{up}{{check="{r.check}",type="{r.type}"}} {1.0 if r.ok else 0.0}\n'
    yield _header(duration, duration_doc)
    for r in results:
        yield f'{duration}{{check="{r.check}",type="{r.type}"}} {_num(r.duration)}\n'
    yield _header(last_run, last_run_doc)
    for r in results:
        yield f'{last_run}{{check="{r.check}"}} {r.started_at.timestamp()!r}\n'
    yield _header(sample, sample_doc)
    for r in results:
        for smp in r.samples:
            if smp.name in BUILTIN_SAMPLES:
                continue
            extra = "".join(f',{_label_name(k)}="{_escape(v)}"' for k, v in smp.labels)
            yield f'{sample}{{check="{r.check}",sample="{smp.name}"{extra}}} {_num(smp.value)}\n'


class LiveSources:
    """Where :meth:`Metrics.snapshot` reads the running daemon: the history queue, alerts."""

    def __init__(self) -> None:
        self.pending: Callable[[], int] = lambda: 0
        self.dropped: Callable[[], int] = lambda: 0
        self.alerts: Callable[[], list[tuple[str, str]]] = list
        self.slos: Callable[[], SloTable | None] = lambda: None


class _Page(Collector):
    """The registry's metrics, then the live families of one snapshot."""

    def __init__(self, registry: CollectorRegistry, snapshot: Snapshot) -> None:
        self._registry = registry
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
        yield from live_families(self._snapshot)


def live_families(snap: Snapshot) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "sentinel_store_pending_results", "Results waiting to be written.", value=snap.pending
    )
    alerts = GaugeMetricFamily(
        "sentinel_alerts", "Pending and firing alerts.", labels=["state", "severity"]
    )
    counts: dict[tuple[str, str], int] = {}
    for key in snap.alerts:
        counts[key] = counts.get(key, 0) + 1
    for state in ("pending", "firing"):
        for severity in ("critical", "high", "medium", "low"):
            alerts.add_metric((state, severity), counts.get((state, severity), 0))
    yield alerts
    yield CounterMetricFamily(
        "sentinel_store_dropped_results",
        "Results dropped because the store could not keep up.",
        value=snap.dropped,
    )


# -- SLOs (issue 19) ---------------------------------------------------------------------

_SLO_FAMILIES = (
    ("sentinel_slo_objective", "Share of runs that must be good."),
    (
        "sentinel_slo_attainment_ratio",
        "Share of good runs over the SLO window (absent: no runs yet).",
    ),
    (
        "sentinel_slo_error_budget_remaining_ratio",
        "Error budget left over the SLO window: 1 untouched, 0 spent, below 0 overspent.",
    ),
    (
        "sentinel_slo_burn_rate",
        "Bad share over the allowed bad share, per window (1 spends the budget exactly).",
    ),
)


def slo_lines(table: SloTable) -> Iterator[str]:
    """Objective, attainment, budget left and burn rate per window of every SLO, from
    the table the SLO keeper refreshes on the loop, in the Prometheus text format.

    Written by hand, as the per-check series are: 10,000 SLOs are about 80,000 samples,
    which prometheus-client would build as objects at each scrape. A line at a time
    (one pass over the table per family), so the 80,000 lines are never held as
    strings at once. A figure that is None (no runs) is left out.
    SLO names are validated identifiers; they and the window names are escaped all
    the same.
    """
    (objective, objective_doc), attainment, remaining, (burn, burn_doc) = _SLO_FAMILIES
    yield _header(objective, objective_doc)
    for row in table.rows():
        yield f'{objective}{{slo="{_escape(row.slo.name)}"}} {_num(row.slo.ratio)}\n'
    for index, (name, doc) in enumerate((attainment, remaining)):  # budget()'s first two
        yield _header(name, doc)
        for row in table.rows():
            figure = budget(row.good, row.total, row.slo.ratio)[index]
            if figure is not None:
                yield f'{name}{{slo="{_escape(row.slo.name)}"}} {_num(figure)}\n'
    yield _header(burn, burn_doc)
    windows: dict[Shape, tuple[str, ...]] = {}  # per shape: '",window="5m"} ' ...
    for row in table.rows():
        labels = windows.get(row.shape)
        if labels is None:
            labels = windows[row.shape] = tuple(
                f'",window="{_escape(w)}"}} ' for w in row.shape.windows
            )
        named = f'{burn}{{slo="{_escape(row.slo.name)}'
        for window, rate in zip(labels, row.burn, strict=True):
            if not math.isnan(rate):
                yield f"{named}{window}{_num(rate)}\n"
