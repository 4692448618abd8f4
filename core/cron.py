"""A small five-field cron matcher (minute hour day-of-month month day-of-week) for windows.

Supports `*`, numbers, lists `1,15`, ranges `1-5`, steps `*/15` and `10-50/10`, and day names
`sun`..`sat` (0 or 7 = Sunday). Day-of-month and day-of-week combine as in cron: when both are
restricted, either may match.
"""

from __future__ import annotations

from datetime import datetime

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def _values(part: str, low: int, high: int) -> frozenset[int]:
    out: set[int] = set()
    for item in part.lower().split(","):
        spec, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step must be positive in {item!r}")
        if spec == "*":
            start, end = low, high
        else:
            first, _, last = spec.partition("-")
            start = _DAYS[first] if first in _DAYS else int(first)
            end = (_DAYS[last] if last in _DAYS else int(last)) if last else start
            if not low <= start <= end <= high:
                raise ValueError(f"{item!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def parse_cron(expr: str) -> tuple[frozenset[int], ...]:
    parts = expr.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(f"cron {expr!r} needs 5 fields: minute hour day month weekday")
    try:
        fields = tuple(_values(p, lo, hi) for p, (_, lo, hi) in zip(parts, _FIELDS, strict=True))
    except ValueError as exc:
        raise ValueError(f"cron {expr!r}: {exc}") from exc
    weekday = fields[4]
    if 7 in weekday:
        fields = (*fields[:4], weekday | {0})
    return fields


def check_cron(expr: str) -> None:
    parse_cron(expr)


def cron_matches(expr: str, moment: datetime) -> bool:
    """Whether `moment` (in the window's own time zone) is a start time of `expr`."""
    minute, hour, day, month, weekday = parse_cron(expr)
    parts = expr.split()
    day_ok = moment.day in day
    weekday_ok = (moment.isoweekday() % 7) in weekday
    if parts[2] != "*" and parts[4] != "*":
        calendar_ok = day_ok or weekday_ok
    else:
        calendar_ok = day_ok and weekday_ok
    return moment.minute in minute and moment.hour in hour and moment.month in month and calendar_ok
