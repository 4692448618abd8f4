"""Incidents that behave: grouping across sources, severity, flapping, silences, inhibition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis

from core.config import IncidentsConfig, MaintenanceWindow, PlantaoConfig
from core.models import Alert, Source
from core.queue import QUEUE_NAME
from core.silences import Matcher, Silence, Silences
from core.store import Store
from webhook.intake import Intake


def alert(
    name: str,
    service: str = "api",
    *,
    source: Source = Source.ALERTMANAGER,
    firing: bool = True,
    starts: str = "t0",
    fp: str | None = None,
    **labels: str,
) -> Alert:
    return Alert(
        source=source,
        fingerprint=fp or f"{source}:{name}:{service}",
        name=name,
        service=service,
        firing=firing,
        starts_at=starts,
        summary=f"{name} on {service}",
        labels=labels,
        link=f"https://{source}.example/{name}",
    )


class Desk:
    """An intake and a store on one Redis, as the api holds them."""

    def __init__(self, redis: ArqRedis, config: PlantaoConfig | None = None) -> None:
        config = config or PlantaoConfig()
        self.redis = redis
        self.store = Store(redis, flap_window_s=config.incidents.flap_window_s)
        self.silences = Silences(redis)
        self.intake = Intake(config, self.silences)

    async def send(self, *alerts: Alert) -> list[str]:
        self.intake.forget_silences()
        result = await self.store.ingest(await self.intake.admit(alerts))
        return result.incidents

    async def jobs(self) -> list[str]:
        return [j.decode() for j in await self.redis.zrange(QUEUE_NAME, 0, -1)]

    async def events(self, incident_id: str) -> list[str]:
        return [e.event for e in await self.store.timeline(incident_id)]


async def test_alerts_from_two_sources_on_one_service_are_one_incident(any_redis: ArqRedis) -> None:
    """A Sentry error spike and an Alertmanager alert of the same scenario share an incident."""
    desk = Desk(any_redis)
    assert await desk.send(alert("HighErrorRate")) == ["1"]
    sentry = alert("HighErrorRate", source=Source.SENTRY)
    assert await desk.send(sentry) == ["1"]
    incident = await desk.store.incident("1")
    assert incident is not None
    assert incident.sources == [Source.ALERTMANAGER, Source.SENTRY]
    assert set(incident.links) == {"alertmanager", "sentry"}
    assert incident.alert_count == 2
    assert await desk.jobs() == ["incident:1:open"]


async def test_other_services_and_scenarios_are_other_incidents(any_redis: ArqRedis) -> None:
    """The default group is scenario + service."""
    desk = Desk(any_redis)
    ids = await desk.send(
        alert("HighErrorRate"), alert("HighErrorRate", "web"), alert("HighLatency")
    )
    assert ids == ["1", "2", "3"]


async def test_grouping_by_a_label_is_configurable(any_redis: ArqRedis) -> None:
    """group_by can split incidents by a label, e.g. one per environment."""
    config = PlantaoConfig(incidents=IncidentsConfig(group_by=["scenario", "service", "label:env"]))
    desk = Desk(any_redis, config)
    ids = await desk.send(
        alert("HighErrorRate", fp="a", env="prod"), alert("HighErrorRate", fp="b", env="staging")
    )
    assert ids == ["1", "2"]


async def test_a_more_severe_alert_raises_the_incident_and_notifies(any_redis: ArqRedis) -> None:
    """A later P0 alert makes the incident P0 and queues a severity notice."""
    desk = Desk(any_redis)
    await desk.send(alert("HighErrorRate"))
    await desk.send(alert("HighErrorRate", fp="other", severity="P0"))
    incident = await desk.store.incident("1")
    assert incident is not None and incident.severity == "P0"
    assert "incident:1:severity:P0" in await desk.jobs()
    assert "severity.raised" in await desk.events("1")


async def test_flapping_reopens_once_and_notifies_once(any_redis: ArqRedis) -> None:
    """Fire, resolve, fire, resolve, fire: one incident, one reopen notice, one resolution."""
    desk = Desk(any_redis)
    for n in range(3):
        await desk.send(alert("HighErrorRate", starts=f"t{n}"))
        if n < 2:
            await desk.send(alert("HighErrorRate", starts=f"t{n}", firing=False))
    incident = await desk.store.incident("1")
    assert incident is not None and (incident.state, incident.reopened) == ("triggered", 2)
    jobs = await desk.jobs()
    assert [j for j in jobs if ":reopened:" in j] == ["incident:1:reopened:1"]
    assert [j for j in jobs if ":resolved:" in j] == ["incident:1:resolved:0"]


async def test_a_silenced_alert_is_recorded_but_runs_nothing(any_redis: ArqRedis) -> None:
    """Matched by a silence: on the timeline, no job, and the response counts it."""
    desk = Desk(any_redis)
    now = datetime.now(UTC)
    await desk.silences.add(
        Silence(
            matchers=[Matcher.parse("service=api")],
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            author="ana",
            comment="deploying",
        )
    )
    await desk.send(alert("HighErrorRate"))
    incident = await desk.store.incident("1")
    assert incident is not None and incident.silenced_by.startswith("silence-")
    assert await desk.jobs() == []
    assert "alert.silenced" in await desk.events("1")
    # and when it resolves, nobody is told either
    await desk.send(alert("HighErrorRate", firing=False))
    assert await desk.jobs() == []


async def test_an_unsilenced_alert_later_announces_the_incident(any_redis: ArqRedis) -> None:
    """Once no silence covers a new alert of the incident, it is announced."""
    desk = Desk(any_redis)
    now = datetime.now(UTC)
    silence = await desk.silences.add(
        Silence(
            matchers=[Matcher.parse("alertname=HighErrorRate")],
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            author="ana",
            comment="known",
        )
    )
    await desk.send(alert("HighErrorRate"))
    await desk.silences.expire(silence.id)
    await desk.send(alert("HighErrorRate", fp="second"))
    assert await desk.jobs() == ["incident:1:open"]


async def test_a_maintenance_window_silences_its_service(any_redis: ArqRedis) -> None:
    """Alerts during a service's maintenance window are recorded as silenced by it."""
    now = datetime.now(UTC)
    window = MaintenanceWindow(
        name="upgrade",
        service="api",
        starts=now - timedelta(minutes=5),
        ends=now + timedelta(hours=1),
    )
    desk = Desk(any_redis, PlantaoConfig(maintenance=[window]))
    await desk.send(alert("HighErrorRate"), alert("HighErrorRate", "web"))
    api, web = await desk.store.incidents(["1", "2"])
    assert (api.silenced_by, web.silenced_by) == ("maintenance:upgrade", "")
    assert await desk.jobs() == ["incident:2:open"]


