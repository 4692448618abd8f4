"""Calendar arithmetic for the duties: the next start of a cron schedule, days of a month."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.cron import cron_matches, parse_cron

SEARCH_DAYS = 4 * 366 + 1  # "0 10 29 2 *" starts once in four years


def next_start(expr: str, after: datetime, zone: str) -> datetime:
    """The first start of cron `expr` (in `zone`) strictly after `after`, in UTC."""
    minutes, hours = sorted(parse_cron(expr)[0]), sorted(parse_cron(expr)[1])
    tz = ZoneInfo(zone)
    local = after.astimezone(tz)
    for offset in range(SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        if not cron_matches(expr, datetime.combine(day, time(hours[0], minutes[0]))):
            continue  # the calendar part (day, month, weekday) does not match this day
        for hour in hours:
            for minute in minutes:
                start = datetime.combine(day, time(hour, minute), tzinfo=tz)
                if start > local:
                    return start.astimezone(UTC)
    raise ValueError(f"cron {expr!r} never starts")


def at_local(day: date, hh_mm: str, zone: str) -> datetime:
    """`day` at the local time of day "HH:MM" in `zone`, in UTC."""
    hour, minute = (int(p) for p in hh_mm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def day_of_month(year: int, month: int, day: int) -> date:
    """`day` of the month, or the month's last day when it is shorter (31 -> 30 April)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()
