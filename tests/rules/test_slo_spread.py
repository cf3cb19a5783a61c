"""The SLO engine's bookkeeping for many SLOs (issue 19's cost bar): which SLOs count a
check's runs (SLOs naming one check are looked up by name, not tried on every check),
and the pairs' evaluation spread over the minute, a twelfth per 5 s tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinel.config import parse_config
from sentinel.config.references import selects
from sentinel.probes.results import Result
from sentinel.rules.engine import RuleEngine
from sentinel.rules.slo_engine import SloEngine

SELECTORS = """
checks:
  - {name: api, type: http, url: "http://127.0.0.1/", interval: 1m, labels: {team: web}}
  - {name: api-2, type: http, url: "http://127.0.0.1/2", interval: 1m, labels: {team: web}}
  - {name: db, type: tcp, target: "127.0.0.1:5432", interval: 1m, labels: {team: data}}
  - {name: x1, type: tcp, target: "127.0.0.1:1", interval: 1m}
slos:
  - {name: by-label, match: {team: web}, objective: 99%}
  - {name: one, match: {check: api}, objective: 99%}
  - {name: glob, match: {check: "api*"}, objective: 99%}
  - {name: by-type, match: {type: tcp}, objective: 99%}
  - {name: one-and-type, match: {check: db, type: tcp}, objective: 99%}
  - {name: class, match: {check: "x[0-9]"}, objective: 99%}
  - {name: one-again, match: {check: db}, objective: 99%}
  - {name: any, match: {check: "*", team: data}, objective: 99%}
  - {name: one-by-name-too, match: {check: api, team: web}, objective: 99%}
"""


def test_the_slos_covering_a_check_are_those_its_selectors_pick_in_config_order() -> None:
    config = parse_config(SELECTORS, "t.yaml", {})
    engine = SloEngine()
    engine.configure(config)
    for check in config.checks:
        expected = [s.name for s in config.slos if selects(s.match, check, check.type)]
        assert [s.name for s in engine.covering(check.name)] == expected, check.name
    assert [s.name for s in engine.covering("api")] == [
        "by-label",
        "one",
        "glob",
        "one-by-name-too",
    ]
    assert [s.name for s in engine.covering("x1")] == ["by-type", "class"]
    assert [s.name for s in engine.covering("db")] == [
        "by-type",
        "one-and-type",
        "one-again",
        "any",
    ]


def spread_config(count: int) -> str:
    slos = "".join(
        f"  - {{name: s{n:02d}, match: {{check: api}}, objective: 99.9%}}\n" for n in range(count)
    )
    return (
        'checks:\n  - {name: api, type: http, url: "http://127.0.0.1/", interval: 1s}\n'
        f"slos:\n{slos}"
    )


def outage(tick_every: float, minutes: int) -> list[tuple[float, str]]:
    """24 SLOs on one check failing every run after a healthy seeded history; ticks
    every ``tick_every`` s. Returns (seconds since start, SLO) of each page-fast firing."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    slos, rules = SloEngine(), RuleEngine()
    rules.attach(slos)
    rules.configure(parse_config(spread_config(24), "t.yaml", {}))
    slos.seed(start, {s.name: 60 for s in slos.slos})
    fired = []
    for k in range(round(minutes * 60 / tick_every)):
        for i in range(round(tick_every)):
            at = start + timedelta(seconds=k * tick_every + i)
            rules.observe(Result("api", "http", False, at, 0.1), at)
        now = start + timedelta(seconds=(k + 1) * tick_every)
        for t in rules.tick(now):
            if t.event == "firing" and t.instance.rule.endswith(":page-fast"):
                fired.append(((now - start).total_seconds(), t.instance.check))
    return fired


def test_each_slo_is_evaluated_at_its_twelfth_of_the_minute() -> None:
    """Ticking every 5 s, SLO number n is evaluated once a minute, (n % 12) x 5 s past
    it: the same outage fires its fast page at that second."""
    fired = outage(5.0, 3)
    assert sorted(name for _, name in fired) == [f"s{n:02d}" for n in range(24)]
    for at, name in fired:
        assert at % 60 == (int(name[1:]) % 12) * 5, (at, name)
    first = {name: at for at, name in fired}
    assert all(first[f"s{n:02d}"] == first[f"s{n + 12:02d}"] for n in range(12))


def test_ticking_each_minute_evaluates_every_slo_in_config_order() -> None:
    fired = outage(60.0, 3)
    assert [name for _, name in fired] == [f"s{n:02d}" for n in range(24)]
    assert len({at for at, _ in fired}) == 1


def test_a_selector_naming_one_check_compiles_no_pattern() -> None:
    """fnmatch keeps every pattern it compiles (up to 32,768 regular expressions, about
    0.45 kB each): 10,000 one-check SLOs compiled 4.5 MB of them at start. A plain name
    is compared; a glob is still a glob."""
    import fnmatch

    config = parse_config(SELECTORS, "t.yaml", {})
    fnmatch._compile_pattern.cache_clear()  # type: ignore[attr-defined]
    engine = SloEngine()
    engine.configure(config)
    compiled = fnmatch._compile_pattern.cache_info().currsize  # type: ignore[attr-defined]
    assert compiled == 3  # "api*", "x[0-9]" and "*": the globs, not "api" or "db"
    assert [s.name for s in engine.covering("api-2")] == ["by-label", "glob"]