async def test_an_open_p0_outage_inhibits_its_symptoms(any_redis: ArqRedis) -> None:
    """With database_down P0 open on api, api's latency alert joins its timeline instead."""
    desk = Desk(any_redis)
    await desk.send(alert("PostgresDown"))
    assert await desk.send(alert("HighLatency")) == ["1"]
    assert await desk.send(alert("HighLatency", "web")) == ["2"]  # another service: its own
    outage = await desk.store.incident("1")
    assert outage is not None and outage.suppressed == 1
    assert "alert.suppressed" in await desk.events("1")
    assert await desk.jobs() == ["incident:1:open", "incident:2:open"]


async def test_an_inhibited_alert_stands_alone_once_the_outage_resolves(
    any_redis: ArqRedis,
) -> None:
    """After the inhibiting incident resolves, the still-firing symptom gets its own incident."""
    desk = Desk(any_redis)
    await desk.send(alert("PostgresDown"), alert("HighLatency"))
    await desk.send(alert("PostgresDown", firing=False))
    assert await desk.send(alert("HighLatency")) == ["2"]
    assert "incident:2:open" in await desk.jobs()


async def test_inhibition_can_be_turned_off(any_redis: ArqRedis) -> None:
    """`inhibit = []` in PLANTAO_CONFIG disables the shipped inhibition."""
    desk = Desk(any_redis, PlantaoConfig(inhibit=[]))
    await desk.send(alert("PostgresDown"))
    assert await desk.send(alert("HighLatency")) == ["2"]


