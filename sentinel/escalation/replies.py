"""SMS reply codes: each page texted to a number carries a short code ("Reply ACK 4")
that names its alert for that number only, so a reply acknowledges the right one.

A code is the smallest positive number free for every number the row texts, kept
for the whole firing (an escalation step or a repeat to the same number says the
same code), and freed when the firing's escalation ends. The code travels inside
the outbox row's notice (:attr:`Notice.reply`), written in the same transaction as
the escalation progress that decided the page, so :meth:`ReplyCodes.learn` rebuilds
the book from the outbox after a restart. Pure bookkeeping: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reply:
    """One code a number was texted: which alert, which firing."""

    code: int
    fingerprint: str
    firing: str


class ReplyCodes:
    def __init__(self) -> None:
        self._by_number: dict[str, dict[str, Reply]] = {}  # number -> fingerprint -> reply

    def code(self, numbers: list[str], fingerprint: str, firing: str) -> int:
        """The code of this firing for these numbers: the one already given when every
        number has it, else the smallest free for all of them (registered for each)."""
        given = {
            r.code
            for n in numbers
            if (r := self._by_number.get(n, {}).get(fingerprint)) is not None and r.firing == firing
        }
        if len(given) == 1 and all(fingerprint in self._by_number.get(n, {}) for n in numbers):
            return given.pop()
        used = {
            r.code
            for n in numbers
            for fp, r in self._by_number.get(n, {}).items()
            if fp != fingerprint
        }
        code = next(c for c in range(1, len(used) + 2) if c not in used)
        for n in numbers:
            self._by_number.setdefault(n, {})[fingerprint] = Reply(code, fingerprint, firing)
        return code

    def learn(self, number: str, code: int, fingerprint: str, firing: str) -> None:
        """A code read back from the outbox (restore)."""
        self._by_number.setdefault(number, {})[fingerprint] = Reply(code, fingerprint, firing)

    def drop(self, fingerprint: str) -> None:
        """The firing's escalation ended: its codes are free again."""
        for number in list(self._by_number):
            codes = self._by_number[number]
            codes.pop(fingerprint, None)
            if not codes:
                del self._by_number[number]

    def of(self, number: str) -> list[Reply]:
        """Every code ``number`` holds, lowest first."""
        return sorted(self._by_number.get(number, {}).values(), key=lambda r: r.code)
