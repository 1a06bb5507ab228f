"""The admin console's device pages in headless Chromium against a real hub process, Mosquitto and
database: an import refused row by row in its preview and committed only on request, a new MQTT password
that the broker takes while refusing the old one, a decommissioned device whose next message is refused
and shown on its page, and an unknown device's refused message registered in one click. Screenshots of
each page, as an admin and a manager, at 1920×1080, 1366×768 and 390×844 in English and Chinese go to
test-output/screenshots/admin-devices/."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from hub.devices.service import register
from hub.store import deadletters
from hub.store.users import upsert_user
from tests.support.browser import NEEDS_CHROMIUM, SCREENSHOTS, Tab
from tests.support.dashboard_site import reading
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher
from tests.support.services import Broker

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

SHOTS = SCREENSHOTS / "admin-devices"
PW = "adm-pw"
LOADGEN_PW = "adm-loadgen-pw"
A, B = "adm-garden", "adm-court"
ADMIN, MANAGER = "adm-admin", "adm-manager"
SIZES = {"wall": (1920, 1080), "laptop": (1366, 768), "phone": (390, 844)}


class Hub:
    def __init__(
        self,
        hub: HubProcess,
        broker: Broker,
        publisher: Publisher,
        database_url: str,
        passwords: dict[str, str],
    ) -> None:
        self.hub, self.broker, self.publisher, self.database_url = hub, broker, publisher, database_url
        self.passwords = passwords
        self.url = hub.url
        self.seq = 0

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def publish(self, community: str, kind: str, device: str, **override: Any) -> None:
        """As the load generator's account, which may write under every device's topic."""
        self.seq += 1
        topic = f"sc/v1/{community}/{kind}/{device}/telemetry"
        body = reading(kind, device, self.seq, datetime.now(UTC), **override)
        self.publisher.publish(topic, body).wait_for_publish(5)

    def refused(self, device: str, code: str) -> bool:
        return bool(self.query("SELECT 1 FROM dead_letters WHERE device_id = %s AND code = %s", device, code))

    def connects(self, username: str, password: str) -> bool:
        try:
            Publisher(
                self.broker.port, username, password, client_id=f"{username}-{time.monotonic_ns()}"
            ).close()
        except ConnectionRefusedError:
            return False
        return True


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        upsert_user(conn, ADMIN, PW, "admin")
        upsert_user(conn, MANAGER, PW, "manager", [A])
        rows = [
            {
                "id": f"{A}-b1-sd0{i}",
                "kind": "smoke_detector",
                "community": A,
                "building": "b1",
                "grid": "g1",
                "plan_x": 100 + 30 * i,
                "plan_y": 120,
            }
            for i in range(1, 5)
        ] + [
            {"id": f"{A}-b1-gate1", "kind": "access_gate", "community": A, "building": "b1", "grid": "g1"},
            {"id": f"{A}-g1-lamp1", "kind": "lamppost", "community": A, "grid": "g1"},
            {"id": f"{B}-b1-sd01", "kind": "smoke_detector", "community": B, "building": "b1"},
        ]
        results = register(conn, rows)
        assert all(r.status == "created" for r in results)
    broker = Broker()
    broker.start()
    process = HubProcess(
        database_url, broker, tmp_path_factory.mktemp("adm"), HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW
    )
    process.start()
    publisher = Publisher(broker.port, "loadgen", LOADGEN_PW)
    h = Hub(
        process,
        broker,
        publisher,
        database_url,
        {r.id: r.mqtt_password for r in results if r.id and r.mqtt_password},
    )
    for device, kind, community in (
        (f"{A}-b1-sd01", "smoke_detector", A),
        (f"{A}-b1-gate1", "access_gate", A),
    ):
        h.publish(community, kind, device)
    h.publish(
        A, "smoke_detector", f"{A}-b1-sd04", alarm=True, smoke_obscuration_pct_per_m=4.0
    )  # an open alert
    h.publish(A, "smoke_detector", f"{A}-b1-sd01", battery_pct="full")  # refused: invalid payload
    assert poll(lambda: h.query("SELECT count(*) FROM device_state WHERE online")[0][0] >= 3, timeout=10)
    assert poll(
        lambda: h.query("SELECT count(*) FROM alerts WHERE device_id = %s", f"{A}-b1-sd04")[0][0], timeout=10
    )
    yield h
    publisher.close()
    process.stop()
    broker.cleanup()


@pytest.fixture
def tab(browser: Browser, hub: Hub) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    SHOTS.mkdir(parents=True, exist_ok=True)
    t = Tab(context, hub.url, PW)
    t.page.on("dialog", lambda d: d.accept())
    yield t
    context.close()
    assert t.errors == []


def shot(page: Page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_import_is_previewed_row_by_row_and_written_only_on_commit(tab: Tab, hub: Hub) -> None:
    page = tab.login(ADMIN, "#/admin/devices")
    expect(page.locator("table.registry tbody tr").first).to_be_visible()
    expect(page.locator('#nav a[data-nav="admin"]')).to_have_class("active")
    expect(page.locator('#admin-nav a[data-admin="devices"]')).to_have_class("active")
    good, bad = f"{A}-b2-sd01", f"{A}-b2-bad"
    page.click("#open-import")
    page.fill(
        "#import-panel textarea",
        f"id,kind,community,building,grid,plan_x,plan_y\n{good},smoke_detector,{A},b2,g1,300,140\n"
        f"{bad},toaster,{A},b2,g1,1,1\n",
    )
    page.click("#import-preview")
    preview = page.locator("#import-result .preview")
    expect(preview).to_have_attribute("data-errors", "1")
    refused = preview.locator('tr[data-status="error"]')
    expect(refused).to_have_attribute("data-row", "2")
    expect(refused.locator('li[data-field="kind"]')).to_contain_text("kind")
    expect(preview.locator('tr[data-status="created"]')).to_contain_text(good)
    shot(page, "import-preview")
    assert hub.query("SELECT count(*) FROM devices WHERE id = ANY(%s)", [good, bad]) == [(0,)]

    page.click("#import-commit")
    expect(page.locator("#import-result .secret-box")).to_contain_text(good)
    assert hub.query("SELECT building FROM devices WHERE id = ANY(%s)", [good, bad]) == [("b2",)]
    actions = hub.query(
        "SELECT details->>'dry_run' FROM audit_log WHERE action = 'device.import' AND actor = %s ORDER BY id",
        ADMIN,
    )
    assert actions[-2:] == [("true",), ("false",)]


def test_a_new_password_works_at_the_broker_and_the_old_one_no_longer_does(tab: Tab, hub: Hub) -> None:
    device = f"{A}-b1-sd02"
    old = hub.passwords[device]
    assert hub.connects(device, old), "the password issued at registration works"
    page = tab.login(ADMIN, f"#/admin/devices?device={device}")
    panel = page.locator(f'#manage-panel[data-device-id="{device}"]')
    panel.locator("#rotate").click()
    new = panel.locator("code.secret").inner_text()
    assert new and new != old
    shot(page, "rotated-password")
    assert poll(lambda: not hub.connects(device, old), timeout=5), "Mosquitto still takes the old password"
    assert hub.connects(device, new)
    assert hub.query(
        "SELECT outcome FROM audit_log WHERE action = 'device.rotate_credentials' AND target_id = %s", device
    ) == [(200,)]


def test_a_decommissioned_devices_next_message_is_refused_and_shown_on_its_page(tab: Tab, hub: Hub) -> None:
    device = f"{A}-b1-sd03"
    page = tab.login(ADMIN, f"#/admin/devices?device={device}")
    panel = page.locator("#manage-panel")
    panel.locator("#decommission").click()
    expect(panel.locator("#recommission")).to_be_visible()
    expect(page.locator(f'table.registry tr[data-device-id="{device}"]')).to_have_attribute(
        "data-decommissioned", "true"
    )
    assert hub.query("SELECT decommissioned_at IS NOT NULL FROM devices WHERE id = %s", device) == [(True,)]

    time.sleep(1.2)  # the ingest cache compares the registry's version at most every second
    hub.publish(A, "smoke_detector", device)
    assert poll(lambda: hub.refused(device, "decommissioned"), timeout=10), hub.hub.log()
    assert not hub.connects(device, hub.passwords[device]), "its broker account is gone"

    page.goto(f"{hub.url}/#/device/{device}")
    view = page.locator(f'.view-device[data-device-id="{device}"]')
    expect(view).to_have_attribute("data-decommissioned", "true")
    refused = view.locator('#refused li[data-code="decommissioned"]')
    expect(refused).to_contain_text("Decommissioned device")
    expect(refused).to_contain_text("out of service")
    expect(view.locator(".registration")).to_contain_text("Decommissioned")
    shot(page, "device-decommissioned")


def test_an_unknown_devices_message_is_listed_and_registered_in_one_click(tab: Tab, hub: Hub) -> None:
    newcomer = f"{A}-b3-sd09"
    hub.publish(A, "smoke_detector", newcomer)
    assert poll(lambda: hub.refused(newcomer, "unregistered"), timeout=10), hub.hub.log()
    page = tab.login(ADMIN, "#/admin/dead-letters")
    row = page.locator(f'table.dead-letters tr[data-device-id="{newcomer}"]')
    expect(row).to_have_attribute("data-code", "unregistered")
    expect(row.locator(".payload")).to_contain_text(f'"device_id": "{newcomer}"')
    expect(page.locator('.dl-totals li[data-code="unregistered"]')).to_be_visible()
    expect(page.locator(".dl-summary .uplot canvas").first).to_be_visible()
    shot(page, "dead-letters")

    row.locator(".register-this").click()
    form = page.locator("#register-form")
    expect(form.locator('input[name="id"]')).to_have_value(newcomer)
    expect(form.locator('input[name="community"]')).to_have_value(A)
    expect(form.locator('select[name="kind"]')).to_have_value("smoke_detector")
    form.locator('input[name="building"]').fill("b3")
    form.locator('button[type="submit"]').click()
    expect(page.locator("#register-panel .secret-box")).to_contain_text(newcomer)
    assert hub.query("SELECT community_id, kind, building FROM devices WHERE id = %s", newcomer) == [
        (A, "smoke_detector", "b3")
    ]
    page.goto(f"{hub.url}/#/admin/dead-letters?device={newcomer}")
    expect(page.locator(f'tr[data-device-id="{newcomer}"] a[href="#/device/{newcomer}"]')).to_be_visible()
    expect(page.locator(".register-this")).to_have_count(0)


def test_a_message_an_adapter_refused_names_the_adapter_and_step(tab: Tab, hub: Hub) -> None:
    lamp = f"{A}-g1-lamp1"
    vendor = b'{"gw": "LGW-07", "lamps": [{"addr": "L-0701", "u": "230"}]}'
    with psycopg.connect(hub.database_url, autocommit=True) as conn:
        deadletters.insert(
            conn,
            [
                deadletters.DeadLetter(
                    datetime.now(UTC),
                    "vendor/lampgw/LGW-07/report",
                    None,
                    "invalid payload: voltage_v: Input should be a valid number",
                    vendor,
                    len(vendor),
                    (A, "lamppost", lamp),
                    "lampgw",
                    "contract",
                    vendor,
                )
            ],
        )
    hub.query(
        "INSERT INTO device_state (device_id, last_seen, online, adapter) VALUES (%s, now(), true, 'lampgw') "
        "ON CONFLICT (device_id) DO UPDATE SET adapter = 'lampgw'",
        lamp,
    )
    page = tab.login(ADMIN, f"#/device/{lamp}")
    expect(page.locator(".facts .adapter")).to_have_text("lampgw")
    refused = page.locator('#refused li[data-code="invalid"]')
    expect(refused.locator(".adapter")).to_have_text(
        "through adapter lampgw, refused at: the device contract"
    )
    page.goto(f"{hub.url}/#/admin/dead-letters?device={lamp}")
    expect(page.locator(f'tr[data-device-id="{lamp}"] .adapter')).to_contain_text("lampgw")


def test_a_manager_sees_only_their_communities_and_changes_nothing(tab: Tab, hub: Hub) -> None:
    hub.publish(B, "smoke_detector", f"{B}-b9-unknown")
    assert poll(lambda: hub.refused(f"{B}-b9-unknown", "unregistered"), timeout=10)
    page = tab.login(MANAGER, "#/admin/devices")
    rows = page.locator("table.registry tbody tr")
    expect(rows.first).to_be_visible()
    shown = [r.get_attribute("data-device-id") or "" for r in rows.all()]
    assert shown and all(d.startswith(A) for d in shown)
    expect(page.locator("#open-import, #open-register, button[data-manage]")).to_have_count(0)
    page.goto(f"{hub.url}/#/admin/dead-letters")
    expect(page.locator("table.dead-letters tbody tr").first).to_be_visible()
    expect(page.locator(f'tr[data-device-id="{B}-b9-unknown"]')).to_have_count(0)
    expect(page.locator(".register-this")).to_have_count(0)


def test_the_gate_page_reads_access_events_only_on_request(tab: Tab, hub: Hub) -> None:
    gate = f"{A}-b1-gate1"
    page = tab.login(ADMIN, f"#/device/{gate}")
    before = hub.query(
        "SELECT count(*) FROM audit_log WHERE action = 'access_events.read' AND target_id = %s", gate
    )
    page.click("#show-access")
    expect(page.locator(".access-events .notice, .access-events table")).to_be_visible()
    after = hub.query(
        "SELECT count(*) FROM audit_log WHERE action = 'access_events.read' AND target_id = %s", gate
    )
    assert after[0][0] == before[0][0] + 1


PAGES = {
    "devices": ("#/admin/devices", "table.registry"),
    "dead-letters": ("#/admin/dead-letters", "table.dead-letters tbody tr"),
    "alerts": ("#/admin/alerts", ".view-alerts tbody tr"),
    "device": (f"#/device/{A}-b1-sd01", ".view-device #refused .toolbar, .view-device #refused .notice"),
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screenshots_at_each_size_and_language(browser: Browser, hub: Hub, lang: str) -> None:
    for size, (width, height) in SIZES.items():
        phone = size == "phone"
        context = browser.new_context(
            viewport={"width": width, "height": height},
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            locale="zh-CN" if lang == "zh" else "en-GB",
        )
        context.add_init_script(f"localStorage.setItem('locale', '{lang}')")
        t = Tab(context, hub.url, PW)
        try:
            for user in (ADMIN, MANAGER):
                page = t.login(user)
                for name, (hash_, ready) in PAGES.items():
                    page.goto(f"{hub.url}/{hash_}")
                    expect(page.locator(ready).first).to_be_visible()
                    page.wait_for_load_state("networkidle")
                    if lang == "zh":
                        expect(page.locator('#nav a[data-nav="admin"]')).to_have_text("系统管理")
                    width_used = page.evaluate("document.documentElement.scrollWidth")
                    assert width_used <= width, f"{name} overflows {size} ({width_used}px)"
                    shot(page, f"{name}-{user.removeprefix('adm-')}-{size}-{lang}")
                page.click("#logout")
            assert t.errors == []
        finally:
            context.close()
