"""The Admin section's operations pages in headless Chromium against a real hub process, broker and
database: a rule edited in the browser is checked, backtested beside the live alerts, saved and in force
(a matching reading raises the changed rule's alert), then restored; a bad file shows its errors and the
rule in force stays; a silence is created and ended; a test notification reaches a receiver the test
starts, and one to a receiver that is down is listed dead and retried; the health page shows the ingest
counters moving and the job runs; the audit page filters the admin actions; an operator reads rules but
may not change them. Screenshots of every page at 1920×1080, 1366×768 and 390×844 in English and
Chinese, as admin and operator, go to test-output/admin/.
"""

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from device_simulators.site import SiteSpec
from device_simulators.site import devices as site_devices
from hub.devices.service import register
from hub.store import migrations
from hub.store.users import upsert_user
from tests.support.browser import NEEDS_CHROMIUM, Tab
from tests.support.dashboard_site import reading
from tests.support.notify import Receiver
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher
from tests.support.services import ROOT, Broker, create_database, drop_database

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

SHOTS = ROOT / "test-output" / "admin"
PW = "adm-pw"
LOADGEN_PW = "adm-loadgen-pw"
C = "adm-a"
USERS = {"adm-admin": "admin", "adm-operator": "operator"}
SIZES = {"wall": (1920, 1080), "laptop": (1366, 768), "phone": (390, 844)}
BATTERY_RULE = "smoke-battery-low"


def site() -> SiteSpec:
    return SiteSpec.model_validate(
        {
            "street_office": "adm-office",
            "communities": [
                {
                    "id": C,
                    "name": "Admin Gardens",
                    "grids": [{"id": "g1", "buildings": [{"id": "b1", "smoke_detectors": 8}]}],
                }
            ],
        }
    )


def detector(n: int) -> str:
    return f"{C}-b1-sd{n:02d}"


