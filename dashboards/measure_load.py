"""Measure how fast the control room loads with a realistic backlog: 10,000 devices and 1,000 open cases.

Seeds a fresh database in the private cluster (dropped afterwards), starts a real hub with its own broker,
and loads the pages in headless Chromium, printing navigation → DOMContentLoaded and navigation → the
page rendered with its data. Not part of the test suite:

    .venv/bin/python dashboards/measure_load.py [--runs 5] [--devices 10000] [--cases 1000]
"""

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device_simulators.site import SiteSpec  # noqa: E402
from device_simulators.site import devices as site_devices  # noqa: E402
from hub.store.migrations import migrate  # noqa: E402
from hub.store.users import upsert_user  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.processes import HubProcess  # noqa: E402
from tests.support.services import Broker, create_database, drop_database  # noqa: E402

PASSWORD = "measure-pw"  # noqa: S105 - a throw-away account in a throw-away database
OPEN = ("dispatched", "dispatched", "dispatched", "acknowledged", "in_progress", "reopened")
SEVERITIES = ("critical", "major", "major", "minor", "minor", "info")
CATEGORIES = ("fire", "flood", "gas", "security", "lighting", "infrastructure", "device_health", "safety")


def site(n_devices: int) -> SiteSpec:
    """Communities of about 1,000 devices each, laid out like the demo site."""
    communities = []
    for c in range(max(1, round(n_devices / 1008))):
        grids = [
            {
                "id": f"g{g + 1}",
                "buildings": [
                    {"id": f"b{g * 5 + b + 1}", "smoke_detectors": 80, "access_gates": 1} for b in range(5)
                ],
                "lampposts": 50,
                "manholes": 49,
            }
            for g in range(2)
        ]
        communities.append({"id": f"load{c:02d}", "name": f"Load Garden {c}", "grids": grids})
    return SiteSpec.model_validate({"street_office": "load", "communities": communities})


def seed(url: str, n_devices: int, n_cases: int) -> tuple[int, int]:
    rnd = random.Random(6)
    now = datetime.now(UTC)
    fleet = site_devices(site(n_devices))[:n_devices]
    with psycopg.connect(url, autocommit=True) as conn:
        upsert_user(conn, "load-operator", PASSWORD, "operator")
        for c in {d.community for d in fleet}:
            conn.execute("INSERT INTO communities (id, name) VALUES (%s, %s)", (c, c))
        with conn.cursor() as cur:
            with cur.copy(
                "COPY devices (id, kind, community_id, building, grid, plan_x, plan_y) FROM STDIN"
            ) as copy:
                for d in fleet:
                    copy.write_row((d.id, d.kind, d.community, d.building, d.grid, d.plan_x, d.plan_y))
            with cur.copy(
                "COPY device_state (device_id, last_seen, last_seq, online, battery_pct, last_values) FROM STDIN"
            ) as copy:
                for d in fleet:
                    online = rnd.random() > 0.03
                    # Seen within the last minutes even when offline, so the hub's absence rules (10 min and
                    # more) raise no cases of their own while we measure: the queue holds the seeded cases.
                    seen = now - timedelta(seconds=rnd.randint(0, 60) if online else rnd.randint(120, 240))
                    battery = rnd.uniform(5, 100) if d.kind in ("smoke_detector", "manhole") else None
                    copy.write_row((d.id, seen, 1, online, battery, json.dumps({"ts": seen.isoformat()})))
            alarmed = rnd.sample(fleet, n_cases)
            buf = io.StringIO()
            for n, d in enumerate(alarmed):
                created = now - timedelta(seconds=rnd.randint(0, 3 * 86400))
                category = rnd.choice(CATEGORIES)
                status = rnd.choice(OPEN)
                acked = created + timedelta(minutes=2) if status != "dispatched" else None
                row = cur.execute(
                    "INSERT INTO cases (title, category, severity, status, source, subject, community_id, building, "
                    "grid, device_id, team, created_at, updated_at, ack_due_at, resolve_due_at, acknowledged_at) "
                    "VALUES (%s, %s, %s, %s, 'alert', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        f"Load test alarm {n}",
                        category,
                        rnd.choice(SEVERITIES),
                        status,
                        f"{d.id}-{n}",
                        d.community,
                        d.building,
                        d.grid,
                        d.id,
                        f"team-{category}",
                        created,
                        created,
                        created + timedelta(minutes=5),
                        created + timedelta(hours=2),
                        acked,
                    ),
                ).fetchone()
                assert row is not None
                buf.write(f"{row[0]}\t{created.isoformat()}\tsystem\topened\t\\N\tnew\n")
                buf.write(f"{row[0]}\t{created.isoformat()}\tsystem\tdispatched\tnew\tdispatched\n")
            with cur.copy(
                "COPY case_events (case_id, at, actor, action, from_status, to_status) FROM STDIN"
            ) as copy:
                copy.write(buf.getvalue())
        devices = conn.execute("SELECT count(*) FROM devices").fetchone()
        cases = conn.execute(
            "SELECT count(*) FROM cases WHERE status NOT IN ('resolved', 'closed', 'cancelled')"
        ).fetchone()
        assert devices is not None
        assert cases is not None
        return int(devices[0]), int(cases[0])


