"""The simulator's models, scenarios, faults and verdicts, without a broker: physics, rhythms, repeatability,
and bad payloads that are bad in the way they claim (judged by the hub's own decoder)."""

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from device_simulators import fleet, scenarios, site
from device_simulators.environment import Place, RainProcess
from device_simulators.faults import FAULTS, FaultContext
from device_simulators.measure_fleet import PER_GRID_DEVICES, site_file
from device_simulators.models import AccessGate, Lamppost, Manhole, SmokeDetector, build
from device_simulators.mqtt import Pacer
from device_simulators.player import Played, check_ahead, play
from device_simulators.scenarios import SCENARIOS, Cast, Event, Reading, ScenarioError
from device_simulators.verify import HubClock, Outcome, SeenAlert, judge, silence_wait_s
from hub.domain.devices import DeviceKind, DeviceRef
from hub.ingest.decode import Accepted, Rejected, decode

ROOT = Path(__file__).resolve().parents[1]
DEMO = site.load(ROOT / "device_simulators" / "sites" / "demo.yaml")
DEVICES = site.devices(DEMO)
SHANGHAI = DEMO.place()
DAY = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday


def device(kind: str) -> site.SimDevice:
    return next(d for d in DEVICES if d.kind == kind)


def minutes(start: datetime, hours: float, step_min: int = 10) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(0, int(hours * 60), step_min)]


def without_seq(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "seq"}


# --- repeatability -----------------------------------------------------------------------------------


def test_the_same_seed_and_clock_give_the_same_payloads_and_another_seed_does_not() -> None:
    morning = DAY - timedelta(hours=1)  # 07:00 to 11:00 in Shanghai: gates are busy

    def run(seed: int) -> list[Any]:
        out: list[Any] = []
        for d in DEVICES:
            m = build(d, seed, SHANGHAI)
            out += [m.telemetry(t) for t in minutes(morning, 4, 7)]
            out += m.events(morning, morning + timedelta(hours=4))
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_values_do_not_depend_on_how_often_a_device_is_asked() -> None:
    """A fleet at --speed 6 and one at real pace see the same sky, rain and drift at the same moment."""
    for kind in ("smoke_detector", "lamppost", "manhole", "access_gate"):
        often, seldom = build(device(kind), 3, SHANGHAI), build(device(kind), 3, SHANGHAI)
        every_minute = {t: often.telemetry(t) for t in minutes(DAY, 6, 1)}
        for t in minutes(DAY, 6, 30):
            assert without_seq(seldom.telemetry(t)) == without_seq(every_minute[t])


def test_sequence_numbers_increase_even_for_messages_in_the_same_millisecond() -> None:
    m = build(device("access_gate"), 1)
    seqs = [m.event(DAY, event="door_closed")["seq"] for _ in range(3)]
    assert seqs == sorted(set(seqs))


# --- smoke detectors ---------------------------------------------------------------------------------


def test_smoke_detectors_breathe_clean_air_at_room_temperature() -> None:
    for d in [x for x in DEVICES if x.kind == "smoke_detector"][:6]:
        m = build(d, 5, SHANGHAI)
        readings = [m.telemetry(t) for t in minutes(DAY, 7 * 24, 20)]
        assert max(r["smoke_obscuration_pct_per_m"] for r in readings) < 0.5
        assert 16 < min(r["temperature_c"] for r in readings) < max(r["temperature_c"] for r in readings) < 27
        assert not any(r["alarm"] for r in readings)


def test_batteries_drain_a_few_percent_a_month_and_are_replaced_before_they_warn() -> None:
    for kind, model in (("smoke_detector", SmokeDetector), ("manhole", Manhole)):
        m = build(device(kind), 2, SHANGHAI)
        assert isinstance(m, model)
        days = [m.telemetry(DAY + timedelta(days=n))["battery_pct"] for n in range(0, 4 * 365, 1)]
        drops = [a - b for a, b in itertools.pairwise(days) if a > b]
        assert 0.02 < sum(drops) / len(drops) < 0.15, "per day: about 1-4 % a month"
        assert min(days) >= 25
        assert sum(b > a for a, b in itertools.pairwise(days)) >= 1, "a replacement in four years"


