"""Ack links as timelines: made when the alert fires, good until expiry, refused after or if touched."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.notify.acklink import TOKEN_LENGTH, ack_path, check_token, make_token

KEY = b"k" * 32
FINGERPRINT = "0123456789abcdef0123"  # 20 hex characters, like every alert's
FIRED = datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp()
EXPIRES = FIRED + 4 * 3600


def test_round_trip_until_expiry() -> None:
    """Made at firing for 4h: good at once and at 3h59m59s."""
    token = make_token(FINGERPRINT, FIRED, EXPIRES, KEY)
    assert check_token(FINGERPRINT, token, KEY, now=FIRED, firing=FIRED) is True
    assert check_token(FINGERPRINT, token, KEY, now=EXPIRES - 1, firing=FIRED) is True


def test_expiry_is_exclusive() -> None:
    """At the expiry second the link is refused as expired, and stays so."""
    token = make_token(FINGERPRINT, FIRED, EXPIRES, KEY)
    assert check_token(FINGERPRINT, token, KEY, now=EXPIRES - 0.001, firing=FIRED) is True
    assert check_token(FINGERPRINT, token, KEY, now=EXPIRES, firing=FIRED) == "expired"
    assert check_token(FINGERPRINT, token, KEY, now=EXPIRES + 86400, firing=FIRED) == "expired"


def test_fractional_expiry_rounds_down() -> None:
    """An expiry of 10.9s is kept as 10s: rounding never lengthens a link's life."""
    token = make_token(FINGERPRINT, FIRED, 10.9, KEY)
    assert check_token(FINGERPRINT, token, KEY, now=9.999, firing=FIRED) is True
    assert check_token(FINGERPRINT, token, KEY, now=10.0, firing=FIRED) == "expired"


def test_other_fingerprint_is_refused() -> None:
    """A token for one alert does not acknowledge another, even one sharing its prefix."""
    token = make_token(FINGERPRINT, FIRED, EXPIRES, KEY)
    for other in ("0123456789abcdef0124", FINGERPRINT[:12], FINGERPRINT + "0", ""):
        assert check_token(other, token, KEY, now=FIRED, firing=FIRED) == "bad signature", other


def test_wrong_key_is_refused() -> None:
    """A token signed with another key (an old or a stranger's) is a bad signature."""
    token = make_token(FINGERPRINT, FIRED, EXPIRES, b"another key")
    assert check_token(FINGERPRINT, token, KEY, now=FIRED, firing=FIRED) == "bad signature"
    assert check_token(
        FINGERPRINT, make_token(FINGERPRINT, FIRED, EXPIRES, KEY), b"", FIRED, firing=FIRED
    ) == ("bad signature")


@pytest.mark.parametrize("position", range(TOKEN_LENGTH))
def test_any_changed_character_is_refused(position: int) -> None:
    """Changing any one character, in the expiry or in the MAC, breaks the signature."""
    token = make_token(FINGERPRINT, FIRED, EXPIRES, KEY)
    changed = "A" if token[position] != "A" else "B"
    tampered = token[:position] + changed + token[position + 1 :]
    assert check_token(FINGERPRINT, tampered, KEY, now=FIRED, firing=FIRED) == "bad signature"


def test_forged_expiry_says_bad_signature_not_expired() -> None:
    """A token whose expiry was edited is refused for its signature whatever date it names."""
    token = make_token(FINGERPRINT, FIRED, FIRED - 60, KEY)  # already expired
    assert check_token(FINGERPRINT, token, KEY, now=FIRED, firing=FIRED) == "expired"
    longer = "_" + token[1:]  # the expiry's top six bits set: a date in 2103
    assert check_token(FINGERPRINT, longer, KEY, now=FIRED, firing=FIRED) == "bad signature"


@pytest.mark.parametrize(
    "token",
    ["", "short", "A" * (TOKEN_LENGTH - 1), "A" * (TOKEN_LENGTH + 1), "A" * 19 + "=", "é" * 24],
)
def test_malformed_tokens(token: str) -> None:
    """Wrong length or characters outside base64url are malformed, before any MAC is computed."""
    assert check_token(FINGERPRINT, token, KEY, now=FIRED, firing=FIRED) == "malformed"


