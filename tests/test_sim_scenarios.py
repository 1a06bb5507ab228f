"""Scenarios as regression tests of the rule pack: `hub-sim verify` plays each one against a real hub
(separate processes, real broker with auth and ACL, real TimescaleDB) and checks its alerts through the
cases API; a broken rule makes its scenario fail. Faults go through the same stack.

The scenarios in which devices vanish wait for `device-offline`, an absence rule on the hub's clock that
no compression speeds up; they play against a hub whose copy of the pack has that rule's period cut to
a few seconds, which the verifier reads from the hub."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from device_simulators.scenarios import SCENARIOS
from hub.store.users import upsert_user
from tests.support.processes import HubProcess, poll
from tests.support.services import ROOT, Broker, migrated_database

SITE = ROOT / "tests" / "data" / "site-scenarios.yaml"
ADMIN, ADMIN_PASSWORD = "sim-admin", "sim-admin-pw"
LOADGEN_PASSWORD = "sim-loadgen-pw"
pytestmark = pytest.mark.e2e

# Each scenario on devices of its own: the hub keeps one open alert per rule and device.
PLAYS: dict[str, tuple[str, ...]] = {
    "fire": ("fire", "--building", "b1"),
    "flood": ("flood", "--grid", "g2"),
    "gas-leak": ("gas-leak", "--device", "cedar-g1-mh01"),
    "cover-displaced": ("cover-displaced", "--device", "cedar-g1-mh02"),
    "lamp-knocked": ("lamp-knocked", "--device", "cedar-g1-lamp01"),
    "lamp-failed": ("lamp-failed", "--device", "cedar-g1-lamp02"),
    "gate-held-open": ("gate-held-open", "--device", "cedar-b1-gate1"),
    "brute-force": ("brute-force", "--device", "cedar-b1-gate2"),
    "tailgating": ("tailgating", "--device", "cedar-b1-gate3"),
    "low-battery (detector)": ("low-battery", "--device", "cedar-b2-sd01"),
    "low-battery (manhole, as loadgen)": (
        "low-battery",
        "--device",
        "cedar-g1-mh03",
        "--loadgen-password",
        LOADGEN_PASSWORD,
    ),
}


# Played against a hub with a short device-offline period (OFFLINE_PERIOD_S). Power-cut in 2 s steps, 30 s
# in all (lamp-no-voltage's hold): the hub's absence clock starts at the device time of a device's last
# message, which a compressed scenario runs ahead of the wall clock by its whole length, so the default
# two minutes would add two minutes of waiting.
ABSENCE_PLAYS: dict[str, tuple[str, ...]] = {
    "offline": ("offline", "--device", "cedar-g1-mh04", "--device", "cedar-g1-lamp03"),
    "power-cut": ("power-cut", "--grid", "g2", "--steps", "16", "--step-seconds", "2"),
}
VANISHED = {
    "offline": ("cedar-g1-mh04", "cedar-g1-lamp03"),
    "power-cut": ("cedar-g2-lamp01", "cedar-g2-lamp02", "cedar-g2-lamp03"),
}
OFFLINE_PERIOD_S = 3
ABSENCE_MARGIN_S = 8

# Verify only reads cases, so an operator will do. One account per concurrent run: the hub's log-in
# limiter counts an attempt as failed until it succeeds, so many simultaneous log-ins of one user are refused.
VERIFIERS = {label: f"sim-verify-{i}" for i, label in enumerate([*PLAYS, *ABSENCE_PLAYS])}


@dataclass
class Stack:
    broker: Broker
    hub: HubProcess
    credentials: Path

    def command(self, *args: str) -> list[str]:
        """`hub-sim ARGS` on this stack's site, credentials, broker and community."""
        return [
            sys.executable,
            "-m",
            "device_simulators.cli",
            *args,
            "--site",
            str(SITE),
            "--credentials",
            str(self.credentials),
            "--mqtt-port",
            str(self.broker.port),
            "--community",
            "cedar",
        ]

    def verify(self, *args: str, user: str = ADMIN, timeout: float = 15) -> list[str]:
        api = ["--api", self.hub.url, "--admin-user", user, "--compress", "120", "--timeout", str(timeout)]
        return [*self.command("verify", *args), *api, "--margin", str(ABSENCE_MARGIN_S)]