def test_dust_faults_come_rarely_and_last_a_while() -> None:
    detectors = [d for d in DEVICES if d.kind == "smoke_detector"]
    hours = [DAY + timedelta(hours=h) for h in range(0, 2 * 365 * 24)]
    faulty_hours = 0
    for d in detectors:
        m = build(d, 1, SHANGHAI)
        assert isinstance(m, SmokeDetector)
        faulty_hours += sum(m.dust_fault(t) for t in hours)
    share = faulty_hours / (len(detectors) * len(hours))
    assert 0 < share < 0.002, f"dust faults should be rare but happen: {share:.4%} of detector-hours"


# --- lampposts ---------------------------------------------------------------------------------------


def test_lamp_power_follows_the_dim_level() -> None:
    m = build(device("lamppost"), 4, SHANGHAI)
    assert isinstance(m, Lamppost)
    levels = set()
    for t in minutes(DAY, 24, 5):
        r = m.telemetry(t)
        levels.add(r["dim_level_pct"])
        if r["lamp_on"]:
            assert r["power_w"] == pytest.approx(m.rated_w() * r["dim_level_pct"] / 100, rel=0.02)
            assert r["current_a"] == pytest.approx(r["power_w"] / r["voltage_v"], abs=0.002)
        else:
            assert r["dim_level_pct"] == 0 and r["power_w"] < 1
    assert levels == {0.0, 50.0, 100.0}


def test_lamps_follow_dusk_and_dawn_at_the_sites_latitude() -> None:
    def hours_on(place: Place, day: datetime) -> float:
        m = build(device("lamppost"), 1, place)
        return sum(bool(m.telemetry(t)["lamp_on"]) for t in minutes(day, 24, 5)) / 12

    oslo = Place(59.9, 10.75, "Europe/Oslo")
    june, december = datetime(2026, 6, 21, tzinfo=UTC), datetime(2026, 12, 21, tzinfo=UTC)
    assert hours_on(oslo, june) < 5 < 12 < 17 < hours_on(oslo, december)
    assert 9 < hours_on(SHANGHAI, june) < 11 < 13 < hours_on(SHANGHAI, december) < 15
    assert hours_on(Place(), june) == hours_on(Place(), december) == 12


def test_lamps_switch_on_after_sunset_in_local_time() -> None:
    m = build(device("lamppost"), 1, SHANGHAI)
    on = [t for t in minutes(DAY, 24, 1) if m.telemetry(t)["lamp_on"]]
    dusk = min(t for t in on if SHANGHAI.local(t).hour >= 12)
    assert "16:55" <= SHANGHAI.local(dusk).strftime("%H:%M") <= "17:15", (
        "Shanghai, late November: sunset ~16:55"
    )


# --- manholes and rain -------------------------------------------------------------------------------


def test_water_rises_after_rain_with_a_lag_and_drains_slowly() -> None:
    m = build(device("manhole"), 6, SHANGHAI)
    assert isinstance(m, Manhole)
    showers = RainProcess(6, m.device.community).showers(DAY, DAY + timedelta(days=30))
    shower = max(showers, key=lambda s: s.intensity_mm_h * s.duration_s)
    before = m.water_level_cm(shower.start)
    levels = [(t, m.water_level_cm(t)) for t in minutes(shower.start, 24, 5)]
    peak_at, peak = max(levels, key=lambda x: x[1])
    end = shower.start + timedelta(seconds=shower.duration_s)
    assert peak > before + 5
    assert peak_at > end, "the drain's lag puts the peak after the rain"
    an_hour_after = m.water_level_cm(peak_at + timedelta(hours=1))
    assert before < an_hour_after < peak, "drains slowly, not at once"
    assert m.water_level_cm(peak_at + timedelta(hours=18)) == pytest.approx(before, abs=3)


def test_background_rain_never_floods_a_manhole() -> None:
    for d in [x for x in DEVICES if x.kind == "manhole"][:3]:
        m = build(d, 9, SHANGHAI)
        assert isinstance(m, Manhole)
        assert max(m.water_level_cm(t) for t in minutes(DAY, 60 * 24, 30)) < 100


