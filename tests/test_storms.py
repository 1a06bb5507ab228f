"""No alarm floods, on the real database through the code the ingest pipeline calls (`intake.apply`):
a storm of one rule in one grid makes one case with a count, a fire in the middle of it still gets its
own case, many devices of a community falling silent make one communication-outage case, and the
devices it leaves behind get cases of their own. The same through the real hub and broker is in
test_no_alarm_floods.py."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import TypeAdapter

from hub.cases import intake, storms
from hub.cases.actions import Action
from hub.cases.config import DispatchConfig, OutageConfig, StormConfig
from hub.domain.alerts import AlertCleared, AlertOpened, Transition
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.roles import Role
from hub.domain.users import User
from hub.engine.schema import Rule
from hub.store import cases as case_store
from tests.support.factories import act, community, device, threshold_rule

T0 = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
CFG = DispatchConfig(default_team="st-desk")
NO_VOLTAGE = threshold_rule(
    "st-no-voltage",
    kinds=["lamppost"],
    category="lighting",
    severity="major",
    when="voltage_v < 100",
    title="No mains voltage at a lamppost",
    team="st-lights",
)
SMOKE = threshold_rule(
    "st-smoke", kinds=["smoke_detector"], category="fire", severity="critical", when="alarm", team="st-fire"
)
SILENT: Rule = TypeAdapter(Rule).validate_python(
    {
        "type": "absence",
        "id": "st-silent",
        "title": "Device silent (test)",
        "title_zh": "设备无消息（测试）",
        "kinds": ["smoke_detector"],
        "severity": "minor",
        "category": "device_health",
        "period": "10m",
        "dispatch": {"team": "st-maint"},
    }
)


def opened(rule: Rule, d: DeviceRef, at: datetime) -> AlertOpened:
    return AlertOpened(rule, d, d.id, at, at, {"readings": []})


def cleared(rule: Rule, d: DeviceRef, at: datetime) -> AlertCleared:
    return AlertCleared(rule, d.id, at, "readings again", {"code": "back"})


def apply(
    conn: psycopg.Connection[Any], transitions: list[Transition], now: datetime, cfg: DispatchConfig = CFG
) -> None:
    with conn.transaction():
        intake.apply(conn, transitions, cfg, now)


def open_cases(conn: psycopg.Connection[Any], where: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id FROM cases WHERE community_id = %s AND status NOT IN ('resolved', 'closed', 'cancelled') "
        "ORDER BY id",
        (where,),
    ).fetchall()
    cases = [case_store.get_case(conn, int(r[0])) for r in rows]
    return [c for c in cases if c is not None]


def all_cases(conn: psycopg.Connection[Any], where: str) -> list[tuple[int, str, str]]:
    return [
        (int(r[0]), str(r[1]), str(r[2]))
        for r in conn.execute(
            "SELECT id, subject, status FROM cases WHERE community_id = %s ORDER BY id", (where,)
        ).fetchall()
    ]


def lampposts(conn: psycopg.Connection[Any], where: str, n: int, grid: str = "g2") -> list[DeviceRef]:
    return [device(conn, where, f"{grid}-lamp{i:02}", DeviceKind.LAMPPOST, grid=grid) for i in range(n)]


def test_38_lampposts_losing_voltage_one_by_one_make_one_storm_case_with_a_count(
    conn: psycopg.Connection[Any],
) -> None:
    where = community(conn, "st")
    lamps = lampposts(conn, where, 38)
    for i, lamp in enumerate(lamps):
        at = T0 + timedelta(seconds=5 * i)
        apply(conn, [opened(NO_VOLTAGE, lamp, at)], at)

    [storm] = open_cases(conn, where)
    assert storm["subject"] == f"storm:st-no-voltage:{where}:g2"
    assert storm["title"] == f"38 lampposts of grid g2 of {where}: No mains voltage at a lamppost"
    assert storm["title_zh"].startswith(f"{where} g2 网格 38 个灯杆：")
    assert (storm["team"], storm["category"], storm["severity"]) == ("st-lights", "lighting", "major")
    assert sorted(a["device_id"] for a in storm["alerts"]) == sorted(d.id for d in lamps)
    own = [c for c in all_cases(conn, where) if c[0] != storm["id"]]
    assert len(own) == CFG.storms.max_cases, "the first five opened cases of their own ..."
    assert {status for _, _, status in own} == {"cancelled"}, "... which the storm took in"
    history = [h["action"] for h in storm["history"]]
    assert history.count("case_absorbed") == CFG.storms.max_cases
    assert history.count("alerts_joined") == 1, "later members raise the count, not a notification each"


def test_a_storm_arriving_in_one_go_opens_no_case_per_device(conn: psycopg.Connection[Any]) -> None:
    where = community(conn, "st")
    lamps = lampposts(conn, where, 12)
    apply(conn, [opened(NO_VOLTAGE, lamp, T0) for lamp in lamps], T0)
    cases = all_cases(conn, where)
    assert [(s, st) for _, s, st in cases] == [(f"storm:st-no-voltage:{where}:g2", "dispatched")]


def test_up_to_the_limit_each_alert_has_its_own_case_and_other_grids_count_apart(
    conn: psycopg.Connection[Any],
) -> None:
    where = community(conn, "st")
    g2 = lampposts(conn, where, CFG.storms.max_cases, "g2")
    g3 = lampposts(conn, where, CFG.storms.max_cases, "g3")
    for lamp in g2 + g3:
        apply(conn, [opened(NO_VOLTAGE, lamp, T0)], T0)
    assert sorted(s for _, s, _ in all_cases(conn, where)) == sorted(d.id for d in g2 + g3)
    late = device(conn, where, "g2-lamp-late", DeviceKind.LAMPPOST, grid="g2")
    later = T0 + timedelta(seconds=CFG.storms.window + 1)
    apply(conn, [opened(NO_VOLTAGE, late, later)], later)
    assert late.id in {s for _, s, _ in all_cases(conn, where)}, "outside the window it is no storm"


def test_a_fire_in_the_middle_of_a_storm_opens_its_own_case_at_once(conn: psycopg.Connection[Any]) -> None:
    where = community(conn, "st")
    lamps = lampposts(conn, where, 20)
    detectors = [device(conn, where, f"g2-sd{i}", DeviceKind.SMOKE_DETECTOR, grid="g2") for i in range(8)]
    apply(conn, [opened(NO_VOLTAGE, lamp, T0) for lamp in lamps[:10]], T0)
    fires = [opened(SMOKE, d, T0 + timedelta(seconds=1)) for d in detectors]
    apply(conn, [*fires[:4], *(opened(NO_VOLTAGE, lamp, T0) for lamp in lamps[10:]), *fires[4:]], T0)

    cases = {c["subject"]: c for c in open_cases(conn, where)}
    assert set(cases) == {f"storm:st-no-voltage:{where}:g2", *(d.id for d in detectors)}
    assert {cases[d.id]["category"] for d in detectors} == {"fire"}
    assert len(cases[f"storm:st-no-voltage:{where}:g2"]["alerts"]) == 20


def test_a_case_someone_took_up_stays_their_own_while_its_alert_joins_the_storm(
    conn: psycopg.Connection[Any],
) -> None:
    where = community(conn, "st")
    lamps = lampposts(conn, where, 8)
    apply(conn, [opened(NO_VOLTAGE, lamps[0], T0)], T0)
    [(first, _, _)] = all_cases(conn, where)
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, 'no log-in', 'operator') RETURNING id",
        (f"{where}-officer",),
    ).fetchone()
    assert row is not None
    act(conn, first, User(int(row[0]), f"{where}-officer", Role.OPERATOR, ()), T0, Action.ACKNOWLEDGE, CFG)
    for lamp in lamps[1:]:
        apply(conn, [opened(NO_VOLTAGE, lamp, T0)], T0)

    by_subject = {s: (i, st) for i, s, st in all_cases(conn, where)}
    assert by_subject[lamps[0].id] == (first, "acknowledged"), "not folded: somebody works on it"
    storm = case_store.get_case(conn, by_subject[f"storm:st-no-voltage:{where}:g2"][0])
    assert storm is not None
    assert lamps[0].id in {a["device_id"] for a in storm["alerts"]}


def test_alerts_of_one_grid_written_side_by_side_make_one_storm_case(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        where = community(conn, "st")
        lamps = lampposts(conn, where, 24)

    def one(lamp: DeviceRef) -> None:
        with psycopg.connect(database_url, autocommit=True) as c:
            apply(c, [opened(NO_VOLTAGE, lamp, T0)], T0)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, lamps))
    with psycopg.connect(database_url, autocommit=True) as conn:
        cases = all_cases(conn, where)
        storm_cases = [c for c in cases if c[1].startswith("storm:")]
        assert len(storm_cases) == 1
        [storm] = open_cases(conn, where)
        assert len(storm["alerts"]) == 24
        assert all(st == "cancelled" for i, _, st in cases if i != storm["id"])


OUTAGE = DispatchConfig(
    default_team="st-desk",
    storms=StormConfig(outage=OutageConfig(share=0.5, min_devices=10, stragglers_after=600)),
)


def detectors(conn: psycopg.Connection[Any], where: str, n: int) -> list[DeviceRef]:
    """`n` detectors over four grids, as a community's are."""
    return [device(conn, where, f"sd{i:03}", DeviceKind.SMOKE_DETECTOR, grid=f"g{i % 4}") for i in range(n)]


