"""Through the real dispatcher: a permanent refusal by SMTP, ntfy or Telegram marks the
channel broken and hands the notice to the contact's next method; a 429 waits what the
provider said; and the first message's ref threads the follow-ups."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import trustme
from prometheus_client import CollectorRegistry

from sentinel.clock import FakeClock
from sentinel.config.models import Notifications, NtfyChannel, SmtpChannel, TelegramChannel
from sentinel.metrics import Metrics
from sentinel.notify.base import Notifier
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.dispatcher import Dispatcher
from sentinel.notify.ntfy import NtfyNotifier
from sentinel.notify.outbox import Delivery
from sentinel.notify.render import Renderer
from sentinel.notify.smtp import SmtpNotifier
from sentinel.notify.telegram import TelegramNotifier
from sentinel.probes.results import LatestResults
from sentinel.store.sqlite import SqliteStore
from tests.notify.fakes import Fault, Ntfy, TelegramBot, notice
from tests.notify.smtp_server import SmtpServer
from tests.notify.test_dispatcher import Scripted, run

TG = "123456789:AAEdispatcherTestTokenSecret_0123"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def dispatcher(
    store: SqliteStore, clock: FakeClock, kind: str, notifier: Notifier, backup: Scripted
) -> tuple[Dispatcher, Metrics]:
    metrics = Metrics(CollectorRegistry(), LatestResults(), "test")
    options = Notifications()
    d = Dispatcher(store, clock, metrics, options, jitter=lambda: 0.5)
    d.configure({"primary": (kind, notifier), "backup": ("sms", backup)}, options)
    await d.start()
    return d, metrics


def row(clock: FakeClock, kind: str = "firing", address: str | None = None) -> Delivery:
    now = clock.now().timestamp()
    n = notice(kind)
    return Delivery(
        dedup=f"d-{kind}",
        fingerprint=n.alert.fingerprint if n.alert else "",
        target="alice",
        channel="primary",
        address=address,
        notice=n,
        next_at=now,
        created_at=now,
        fallback=(("backup", "+15550001111"),),
    )


async def put(d: Dispatcher, store: SqliteStore, clock: FakeClock, rows: list[Delivery]) -> None:
    d.submit(await store.commit_notifications([], rows, clock.now().timestamp()))


async def test_smtp_unknown_mailbox_falls_through(store: SqliteStore) -> None:
    """550 for the contact's address: channel broken, the notice goes on by SMS."""
    clock = FakeClock()
    async with SmtpServer(trustme.CA(), tls="none") as smtp:
        channel = SmtpChannel.model_validate(
            {"type": "smtp", "host": "127.0.0.1", "port": smtp.port, "tls": "none",
             "from": "s@example.com"}
        )  # fmt: skip
        mail = SmtpNotifier(channel, NotifierDeps(None, Renderer(), lambda: 0.0))
        backup = Scripted(clock)
        d, metrics = await dispatcher(store, clock, "smtp", mail, backup)
        await put(d, store, clock, [row(clock, address="nobody@example.com")])
        await run(d, clock, 0.5)
        assert d.broken == {"primary": "recipient"}
        assert [(a, n.kind) for _, n, a, _ in backup.sent] == [("+15550001111", "firing")]
        broken = metrics.registry.get_sample_value(
            "sentinel_channel_broken", {"channel": "primary", "type": "smtp"}
        )
        assert broken == 1
        await d.stop()


async def test_telegram_thread_and_rate_limit_through_the_dispatcher(
    store: SqliteStore, http: aiohttp.ClientSession
) -> None:
    """The firing's ref reaches the acknowledgement (the first message is edited); a 429
    waits parameters.retry_after on the fake clock, then goes through."""
    clock = FakeClock()
    async with TelegramBot(TG) as bot:
        channel = TelegramChannel(type="telegram", token=TG, chat_id=-100123, api_url=bot.url)
        tg = TelegramNotifier(channel, NotifierDeps(http, Renderer(), lambda: 0.0))
        d, _ = await dispatcher(store, clock, "telegram", tg, Scripted(clock))
        bot.inject(Fault(429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 7}}))
        await put(d, store, clock, [row(clock)])
        await run(d, clock, 6.5)
        assert bot.accepted == []
        await run(d, clock, 1.0)
        assert len(bot.accepted) == 1
        await put(d, store, clock, [row(clock, "acknowledged")])
        await run(d, clock, 5.0)
        assert len(bot.edits) == 1
        assert bot.edits[0]["message_id"] == 1
        await d.stop()


async def test_ntfy_bad_token_falls_through(
    store: SqliteStore, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    async with Ntfy("topic1", token="tk_right") as server:
        channel = NtfyChannel(type="ntfy", url=f"{server.url}/topic1", token="tk_wrong")
        push = NtfyNotifier(channel, NotifierDeps(http, Renderer(), lambda: 0.0))
        backup = Scripted(clock)
        d, _ = await dispatcher(store, clock, "ntfy", push, backup)
        await put(d, store, clock, [row(clock)])
        await run(d, clock, 0.5)
        assert d.broken == {"primary": "forbidden"}
        assert len(backup.sent) == 1
        await d.stop()