# --- gates -------------------------------------------------------------------------------------------


def test_gate_traffic_peaks_at_rush_hours_and_flows_out_in_the_morning() -> None:
    m = build(device("access_gate"), 2, SHANGHAI)
    assert isinstance(m, AccessGate)
    counts: dict[str, list[dict[str, Any]]] = {"night": [], "morning": [], "evening": []}
    for day in range(5):  # Monday to Friday, local hours
        base = DAY + timedelta(days=day) - timedelta(hours=8)
        for name, hour in (("night", 2), ("morning", 7.5), ("evening", 18)):
            start = base + timedelta(hours=hour)
            counts[name] += [
                e for _, e in m.events(start, start + timedelta(hours=1)) if e["event"] == "access"
            ]
    assert len(counts["morning"]) > 5 * len(counts["night"]) and len(counts["evening"]) > 5 * len(
        counts["night"]
    )
    assert sum(e["direction"] == "out" for e in counts["morning"]) > len(counts["morning"]) / 2
    assert sum(e["direction"] == "in" for e in counts["evening"]) > len(counts["evening"]) / 2
    every = counts["morning"] + counts["evening"]
    assert 0 < sum(e["result"] == "denied" for e in every) < 0.15 * len(every)


def test_a_held_open_door_shows_in_the_heartbeat_and_as_events() -> None:
    m = build(device("access_gate"), 2, SHANGHAI)
    assert isinstance(m, AccessGate)
    month = (DAY.timestamp(), DAY.timestamp() + 30 * 86400)
    episode = m.held_open(*month)[0]
    start = datetime.fromtimestamp(episode.start, UTC)
    assert m.telemetry(start + timedelta(seconds=20))["door_open"]
    assert not m.telemetry(start + timedelta(seconds=episode.length_s + 1))["door_open"]
    names = [e["event"] for _, e in m.events(start, start + timedelta(seconds=episode.length_s + 1))]
    assert [n for n in names if n != "access"] == ["door_held_open", "door_closed"]


def test_more_speed_means_more_events() -> None:
    m = build(device("access_gate"), 2, SHANGHAI)
    hour = (DAY, DAY + timedelta(hours=1))
    assert len(m.events(*hour, speed=6)) > 3 * len(m.events(*hour))


# --- faults ------------------------------------------------------------------------------------------


REGISTRY = {d.id: DeviceRef(d.id, DeviceKind(d.kind), d.community, d.building, d.grid) for d in DEVICES}


@pytest.mark.parametrize("name", sorted(set(FAULTS) - {"foreign-topic"}))
@pytest.mark.parametrize("kind", [k.value for k in DeviceKind])
def test_faults_produce_the_bad_payloads_they_claim(name: str, kind: str) -> None:
    now = datetime.now(UTC)
    d = device(kind)
    ctx = FaultContext(build(d, 1, SHANGHAI), build(d, 1, SHANGHAI), now, FAULTS[name].count)
    messages = FAULTS[name].build(ctx)
    assert messages
    for m in messages:
        topic = f"sc/v1/{m.device.community}/{m.device.kind}/{m.device.id}/{m.channel}"
        result = decode(topic, m.body, prefix="sc/v1", registry=REGISTRY, now=now)
        if m.fate == "rejected":
            assert isinstance(result, Rejected), m.expectation()
            assert m.reason in result.reason
        else:
            assert isinstance(result, Accepted), f"{m.expectation()}: {result}"
    if name == "duplicates":
        assert len({m.body for m in messages}) == 1 and [m.fate for m in messages] == [
            "stored",
            "duplicate",
            "duplicate",
        ]
    if name == "out-of-order":
        stamps = [json.loads(m.body)["ts"] for m in messages]
        assert stamps == sorted(stamps, reverse=True)


def test_the_foreign_topic_fault_speaks_as_the_victim() -> None:
    me, victim = device("manhole"), [d for d in DEVICES if d.kind == "manhole"][1]
    ctx = FaultContext(build(me, 1), build(victim, 1), datetime.now(UTC), 1)
    [m] = FAULTS["foreign-topic"].build(ctx)
    assert m.device == victim and m.fate == "refused"
    assert json.loads(m.body)["device_id"] == victim.id