async def test_incidents_survive_a_new_store_and_intake(real_redis: ArqRedis) -> None:
    """Everything lives in Redis: new processes see the same open incident and dedup state."""
    first = Desk(real_redis)
    await first.send(alert("HighErrorRate"))
    second = Desk(real_redis)  # as after a restart of every process
    result = await second.store.ingest(await second.intake.admit([alert("HighErrorRate")]))
    assert (result.accepted, result.duplicates) == (0, 1)
    assert await second.send(alert("HighErrorRate", firing=False)) == ["1"]
    incident = await second.store.incident("1")
    assert incident is not None and incident.state == "resolved"
    assert await real_redis.hget("plantao:incident:1", "schema") == b"2"


async def test_a_delivery_writes_each_timeline_in_order_and_capped(any_redis: ArqRedis) -> None:
    """core/ingest.lua writes a delivery's timeline entries per incident at the end: the same
    entries, in the same order, trimmed to the newest `timeline_max`, as one push at a time."""
    desk = Desk(any_redis)
    desk.store = Store(any_redis, timeline_max=4)
    mixed = [alert("HighErrorRate", fp=f"e{i}") for i in range(3)]
    mixed.insert(1, alert("HighLatency", fp="l0"))  # a second incident between the first's
    assert await desk.send(*mixed) == ["1", "2"]
    first = [(e.event, e.detail.split(";")[0]) for e in await desk.store.timeline("1")]
    assert first == [  # incident.opened was trimmed away
        ("alert.firing", "HighErrorRate firing (e0)"),
        ("job.enqueued", "handle_incident as incident:1:open"),
        ("alert.firing", "HighErrorRate firing (e1)"),
        ("alert.firing", "HighErrorRate firing (e2)"),
    ]
    assert await desk.events("2") == ["incident.opened", "alert.firing", "job.enqueued"]


async def test_a_delivery_of_many_alerts_keeps_the_newest_entries(any_redis: ArqRedis) -> None:
    """More entries for one incident than one push carries (core/ingest.lua pushes 500 at a
    time): the newest `timeline_max` (1000) are kept, in order."""
    desk = Desk(any_redis)
    assert await desk.send(*(alert("HighErrorRate", fp=f"e{i}") for i in range(1200))) == ["1"]
    timeline = await desk.store.timeline("1")
    assert [e.detail.split(";")[0] for e in timeline] == [
        f"HighErrorRate firing (e{i})" for i in range(200, 1200)
    ]


async def test_entries_recorded_together_keep_their_order_and_cap(any_redis: ArqRedis) -> None:
    """A job's entries written in one round trip (Store.record_many) are appended in order,
    trimmed to `timeline_max`, and can mark the message sent in the same transaction."""
    store = Store(any_redis, timeline_max=10)
    await store.record("9", "plantao", "first")
    entries = [("plantao", "step.proposed", f"step {i}") for i in range(12)]
    await store.record_many("9", entries, notified="opened")
    timeline = await store.timeline("9")
    assert [e.detail for e in timeline] == [f"step {i}" for i in range(2, 12)]
    assert await store.was_notified("9", "opened")
    assert not await store.was_notified("9", "resolved")
    await store.record_many("9", [], notified="resolved")  # only the mark
    assert await store.was_notified("9", "resolved") and len(await store.timeline("9")) == 10
