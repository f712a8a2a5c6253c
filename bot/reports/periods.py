"""Report periods: a calendar day, ISO week (Monday to Sunday) or month, in the report time zone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

PeriodKind = Literal["day", "week", "month"]
KINDS: tuple[PeriodKind, ...] = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class Period:
    """Days `start` (included) to `end` (excluded)."""

    kind: PeriodKind
    start: date
    end: date

    @property
    def key(self) -> str:
        """Stable name of the period, used for the once-per-period lock (`week:2025-01-06`)."""
        return f"{self.kind}:{self.start.isoformat()}"

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.strftime("%a %d %b %Y")
        if self.kind == "month":
            return self.start.strftime("%B %Y")
        last = self.end - timedelta(days=1)
        return f"week {self.start.isocalendar().week}, {self.start:%d %b} – {last:%d %b %Y}"

    def days(self) -> Iterator[date]:
        day = self.start
        while day < self.end:
            yield day
            day += timedelta(days=1)

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return containing(self.kind, self.start - timedelta(days=1))


def containing(kind: PeriodKind, day: date) -> Period:
    """The period of `kind` that `day` falls in."""
    if kind == "day":
        return Period(kind, day, day + timedelta(days=1))
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return Period(kind, start, end)


def current(kind: PeriodKind, now: datetime, tz: tzinfo) -> Period:
    """The period in progress at `now` (what `teambot stats` and `/stats` show)."""
    return containing(kind, now.astimezone(tz).date())


def last_complete(kind: PeriodKind, now: datetime, tz: tzinfo) -> Period:
    """The last period that ended at or before `now`: what a scheduled report at `now` covers."""
    return current(kind, now, tz).previous()