class Hub:
    def __init__(self, hub: HubProcess, publisher: Publisher, database_url: str, rules_dir: Path) -> None:
        self.hub = hub
        self.url = hub.url
        self.publisher = publisher
        self.database_url = database_url
        self.rules_dir = rules_dir
        self.seq = 100

    def publish(self, device: str, at: datetime | None = None, **override: Any) -> None:
        self.seq += 1
        self.publisher.publish(
            f"sc/v1/{C}/smoke_detector/{device}/telemetry",
            reading("smoke_detector", device, self.seq, at or datetime.now(UTC), **override),
        ).wait_for_publish(5)

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def alert_version(self, device: str, timeout: float = 10) -> str | None:
        """The rule version of the battery alert on `device`, once it is raised."""
        sql = "SELECT rule_version FROM alerts WHERE rule_id = %s AND subject = %s ORDER BY id DESC LIMIT 1"
        found = poll(lambda: self.query(sql, BATTERY_RULE, device), timeout=timeout)
        return str(found[0][0]) if found else None

    def version_in_force(self) -> str:
        admin = self.hub.login("adm-admin", PW)
        rules = httpx.get(f"{self.url}/api/v1/rules", headers=admin).json()["rules"]
        return str(next(r["version"] for r in rules if r["id"] == BATTERY_RULE))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A database of its own (rule files saved here must not reach other tests' hubs) and a copy of the
    shipped rules; scheduled jobs every few seconds so their runs show."""
    name, url = create_database()
    migrations.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for user, role in USERS.items():
            upsert_user(conn, user, PW, role)
        assert all(
            r.status == "created" for r in register(conn, [d.registration() for d in site_devices(site())])
        )
        conn.execute("UPDATE communities SET name = 'Admin Gardens' WHERE id = %s", (C,))
    work = tmp_path_factory.mktemp("admin")
    rules_dir = work / "rules"
    shutil.copytree(ROOT / "rules", rules_dir)
    broker = Broker()
    broker.start()
    process = HubProcess(
        url,
        broker,
        work,
        HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW,
        HUB_RULES_DIR=str(rules_dir),
        HUB_ESCALATION_INTERVAL_S="2",
        HUB_OFFLINE_CHECK_INTERVAL_S="3",
    )
    process.start()
    publisher = Publisher(broker.port, "loadgen", LOADGEN_PW)
    yield Hub(process, publisher, url, rules_dir)
    publisher.close()
    process.stop()
    broker.cleanup()
    drop_database(name)


@pytest.fixture
def tab(browser: Browser, hub: Hub) -> Iterator[Tab]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    t = Tab(context, hub.url, PW)
    yield t
    context.close()
    assert t.errors == []


def login(tab: Tab, user: str, hash_: str) -> Page:
    page = tab.page
    page.goto(f"{tab.base_url}/{hash_}")
    page.fill("#login input[name=username]", user)
    page.fill("#login input[name=password]", PW)
    page.click("#login button[type=submit]")
    expect(page.locator("#who")).to_contain_text(user)
    return page


def check_and_backtest(page: Page, period: str = "1h") -> None:
    page.click("#rule-check")
    expect(page.locator("#check-ok")).to_be_visible()
    page.select_option("#backtest-period", period)
    page.click("#rule-backtest")
    expect(page.locator("#backtest-done")).to_be_visible(timeout=20_000)


def test_a_rule_is_checked_backtested_saved_in_force_and_restored(tab: Tab, hub: Hub) -> None:
    shipped = (hub.rules_dir / "smoke.yaml").read_text()
    old_version = hub.version_in_force()
    hub.publish(detector(1), at=datetime.now(UTC) - timedelta(minutes=10), battery_pct=45.0)
    assert poll(
        lambda: hub.query("SELECT count(*) FROM telemetry_smoke WHERE device_id = %s", detector(1))[0][0],
        timeout=10,
    )

    page = login(tab, "adm-admin", "#/admin/rules")
    expect(page.locator('#nav a[data-nav="admin"]')).to_have_class("active")
    card = page.locator('.rule-file[data-file="smoke.yaml"]')
    expect(card.locator(f'tr[data-rule="{BATTERY_RULE}"]')).to_have_attribute("data-version", old_version)
    card.locator("h3 a").click()
    expect(page.locator("#rule-text")).to_have_value(shipped)
    expect(page.locator("#rule-save")).to_be_disabled()

    changed = (
        shipped.replace("when: battery_pct < 20", "when: battery_pct < 50")
        .replace("clear_when: battery_pct >= 30", "clear_when: battery_pct >= 60")
        .replace("Smoke detector battery below 20 %", "Smoke detector battery below 50 %")
    )
    assert changed != shipped
    page.fill("#rule-text", changed)
    expect(page.locator("#rule-backtest")).to_be_disabled()
    check_and_backtest(page)
    row = page.locator(f'#backtest-table tr[data-rule="{BATTERY_RULE}"]')
    expect(row).to_have_attribute("data-backtest", "1")
    expect(row).to_have_attribute("data-live", "0")
    expect(page.locator("#backtest-alerts")).to_contain_text(detector(1))

    page.click("#rule-save")
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("#in-force")).to_have_text("in force")
    new_version = hub.version_in_force()
    assert new_version != old_version
    assert (hub.rules_dir / "smoke.yaml").read_text() == changed
    hub.publish(detector(2), battery_pct=45.0)
    assert hub.alert_version(detector(2)) == new_version, hub.hub.log()
    expect(page.locator("#history-table tbody tr")).to_have_count(2)

    shipped_row = page.locator("#history-table tbody tr").nth(1)
    shipped_row.locator("[data-restore]").click()
    shipped_row.locator("[data-restore]").click()  # the second click confirms
    expect(page.locator("#saved")).to_contain_text("restored")
    expect(page.locator("#rule-text")).to_have_value(shipped)
    expect(page.locator("#history-table tbody tr")).to_have_count(3)
    assert hub.version_in_force() == old_version
    hub.publish(detector(3), battery_pct=45.0)
    hub.publish(detector(4), battery_pct=15.0)
    assert hub.alert_version(detector(4)) == old_version
    assert hub.query("SELECT count(*) FROM alerts WHERE subject = %s", detector(3)) == [(0,)]
    saved = hub.query(
        "SELECT source, saved_by FROM rule_file_versions WHERE file_name = 'smoke.yaml' ORDER BY id"
    )
    assert saved == [("shipped", "hub"), ("saved", "adm-admin"), ("restored", "adm-admin")]


def test_a_bad_rule_file_shows_its_errors_and_the_rule_in_force_stays(tab: Tab, hub: Hub) -> None:
    in_force = hub.version_in_force()
    versions = hub.query("SELECT count(*) FROM rule_file_versions")
    page = login(tab, "adm-admin", "#/admin/rules/smoke.yaml")
    expect(page.locator("#rule-text")).not_to_have_value("")
    bad = page.locator("#rule-text").input_value().replace("when: battery_pct < 20", "when: batery_pct < 20")
    page.fill("#rule-text", bad)
    page.click("#rule-check")
    expect(page.locator("#check-failed")).to_be_visible()
    error = page.locator("#rule-errors tbody tr")
    expect(error).to_have_count(1)
    for col, text in (("file", "smoke.yaml"), ("rule", BATTERY_RULE), ("field", "when")):
        expect(error.locator(f'td[data-col="{col}"]')).to_have_text(text)
    expect(error.locator('td[data-col="message"]')).to_contain_text("batery_pct")
    expect(page.locator("#rule-backtest")).to_be_disabled()
    expect(page.locator("#rule-save")).to_be_disabled()
    assert hub.version_in_force() == in_force
    assert hub.query("SELECT count(*) FROM rule_file_versions") == versions
    hub.publish(detector(5), battery_pct=15.0)
    assert hub.alert_version(detector(5)) == in_force


def test_a_silence_is_created_and_ended_from_the_page(tab: Tab, hub: Hub) -> None:
    page = login(tab, "adm-operator", "#/admin/silences")
    expect(page.locator(f'#silence-rule option[value="{BATTERY_RULE}"]')).to_have_count(1)
    page.select_option("#silence-rule", BATTERY_RULE)
    page.select_option("#silence-community", C)
    page.select_option("#silence-for", "8h")
    page.fill("#silence-reason", "battery swap round in building b1")
    page.click("#silence-create")
    row = page.locator("#silences-table tbody tr").filter(has_text="battery swap round")
    expect(row).to_have_attribute("data-state", "active")
    silence_id = row.get_attribute("data-silence")
    hub.publish(detector(6), battery_pct=12.0)
    assert poll(
        lambda: hub.query("SELECT silence_id FROM alerts WHERE subject = %s", detector(6)), timeout=10
    ) == [(int(str(silence_id)),)]
    row.locator("[data-end]").click()
    row.locator("[data-end]").click()
    expect(row).to_have_attribute("data-state", "ended")
    expect(row).to_contain_text("ended early by adm-operator")
    assert hub.query(
        "SELECT ended_by, ends_at <= now() FROM silences WHERE id = %s", int(str(silence_id))
    ) == [("adm-operator", True)]


def test_a_test_event_reaches_the_receiver_and_a_dead_one_is_listed_and_retried(tab: Tab, hub: Hub) -> None:
    up, down = Receiver(), Receiver()
    up.start()
    try:
        page = login(tab, "adm-admin", "#/admin/webhooks")
        for receiver in (up, down):
            page.fill("#hook-url", receiver.url)
            page.click("#hook-create")
            expect(page.locator("#new-secret")).to_contain_text("whsec_")
            expect(page.locator(f'#hooks-table tr:has-text("{receiver.url}")')).to_have_count(1)
        alive = page.locator(f'#hooks-table tr:has-text("{up.url}")')
        alive.locator("[data-test]").click()
        expect(alive.locator(".test-outcome")).to_have_attribute("data-status", "delivered", timeout=15_000)
        assert poll(lambda: up.requests, timeout=5)
        ((headers, _),) = up.requests
        assert headers["X-Hub-Event-Id"].startswith("test-")

        gone = page.locator(f'#hooks-table tr:has-text("{down.url}")')
        gone.locator("[data-test]").click()
        expect(gone.locator(".test-outcome")).to_have_attribute("data-status", "dead", timeout=15_000)
        expect(gone.locator('[data-col="lastError"]')).to_contain_text("unreachable")
        gone.locator("[data-deliveries]").click()
        dead = page.locator('#deliveries-table tr[data-status="dead"]')
        expect(dead).to_have_count(1)
        down.start()
        dead.locator("[data-retry]").click()
        page.select_option("#delivery-status", "delivered")
        expect(page.locator('#deliveries-table tr[data-status="delivered"]')).to_have_count(1, timeout=15_000)
        assert poll(lambda: down.requests, timeout=5)
    finally:
        up.stop()
        down.stop()


def test_the_health_page_shows_the_ingest_counters_moving_and_the_job_runs(tab: Tab, hub: Hub) -> None:
    page = login(tab, "adm-operator", "#/admin/health")
    stored = page.locator('#health-counters tr[data-counter="stored"]')
    expect(stored).to_be_visible()
    before = int(stored.get_attribute("data-value") or 0)
    for n in range(1, 9):
        hub.publish(detector(n))
    expect(stored).not_to_have_attribute("data-value", str(before), timeout=10_000)
    assert int(stored.get_attribute("data-value") or 0) >= before + 8
    expect(page.locator('[data-tile="broker"] dd')).to_have_text("Connected")
    expect(page.locator('#jobs-table tr[data-job="case-escalation"]')).to_have_attribute(
        "data-outcome", "ok", timeout=10_000
    )
    expect(page.locator("#partitions-table tbody tr")).to_have_count(1)
    expect(page.locator("#workers-table tbody tr")).to_have_count(1)
    expect(page.locator("#workers-table tbody tr")).to_have_attribute("data-alive", "true")

    for n in (1, 2, 3):
        hub.publish(detector(n), alarm=True)
    floods = page.locator(f'#floods-table tr[data-community="{C}"]')
    expect(floods).to_be_visible(timeout=10_000)
    expect(floods).to_have_attribute("data-cases", re.compile(r"^([3-9]|\d\d+)$"), timeout=10_000)
    expect(floods).to_have_attribute("data-flood", "false")


def test_the_audit_page_filters_the_admin_actions(tab: Tab, hub: Hub) -> None:
    page = login(tab, "adm-admin", "#/admin/audit")
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()
    page.fill("#audit-action", "rule_file.restore")
    page.click("#audit-apply")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("adm-admin")
    expect(rows).to_contain_text("smoke.yaml")
    page.fill("#audit-action", "")
    page.select_option("#audit-target_type", "silence")
    page.click("#audit-apply")
    expect(page.locator("#audit-table tbody tr")).to_have_count(2)  # created, ended
    expect(page.locator('#audit-table tr[data-action="silence.end"]')).to_contain_text("adm-operator")


def test_an_operator_reads_rules_but_may_not_change_them(tab: Tab, hub: Hub) -> None:
    page = login(tab, "adm-operator", "#/admin/rules")
    expect(page.locator("#admin-nav a")).to_have_count(3)
    assert [a.get_attribute("data-admin") for a in page.locator("#admin-nav a").all()] == [
        "rules",
        "silences",
        "health",
    ]
    expect(page.locator("#new-rule-file")).to_have_count(0)
    page.goto(f"{hub.url}/#/admin/rules/smoke.yaml")
    expect(page.locator("#rule-text")).to_have_attribute("readonly", "")
    expect(page.locator("#rule-save")).to_have_count(0)
    expect(page.locator("#history-table [data-restore]")).to_have_count(0)
    page.goto(f"{hub.url}/#/admin/webhooks")
    expect(page.locator("#queue")).to_be_visible()


PAGES = {
    "admin": ["rules", "rule-file", "silences", "webhooks", "audit", "health"],
    "operator": ["rules", "rule-file", "silences", "health"],
}
READY = {
    "rules": ".rule-file",
    "rule-file": "#history-table",
    "silences": "#silences-table",
    "webhooks": "#hooks-table",
    "audit": "#audit-table",
    "health": "#jobs-table",
}


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("role", list(PAGES))
def test_screenshots_at_three_sizes_in_both_languages(
    browser: Browser, hub: Hub, role: str, size: str, lang: str
) -> None:
    width, height = SIZES[size]
    phone = size == "phone"
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale="zh-CN" if lang == "zh" else "en-GB",
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
    )
    tab = Tab(context, hub.url, PW)
    try:
        page = login(tab, f"adm-{role}", "#/admin/rules")
        expect(page.locator('#nav a[data-nav="admin"]')).to_have_text("系统管理" if lang == "zh" else "Admin")
        for name in PAGES[role]:
            page.goto(f"{hub.url}/#/admin/{'rules/smoke.yaml' if name == 'rule-file' else name}")
            expect(page.locator(READY[name]).first).to_be_visible(timeout=10_000)
            if name == "rule-file" and role == "admin":
                page.fill(
                    "#rule-text",
                    page.locator("#rule-text").input_value().replace("battery_pct < 20", "battery_pct < 25"),
                )
                check_and_backtest(page, "24h")
            if phone:
                width_used = page.evaluate("document.documentElement.scrollWidth")
                assert width_used <= width, f"{name} overflows a phone screen ({width_used}px)"
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(SHOTS / f"{role}-{name}-{size}-{lang}.png"), full_page=True)
        assert tab.errors == []
    finally:
        context.close()
