"""Each rule kind through the pure evaluator, with time from the readings (no sleeping)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from hub.domain.alerts import AlertCleared, AlertOpened
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.readings import Reading
from hub.engine.evaluator import Engine
from hub.engine.schema import RuleFile

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 11:00 in Asia/Shanghai
GATE = DeviceRef("g1", DeviceKind.ACCESS_GATE, "oak", "b1", "g")
MH = DeviceRef("mh1", DeviceKind.MANHOLE, "oak", None, "g")
LAMP = DeviceRef("lp1", DeviceKind.LAMPPOST, "oak", None, "g")
SDS = [DeviceRef(f"sd{i}", DeviceKind.SMOKE_DETECTOR, "oak", "b1" if i < 3 else "b2", "g") for i in range(4)]
DISPATCH = {"team": "t"}


def rules(*bodies: dict[str, Any]) -> Engine:
    base = {"title": "t", "severity": "major", "category": "security", "dispatch": DISPATCH}
    return Engine(RuleFile.model_validate({"rules": [base | b for b in bodies]}).rules)


def run(engine: Engine, readings: list[Reading]) -> list[AlertOpened | AlertCleared]:
    out: list[AlertOpened | AlertCleared] = []
    for r in readings:
        ev = engine.evaluate([r])
        engine.commit(ev)
        out += ev.transitions
    return out


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def denied(s: float) -> Reading:
    return Reading(
        GATE, at(s), {"event": "access", "result": "denied", "method": "card", "direction": "in"}, "event"
    )


COUNT = {
    "id": "gate-brute-force",
    "type": "count",
    "kinds": ["access_gate"],
    "where": "event == 'access' and result == 'denied'",
    "threshold": 5,
    "window": "60s",
}


def test_count_fires_at_the_fifth_denial_within_the_window() -> None:
    e = rules(COUNT)
    assert run(e, [denied(s) for s in (0, 10, 20, 30)]) == []
    fired = run(e, [denied(40)])
    (opened,) = fired
    assert type(opened) is AlertOpened
    assert opened.explanation["count"] == 5


def test_count_does_not_fire_when_denials_are_spread_out() -> None:
    e = rules(COUNT)
    assert run(e, [denied(s) for s in range(0, 600, 20)]) == []


def test_count_ignores_granted_access_and_clears_when_the_window_empties() -> None:
    e = rules(COUNT)
    granted = Reading(
        GATE, at(1), {"event": "access", "result": "granted", "method": "card", "direction": "in"}, "event"
    )
    assert run(e, [granted] * 1 + [denied(s) for s in (2, 3, 4, 5)]) == []
    assert len(run(e, [denied(6)])) == 1
    cleared = run(e, [denied(200)])
    assert [type(t) for t in cleared] == [AlertCleared]


def level(s: float, cm: float) -> Reading:
    return Reading(
        MH,
        at(s),
        {
            "water_level_cm": cm,
            "tilt_deg": 0.0,
            "cover_open": False,
            "ch4_pct_lel": 0.0,
            "h2s_ppm": 0.0,
            "battery_pct": 90.0,
        },
    )


RATE = {
    "id": "manhole-rising",
    "type": "rate",
    "kinds": ["manhole"],
    "metric": "water_level_cm",
    "change": 20,
    "window": "10m",
    "category": "flood",
}


def test_rate_fires_on_a_fast_rise_only() -> None:
    slow = rules(RATE)
    assert run(slow, [level(s, 10 + s / 60) for s in range(0, 3600, 60)]) == []
    fast = rules(RATE)
    fired = run(fast, [level(s, 10 + s / 15) for s in range(0, 600, 60)])
    (opened,) = fired
    assert type(opened) is AlertOpened
    assert opened.explanation["change"] > 20


def test_rate_clears_when_the_level_steadies() -> None:
    e = rules(RATE)
    run(e, [level(s, 10 + s / 15) for s in range(0, 600, 60)])
    later = run(e, [level(600 + s, 50) for s in range(0, 1300, 60)])
    assert [type(t) for t in later] == [AlertCleared]


ABSENCE = {
    "id": "gate-heartbeat-missing",
    "type": "absence",
    "kinds": ["access_gate"],
    "source": "telemetry",
    "period": "5m",
    "category": "device_health",
}


def test_absence_fires_after_the_period_of_silence_and_clears_on_the_next_message() -> None:
    e = rules(ABSENCE)
    heartbeat = {"door_open": False}
    run(e, [Reading(GATE, at(0), heartbeat)])
    assert e.tick(at(200)).transitions == []
    fired = e.tick(at(301))
    e.commit(fired)
    assert [type(t) for t in fired.transitions] == [AlertOpened]
    again = e.tick(at(900))
    assert again.transitions == [], "one alert per silence, not one per tick"
    e.commit(again)
    back = run(e, [Reading(GATE, at(950), heartbeat)])
    assert [type(t) for t in back] == [AlertCleared]


def test_absence_with_a_source_ignores_other_messages() -> None:
    e = rules(ABSENCE)
    run(e, [Reading(GATE, at(0), {"door_open": False})])
    run(e, [denied(250)])
    assert [type(t) for t in e.tick(at(301)).transitions] == [AlertOpened]


def test_seeded_devices_never_heard_from_are_watched_from_now() -> None:
    e = rules(ABSENCE)
    e.seed_absence([GATE], {}, at(0))
    assert [type(t) for t in e.tick(at(301)).transitions] == [AlertOpened]


def test_does_not_fire_for_silence_while_the_hub_was_deaf_and_counts_from_when_it_hears_again() -> None:
    e = rules(ABSENCE)
    e.seed_absence([GATE], {GATE.id: at(0)}, at(1000))  # last heard long before a restart
    e.listening(lambda community: community == "oak", None)  # not subscribed yet
    assert e.tick(at(1000)).transitions == [], "deaf: the hub's silence is not the gate's"
    e.listening(lambda community: community == "oak", at(1010))
    assert e.tick(at(1309)).transitions == []
    assert [type(t) for t in e.tick(at(1311)).transitions] == [AlertOpened], "silent a period after"


def test_does_not_fire_while_deaf_even_after_a_message_and_ignores_other_communities() -> None:
    e = rules(ABSENCE)
    run(e, [Reading(GATE, at(0), {"door_open": False})])
    e.listening(lambda community: community == "elm", None)
    assert [type(t) for t in e.tick(at(301)).transitions] == [AlertOpened], "another community's deafness"
    e = rules(ABSENCE)
    run(e, [Reading(GATE, at(0), {"door_open": False})])
    e.listening(lambda community: True, None)
    run(e, [Reading(GATE, at(10), {"door_open": False})])
    assert e.tick(at(400)).transitions == [], "a message taken from the queue while deaf keeps it deaf"


def test_fires_for_a_device_heard_after_the_hub_listens_again_only_after_its_own_silence() -> None:
    e = rules(ABSENCE)
    run(e, [Reading(GATE, at(0), {"door_open": False})])
    e.listening(lambda community: True, at(100))
    run(e, [Reading(GATE, at(200), {"door_open": False})])
    assert e.tick(at(499)).transitions == []
    assert [type(t) for t in e.tick(at(501)).transitions] == [AlertOpened]


SMOKE = {
    "id": "smoke",
    "type": "threshold",
    "kinds": ["smoke_detector"],
    "when": "alarm",
    "clear_for": "0s",
    "category": "fire",
    "severity": "critical",
}
CORR = {
    "id": "building-fire",
    "type": "correlation",
    "kinds": ["smoke_detector"],
    "of": ["smoke"],
    "group_by": "building",
    "min_subjects": 2,
    "within": "2m",
    "category": "fire",
    "severity": "critical",
}


def alarm(d: DeviceRef, s: float, on: bool = True) -> Reading:
    return Reading(d, at(s), {"alarm": on, "smoke_obscuration_pct_per_m": 4.0 if on else 0.1})


def test_correlation_opens_one_group_alert_that_absorbs_the_members() -> None:
    e = rules(SMOKE, CORR)
    first = run(e, [alarm(SDS[0], 0)])
    assert [(t.rule.id, t.subject) for t in first] == [("smoke", "sd0")]
    second = run(e, [alarm(SDS[1], 30)])
    assert [(t.rule.id, t.subject) for t in second] == [
        ("smoke", "sd1"),
        ("building-fire", "building:oak/b1"),
    ]
    group = second[1]
    assert isinstance(group, AlertOpened)
    assert group.absorbs == (("smoke", "sd0"), ("smoke", "sd1"))
    third = run(e, [alarm(SDS[2], 60)])
    assert len(third) == 1
    assert isinstance(third[0], AlertOpened)
    assert third[0].absorbed_into == ("building-fire", "building:oak/b1")


def test_correlation_needs_the_same_building_and_the_window() -> None:
    e = rules(SMOKE, CORR)
    assert [t.rule.id for t in run(e, [alarm(SDS[0], 0), alarm(SDS[3], 10)])] == ["smoke", "smoke"]
    late = rules(SMOKE, CORR)
    assert [t.rule.id for t in run(late, [alarm(SDS[0], 0), alarm(SDS[1], 300)])] == ["smoke", "smoke"]


def test_correlation_clears_when_every_member_cleared() -> None:
    e = rules(SMOKE, CORR)
    run(e, [alarm(SDS[0], 0), alarm(SDS[1], 10)])
    partial = run(e, [alarm(SDS[0], 100, on=False)])
    assert [t.rule.id for t in partial] == ["smoke"]
    done = run(e, [alarm(SDS[1], 110, on=False)])
    assert [(type(t).__name__, t.rule.id) for t in done] == [
        ("AlertCleared", "smoke"),
        ("AlertCleared", "building-fire"),
    ]


def lamp(s: float, on: bool) -> Reading:
    return Reading(
        LAMP, at(s), {"lamp_on": on, "dim_level_pct": 100.0 if on else 0.0, "power_w": 100.0 if on else 0.0}
    )


NIGHT = {
    "id": "lamp-dark-at-night",
    "type": "threshold",
    "kinds": ["lamppost"],
    "when": "not lamp_on",
    "for": "10m",
    "category": "lighting",
    "active": {"hours": "19:00-05:00", "timezone": "Asia/Shanghai"},
}


def test_schedule_limits_when_a_rule_may_open() -> None:
    e = rules(NIGHT)
    assert run(e, [lamp(s, False) for s in range(0, 3600, 60)]) == [], "daytime off is fine"
    night = T0.replace(hour=13)  # 21:00 local
    fired = run(e, [Reading(LAMP, night + timedelta(minutes=m), lamp(0, False).values) for m in range(0, 15)])
    assert [t.rule.id for t in fired] == ["lamp-dark-at-night"]


def test_schedule_days_and_wrapping_hours() -> None:
    e = rules(
        NIGHT
        | {"id": "weekend", "active": {"hours": "22:00-02:00", "days": ["sat", "sun"], "timezone": "UTC"}}
    )
    rule = e.rules[0]
    assert rule.active is not None
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    assert rule.active.contains(saturday_night)
    assert rule.active.contains(datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    assert not rule.active.contains(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    assert not rule.active.contains(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "id": "x",
                "type": "count",
                "kinds": ["access_gate"],
                "where": "resultt == 'denied'",
                "threshold": 5,
                "window": "1m",
            },
            "unknown name 'resultt'",
        ),
        (
            {"id": "x", "type": "rate", "kinds": ["manhole"], "metric": "depth", "change": 5, "window": "1m"},
            "unknown metric",
        ),
        (
            {"id": "x", "type": "absence", "kinds": ["manhole"], "where": "battery_pct > 0", "period": "1m"},
            "needs `source",
        ),
        (
            {
                "id": "x",
                "type": "threshold",
                "kinds": ["lamppost"],
                "when": "lamp_on",
                "active": {"hours": "25:00-01:00"},
            },
            "must look like",
        ),
        (
            {
                "id": "x",
                "type": "correlation",
                "kinds": ["smoke_detector"],
                "of": ["smoke"],
                "within": "1m",
                "min_subjects": 1,
            },
            "min_subjects",
        ),
    ],
)
def test_each_kind_rejects_what_it_cannot_mean(body: dict[str, Any], field: str) -> None:
    base = {"title": "t", "severity": "major", "category": "security", "dispatch": DISPATCH}
    with pytest.raises(ValidationError, match=field):
        RuleFile.model_validate({"rules": [base | body]})


def test_a_replayed_engine_continues_exactly_where_the_live_one_was() -> None:
    """Restart recovery in miniature: a fresh engine fed the stored prefix reaches the live state."""
    from hub.engine.replay import replay

    stream = [alarm(SDS[0], s, on=True) for s in (0, 4, 8)] + [denied(s) for s in (1, 2, 3)]
    stream.sort(key=lambda r: r.ts)
    tail = [denied(9), alarm(SDS[0], 10), denied(11)]
    hold = SMOKE | {"for": "10s"}
    live = rules(hold, COUNT)
    run(live, stream)
    restarted = rules(hold, COUNT)
    assert replay(restarted, stream, until=stream[-1].ts, tick_every=None) == []
    assert (
        [(t.rule.id, t.subject) for t in run(live, tail)]
        == [(t.rule.id, t.subject) for t in run(restarted, tail)]
        == [("smoke", "sd0"), ("gate-brute-force", "g1")]
    )