# --- scenarios ---------------------------------------------------------------------------------------


def timeline(name: str, **kw: Any) -> tuple[Cast, list[scenarios.Step]]:
    scenario = SCENARIOS[name]
    c = scenarios.cast(scenario, DEVICES, community="sunrise", **kw)
    return c, scenario.script(scenarios.plan(scenario, c, seed=1, steps=None, interval_s=None))


def test_fire_starts_at_the_named_detector_and_spreads_to_its_neighbours_in_order() -> None:
    c, steps = timeline("fire", device_ids=("sunrise-b1-sd03",))
    assert c.targets[0].id == "sunrise-b1-sd03" and len(c.targets) == 6
    assert {d.building for d in c.targets} == {"b1"}
    first_alarm = {}
    for step in steps:
        for a in step.actions:
            if isinstance(a, Event) and a.fields["event"] == "alarm":
                first_alarm[a.device.id] = step.at_s
    assert list(first_alarm) == [d.id for d in c.targets], "every detector alarms, nearest first"
    assert max(first_alarm.values()) - min(first_alarm.values()) >= 60, "the fire spreads over minutes"


def test_a_short_fire_still_ends_in_alarm_at_its_first_detector() -> None:
    scenario = SCENARIOS["fire"]
    c = scenarios.cast(scenario, DEVICES, community="sunrise", building="b2")
    steps = scenario.script(scenarios.plan(scenario, c, seed=1, steps=3, interval_s=0.2))
    last = [a for a in steps[-1].actions if isinstance(a, Reading) and a.device == c.targets[0]]
    assert last[0].values["alarm"] and last[0].values["smoke_obscuration_pct_per_m"] >= 3.0
    assert sum(isinstance(a, Reading) for s in steps for a in s.actions) == 3 * len(c.targets)


def test_flood_fills_every_manhole_of_the_grid_past_the_rule_for_over_a_minute() -> None:
    c, steps = timeline("flood", grid="sunrise-g1")
    assert [d.id for d in c.targets] == [f"sunrise-sunrise-g1-mh0{i}" for i in (1, 2, 3)]
    rises: dict[str, list[tuple[float, float]]] = {}
    for s in steps:
        for a in s.actions:
            assert isinstance(a, Reading)
            rises.setdefault(a.device.id, []).append((s.at_s, a.offsets["water_level_cm"]))
    crossed = [min(t for t, rise in series if rise > 150) for series in rises.values()]
    within_s = SCENARIOS["flood"].expect[0].within_s
    assert within_s is not None
    assert crossed == sorted(crossed) and crossed[-1] + 60 <= within_s
    assert all(series[-1][1] > 150 for series in rises.values()), "still high after the rain stops"


def test_targets_are_chosen_by_building_or_grid_and_the_wrong_kind_is_refused() -> None:
    assert (
        scenarios.cast(SCENARIOS["gas-leak"], DEVICES, community="maple").targets[0].id
        == "maple-maple-g1-mh01"
    )
    c = scenarios.cast(SCENARIOS["power-cut"], DEVICES, community="sunrise", building="b3")
    assert c.grid == "sunrise-g2" and len(c.targets) == 4
    with pytest.raises(ScenarioError, match="not a manhole"):
        scenarios.cast(SCENARIOS["gas-leak"], DEVICES, community="sunrise", device_ids=("sunrise-b1-sd01",))
    with pytest.raises(ScenarioError, match="no access_gate in building b9"):
        scenarios.cast(SCENARIOS["brute-force"], DEVICES, community="sunrise", building="b9")


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.transport = self

    def send(self, device: site.SimDevice, channel: str, payload: dict[str, Any]) -> Any:
        self.sent.append((device.id, channel, payload))
        return type("Info", (), {"wait_for_publish": lambda *_: None, "is_published": lambda *_: True})()

    def drop(self, device: site.SimDevice) -> None:
        self.sent.append((device.id, "drop", {}))


