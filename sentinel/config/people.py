"""Who is paged, and when: contacts, on-call rotations (``oncall:``) and the
escalation steps and named policies (``escalation:``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sentinel.config.checks import Strict
from sentinel.config.cron import check_timezone
from sentinel.config.units import Duration

ContactMethod = Literal["sms", "email", "slack", "voice"]


class Contact(Strict):
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    """Email address."""
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    """Phone number in E.164 form, e.g. +15550100001."""
    slack: str | None = None
    """Where a Slack channel with a bot token posts this person's pages: a member ID (U...),
    @user or #channel. A member ID also names who pressed a button."""
    slack_user: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")
    """This person's Slack member ID (U..., profile > Copy member ID): their Acknowledge
    and Silence buttons act as them. Unset: slack, when it is a member ID."""
    # The methods used when the contact is a target, in order: those after `voice` wait for
    # the call (sentinel.notify.waiting); a permanent failure of one falls through to the
    # contact's next method not listed here (sms, email, slack, voice).
    via: list[ContactMethod] = Field(default=["sms", "email"], min_length=1)
    """The methods used when the contact is a target, in order: those before voice and the call
    at once, those after voice only when the call does not get the alert acknowledged; a
    permanent failure falls through to the next."""


class Override(Strict):
    who: str
    """The contact on call instead."""
    from_: datetime = Field(alias="from")
    """When the override starts."""
    until: datetime
    """When it ends."""

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.until <= self.from_:
            raise ValueError("until must be after from")
        return self


class Rotation(Strict):
    rotation: list[str] = Field(min_length=1)
    """Contacts taking turns, in order."""
    shift: Duration = Field(default=7 * 86400.0, gt=0)
    """Length of one turn."""
    handoff: datetime
    """When the first turn starts, in timezone unless it carries an offset."""
    timezone: str = "UTC"
    """IANA time zone of the handoff, e.g. Europe/London."""
    overrides: list[Override] = []
    """Someone else on call for a while (holidays, swaps)."""

    _tz = field_validator("timezone")(check_timezone)


class Step(Strict):
    after: Duration = 0.0
    """Time since the alert fired."""
    notify: list[str] = Field(min_length=1)
    """Targets: a channel, a contact, oncall:<schedule> or email:<address>."""


class Escalation(Strict):
    critical: list[Step] = []
    """Steps for critical alerts."""
    high: list[Step] = []
    """Steps for high alerts."""
    medium: list[Step] = []
    """Steps for medium alerts."""
    low: list[Step] = []
    """Steps for low alerts."""
    # Named policies a rule may choose with `escalation: <name>` instead of its severity's.
    policies: dict[str, list[Step]] = {}
    """Named step lists a rule can choose with escalation: <name>."""
    repeat_every: Duration | None = Field(default=None, gt=0)
    """While firing and unacknowledged, repeat after the last step this often."""
    ack_expires_after: Duration | None = Field(default=None, gt=0)
    """An acknowledged alert still firing escalates again after this."""
