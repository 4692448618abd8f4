"""The incident room's Block Kit (Web API mode): the top-level message with its buttons, and the
thread's messages, in English or Brazilian Portuguese (SLACK_LOCALE). Pure: no I/O.

Slack's limits are kept here: 50 blocks a message, 3,000 characters a section, 150 a header,
2,000 a button value; longer content is cut with a link to the operator API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.models import Incident, IncidentState, Severity
from worker.slack import Message

Locale = Literal["en", "pt-BR"]
MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
MAX_STEPS = 10  # steps shown with buttons; the rest behind the link
ACTION_PREFIX = "plantao:"  # action_id = ACTION_PREFIX + one of ACTIONS (webhook/slack.py)
SEVERITY_ICON = {Severity.P0: "🔴", Severity.P1: "🟠", Severity.P2: "🟡", Severity.P3: "🔵"}
LINK_NAMES = {"sentry": "sentry", "alertmanager": "alertmanager", "railway": "railway"}

T: dict[Locale, dict[str, str]] = {
    "en": {
        "service": "Service",
        "state": "State",
        "acked_by": "Acknowledged by",
        "escalation": "Escalation",
        "summary": "Summary",
        "why": "Why",
        "links": "Links",
        "sentry": "Sentry issue",
        "alertmanager": "Alertmanager",
        "railway": "Railway deployment",
        "findings": "Diagnosis",
        "steps": "Proposed steps",
        "ran": "What ran",
        "ack": "Acknowledge",
        "approve": "Approve",
        "reject": "Reject",
        "escalate": "Escalate",
        "resolve": "Resolve",
        "silence": "Silence 1 h",
        "pending": "waiting for approval",
        "approved": "approved by {by}",
        "rejected": "rejected by {by}",
        "expired": "approval expired",
        "more": "… {n} more: {link}",
        "cut": "… (cut: full text at {link})",
        "nobody": "nobody yet",
        "opened_thread": "Incident {id} opened: what plantão found and proposes",
        "auto": "Automatic steps",
        "click": "{user} pressed {action}",
        "resolved_head": "Resolved after {duration}",
        "notification_title": "Draft for users (runbook 004, incident notification)",
        "notification": (
            "Subject: [{service}] Service temporarily unavailable\n\nDear users,\n\n"
            "We have identified a technical problem affecting {service}.\n\n"
            "*Impact:* {summary}\n*Status:* Our team is working on the resolution\n"
            "*Estimate:* {eta}\n\nUpdates will be sent every 30 minutes.\n\n"
            "We apologise for the inconvenience."
        ),
        "resolution_title": "Draft for users (runbook 004, incident resolved)",
        "resolution": (
            "Subject: [{service}] Service restored\n\nDear users,\n\n"
            "The problem affecting {service} has been resolved at {at} UTC "
            "(duration: {duration}). The service is operating normally.\n\n"
            "We apologise for the inconvenience."
        ),
        "eta_P0": "within 1 hour",
        "eta_P1": "within 4 hours",
    },
    "pt-BR": {
        "service": "Serviço",
        "state": "Estado",
        "acked_by": "Reconhecido por",
        "escalation": "Escalonamento",
        "summary": "Resumo",
        "why": "Por quê",
        "links": "Links",
        "sentry": "Issue no Sentry",
        "alertmanager": "Alertmanager",
        "railway": "Deploy no Railway",
        "findings": "Diagnóstico",
        "steps": "Passos propostos",
        "ran": "O que foi executado",
        "ack": "Reconhecer",
        "approve": "Aprovar",
        "reject": "Rejeitar",
        "escalate": "Escalonar",
        "resolve": "Resolver",
        "silence": "Silenciar 1 h",
        "pending": "aguardando aprovação",
        "approved": "aprovado por {by}",
        "rejected": "rejeitado por {by}",
        "expired": "aprovação expirada",
        "more": "… mais {n}: {link}",
        "cut": "… (cortado: texto completo em {link})",
        "nobody": "ninguém ainda",
        "opened_thread": "Incidente {id} aberto: o que o plantão encontrou e propõe",
        "auto": "Passos automáticos",
        "click": "{user} apertou {action}",
        "resolved_head": "Resolvido após {duration}",
        "notification_title": "Rascunho para usuários (runbook 004, notificação de incidente)",
        "notification": (
            "Assunto: [{service}] Sistema Temporariamente Indisponível\n\nPrezados usuários,\n\n"
            "Identificamos um problema técnico que está afetando o {service}.\n\n"
            "*Impacto:* {summary}\n*Status:* Nossa equipe está trabalhando na resolução\n"
            "*Previsão:* {eta}\n\nAtualizações serão enviadas a cada 30 minutos.\n\n"
            "Pedimos desculpas pelo transtorno."
        ),
        "resolution_title": "Rascunho para usuários (runbook 004, incidente resolvido)",
        "resolution": (
            "Assunto: [{service}] Sistema Normalizado\n\nPrezados usuários,\n\n"
            "O problema que afetava o {service} foi resolvido às {at} UTC "
            "(duração: {duration}). O sistema está operando normalmente.\n\n"
            "Pedimos desculpas pelo transtorno."
        ),
        "eta_P0": "Estimamos normalização em até 1 hora",
        "eta_P1": "Estimamos normalização em até 4 horas",
    },
}
STATES: dict[Locale, dict[IncidentState, str]] = {
    "en": {s: s.value for s in IncidentState},
    "pt-BR": {
        IncidentState.TRIGGERED: "disparado",
        IncidentState.ACKNOWLEDGED: "reconhecido",
        IncidentState.MITIGATING: "mitigando",
        IncidentState.MONITORING: "monitorando",
        IncidentState.RESOLVED: "resolvido",
    },
}


@dataclass(frozen=True)
class StepView:
    """A proposed step as the incident message shows it."""

    key: str  # worker.ledger.step_key
    line: str  # describe(action)
    policy: str
    why: str
    state: str = ""  # approve steps: pending | approved | rejected | expired
    by: str = ""
    result: str = ""  # what running it did


def escape(text: str) -> str:
    """Slack's three control characters in user-visible text (mrkdwn and plain)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, link: str, locale: Locale) -> str:
    if len(text) <= limit:
        return text
    tail = T[locale]["cut"].format(link=link)
    return text[: max(0, limit - len(tail) - 1)] + "\n" + tail


