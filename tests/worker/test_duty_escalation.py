"""Escalation (runbook 004): unacknowledged incidents reach the Escalation Engineer at 2x their
SLA and the Incident Commander at 4x, once each, by mention; acknowledgement stops it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis

from core.models import IncidentState, Severity
from core.settings import Settings
from core.store import Store
from core.timers import LEASE_KEY, Timer
from tests.support.http_recorder import HttpRecorder
from tests.worker.sched_support import make_rig, open_incident
from worker.deps import Deps
from worker.duties.escalation import JOB, escalate_by_hand, fire, timer_id
from worker.scheduler import Scheduler

Recorders = Callable[[], HttpRecorder]
SettingsMaker = Callable[..., Settings]
ROLES = """
[escalation]
escalation_engineer = ["U0ENGINEER"]
incident_commander = ["S0COMMAND"]
"""
MIN = timedelta(minutes=1)


async def test_an_unacknowledged_p0_escalates_at_2x_and_4x_its_sla_once_each(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """P0 (15 min SLA): nothing at 29 min, the engineer at 30, the commander at 60, never twice."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store)
    t0 = datetime.now(UTC)
    await rig.round(t0 + 29 * MIN)
    await rig.drain()
    assert rig.matching("escalated") == []
    for minutes in (31, 32, 45):
        await rig.round(t0 + minutes * MIN)
        await rig.drain()
    [engineer] = rig.matching("escalated to the Escalation Engineer")
    assert engineer.startswith("<@U0ENGINEER> [P0] api_down on api")
    for minutes in (61, 62, 180):
        await rig.round(t0 + minutes * MIN)
        await rig.drain()
    [commander] = rig.matching("escalated to the Incident Commander")
    assert commander.startswith("<!subteam^S0COMMAND> ")
    assert len(rig.matching("escalated")) == 2
    incident = await rig.store.incident("1")
    assert incident is not None and incident.escalation == 2
    events = [e.event for e in await rig.store.timeline("1")]
    assert events.count("incident.escalated") == 2