def test_80_percent_of_a_community_falling_silent_is_one_outage_case_listing_them(
    conn: psycopg.Connection[Any],
) -> None:
    where = community(conn, "st")
    fleet = detectors(conn, where, 200)
    gone = fleet[:160]
    apply(conn, [opened(SILENT, d, T0) for d in gone], T0, OUTAGE)

    [outage] = open_cases(conn, where)
    assert outage["subject"] == f"outage:st-silent:{where}"
    assert outage["title"] == f"Communication outage in {where}: 160 of 200 devices went silent"
    assert outage["title_zh"] == f"{where} 通信中断：200 台设备中 160 台无消息"
    assert sorted(a["device_id"] for a in outage["alerts"]) == sorted(d.id for d in gone)
    assert len(all_cases(conn, where)) == 1, "no device's own case, not even for a moment"


def test_an_outage_building_up_over_minutes_folds_the_cases_opened_before_it_was_one(
    conn: psycopg.Connection[Any],
) -> None:
    where = community(conn, "st")
    fleet = detectors(conn, where, 40)
    for i, d in enumerate(fleet[:30]):
        at = T0 + timedelta(seconds=10 * i)
        apply(conn, [opened(SILENT, d, at)], at, OUTAGE)

    [outage] = open_cases(conn, where)
    assert outage["subject"] == f"outage:st-silent:{where}"
    assert len(outage["alerts"]) == 30
    assert outage["title"].endswith("30 of 40 devices went silent")


