"""What the person who clicked is told (ephemeral), in SLACK_LOCALE: English or Brazilian
Portuguese. A `Refusal` carries a code and its values; the timeline keeps the English text."""

from __future__ import annotations

from worker.slack_render import STATES, Locale, T

DECISIONS = ("approved", "rejected", "expired")  # core/approvals.py states, as Slack shows them

TEXTS: dict[str, dict[Locale, str]] = {
    "unknown": {
        "en": "This button does not match a step proposed for this incident.",
        "pt-BR": "Este botão não corresponde a um passo proposto para este incidente.",
    },
    "expired": {
        "en": "This approval expired: ask for the step to be proposed again.",
        "pt-BR": "Esta aprovação expirou: peça que o passo seja proposto de novo.",
    },
    "used": {
        "en": "This approval was already used ({detail}): a click counts once.",
        "pt-BR": "Esta aprovação já foi usada ({detail}): cada clique vale uma vez.",
    },
    "same_user": {
        "en": "You approved already: a second, different person must approve.",
        "pt-BR": "Você já aprovou: uma segunda pessoa, diferente, precisa aprovar.",
    },
    "waiting": {
        "en": "Recorded: this step needs a second, different approver.",
        "pt-BR": "Registrado: este passo precisa de uma segunda pessoa aprovando.",
    },
    "not_allowed": {
        "en": "You may not approve {severity} steps: ask someone on the allow-list.",
        "pt-BR": "Você não pode aprovar passos {severity}: peça a alguém da lista de aprovadores.",
    },
    "earlier_opening": {
        "en": "This button is from before the incident reopened: use the steps proposed again.",
        "pt-BR": "Este botão é de antes da reabertura: use os passos propostos de novo.",
    },
    "no_web_api": {
        "en": "Approvals need the Slack Web API (SLACK_BOT_TOKEN).",
        "pt-BR": "Aprovações exigem a Web API do Slack (SLACK_BOT_TOKEN).",
    },
    "vanished": {
        "en": "The approval vanished: ask for the step to be proposed again.",
        "pt-BR": "A aprovação sumiu: peça que o passo seja proposto de novo.",
    },
    "no_incident": {
        "en": "There is no incident {incident}.",
        "pt-BR": "Não existe o incidente {incident}.",
    },
    "transition": {
        "en": "Not done: the incident is {state}, it cannot become {target}.",
        "pt-BR": "Não feito: o incidente está {state} e não pode passar a {target}.",
    },
    "escalate_top": {
        "en": "Already escalated to the Incident Commander: the top of the matrix.",
        "pt-BR": "Já escalonado ao Incident Commander: o topo da matriz de escalonamento.",
    },
    "escalate_closed": {
        "en": "The incident is {state}: nothing to escalate.",
        "pt-BR": "O incidente está {state}: não há o que escalonar.",
    },
    "other": {
        "en": "Not done: {detail}.",
        "pt-BR": "Não feito: {detail}.",
    },
}


class Refusal(Exception):
    """The click is not honoured; `text(locale)` goes to the person who clicked."""

    def __init__(self, code: str, **values: str) -> None:
        self.code, self.values = code, values
        super().__init__(self.text("en"))

    def text(self, locale: Locale) -> str:
        values = dict(self.values)
        for name in ("state", "target"):  # incident states are translated too
            if name in values:
                values[name] = _state(values[name], locale)
        decision = values.pop("decision", "")  # and how an approval was used
        if decision in DECISIONS:
            values["detail"] = T[locale][decision].format(by=values.pop("by", ""))
        return TEXTS[self.code][locale].format(**values)


def _state(value: str, locale: Locale) -> str:
    return next((text for s, text in STATES[locale].items() if s.value == value), value)
