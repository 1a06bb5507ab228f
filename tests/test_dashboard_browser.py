"""The dashboard in headless Chromium against a real hub process, broker and database: log-in per role,
a device alarm appearing live in the control room and acted on from the page, scope, the site plan and
device page, a resident's report with a photo and its rating, the phone layout and the locale switch.

Screenshots of the main pages go to test-output/screenshots/.
"""

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect

from device_simulators.site import load as load_site
from hub.store import cases as case_store
from tests.support.browser import NEEDS_CHROMIUM, PHONE, Tab, open_tab
from tests.support.dashboard_site import PASSWORD, LiveSite
from tests.support.images import png
from tests.support.processes import poll
from tests.support.services import ROOT, migrated_database

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

A, B = "dash-a", "dash-b"
USERS = {
    "dash-admin": ("admin", []),
    "dash-operator": ("operator", []),
    "dash-manager": ("manager", [A]),
    "dash-manager-b": ("manager", [B]),
    "dash-resident": ("resident", [A]),
}


SITE = load_site(ROOT / "tests" / "data" / "site-dashboard.yaml")


class Site(LiveSite):
    def open_case_of(self, device: str, timeout: float = 10) -> int:
        def found() -> int | None:
            rows = self.query(
                "SELECT id FROM cases WHERE device_id = %s AND status NOT IN ('resolved', 'closed', 'cancelled') "
                "ORDER BY id DESC LIMIT 1",
                device,
            )
            return int(rows[0][0]) if rows else None

        case_id = poll(found, timeout=timeout)
        assert case_id, f"no case for {device}; hub log:\n{self.hub.log()}"
        return int(case_id)

    def status(self, case_id: int) -> str:
        return str(self.query("SELECT status FROM cases WHERE id = %s", case_id)[0][0])

    def wait_status(self, case_id: int, status: str, timeout: float = 5) -> None:
        assert poll(lambda: self.status(case_id) == status, timeout=timeout), (
            f"case {case_id} is {self.status(case_id)}, expected {status}"
        )


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One hub for the module (a broker of its own, like the `broker` fixture, but module-scoped so the
    browser tests stay within about a minute), with the demo layout's devices, users and some history;
    on a database of its own, so the operator's queue holds this site's cases only (in the session's
    database other tests' open critical cases would fill it ahead of a new one)."""
    with (
        migrated_database() as database_url,
        Site.running(database_url, tmp_path_factory.mktemp("dash"), SITE, USERS) as s,
    ):
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE communities SET name = 'Dash Garden' WHERE id = %s", (A,))
            case_store.add_member(conn, "fire-safety", "dash-manager")
        now = datetime.now(UTC)
        for i in range(24, 0, -1):  # two hours of readings for the device page's charts
            s.publish(f"{A}-b1-sd01", at=now - timedelta(minutes=5 * i))
        silent = {f"{A}-g2-mh01", f"{A}-g2-mh02", f"{A}-b3-sd04"}  # never heard: offline on the plan
        for device in s.kinds:
            if device not in silent:
                s.publish(device)
        assert poll(
            lambda: (
                s.query("SELECT count(*) FROM device_state WHERE online")[0][0] >= len(s.kinds) - len(silent)
            ),
            timeout=15,
        ), s.hub.log()
        # A battery below 20 % without an open alert (the default rules alert on it at once, so set it here).
        s.query("UPDATE device_state SET battery_pct = 14 WHERE device_id = %s", f"{A}-g1-mh02")
        yield s


@pytest.fixture
def tab(browser: Browser, dash: Site) -> Iterator[Tab]:
    with open_tab(browser, dash.url, PASSWORD, viewport={"width": 1280, "height": 860}, locale="en-GB") as t:
        yield t


def test_each_role_logs_in_to_its_own_pages(tab: Tab, dash: Site) -> None:
    page = tab.page
    page.goto(f"{dash.hub.url}/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login input[name=username]", "dash-operator")
    page.fill("#login input[name=password]", "wrong")
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("wrong username or password")
    tab.shot("login")

    expected_nav = {
        "dash-admin": ["queue", "plan", "kpis", "admin"],
        "dash-operator": ["queue", "plan", "kpis", "report", "admin"],
        "dash-manager": ["queue", "plan", "kpis", "admin"],
        "dash-resident": ["mine", "report"],
    }
    for user, nav in expected_nav.items():
        tab.login(user)
        expect(page.locator("#nav a")).to_have_count(len(nav))
        assert [a.get_attribute("data-nav") for a in page.locator("#nav a").all()] == nav
        landing = "#my-reports, .view-mine" if user == "dash-resident" else "#queue"
        expect(page.locator(landing).first).to_be_visible()
        page.click("#logout")
        expect(page.locator("#login")).to_be_visible()


def test_an_alarm_appears_live_in_the_control_room_and_is_handled_from_the_page(tab: Tab, dash: Site) -> None:
    page = tab.login("dash-operator")
    expect(page.locator("#live")).to_have_class("live live-sse", timeout=5000)
    page.evaluate("window.beeps = 0; window.addEventListener('hub:beep', () => window.beeps++)")
    device = f"{A}-b2-sd02"

    started = time.monotonic()
    dash.publish(device, alarm=True, smoke_obscuration_pct_per_m=4.2)
    case_id = dash.open_case_of(device)
    row = page.locator(f'#cases tr[data-case-id="{case_id}"]')
    expect(row).to_be_visible(timeout=5000)
    appeared = time.monotonic() - started
    assert appeared < 5, f"the case took {appeared:.1f}s to appear"
    expect(row).to_have_class("sev-critical fresh")
    expect(page.locator(f'#alarms li[data-case-id="{case_id}"]')).to_be_visible()
    assert page.evaluate("window.beeps") >= 1
    tab.shot("control-room")

    row.locator('button[data-action="acknowledge"]').click()
    dash.wait_status(case_id, "acknowledged")
    expect(page.locator(f'#alarms li[data-case-id="{case_id}"]')).to_have_count(0)
    assert dash.query(
        "SELECT u.username FROM cases c JOIN users u ON u.id = c.assignee_id WHERE c.id = %s", case_id
    ) == [("dash-operator",)]

    row.locator("td.id a").click()
    detail = page.locator(f'.view-case[data-case-id="{case_id}"]')
    expect(detail).to_be_visible()
    expect(detail.locator(".alert-card")).to_have_count(1)
    evidence = detail.locator(".evidence figure.chart-figure").first
    expect(evidence.locator(".uplot canvas").first).to_be_visible()
    assert int(evidence.get_attribute("data-points") or 0) >= 1, "the evidence readings are drawn"
    expect(detail.locator(".history li")).to_have_count(3)  # opened, dispatched, acknowledged
    tab.shot("case-detail")

    detail.locator('button[data-action="start"]').click()
    dash.wait_status(case_id, "in_progress")
    expect(page.locator('.view-case[data-status="in_progress"]')).to_be_visible()
    page.locator('.view-case button[data-action="resolve"]').click()
    page.fill('.view-case .action-form input[name="note"]', "Burnt toast; detector reset")
    page.click('.view-case button[data-confirm="resolve"]')
    dash.wait_status(case_id, "resolved")
    assert dash.query("SELECT note FROM case_events WHERE case_id = %s AND action = 'resolved'", case_id) == [
        ("Burnt toast; detector reset",)
    ]
    expect(page.locator('.view-case[data-status="resolved"] .history li')).to_have_count(5)


def test_claim_next_takes_the_most_urgent_case_of_the_callers_teams(tab: Tab, dash: Site) -> None:
    """A manager of community A in the fire-safety team: the claim stays inside A (the session database
    is shared with other test modules, whose cases must not be taken)."""
    device = f"{A}-b3-sd02"
    dash.publish(device, alarm=True)
    dash.open_case_of(device)
    page = tab.login("dash-manager")
    expected = dash.query(
        "SELECT id FROM cases WHERE status = 'dispatched' AND assignee_id IS NULL AND team = 'fire-safety' "
        "AND community_id = %s ORDER BY array_position(ARRAY['info', 'minor', 'major', 'critical'], severity) "
        "DESC, created_at, id LIMIT 1",
        A,
    )[0][0]
    page.click("#claim-next")
    expect(page.locator(".view-case")).to_be_visible()
    claimed = int(page.locator(".view-case").get_attribute("data-case-id") or 0)
    assert claimed == expected
    assert dash.status(claimed) == "acknowledged"
    assert dash.query(
        "SELECT action FROM case_events WHERE case_id = %s ORDER BY id DESC LIMIT 1", claimed
    ) == [("claimed",)]
    # Hand it to another team (two clicks and a team name), then cancel it (two clicks and a reason).
    page.locator('.view-case button[data-action="assign"]').click()
    page.fill('.view-case .action-form input[name="team"]', "maintenance")
    page.click('.view-case button[data-confirm="assign"]')
    dash.wait_status(claimed, "dispatched")
    assert dash.query("SELECT team, assignee_id FROM cases WHERE id = %s", claimed) == [("maintenance", None)]
    expect(page.locator('.view-case[data-status="dispatched"]')).to_be_visible()
    page.locator('.view-case button[data-action="cancel"]').click()
    page.fill('.view-case .action-form input[name="reason"]', "test alarm")
    page.click('.view-case button[data-confirm="cancel"]')
    dash.wait_status(claimed, "cancelled")
    assert dash.query("SELECT cancel_reason FROM cases WHERE id = %s", claimed) == [("test alarm",)]


def test_a_manager_sees_only_their_communities(tab: Tab, dash: Site) -> None:
    device = f"{A}-b1-sd03"
    dash.publish(device, alarm=True)
    case_id = dash.open_case_of(device)

    page = tab.login("dash-manager-b")
    expect(page.locator("#queue")).to_be_visible()
    expect(page.locator(f'#cases tr[data-case-id="{case_id}"]')).to_have_count(0)
    page.goto(f"{dash.hub.url}/#/case/{case_id}")
    expect(page.locator(".not-found")).to_contain_text(f"#{case_id}")
    expect(page.locator(".not-found")).to_contain_text("not found")
    tab.shot("manager-other-community-case")
    page.goto(f"{dash.hub.url}/#/plan/{A}")
    expect(page.locator(".notice-error")).to_contain_text(A)
    page.click("#logout")

    page = tab.login("dash-manager")
    expect(page.locator(f'#cases tr[data-case-id="{case_id}"]')).to_be_visible()
    tab.shot("manager-queue")


def test_site_plan_colours_devices_by_state_and_opens_a_device(tab: Tab, dash: Site) -> None:
    alarming = f"{A}-b1-sd05"
    dash.publish(alarming, alarm=True)
    dash.open_case_of(alarming)
    page = tab.login("dash-admin", "#/plan")
    plan = page.locator("svg.plan")
    expect(plan).to_be_visible()
    page.select_option(".view-plan select", A)
    expect(page).to_have_url(f"{dash.hub.url}/#/plan/{A}")
    devices = plan.locator("a.device")
    expect(devices).to_have_count(len([d for d, (_, c) in dash.kinds.items() if c == A]))
    expect(plan.locator(f'a.device[data-device-id="{alarming}"]')).to_have_attribute("data-state", "alerting")
    expect(plan.locator(f'a.device[data-device-id="{A}-g2-mh01"]')).to_have_attribute("data-state", "offline")
    expect(plan.locator(f'a.device[data-device-id="{A}-g1-mh02"]')).to_have_attribute(
        "data-state", "low_battery"
    )
    expect(plan.locator(f'a.device[data-device-id="{A}-g1-lamp01"]')).to_have_attribute("data-state", "ok")
    expect(plan.locator("rect.plan-building")).to_have_count(3)
    tab.shot("site-plan")

    page.uncheck('.kind-filter input[value="lamppost"]')
    expect(plan.locator('a.device[data-kind="lamppost"]')).to_have_count(0)
    page.check('.kind-filter input[value="lamppost"]')

    plan.locator(f'a.device[data-device-id="{A}-b1-sd01"] .marker').click()
    view = page.locator(f'.view-device[data-device-id="{A}-b1-sd01"]')
    expect(view).to_be_visible()
    expect(view.locator("table.values")).to_contain_text("Temperature")
    charts = view.locator(".charts")
    expect(charts).to_have_attribute("data-bucket", "1m")  # 24 h by default
    expect(charts.locator("figure[data-drawn] .uplot canvas").first).to_be_visible()
    view.locator('button[data-range="1h"]').click()
    expect(charts).to_have_attribute("data-bucket", "raw")
    expect(charts.locator("figure[data-drawn] .uplot canvas").first).to_be_visible()
    tab.shot("device-detail")
    for r, bucket in (("7d", "1h"), ("30d", "1h")):
        view.locator(f'button[data-range="{r}"]').click()
        expect(charts).to_have_attribute("data-bucket", bucket)

    page.goto(f"{dash.hub.url}/#/device/{alarming}")
    alarm_view = page.locator(f'.view-device[data-device-id="{alarming}"]')
    expect(alarm_view).to_have_attribute("data-state", "alerting")
    expect(alarm_view.locator(".item-list a").first).to_be_visible()


def test_a_resident_reports_with_a_photo_follows_it_and_rates_it(
    tab: Tab, dash: Site, tmp_path: Path
) -> None:
    photo = tmp_path / "pothole.png"
    photo.write_bytes(png())
    page = tab.login("dash-resident", "#/report")
    form = page.locator("#report-form")
    form.locator('select[name="category"]').select_option("lighting")
    form.locator('textarea[name="description"]').fill("Lamp at the north gate flickers all night")
    form.locator('button[type="submit"]').click()
    expect(page.locator(".view-report .notice-error")).to_contain_text("Say where")
    form.locator('input[name="building"]').fill("b2")
    form.locator('input[name="photo"]').set_input_files(str(photo))
    expect(form.locator("img.photo-preview")).to_be_visible()
    tab.shot("resident-report")
    form.locator('button[type="submit"]').click()
    expect(page.locator(".view-report .notice-ok")).to_contain_text("received")
    rows = dash.query(
        "SELECT c.id, c.source, c.team, c.community_id, a.content_type, length(a.data) FROM cases c "
        "JOIN case_attachments a ON a.case_id = c.id JOIN users u ON u.id = c.reporter_id "
        "WHERE u.username = 'dash-resident' ORDER BY c.id DESC LIMIT 1"
    )
    assert rows, "the report must be stored with its photo"
    case_id, source, team, community, content_type, size = rows[0]
    assert (source, team, community, content_type) == ("resident", "lighting", A, "image/png")
    assert size == len(png())

    page.goto(f"{dash.hub.url}/#/mine")
    card = page.locator(f'#my-reports li[data-case-id="{case_id}"]')
    expect(card).to_contain_text("Lamp at the north gate")
    expect(card.locator("ol.progress li.current")).to_have_text("Dispatched")

    # The team does the work (through the API, as another person would).
    op = dash.hub.login("dash-operator", PASSWORD)
    for action in (
        {"action": "acknowledge"},
        {"action": "start"},
        {"action": "resolve", "note": "new ballast"},
    ):
        r = httpx.post(f"{dash.hub.url}/api/v1/cases/{case_id}/actions", json=action, headers=op)
        assert r.status_code == 200, r.text
    expect(card.locator("ol.progress li.current")).to_have_text("Resolved", timeout=5000)
    tab.shot("resident-my-reports")

    card.click()
    view = page.locator(f'.view-case[data-case-id="{case_id}"]')
    expect(view.locator("img.photo")).to_have_attribute(
        "src", f"data:image/png;base64,{base64.b64encode(png()).decode()}"
    )
    expect(view.locator(".actions button")).to_have_count(0)  # residents do not act on cases
    view.locator('button.star[data-stars="4"]').click()
    view.locator('.rating-form textarea[name="comment"]').fill("Quick, thanks")
    view.locator('.rating-form button[type="submit"]').click()
    expect(view.locator(".ratings")).to_contain_text("4 ★")
    tab.shot("resident-case-rated")
    assert dash.query(
        "SELECT r.stars, r.comment FROM case_ratings r JOIN users u ON u.id = r.resident_id "
        "WHERE r.case_id = %s AND u.username = 'dash-resident'",
        case_id,
    ) == [(4, "Quick, thanks")]


def test_phone_layout_and_chinese_labels(browser: Browser, dash: Site) -> None:
    dash.publish(f"{A}-b3-sd03", alarm=True)
    dash.open_case_of(f"{A}-b3-sd03")
    with open_tab(browser, dash.url, PASSWORD, **PHONE) as tab:
        page = tab.login("dash-operator")
        expect(page.locator("#cases tr").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the queue overflows a phone screen ({width}px)"
        page.click("#locale")
        expect(page.locator('#nav a[data-nav="queue"]')).to_have_text("指挥中心")
        expect(page.locator("#queue h2")).to_have_text("工单队列")
        expect(page.locator("#cases tr").first).to_be_visible()
        expect(page.locator("#queue .count")).to_contain_text("个工单")
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        tab.shot("phone-control-room-zh")
        page.goto(f"{dash.hub.url}/#/plan/{A}")
        expect(page.locator("svg.plan")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        tab.shot("phone-site-plan-zh")
        page.click("#locale")
        expect(page.locator('#nav a[data-nav="plan"]')).to_have_text("Site plan")


def test_the_page_keeps_the_content_security_policy(dash: Site) -> None:
    """Nothing inline: the policy stays `default-src 'self'`, and every script is an external module."""
    r = httpx.get(f"{dash.hub.url}/")
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    html = r.text
    assert "<script>" not in html and "style=" not in html
    scripts = [line for line in html.splitlines() if "<script" in line]
    assert scripts and all('src="/static/' in line and 'type="module"' in line for line in scripts)
    js = httpx.get(f"{dash.hub.url}/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