def test_token_length_and_alphabet() -> None:
    """Every token is 24 URL-safe characters, with no padding to escape."""
    for expires in (0, FIRED, EXPIRES, 2**32 - 1):
        token = make_token(FINGERPRINT, FIRED, expires, KEY)
        assert len(token) == TOKEN_LENGTH == 24
        assert set(token) <= set(string.ascii_letters + string.digits + "-_")


def test_link_fits_an_sms() -> None:
    """The whole link leaves over half of a 160-character SMS for the alert itself."""
    token = make_token(FINGERPRINT, FIRED, EXPIRES, KEY)
    link = "https://sentinel.example.com" + ack_path(FINGERPRINT, token)
    assert link == f"https://sentinel.example.com/ack/{FINGERPRINT}/{token}"
    assert len(link) <= 80


@pytest.mark.parametrize("expires", [-1, 2**32, float("inf")])
def test_expiry_out_of_range_is_refused_when_made(expires: float) -> None:
    """An expiry before 1970 or after 2106 does not fit four bytes: make_token says so."""
    with pytest.raises((ValueError, OverflowError)):
        make_token(FINGERPRINT, FIRED, expires, KEY)


def test_empty_key_is_refused_when_made() -> None:
    """Signing with an empty key is a configuration mistake, not a token."""
    with pytest.raises(ValueError, match="empty"):
        make_token(FINGERPRINT, FIRED, EXPIRES, b"")


@given(fingerprint=st.text(), token=st.text(), now=st.floats(allow_nan=True))
def test_arbitrary_input_never_raises(fingerprint: str, token: str, now: float) -> None:
    """Whatever a visitor puts in the URL, the answer is a refusal, never an exception."""
    assert check_token(fingerprint, token, KEY, now, firing=FIRED) in (
        "malformed",
        "outdated",
        "bad signature",
        "expired",
    )


@given(
    token=st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=24, max_size=24)
)
def test_well_formed_guesses_are_bad_signatures(token: str) -> None:
    """A token of the right shape that nobody signed is a bad signature."""
    assert check_token(FINGERPRINT, token, KEY, FIRED, firing=FIRED) == "bad signature"


@given(
    fingerprint=st.text(min_size=1),
    expires=st.integers(0, 2**32 - 1),
    key=st.binary(min_size=1, max_size=64),
)
def test_round_trip_property(fingerprint: str, expires: int, key: bytes) -> None:
    """Any fingerprint, expiry and key: the token is good one second before expiry only."""
    token = make_token(fingerprint, FIRED, expires, key)
    assert len(token) == TOKEN_LENGTH
    assert check_token(fingerprint, token, key, expires - 1, firing=FIRED) is True
    assert check_token(fingerprint, token, key, expires, firing=FIRED) == "expired"


def test_link_of_an_earlier_firing_is_over() -> None:
    """A link made during the outage that fired at 01:00 does not acknowledge the same
    alert's next outage (fired at 01:10), though it is still inside its four hours;
    nor anything once the alert is not firing at all."""
    token = make_token(FINGERPRINT, FIRED, EXPIRES, KEY)
    assert check_token(FINGERPRINT, token, KEY, now=FIRED + 700, firing=FIRED + 600) == "over"
    assert check_token(FINGERPRINT, token, KEY, now=FIRED + 700, firing=None) == "over"
    assert check_token(FINGERPRINT, token, KEY, now=FIRED + 700, firing=FIRED) is True


def test_firings_a_tenth_of_a_second_apart_have_different_links() -> None:
    """The firing time is signed to the centisecond: two outages of one alert, however
    quick, never share a link."""
    token = make_token(FINGERPRINT, FIRED + 0.25, EXPIRES, KEY)
    assert check_token(FINGERPRINT, token, KEY, now=FIRED, firing=FIRED + 0.35) == "over"
    assert check_token(FINGERPRINT, token, KEY, now=FIRED, firing=FIRED + 0.25) is True


def test_links_of_the_fingerprint_only_format_are_outdated() -> None:
    """A 20-character link from before firings were signed cannot say which outage it
    was for: it is refused as outdated, not taken for the current outage."""
    assert check_token(FINGERPRINT, "A" * 20, KEY, now=FIRED, firing=FIRED) == "outdated"