def start_stack(database_url: str, workdir: Path, **env: str) -> Stack:
    broker = Broker()
    broker.start()
    with psycopg.connect(database_url, autocommit=True) as conn:
        upsert_user(conn, ADMIN, ADMIN_PASSWORD, "admin")
        for name in VERIFIERS.values():
            upsert_user(conn, name, ADMIN_PASSWORD, "operator")
    hub = HubProcess(database_url, broker, workdir, HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PASSWORD, **env)
    try:
        hub.start()
        credentials = workdir / "credentials.json"
        hub.provision(SITE, credentials, ADMIN, ADMIN_PASSWORD)
    except BaseException:
        hub.stop()
        broker.cleanup()
        raise
    return Stack(broker, hub, credentials)


def stop_stack(stack: Stack) -> None:
    stack.hub.stop()
    stack.broker.cleanup()


def rules_with_device_offline(target: Path, period: str, kinds: str | None = None) -> Path:
    """A copy of the rule pack with device-offline's period (and optionally its kinds) rewritten."""
    rules = target / "rules"
    shutil.copytree(ROOT / "rules", rules)
    health = rules / "device_health.yaml"
    text = health.read_text()
    for old, new in (
        ("period: 10m", f"period: {period}"),
        ("kinds: [smoke_detector, lamppost, manhole, access_gate]", kinds),
    ):
        assert old in text, f"the test must rewrite the rule it names: {old!r}"
        if new is not None:
            text = text.replace(old, new)
    health.write_text(text)
    return rules


@contextmanager
def own_stack(workdir: Path, rules: Path) -> Iterator[Stack]:
    """A hub on a database of its own, running the rules in `rules`."""
    with migrated_database() as url:
        s = start_stack(url, workdir, HUB_RULES_DIR=str(rules))
        try:
            yield s
        finally:
            stop_stack(s)


def run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(database_url, tmp_path_factory.mktemp("sim-stack"))
    yield s
    stop_stack(s)