def section(text: str, link: str, locale: Locale) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT, link, locale)},
    }


def context(text: str, link: str, locale: Locale) -> dict[str, Any]:
    element = {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT, link, locale)}
    return {"type": "context", "elements": [element]}


def button(label: str, action: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": ACTION_PREFIX + action,
        "value": value[:2000],
    }
    if style:
        out["style"] = style
    return out


def operator_link(public_url: str | None, incident_id: str) -> str:
    path = f"/api/incidents/{incident_id}"
    return f"<{public_url.rstrip('/')}{path}|{path}>" if public_url else f"`GET {path}`"


def headline(incident: Incident) -> str:
    icon = SEVERITY_ICON[incident.severity]
    return f"{icon} {incident.severity} · {incident.scenario} · {incident.service}"


def _links(incident: Incident, locale: Locale) -> list[str]:
    t = T[locale]
    out = []
    for source, url in sorted(incident.links.items()):
        out.append(f"<{url}|{t.get(LINK_NAMES.get(source, ''), source)}>")
    if incident.link and incident.link not in incident.links.values():
        out.append(
            f"<{incident.link}|{t.get(LINK_NAMES.get(incident.source, ''), incident.source)}>"
        )
    return out


def _step_text(view: StepView, locale: Locale) -> str:
    t = T[locale]
    status = {
        "pending": t["pending"],
        "approved": t["approved"].format(by=view.by),
        "rejected": t["rejected"].format(by=view.by),
        "expired": t["expired"],
    }.get(view.state, "")
    line = f"*[{view.policy}]* {escape(view.line)} — {escape(view.why)}"
    if status:
        line += f"\n_{escape(status)}_"
    if view.result:
        line += f"\n{escape(view.result)}"
    return line


