"""Shared knobs and strategies for generated tests (hypothesis, schemathesis).

PLANTAO_FUZZ_EXAMPLES=<n> raises every generated test's example count to at least n, for a long
run outside CI (e.g. PLANTAO_FUZZ_EXAMPLES=5000 pytest tests/webhook -k "property or schema").
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def examples(default: int) -> int:
    """The example count: `default` in CI, more when PLANTAO_FUZZ_EXAMPLES asks for it."""
    return max(default, int(os.environ.get("PLANTAO_FUZZ_EXAMPLES", "0") or 0))


def fuzz_settings(default: int) -> settings:
    return settings(
        max_examples=examples(default),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


TEXT = st.text(max_size=40)  # any unicode but lone surrogates (JSON cannot carry them)
NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Arbitrary JSON whose object keys are often the vendors' own field names."""
    return st.recursive(
        SCALAR,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
        max_leaves=30,
    )


def reordered(value: Any, rnd: random.Random) -> Any:
    """The same JSON value with the keys of every object in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: reordered(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [reordered(v, rnd) for v in value]
    return value


def dumps(value: Any, rnd: random.Random) -> bytes:
    """Serialised as some sender might: any key order, escaped or raw unicode, any spacing."""
    indent = rnd.choice([None, 0, 2])
    return json.dumps(
        reordered(value, rnd), ensure_ascii=rnd.random() < 0.5, indent=indent
    ).encode()