def test_compression_plays_device_minutes_in_wall_seconds_a_little_ahead_of_the_clock() -> None:
    c, steps = timeline("gas-leak")
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    wall = [0.0]
    sender = FakeSender()
    played = play(
        steps,
        {d.id: build(d, 1) for d in c.targets},
        sender,  # type: ignore[arg-type]
        compress=60,
        clock=lambda: now,
        monotonic=lambda: wall[0],
        sleep=lambda s: wall.__setitem__(0, wall[0] + s),
    )
    stamps = [datetime.fromisoformat(p["ts"]) for _, _, p in sender.sent]
    assert played.started == stamps[0] == now + timedelta(seconds=11), "one step's gap plus a second ahead"
    assert stamps[-1] - stamps[0] == timedelta(seconds=180)
    assert wall[0] == pytest.approx(3.0), "180 s of device time in 3 s"
    assert played.last_message == {c.targets[0].id: stamps[-1]}, "where the hub's absence clock starts"
    assert max(p["ch4_pct_lel"] for _, _, p in sender.sent) == 35.0


def test_a_scenario_that_would_run_too_far_ahead_of_the_hub_clock_is_refused() -> None:
    _, steps = timeline("lamp-failed")
    check_ahead(steps, 100)
    with pytest.raises(ScenarioError, match="10 min ahead"):
        check_ahead([*steps, scenarios.Step(700, ())], 100)


def test_power_cut_ends_with_the_lampposts_dropping_off() -> None:
    c, steps = timeline("power-cut", grid="sunrise-g2")
    sender = FakeSender()
    play(steps, {d.id: build(d, 1) for d in c.targets}, sender, compress=1e6, sleep=lambda _: None)  # type: ignore[arg-type]
    drops = [d for d, channel, _ in sender.sent if channel == "drop"]
    assert drops == [d.id for d in c.targets]
    assert all(p["voltage_v"] == 0 for _, channel, p in sender.sent if channel == "telemetry")


class FakeTime:
    """Monotonic clock and stop event in one: waiting moves the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float) -> bool:
        self.now += timeout
        return False


def test_a_large_fleet_reports_steadily_at_its_nominal_rate(tmp_path: Path) -> None:
    spec = site_file(tmp_path / "site.yaml", PER_GRID_DEVICES)
    models = [build(d, 1, spec.place()) for d in site.devices(spec)]
    nominal = sum(1 / fleet.INTERVAL_S[m.device.kind] for m in models)
    sender, t = FakeSender(), FakeTime()
    fleet.run(
        models,
        sender,  # type: ignore[arg-type]
        seconds=120,
        speed=1,
        stop=t,  # type: ignore[arg-type]
        clock=lambda: DAY + timedelta(seconds=t.now),
        monotonic=t.monotonic,
    )
    sent = [datetime.fromisoformat(p["ts"]) for _, channel, p in sender.sent if channel == "telemetry"]
    assert len(sent) == pytest.approx(nominal * 120), "every device at its kind's interval"
    per_10s = Counter(int((ts - DAY).total_seconds() // 10) for ts in sent)
    assert sorted(per_10s) == list(range(12))
    assert all(0.5 * nominal * 10 < n < 1.5 * nominal * 10 for n in per_10s.values()), (
        f"devices report at their own phases, not all at once: {sorted(per_10s.items())}"
    )


def test_the_pacer_keeps_to_the_rate() -> None:
    wall = [0.0]
    pacer = Pacer(5, clock=lambda: wall[0], sleep=lambda s: wall.__setitem__(0, wall[0] + s))
    for _ in range(11):
        pacer.wait()
    assert wall[0] == pytest.approx(2.0), "eleven messages at 5/s span two seconds"


# --- verdicts ----------------------------------------------------------------------------------------


def seen(alert_id: int, rule_id: str, subject: str, after_s: float, severity: str = "critical") -> SeenAlert:
    return SeenAlert(alert_id, rule_id, subject, "open", DAY + timedelta(seconds=after_s), 1, severity, True)


def at(started: datetime, **last_message: float) -> Played:
    """A played scenario that started at `started`, each named device's last message so many seconds in."""
    last = {d: started + timedelta(seconds=after) for d, after in last_message.items()}
    return Played(started, started, 0, 0, last)