def verify_all(stack: Stack, plays: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Verify the plays side by side; the output of each, and a failure message naming any that failed."""
    env = {**os.environ, "HUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
    procs = {
        label: subprocess.Popen(
            stack.verify(*args, user=VERIFIERS[label]),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label, args in plays.items()
    }
    outputs, failures = {}, []
    for label, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        outputs[label] = out
        if proc.returncode != 0 or " 0 failed" not in out:
            failures.append(f"--- {label} (exit {proc.returncode})\n{out}{err}")
    assert not failures, "\n".join(failures) + f"\nhub log:\n{stack.hub.log()}"
    return outputs


def test_every_scenario_is_played_here() -> None:
    assert {args[0] for args in [*PLAYS.values(), *ABSENCE_PLAYS.values()]} == set(SCENARIOS)
    absence = {name for name, sc in SCENARIOS.items() if any(e.within_s is None for e in sc.expect)}
    assert {args[0] for args in ABSENCE_PLAYS.values()} == absence


def test_every_scenario_raises_its_alerts_and_no_others(stack: Stack) -> None:
    verify_all(stack, PLAYS)


def test_vanished_devices_raise_device_offline_on_the_hubs_clock(tmp_path: Path) -> None:
    rules = rules_with_device_offline(tmp_path, f"{OFFLINE_PERIOD_S}s")
    with own_stack(tmp_path, rules) as quick:
        outputs = verify_all(quick, ABSENCE_PLAYS)
        for label, devices in VANISHED.items():
            for d in devices:
                assert f"PASS     device-offline on {d}" in outputs[label], outputs[label]
            assert f"its {OFFLINE_PERIOD_S} s period + {ABSENCE_MARGIN_S} s" in outputs[label], (
                "the period comes from the hub"
            )
        headers = quick.hub.login(ADMIN, ADMIN_PASSWORD)

        def offline() -> bool:
            return not any(
                httpx.get(f"{quick.hub.url}/api/v1/devices/{d}", headers=headers).json()["online"]
                for d in VANISHED["offline"]
            )

        assert poll(offline, timeout=10), "the broker's Last Will should have marked both devices offline"


def test_a_broken_or_missing_device_offline_rule_fails_the_scenario(tmp_path: Path) -> None:
    rules = rules_with_device_offline(tmp_path, f"{OFFLINE_PERIOD_S}s", kinds="kinds: [access_gate]")
    with own_stack(tmp_path, rules) as broken:
        blind = run(broken.verify(*ABSENCE_PLAYS["offline"], timeout=2))
        (rules / "device_health.yaml").unlink()
        headers = broken.hub.login(ADMIN, ADMIN_PASSWORD)
        reload = httpx.post(f"{broken.hub.url}/api/v1/rules/reload", headers=headers)
        assert reload.status_code == 200, reload.text
        missing = run(broken.verify("offline", "--device", "cedar-g2-mh01", timeout=2))
    assert blind.returncode == 1, blind.stdout + blind.stderr
    assert "FAIL     device-offline on cedar-g1-mh04" in blind.stdout
    assert f"no alert within its {OFFLINE_PERIOD_S} s period + {ABSENCE_MARGIN_S} s" in blind.stdout
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "FAIL     device-offline on cedar-g2-mh01" in missing.stdout
    assert "the hub has no absence rule device-offline in force" in missing.stdout


def test_faults_are_dead_lettered_or_stored_once_as_they_claim(stack: Stack, database_url: str) -> None:
    device = "cedar-b2-sd02"
    for name in ("malformed-json", "wrong-types", "out-of-range", "duplicates", "clock-skew", "late"):
        result = run(stack.command("fault", name, "--device", device))
        assert result.returncode == 0, result.stdout + result.stderr

    def stored() -> tuple[int, list[str]] | None:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT count(*) FROM telemetry_smoke WHERE device_id = %s", (device,)
            ).fetchone()
            reasons = [
                r[0]
                for r in conn.execute(
                    "SELECT reason FROM dead_letters WHERE topic LIKE %s", (f"%/{device}/%",)
                )
            ]
        assert rows is not None
        return (rows[0], reasons) if rows[0] >= 3 and len(reasons) >= 10 else None

    found = poll(stored, timeout=10)
    assert found, f"faults did not all arrive; hub log:\n{stack.hub.log()}"
    rows, reasons = found
    assert rows == 3, "one of three duplicates, the reading from a clock 5 min fast, the 2 h old one"
    assert sum(r.startswith("invalid payload") for r in reasons) == 8
    assert sum("older than 30 days" in r for r in reasons) == 1
    assert sum("ahead of the hub clock" in r for r in reasons) == 1


def test_the_broker_refuses_a_device_publishing_as_another(stack: Stack) -> None:
    result = run(
        stack.command("fault", "foreign-topic", "--device", "cedar-g1-mh04", "--victim", "cedar-g1-mh03")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refused by the broker (Not authorized)" in result.stdout


def test_a_rule_that_cannot_fire_fails_its_scenario(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    manhole = rules / "manhole.yaml"
    text = manhole.read_text()
    assert "when: cover_open or tilt_deg > 12" in text, "the test must break the rule it names"
    manhole.write_text(text.replace("when: cover_open or tilt_deg > 12", "when: tilt_deg > 179"))
    with own_stack(tmp_path, rules) as broken:
        result = run(broken.verify(*PLAYS["cover-displaced"], timeout=2))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL     manhole-cover-displaced on cedar-g1-mh02" in result.stdout
    assert "no alert within 30 s" in result.stdout
