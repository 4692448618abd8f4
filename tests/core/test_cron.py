"""The cron matcher behind recurring maintenance windows."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.cron import check_cron, cron_matches


@pytest.mark.parametrize(
    ("expr", "moment", "expected"),
    [
        ("0 2 * * sun", datetime(2026, 11, 29, 2, 0), True),  # a Sunday
        ("0 2 * * sun", datetime(2026, 11, 30, 2, 0), False),  # a Monday
        ("0 2 * * 7", datetime(2026, 11, 29, 2, 0), True),  # 7 is Sunday too
        ("*/15 * * * *", datetime(2026, 1, 1, 5, 45), True),
        ("*/15 * * * *", datetime(2026, 1, 1, 5, 46), False),
        ("30 9-17 * * mon-fri", datetime(2026, 11, 27, 12, 30), True),  # a Friday
        ("30 9-17 * * mon-fri", datetime(2026, 11, 28, 12, 30), False),  # a Saturday
        ("0 0 1 * mon", datetime(2026, 12, 1, 0, 0), True),  # day 1 (a Tuesday): either matches
        ("0 0 1 * mon", datetime(2026, 11, 30, 0, 0), True),  # a Monday
        ("0 0 1 * mon", datetime(2026, 12, 2, 0, 0), False),
        ("0 3 1 1,4,7,10 *", datetime(2026, 4, 1, 3, 0), True),
    ],
)
def test_cron_matches_start_times(expr: str, moment: datetime, expected: bool) -> None:
    """Fields, lists, ranges, steps and day names match as in cron."""
    assert cron_matches(expr, moment) is expected


@pytest.mark.parametrize("expr", ["0 2 * *", "61 * * * *", "0 2 * * funday", "*/0 * * * *"])
def test_bad_cron_expressions_are_refused(expr: str) -> None:
    """A malformed expression is an error at config load, not a silent never-match."""
    with pytest.raises(ValueError):
        check_cron(expr)