async def test_acknowledging_stops_the_escalation(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """An incident acknowledged before 2x its SLA is never escalated, even if a timer is due."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store, Severity.P1)
    t0 = datetime.now(UTC)
    await rig.round(t0 + 10 * MIN)  # the timers are planned while it is unacknowledged
    await rig.store.transition("1", IncidentState.ACKNOWLEDGED, "ana")
    for hours in (2, 3, 5, 9):
        await rig.round(t0 + timedelta(hours=hours, minutes=1))
    await rig.drain()
    assert rig.matching("escalated") == []
    incident = await rig.store.incident("1")
    assert incident is not None and incident.escalation == 0


async def test_resolved_and_silenced_incidents_do_not_escalate(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Only open, unsilenced incidents page anybody."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store, fingerprint="a")
    await rig.store.transition("1", IncidentState.RESOLVED, "ana")
    await open_incident(rig.store, Severity.P1, fingerprint="b")  # another group: incident 2
    await rig.store.silence("2", "s-1", "ana", "known issue")
    await rig.round(datetime.now(UTC) + timedelta(hours=6))
    await rig.drain()
    assert rig.matching("escalated") == []


async def test_a_p3_goes_to_the_backlog_at_48_hours_and_no_further(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Runbook 004: P3 48 h -> backlog; nobody is mentioned and no commander is called."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store, Severity.P3)
    t0 = datetime.now(UTC)
    await rig.round(t0 + timedelta(hours=47))
    for hours in (49, 97, 200):
        await rig.round(t0 + timedelta(hours=hours))
    await rig.drain()
    [backlog] = rig.matching("escalated")
    assert "escalated to the backlog" in backlog and "<@" not in backlog


async def test_after_downtime_each_due_level_fires_once_marked_late(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A P0 opened while no scheduler ran: the first round, 2 h later, escalates both levels
    once, each saying it is late; later rounds add nothing."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store, ago=timedelta(hours=2))
    now = datetime.now(UTC)
    fired = await rig.round(now)
    assert sorted(fired) == ["escalate:1:0:P0:1", "escalate:1:0:P0:2"]
    assert await rig.round(now + timedelta(seconds=2)) == []
    await rig.drain()
    bodies = [str(b["blocks"]) for b in rig.slack.json_bodies() if "escalated" in b["text"]]
    assert len(bodies) == 2 and all("late: due" in b for b in bodies)


async def test_levels_whose_jobs_run_out_of_order_are_each_posted(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Both levels due at once (after downtime), the commander's job runs first: the engineer's
    level is still posted, once, and the incident stays at the top level."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store, ago=timedelta(hours=2))
    incident = await rig.store.incident("1")
    assert incident is not None
    now = datetime.now(UTC)
    timers = {n: Timer(timer_id(incident, n), JOB, now, ("1", str(n))) for n in (1, 2)}
    deps = Deps.build(rig.settings, rig.config, real_redis)
    try:
        said = [await fire(deps, timers[n]) for n in (2, 1, 1, 2)]
    finally:
        await deps.http.aclose()
    assert said == [
        "escalated to incident_commander",
        "escalated to escalation_engineer",
        "skipped: already notified",
        "skipped: already notified",
    ]
    assert len(rig.matching("escalated to the Escalation Engineer")) == 1
    assert len(rig.matching("escalated to the Incident Commander")) == 1
    incident = await rig.store.incident("1")
    assert incident is not None and incident.escalation == 2


async def test_a_level_reached_by_hand_is_not_paged_again_but_the_next_one_is(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Escalated to the engineer by hand at 5 min: at 30 min the timer pages nobody again; at
    60 min the commander is paged by the timer."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store)
    incident = await rig.store.incident("1")
    assert incident is not None
    deps = Deps.build(rig.settings, rig.config, real_redis)
    try:
        raised = await escalate_by_hand(deps, incident, "slack:U0ANA")
    finally:
        await deps.http.aclose()
    assert (raised.level, raised.mention) == (1, "<@U0ENGINEER>")
    t0 = datetime.now(UTC)
    for minutes in (5, 31, 45):
        await rig.round(t0 + minutes * MIN)
        await rig.drain()
    assert rig.matching("escalated") == []
    await rig.round(t0 + 61 * MIN)
    await rig.drain()
    assert len(rig.matching("escalated to the Incident Commander")) == 1
    assert rig.matching("Escalation Engineer") == []


async def test_a_timer_planned_before_downtime_fires_late(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Planned at 10 min, the scheduler down from then until 3 h: it fires once, marked late."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store)
    t0 = datetime.now(UTC)
    await rig.round(t0 + 10 * MIN)
    await rig.round(t0 + timedelta(hours=3))
    await rig.round(t0 + timedelta(hours=3, minutes=1))
    await rig.drain()
    bodies = [str(b["blocks"]) for b in rig.slack.json_bodies() if "escalated" in b["text"]]
    assert len(bodies) == 2 and all("late: due" in b for b in bodies)


async def test_two_schedulers_escalate_once_through_a_leader_change(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """Both schedulers run every round; the leader dies before 2x SLA, the other takes over:
    each level is posted once, and the dead leader, waking up, fires nothing."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    a = rig.scheduler
    b = Scheduler(real_redis, Store(real_redis), "other", config=rig.config)
    await open_incident(rig.store)
    t0 = datetime.now(UTC)
    for minutes in (5, 20, 29):
        now = t0 + minutes * MIN
        assert [await a.tick(), await b.tick()] == [True, False]
        await a.run_duties(now)
        await b.run_duties(now)
    await real_redis.delete(LEASE_KEY)  # a stops renewing: its lease expires
    assert await b.tick()
    for minutes in (31, 40, 61, 70):
        now = t0 + minutes * MIN
        assert await b.tick()
        await a.run_duties(now)  # the old leader still thinks it leads
        await b.run_duties(now)
    await rig.drain()
    assert len(rig.matching("escalated to the Escalation Engineer")) == 1
    assert len(rig.matching("escalated to the Incident Commander")) == 1


async def test_a_raised_severity_escalates_on_the_new_sla(
    real_redis: ArqRedis, make_recorder: Recorders, make_settings: SettingsMaker
) -> None:
    """A P1 raised to P0 escalates at 30 min (2x 15), not at 2 h, and still only once."""
    rig = await make_rig(real_redis, make_recorder, make_settings, ROLES)
    await open_incident(rig.store, Severity.P1, fingerprint="a")
    t0 = datetime.now(UTC)
    await rig.round(t0 + MIN)
    await open_incident(rig.store, Severity.P0, fingerprint="b")
    await rig.round(t0 + 31 * MIN)
    await rig.round(t0 + 32 * MIN)
    await rig.round(t0 + 3 * 60 * MIN)  # the P1 timer (2 h) fires too, and does nothing
    await rig.drain()
    assert len(rig.matching("escalated to the Escalation Engineer")) == 1
    assert len(rig.matching("escalated to the Incident Commander")) == 1