def render_room(
    incident: Incident,
    findings: list[str],
    steps: list[StepView],
    ran: list[str],
    locale: Locale,
    public_url: str | None = None,
) -> Message:
    """The incident's top-level message, re-rendered on every change and sent with chat.update."""
    t, link = T[locale], operator_link(public_url, incident.id)
    head = f"{headline(incident)}: {incident.summary}"
    acked = incident.acknowledged_by or t["nobody"]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clip(headline(incident), HEADER_LIMIT, "", locale)[:HEADER_LIMIT],
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{t['service']}*\n{escape(incident.service)}"},
                {"type": "mrkdwn", "text": f"*{t['state']}*\n{STATES[locale][incident.state]}"},
                {"type": "mrkdwn", "text": f"*{t['acked_by']}*\n{escape(acked)}"},
                {"type": "mrkdwn", "text": f"*{t['escalation']}*\n{incident.escalation}"},
            ],
        },
        section(f"*{t['summary']}*\n{escape(incident.summary)}", link, locale),
        context(f"*{t['why']}:* {escape(incident.why)} · `{incident.id}`", link, locale),
    ]
    links = _links(incident, locale)
    if links:
        blocks.append(section(f"*{t['links']}:* " + " · ".join(links), link, locale))
    if findings:
        body = "\n".join(f"• {escape(f)}" for f in findings)
        blocks.append(section(f"*{t['findings']}*\n{body}", link, locale))
    if steps:
        blocks.append(section(f"*{t['steps']}*", link, locale))
    for view in steps[:MAX_STEPS]:
        blocks.append(section(_step_text(view, locale), link, locale))
        open_ = incident.state is not IncidentState.RESOLVED
        if view.policy == "approve" and view.state == "pending" and open_:
            value = f"{incident.id}|{view.key}"
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"step:{view.key}"[:255],
                    "elements": [
                        button(t["approve"], "approve", value, "primary"),
                        button(t["reject"], "reject", value, "danger"),
                    ],
                }
            )
    if len(steps) > MAX_STEPS:
        blocks.append(context(t["more"].format(n=len(steps) - MAX_STEPS, link=link), link, locale))
    if ran:
        body = "\n".join(f"• {escape(r)}" for r in ran)
        blocks.append(section(f"*{t['ran']}*\n{body}", link, locale))
    if incident.state is not IncidentState.RESOLVED:
        buttons = []
        if incident.state is IncidentState.TRIGGERED:
            buttons.append(button(t["ack"], "ack", incident.id, "primary"))
        buttons += [
            button(t["escalate"], "escalate", incident.id),
            button(t["resolve"], "resolve", incident.id),
            button(t["silence"], "silence", incident.id),
        ]
        blocks.append({"type": "actions", "block_id": "incident", "elements": buttons})
    if len(blocks) > MAX_BLOCKS:
        blocks = [
            *blocks[: MAX_BLOCKS - 2],
            context(t["more"].format(n=len(blocks) - MAX_BLOCKS + 2, link=link), link, locale),
            blocks[-1],
        ]
    return Message(head, blocks, [])


def render_reply(
    title: str, lines: list[str], locale: Locale, link: str, mention: str = ""
) -> Message:
    """One thread message: a bold title and its lines, cut to fit one section. `mention` is
    Slack markup (<@U…>) added as is."""
    body = "\n".join(f"• {escape(x)}" for x in lines)
    text = f"*{escape(title)}*" + (f" {mention}" if mention else "") + (f"\n{body}" if body else "")
    return Message(title, [section(text, link, locale)], lines)


def render_notification(incident: Incident, locale: Locale, link: str) -> Message:
    """Runbook 004's incident notification to users, filled in, for P0/P1."""
    t = T[locale]
    eta = t.get(f"eta_{incident.severity}", t["eta_P1"])
    body = t["notification"].format(service=incident.service, summary=incident.summary, eta=eta)
    text = f"*{t['notification_title']}*\n```{escape(body)}```"
    return Message(t["notification_title"], [section(text, link, locale)], [body])


def render_resolution(incident: Incident, locale: Locale, link: str) -> Message:
    """The resolution line and runbook 004's resolution notice to users."""
    t = T[locale]
    at = incident.resolved_at or incident.last_seen
    duration = str(at - incident.first_seen).split(".")[0]
    body = t["resolution"].format(
        service=incident.service, at=f"{at:%Y-%m-%d %H:%M}", duration=duration
    )
    head = t["resolved_head"].format(duration=duration)
    text = f"*✅ {head}*\n*{t['resolution_title']}*\n```{escape(body)}```"
    return Message(head, [section(text, link, locale)], [body])
