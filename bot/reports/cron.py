"""Standard crontab expressions for APScheduler 3.

APScheduler 3's `CronTrigger.from_crontab` numbers weekdays from Monday = 0
(documented there as a historical mistake, kept for compatibility), while
cron counts Sunday = 0 (or 7). `REPORT_CRON` follows cron, so `0 9 * * 1`
is Monday 9:00: numeric weekdays are translated to names, which both agree on.
"""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday_names(field: str) -> str:
    if field in ("*", "?") or any(c.isalpha() for c in field):
        return field  # all days, or names: the same in cron and APScheduler
    days: set[int] = set()
    for item in field.split(","):
        base, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            low, high = (int(part) for part in base.split("-", 1))
        else:
            low = int(base)
            high = 7 if slash else low  # `1/2`: from Monday on, every other day
        if not (0 <= low <= high <= 7) or step < 1:
            raise ValueError(f"bad day of week {item!r}")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_CRON_WEEKDAYS[day] for day in sorted(days))


def cron_trigger(expression: str, *, tz: tzinfo | str) -> CronTrigger:
    """A CronTrigger for a standard 5-field crontab expression in `tz` (ValueError if invalid)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_weekday_names(weekday), timezone=tz)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - APScheduler raises assorted errors for bad fields
        raise ValueError(str(exc)) from None
