"""Literal prefilters for classification rules: strings one of which every match of a pattern
contains, so a text holding none of them is refused by `in` instead of a regex search.

Case-insensitive rules search with `re.IGNORECASE`, for which Python's `re` has no literal
fast path: a rule that does not match took 3–7 µs per alert, a prefilter refusal takes well
under 1 µs (bench/README.md). The prefilter only ever says "cannot match": a text it lets
through is searched with the rule's own pattern, so verdicts and the matched text are unchanged
(tests/webhook/test_classify_prefilter.py compares both on every shipped rule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# the parsed form of a pattern: private to the stdlib (no stubs) but unchanged since 3.11
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

Needs = frozenset[str] | None  # None: no literal is required (the pattern is searched always)


@dataclass(frozen=True)
class Prefilter:
    needs: frozenset[str]  # lower-cased when `fold`
    fold: bool  # the pattern ignores case: compare lower-cased ASCII

    def may_match(self, text: str, folded: str | None) -> bool:
        """False only when no match is possible; `folded` is text.lower() when text is ASCII."""
        if self.fold:
            if folded is None:  # non-ASCII: case folding has cases `lower()` misses (ſ, K)
                return True
            text = folded
        for needed in self.needs:  # noqa: SIM110 (any() and its generator cost more than this)
            if needed in text:
                return True
        return False


def prefilter(pattern: re.Pattern[str]) -> Prefilter | None:
    """The prefilter of a compiled pattern, or None when it cannot have one."""
    fold = bool(pattern.flags & re.IGNORECASE)
    tree = _parser.parse(pattern.pattern, pattern.flags & ~re.IGNORECASE)
    needs = _sequence(list(tree))
    if not needs or any(not s.isascii() for s in needs):
        return None
    return Prefilter(frozenset(s.lower() for s in needs) if fold else needs, fold)


def _better(a: Needs, b: Needs) -> Needs:
    """The more selective of two requirements: the longer shortest string, then fewer strings."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b, key=lambda s: (min(len(x) for x in s), -len(s)))


def _sequence(items: Sequence[tuple[Any, Any]]) -> Needs:
    """Every match of the sequence contains a run of its adjacent literals, and a match of each
    of its items: the most selective of those requirements."""
    best: Needs = None
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            best = _better(best, frozenset({"".join(run)}))
            run = []
        if op is not None:
            best = _better(best, _item(op, av))
    return best


def _item(op: Any, av: Any) -> Needs:
    if op is c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if (add_flags | del_flags) & re.IGNORECASE:  # a scoped (?i) or (?-i): not handled
            return None
        return _sequence(list(sub))
    if op is c.ATOMIC_GROUP:
        return _sequence(list(av))
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        low, _high, sub = av
        return _sequence(list(sub)) if low >= 1 else None
    if op is c.BRANCH:
        union: set[str] = set()
        for alternative in av[1]:
            needs = _sequence(list(alternative))
            if needs is None:
                return None
            union |= needs
        return frozenset(union)
    return None  # classes, anchors, look-arounds, back-references: no literal required
