"""Every refusal a clicker can be told exists in both locales and fills in its values."""

from __future__ import annotations

import string
from typing import get_args

import pytest

from worker.slack_refusals import TEXTS, Refusal
from worker.slack_render import Locale


@pytest.mark.parametrize("code", sorted(TEXTS))
def test_each_refusal_has_both_locales_with_the_same_values(code: str) -> None:
    fields = {
        locale: {f for _, f, _, _ in string.Formatter().parse(TEXTS[code][locale]) if f}
        for locale in get_args(Locale)
    }
    assert set(TEXTS[code]) == set(get_args(Locale))
    assert fields["en"] == fields["pt-BR"], code


def test_states_are_translated_and_the_timeline_keeps_english() -> None:
    refused = Refusal("transition", state="resolved", target="acknowledged")
    assert str(refused) == "Not done: the incident is resolved, it cannot become acknowledged."
    assert refused.text("pt-BR").endswith("está resolvido e não pode passar a reconhecido.")


def test_how_an_approval_was_used_is_said_in_the_locale() -> None:
    """A replayed click hears who decided, with the decision in its own language."""
    refused = Refusal("used", detail="rejected by U0ANA", decision="rejected", by="U0ANA")
    assert (
        str(refused) == "This approval was already used (rejected by U0ANA): a click counts once."
    )
    assert refused.text("pt-BR") == (
        "Esta aprovação já foi usada (rejeitado por U0ANA): cada clique vale uma vez."
    )
