"""sms_text: every page is one GSM-7 segment and keeps its acknowledgement reference."""

from __future__ import annotations

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from sentinel.config.models import SmsChannel
from sentinel.notify.base import Folded, Notice
from sentinel.notify.deps import NotifierDeps
from sentinel.notify.render import Renderer
from sentinel.notify.sms import (
    GSM_BASIC,
    GSM_EXTENSION,
    SmsNotifier,
    gsm_cost,
    sms_text,
    to_gsm,
)
from tests.notify.fakes import alert, notice

REFS = st.from_regex(r"[0-9a-f]{4,12}", fullmatch=True)
URLS = st.one_of(
    st.none(),
    st.from_regex(r"https://[a-z]{3,20}\.example\.com/ack/[A-Za-z0-9_\-]{4,120}", fullmatch=True),
)


def in_alphabet(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


@given(rule=st.text(), check=st.text(), summary=st.text(), ref=REFS, url=URLS)
def test_any_text_fits_one_segment(
    rule: str, check: str, summary: str, ref: str, url: str | None
) -> None:
    """Whatever the alert says, the page is one segment of GSM-7 and carries "ACK <ref>"."""
    text = sms_text(f"CRITICAL {rule} {check}: {summary}", ref, url)
    assert gsm_cost(text) <= 160
    assert in_alphabet(text)
    assert f"ACK {ref}" in text


@given(head=st.text(min_size=0, max_size=40), ref=REFS, url=URLS)
def test_url_kept_when_it_fits(head: str, ref: str, url: str | None) -> None:
    """A short head leaves room for the ack URL, which is then included unchanged."""
    text = sms_text(head, ref, url)
    if url is not None and len(url) + len(ref) + 6 + 40 <= 160:
        assert url in text


@given(text=st.text())
def test_without_ref_still_fits(text: str) -> None:
    """A notice with nothing to acknowledge is still one GSM-7 segment."""
    out = sms_text(text)
    assert gsm_cost(out) <= 160
    assert in_alphabet(out)


def test_extension_characters_count_twice() -> None:
    """Characters of the GSM-7 extension table take two septets each."""
    text = sms_text("{" * 200, "abc123")
    assert gsm_cost(text) <= 160
    assert len(text) < 160


def test_transliteration() -> None:
    """Look-alike punctuation is transliterated, accents stripped, emoji dropped."""
    assert to_gsm("Disk \u201cfull\u201d \u2014 na\u00efve caf\u00e9 \U0001f525\n ok\u2026") == (
        'Disk "full" - naive café ok...'
    )


def test_long_url_gives_way_to_the_message() -> None:
    """An ack URL that would crowd out the message is left off; the ref stays."""
    url = "https://sentinel.example.com/ack/" + "x" * 110
    text = sms_text("CRITICAL ServiceDown production-api: the API is down", "a1b2c3", url)
    assert url not in text
    assert text.startswith("CRITICAL ServiceDown production-api")
    assert text.endswith("ACK a1b2c3")


def test_rendered_page() -> None:
    """A firing page reads severity, rule, check, summary, then the ref and the URL."""
    short = Renderer().short(notice(alert=alert(ack_url="https://s.example.com/a/1")))
    assert sms_text(short, "a1b2c3", "https://s.example.com/a/1") == (
        "CRITICAL ServiceDown production-api: production API is not answering "
        "ACK a1b2c3 https://s.example.com/a/1"
    )


def test_digest_fits_one_segment_and_leads_with_the_counts() -> None:
    """A storm digest of 50 alerts is one segment that says first how many fired and
    resolved, then as many of them as fit."""
    down = [alert(fingerprint=f"fp{i}", check=f"api-{i}") for i in range(50)]
    entries = tuple(Folded(kind="firing", at=0.0, alert=a) for a in down[:40]) + tuple(
        Folded(kind="resolved", at=0.0, alert=a, duration=60.0) for a in down[40:]
    )
    digest = Notice(kind="digest", at=0.0, alerts=tuple(down), entries=entries)
    text = sms_text(Renderer().short(digest))  # SmsNotifier.body of a digest
    assert gsm_cost(text) <= 160
    assert in_alphabet(text)
    assert text.startswith(
        "DIGEST 50 alerts: 40 fired, 10 resolved. Fired: CRITICAL ServiceDown api-0;"
    )
    assert text.endswith("...")


@given(rule=st.text(), check=st.text(), summary=st.text(), ref=REFS, url=URLS,
       code=st.integers(min_value=1, max_value=999))  # fmt: skip
def test_a_reply_code_replaces_the_ref_and_always_fits(
    rule: str, check: str, summary: str, ref: str, url: str | None, code: int
) -> None:
    """A page with the recipient's reply code ends "Reply ACK <code>" (the ref is left
    out: the code is what a reply takes), still one GSM-7 segment."""
    text = sms_text(f"CRITICAL {rule} {check}: {summary}", ref, url, str(code))
    assert gsm_cost(text) <= 160
    assert in_alphabet(text)
    assert f"Reply ACK {code}" in text
    assert f"ACK {ref}" not in text


async def test_the_notifier_says_the_rows_reply_code() -> None:
    """SmsNotifier.body of a page whose outbox row carries reply code 4."""
    channel = SmsChannel(type="sms", account_sid="AC1", auth_token="t", **{"from": "+15550109999"})
    async with aiohttp.ClientSession() as session:
        sms = SmsNotifier(channel, NotifierDeps(session, Renderer(), lambda: 0.0))
        assert " Reply ACK 4 https://" in sms.body(notice(reply="4"))
        assert " ACK a1b2c3 https://" in sms.body(notice())