def test_a_few_silent_devices_are_no_outage(conn: psycopg.Connection[Any]) -> None:
    where = community(conn, "st")
    fleet = [device(conn, where, f"sd{i:03}", DeviceKind.SMOKE_DETECTOR, grid=None) for i in range(200)]
    apply(conn, [opened(SILENT, d, T0) for d in fleet[:40]], T0, OUTAGE)
    assert len(open_cases(conn, where)) == 40, "20 % of the community: each device is a case"


def test_devices_still_silent_after_the_outage_get_cases_of_their_own(conn: psycopg.Connection[Any]) -> None:
    where = community(conn, "st")
    fleet = detectors(conn, where, 100)
    gone, stragglers = fleet[:80], fleet[:3]
    apply(conn, [opened(SILENT, d, T0) for d in gone], T0, OUTAGE)
    [outage] = open_cases(conn, where)

    back_at = T0 + timedelta(minutes=3)
    apply(conn, [cleared(SILENT, d, back_at) for d in gone[3:]], back_at, OUTAGE)
    split: Callable[[datetime], list[int]] = lambda now: storms.split_stragglers(conn, OUTAGE, now)  # noqa: E731
    assert split(back_at + timedelta(seconds=599)) == [], "the stragglers may still be on their way"
    own = split(back_at + timedelta(seconds=600))

    assert len(own) == 3
    cases = {c["subject"]: c for c in open_cases(conn, where)}
    assert set(cases) == {outage["subject"], *(d.id for d in stragglers)}
    for d in stragglers:
        assert [a["device_id"] for a in cases[d.id]["alerts"]] == [d.id]
        assert cases[d.id]["team"] == "st-maint"
    after = case_store.get_case(conn, outage["id"])
    assert after is not None
    assert all(a["status"] == "cleared" for a in after["alerts"]), "the outage case can now be closed"
    assert [h["action"] for h in after["history"]][-1] == "stragglers_split"
    assert split(back_at + timedelta(seconds=1200)) == [], "once"


def test_an_outage_that_is_still_on_splits_nobody_off(conn: psycopg.Connection[Any]) -> None:
    where = community(conn, "st")
    fleet = detectors(conn, where, 100)
    apply(conn, [opened(SILENT, d, T0) for d in fleet[:80]], T0, OUTAGE)
    back_at = T0 + timedelta(minutes=3)
    apply(conn, [cleared(SILENT, d, back_at) for d in fleet[:10]], back_at, OUTAGE)
    assert storms.split_stragglers(conn, OUTAGE, back_at + timedelta(hours=1)) == []
    assert len(open_cases(conn, where)) == 1


def test_when_every_member_is_back_the_history_says_so(conn: psycopg.Connection[Any]) -> None:
    where = community(conn, "st")
    lamps = lampposts(conn, where, 7)
    apply(conn, [opened(NO_VOLTAGE, lamp, T0) for lamp in lamps], T0)
    later = T0 + timedelta(minutes=5)
    apply(conn, [cleared(NO_VOLTAGE, lamp, later) for lamp in lamps[:-1]], later)
    [storm] = open_cases(conn, where)
    assert "storm_over" not in [h["action"] for h in storm["history"]]
    apply(conn, [cleared(NO_VOLTAGE, lamps[-1], later)], later)
    storm_after = case_store.get_case(conn, storm["id"])
    assert storm_after is not None
    over = [h for h in storm_after["history"] if h["action"] == "storm_over"]
    assert [h["detail"] for h in over] == [{"count": 7}]