def measure(
    base: str, token: str, hash_: str, mark: str, ready: str, runs: int
) -> list[tuple[float, float, int]]:
    from playwright.sync_api import sync_playwright

    session = json.dumps(
        {"token": token, "user": {"username": "load-operator", "role": "operator", "communities": []}}
    )
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1440, "height": 900})  # cold cache every run
            context.add_init_script(f"sessionStorage.setItem('hub.session', {json.dumps(session)});")
            page = context.new_page()
            page.goto(f"{base}/{hash_}", wait_until="domcontentloaded")
            page.wait_for_selector(ready, state="attached", timeout=60_000)
            dcl = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
            rendered = page.evaluate(f"performance.getEntriesByName('{mark}')[0].startTime")
            count = page.evaluate("document.querySelectorAll('#cases tr, svg.plan a.device').length")
            out.append((float(dcl), float(rendered), int(count)))
            context.close()
        browser.close()
    return out


def report(title: str, results: list[tuple[float, float, int]], what: str) -> None:
    print(f"\n{title} ({results[0][2]} {what} drawn), {len(results)} cold loads:")
    for i, (dcl, ready, _) in enumerate(results, 1):
        print(f"  run {i}: DOMContentLoaded {dcl:7.0f} ms   rendered {ready:7.0f} ms")
    print(
        f"  median: DOMContentLoaded {statistics.median(r[0] for r in results):.0f} ms, "
        f"rendered {statistics.median(r[1] for r in results):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    name, url = create_database()
    broker = Broker()
    hub = None
    try:
        migrate(url)
        started = time.monotonic()
        devices, cases = seed(url, args.devices, args.cases)
        print(f"seeded {devices} devices and {cases} open cases in {time.monotonic() - started:.1f}s")
        broker.start()
        hub = HubProcess(url, broker, Path(tempfile.mkdtemp(prefix="hub-load-")))
        hub.start(timeout=60)
        token = httpx.post(
            f"{hub.url}/api/v1/auth/login", json={"username": "load-operator", "password": PASSWORD}
        ).json()["access_token"]
        api = {"Authorization": f"Bearer {token}"}
        for path in ("/cases?status=dispatched&limit=500", "/sites", "/sites/load00"):
            t0 = time.monotonic()
            r = httpx.get(f"{hub.url}/api/v1{path}", headers=api, timeout=60)
            print(
                f"GET /api/v1{path}: {r.status_code}, {len(r.content) / 1024:.0f} KiB, {(time.monotonic() - t0) * 1000:.0f} ms"
            )
        report(
            "Control room (#/queue)",
            measure(hub.url, token, "#/queue", "queue-rendered", "body[data-queue-ready]", args.runs),
            "case rows",
        )
        report(
            "Site plan of one community (#/plan/load00)",
            measure(hub.url, token, "#/plan/load00", "plan-rendered", "body[data-plan-ready]", args.runs),
            "devices",
        )
    finally:
        if hub is not None:
            hub.stop()
        broker.cleanup()
        drop_database(name)


if __name__ == "__main__":
    main()
