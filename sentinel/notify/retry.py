"""Pure delivery decisions: how long to wait before the next attempt, and rate limits.

Storm holding is :mod:`sentinel.notify.storm`."""

from __future__ import annotations

from dataclasses import dataclass


def backoff(attempt: int, initial: float, cap: float, jitter: float) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random.

    ``attempt`` counts failures so far (1 after the first); ``jitter`` is a random
    number in [0, 1). Attempt 1 waits between initial/2 and initial, each next
    one twice that, never more than ``cap``.
    """
    step = min(cap, initial * 2.0 ** max(0, attempt - 1))
    return step / 2.0 + step / 2.0 * jitter


def retry_delay(
    attempt: int, retry_after: float | None, initial: float, cap: float, jitter: float
) -> float:
    """The provider's ``Retry-After`` / ``X-RateLimit-Reset`` wins when it gave one
    (it knows when it will accept again); otherwise our own backoff."""
    if retry_after is not None and retry_after >= 0:
        return retry_after
    return backoff(attempt, initial, cap, jitter)


@dataclass
class TokenBucket:
    """A provider's rate limit: ``rate`` sends a second on average, bursts of ``burst``.

    PagerDuty allows 120 events a minute per key and Slack about one message a
    second per channel, both with short bursts: a strict gap between every two
    sends would delay the second of two alerts that fire together for nothing.
    """

    rate: float  # tokens a second; 0 means no limit
    burst: float
    tokens: float | None = None  # None: full (nothing sent yet)
    at: float = 0.0

    def available(self, now: float) -> float:
        if self.tokens is None:
            return self.burst
        return min(self.burst, self.tokens + (now - self.at) * self.rate)

    def wait(self, now: float, early: float = 0.0) -> float:
        """Seconds until a send is allowed; 0 means now, and a token is taken.
        ``early`` lets a send due within that many seconds go now."""
        if self.rate <= 0:
            return 0.0
        tokens = self.available(now)
        self.tokens, self.at = tokens, now
        if tokens + early * self.rate >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        return (1.0 - tokens) / self.rate