NO_ABSENCE = HubClock({}, 30)


def test_verdicts_pass_and_fail() -> None:
    c, _ = timeline("gas-leak")
    mh = c.targets[0].id

    def gas_leak(alerts: list[SeenAlert], before: frozenset[int] = frozenset()) -> list[Outcome]:
        return judge(SCENARIOS["gas-leak"], c, at(DAY), alerts, before, NO_ABSENCE)

    ok = gas_leak([seen(1, "manhole-gas-ch4", mh, 90), seen(2, "manhole-gas-h2s", mh, 100, "major")])
    assert [o.verdict for o in ok] == ["pass"] * 4
    late_and_forbidden = gas_leak(
        [seen(1, "manhole-gas-ch4", mh, 200), seen(3, "manhole-water-high", mh, 50, "major")]
    )
    details = {o.what: (o.verdict, o.detail) for o in late_and_forbidden}
    assert details[f"manhole-gas-ch4 on {mh}"] == (
        "fail",
        "opened 200 s after the start, expected within 120 s",
    )
    assert details[f"manhole-gas-h2s on {mh}"][0] == "fail"
    assert details["no manhole-water-high"][0] == "fail"
    stale = gas_leak([seen(1, "manhole-gas-ch4", mh, 90)], frozenset({1}))
    assert "still open" in stale[0].detail
    c, _ = timeline("brute-force")
    verdicts = [o.verdict for o in judge(SCENARIOS["brute-force"], c, at(DAY), [], frozenset(), NO_ABSENCE)]
    assert verdicts == ["fail", "pass"]


def test_absence_alerts_are_timed_from_each_devices_last_message_by_the_hubs_period() -> None:
    c, _ = timeline("offline")
    a, b = (d.id for d in c.targets)
    played = at(DAY, **{a: 0, b: 40})  # b's device clock ran 40 s further, so the hub counts from there
    hub = HubClock({"device-offline": 600}, 30)

    def verdicts(*alerts: SeenAlert, clock: HubClock = hub) -> dict[str, tuple[str, str]]:
        found = judge(SCENARIOS["offline"], c, played, list(alerts), frozenset(), clock)
        return {o.what.removeprefix("device-offline on "): (o.verdict, o.detail) for o in found}

    on_time = verdicts(seen(1, "device-offline", a, 601, "minor"), seen(2, "device-offline", b, 645, "minor"))
    assert on_time == {
        a: ("pass", on_time[a][1]),
        b: ("pass", on_time[b][1]),
    }, "605 s after b's last message is within 600 s + 30 s"
    assert "opened 601 s after its last message" in on_time[a][1]
    wrong = verdicts(seen(1, "device-offline", a, 599, "minor"), seen(2, "device-offline", b, 671, "minor"))
    assert wrong[a] == ("fail", "opened 599.0 s after its last message, before its 600 s period")
    assert wrong[b][0] == "fail" and "opened 631 s after its last message, expected within" in wrong[b][1]
    assert verdicts(seen(1, "device-offline", a, 601, "major"))[a][0] == "fail", "minor expected"
    missing = verdicts()
    assert missing[a] == (
        "fail",
        "no alert within its 600 s period + 30 s of its last message (hub clock)",
    )
    gone = verdicts(clock=HubClock({}, 30))
    assert gone[b] == ("fail", "the hub has no absence rule device-offline in force (GET /api/v1/rules)")
    # Checked on the hub's clock: the wait runs until the later device's deadline, in real seconds.
    assert silence_wait_s(SCENARIOS["offline"], c, played, hub, DAY) == 40 + 600 + 30
    assert (
        silence_wait_s(
            SCENARIOS["offline"], c, played, HubClock({"device-offline": 3}, 5), DAY + timedelta(seconds=50)
        )
        == -2
    )
    assert silence_wait_s(SCENARIOS["gas-leak"], c, played, hub, DAY) == 0, "no absence expectation"
