"""The literal prefilter (webhook/prefilter.py) never changes a verdict: a text it refuses is one
the rule's own pattern does not match, for every shipped rule and for patterns built to trip it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.classify import default_rules
from webhook.prefilter import prefilter

SHIPPED = [r for r in default_rules() if r.match.text or r.match.expr]
PATTERNS = [
    *(re.compile(r.match.text, re.IGNORECASE) for r in SHIPPED if r.match.text),
    *(re.compile(r.match.expr) for r in SHIPPED if r.match.expr),
]
# pieces the patterns look for, so random texts often come close to matching
PIECES = [
    "Too Many Connections",
    "ECONNREFUSED 10.0.0.1:5432",
    "connection refused",
    "postgres",
    "DATABASE is unhealthy",
    "heap out of memory",
    "OOMKilled",
    'relation "users" does not exist',
    "OpenAI",
    "rate-limit",
    "429",
    "401",
    "invalid API key",
    "JWT expired",
    "redis",
    "circuit breaker open",
    ":6379",
    "event_log integrity",
    "violates foreign key constraint",
    "12 events in the last",
    'pg_up{job="db"} == 0',
    "up == 0",
    "sum(up) ==0",
    "ſ",  # folds to "s" under re.IGNORECASE, which str.lower() does not know
    "K",  # the Kelvin sign folds to "k"
    "\n",
]
texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=6).map(" ".join)


def verdicts(pattern: re.Pattern[str], text: str) -> tuple[bool, bool]:
    """(the prefilter lets the text through, the pattern matches the text)."""
    needs = prefilter(pattern)
    folded = text.lower() if text.isascii() else None
    through = needs is None or needs.may_match(text, folded if needs.fold else None)
    return through, pattern.search(text) is not None


@settings(max_examples=400, deadline=None)
@given(texts)
def test_no_shipped_rule_loses_a_match_to_its_prefilter(text: str) -> None:
    """Whatever the text, a shipped rule whose pattern matches it is never refused early."""
    for pattern in PATTERNS:
        through, matches = verdicts(pattern, text)
        assert through or not matches, (pattern.pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (re.compile("database (is )?down", re.I), "DATABASE IS DOWN"),
        (re.compile("(?i:kube)-oom"), "KUBE-oom"),  # scoped ignore-case in a case-sensitive one
        (re.compile("(?-i:OOM)killed", re.I), "OOMKILLED"),
        (re.compile("stack", re.I), "ſtack"),  # non-ASCII folding
        (re.compile("\u212aelvin", re.I), "kelvin"),  # a non-ASCII literal
        (re.compile("a?b*|c", re.I), "x"),  # can match the empty string
        (re.compile(r"(?s)(openai|llm).*\b429\b", re.I), "LLM said:\n429"),
        (re.compile(r"(?x) too \s+ many ", re.I), "too   MANY"),
        (re.compile(r"(a|b)+x{2,}", re.I), "BAXX"),
    ],
)
def test_patterns_that_trip_naive_prefilters_still_match(
    pattern: re.Pattern[str], text: str
) -> None:
    """Case folding beyond ASCII, scoped flags, optional parts and verbose patterns: every
    text the pattern matches passes its prefilter."""
    through, matches = verdicts(pattern, text)
    assert matches
    assert through


def test_a_text_missing_every_required_literal_is_refused_without_a_search() -> None:
    """The point of it: text rules that cannot match are refused by a substring check."""
    needs = prefilter(re.compile("too many connections|database (is )?unhealthy", re.I))
    assert needs is not None
    assert not needs.may_match("5xx ratio above 5%", "5xx ratio above 5%")
    assert needs.may_match("x", None)  # non-ASCII text (folded None): always searched
