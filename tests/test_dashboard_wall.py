"""The control room a duty officer runs a shift from, in headless Chromium against a real hub, broker and
database: the critical-case alarm on every page (repeating until acknowledged or silenced, gone when
anyone acknowledges), the queue's wall mode (overdue first, deadlines apart, escalation, alarm state,
counts per community), the site plan (a device in alarm while its case is open, labels, links to the
case, a plan image, placing by latitude/longitude), the device charts (uPlot: dated axis, zoom, values
under the cursor), KPI trends with each KPI explained, the public page's days, and the favicon.

Screenshots of each page at 1920×1080 (wall mode), 1366×768 and 390×844 in English and Chinese go to
test-output/wall/.
"""

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from device_simulators.site import SiteSpec
from hub.store import cases as case_store
from tests.support.browser import NEEDS_CHROMIUM, Tab, open_tab
from tests.support.dashboard_seed import Api
from tests.support.dashboard_site import PASSWORD, LiveSite
from tests.support.images import png
from tests.support.processes import poll
from tests.support.services import ROOT

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

SHOTS = ROOT / "test-output" / "wall"
N, S = "wall-north", "wall-south"
USERS = {
    "wall-admin": ("admin", []),
    "wall-duty": ("manager", [N, S]),  # the duty officer: both communities, and only them
    "wall-colleague": ("manager", [N, S]),
    "wall-operator": ("operator", []),
}
REPEAT_S = 4  # js/alarm.js REPEAT_MS


def site() -> SiteSpec:
    return SiteSpec.model_validate(
        {
            "street_office": "wall-office",
            "communities": [
                {
                    "id": N,
                    "name": "North Gardens",
                    "grids": [
                        {
                            "id": "g1",
                            "buildings": [
                                {"id": "b1", "smoke_detectors": 4, "access_gates": 1},
                                {"id": "b2", "smoke_detectors": 4},
                            ],
                            "lampposts": 3,
                            "manholes": 2,
                        }
                    ],
                },
                {
                    "id": S,
                    "name": "South Court",
                    "grids": [{"id": "g1", "buildings": [{"id": "b1", "smoke_detectors": 3}]}],
                },
            ],
        }
    )


class Wall(LiveSite):
    def api(self, user: str) -> Api:
        return Api(self.url, self.hub.login(user, PASSWORD))

    def new_case(self, device: str, before: set[int]) -> int:
        """The live case the hub opened for `device` that was not among `before`. A second smoke alarm
        in a building within the fire rule's window opens the building's case, which names the device
        too, and the detector's own case, opened in the same transaction, ends absorbed into it."""
        found = poll(
            lambda: [
                r[0]
                for r in self.query(
                    "SELECT id FROM cases WHERE device_id = %s AND status <> 'cancelled'", device
                )
                if r[0] not in before
            ],
            timeout=10,
        )
        assert len(found) == 1, f"cases for {device}: {found}; hub log:\n{self.hub.log()}"
        return int(found[0])

    def cases_of(self, device: str) -> set[int]:
        return {r[0] for r in self.query("SELECT id FROM cases WHERE device_id = %s", device)}

    def fire(self, device: str, at: datetime | None = None) -> int:
        """A smoke alarm: the hub opens a critical case for it."""
        before = self.cases_of(device)
        self.publish(device, at, alarm=True, smoke_obscuration_pct_per_m=4.4)
        return self.new_case(device, before)

    def open_cover(self, device: str) -> int:
        """A manhole cover open for over the rule's 10 s (device time): the hub opens a critical case
        about that manhole alone (a smoke alarm joins its building's open fire case)."""
        before = self.cases_of(device)
        now = datetime.now(UTC)
        for later in (0, 11):
            self.publish(device, now + timedelta(seconds=later), cover_open=True)
        return self.new_case(device, before)

    def open_cover_and_clear(self, device: str) -> int:
        """An open-cover case whose alert has since cleared (written here: the rule wants a minute of a
        closed cover), while the case stays open."""
        case_id = self.open_cover(device)
        self.query(
            "UPDATE alerts SET status = 'cleared', cleared_at = now() WHERE device_id = %s AND status = 'open'",
            device,
        )
        return case_id


@pytest.fixture(scope="module")
def wall(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wall]:
    with Wall.running(database_url, tmp_path_factory.mktemp("wall"), site(), USERS) as w:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE communities SET name = 'North Gardens' WHERE id = %s", (N,))
            conn.execute("UPDATE communities SET name = 'South Court' WHERE id = %s", (S,))
            # South Court has no plan positions, only latitude and longitude.
            conn.execute(
                "UPDATE devices SET plan_x = NULL, plan_y = NULL, latitude = 31.23 + right(id, 1)::int / 2000.0, "
                "longitude = 121.47 + right(id, 1)::int / 1500.0 WHERE community_id = %s",
                (S,),
            )
            for user in ("wall-duty", "wall-colleague"):
                case_store.add_member(conn, "fire-safety", user)
        now = datetime.now(UTC)
        for i in range(36, 0, -1):  # three hours of readings for the device charts
            w.publish(f"{N}-b1-sd01", at=now - timedelta(minutes=5 * i))
        for device in w.kinds:
            w.publish(device)
        assert poll(
            lambda: (
                w.query("SELECT count(*) FROM device_state WHERE online AND device_id LIKE 'wall-%%'")[0][0]
                >= len(w.kinds)
            ),
            timeout=15,
        ), w.hub.log()
        yield w


@pytest.fixture
def tab(browser: Browser, wall: Wall) -> Iterator[Tab]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with open_tab(browser, wall.url, PASSWORD, viewport={"width": 1366, "height": 768}, locale="en-GB") as t:
        yield t


def beeps(page: Page) -> int:
    return int(page.evaluate("window.beeps"))


def acknowledge_open_alarms(wall: Wall) -> None:
    """Earlier tests' critical cases, acknowledged, so each test starts without an alarm."""
    api = wall.api("wall-colleague")
    for (case_id,) in wall.query(
        "SELECT id FROM cases WHERE community_id IN (%s, %s) AND severity = 'critical' AND status = 'dispatched'",
        N,
        S,
    ):
        api.act(case_id, {"action": "acknowledge"})


def test_a_new_critical_case_alarms_on_every_page_and_repeats_until_acknowledged(
    tab: Tab, wall: Wall
) -> None:
    acknowledge_open_alarms(wall)
    quiet = wall.fire(f"{N}-b2-sd04")
    wall.api("wall-colleague").act(quiet, {"action": "acknowledge"})
    page = tab.login("wall-duty", f"#/case/{quiet}")
    expect(page.locator(f'.view-case[data-case-id="{quiet}"]')).to_be_visible()
    expect(page.locator("#live")).to_have_class("live live-sse", timeout=5000)
    expect(page.locator("#alarms")).to_be_hidden()
    page.evaluate("window.beeps = 0; window.addEventListener('hub:beep', () => window.beeps++)")

    # On a case page: a fire elsewhere alarms at once, and the sound repeats while nobody acknowledges.
    first = wall.fire(f"{N}-b1-sd02")
    alarm = page.locator(f'#alarms li[data-case-id="{first}"]')
    expect(alarm).to_be_visible(timeout=5000)
    expect(alarm).to_contain_text(f"#{first}")
    expect(alarm).to_contain_text("CRITICAL")
    assert poll(lambda: beeps(page) >= 2, timeout=REPEAT_S * 2 + 2), "the alarm sounds again"
    assert page.title().startswith("(1) ")
    tab.shot("alarm-on-case-page")

    # On the site plan: the alarm stays, and a second fire joins it there.
    page.click('#nav a[data-nav="plan"]')
    expect(page.locator("svg.plan")).to_be_visible()
    expect(alarm).to_be_visible()
    second = wall.fire(f"{S}-b1-sd01")
    expect(page.locator(f'#alarms li[data-case-id="{second}"]')).to_be_visible(timeout=5000)
    tab.shot("alarm-on-site-plan")

    # Silenced, an alarm stays listed without sound; acknowledged from the bar, it goes.
    alarm.locator("button.alarm-silence").click()
    expect(alarm).to_have_class("alarm silenced")
    page.locator(f'#alarms li[data-case-id="{second}"] button[data-action="acknowledge"]').click()
    expect(page.locator(f'#alarms li[data-case-id="{second}"]')).to_have_count(0, timeout=5000)
    assert wall.query("SELECT status FROM cases WHERE id = %s", second) == [("acknowledged",)]
    heard = beeps(page)
    time.sleep(REPEAT_S + 1.5)
    assert beeps(page) == heard, "only a silenced alarm is left: no sound"

    # Acknowledged by a colleague elsewhere: it clears itself here.
    wall.api("wall-colleague").act(first, {"action": "acknowledge"})
    expect(page.locator("#alarms")).to_be_hidden(timeout=5000)
    assert not page.title().startswith("(")


def test_an_unsilenced_alarm_keeps_sounding_until_acknowledged(tab: Tab, wall: Wall) -> None:
    acknowledge_open_alarms(wall)
    page = tab.login("wall-duty", f"#/plan/{N}")
    expect(page.locator("svg.plan")).to_be_visible()
    page.evaluate("window.beeps = 0; window.addEventListener('hub:beep', () => window.beeps++)")
    case_id = wall.fire(f"{N}-b1-sd03")
    expect(page.locator(f'#alarms li[data-case-id="{case_id}"]')).to_be_visible(timeout=5000)
    assert poll(lambda: beeps(page) >= 3, timeout=REPEAT_S * 3 + 2), "three times in about two periods"
    wall.api("wall-colleague").act(case_id, {"action": "acknowledge"})
    expect(page.locator("#alarms")).to_be_hidden(timeout=5000)
    heard = beeps(page)
    time.sleep(REPEAT_S + 1.5)
    assert beeps(page) == heard, "acknowledged: silent"


def test_wall_mode_puts_overdue_cases_first_with_their_deadlines_escalation_and_alarm(
    browser: Browser, wall: Wall
) -> None:
    acknowledge_open_alarms(wall)
    api = wall.api("wall-colleague")
    late = wall.api("wall-operator").report(
        N, "noise", "g1", "Loud music, ack deadline passed", severity="minor"
    )
    wall.query(
        "UPDATE cases SET created_at = now() - interval '2 hours', ack_due_at = now() - interval '20 minutes', "
        "escalation_level = 1, ack_escalated_at = now() WHERE id = %s",  # escalated once, as the job would
        late,
    )
    burning = wall.fire(f"{N}-b2-sd01")
    cleared = wall.open_cover_and_clear(f"{N}-g1-mh02")
    api.act(burning, {"action": "acknowledge"})
    api.act(cleared, {"action": "acknowledge"})

    with open_tab(
        browser, wall.url, PASSWORD, viewport={"width": 1920, "height": 1080}, locale="en-GB"
    ) as tab:
        page = tab.login("wall-duty")
        rows = page.locator("#cases tr")
        expect(page.locator(f'#cases tr[data-case-id="{late}"]')).to_be_visible()
        order = [int(r.get_attribute("data-case-id") or 0) for r in rows.all()]
        assert order[0] == late, "overdue first, though minor and older ones are critical"
        assert order.index(burning) < order.index(cleared), "same severity: the longer waiting first"
        late_row = page.locator(f'#cases tr[data-case-id="{late}"]')
        expect(late_row).to_have_attribute("data-overdue", "true")
        expect(late_row.locator("td.col-ackBy")).to_have_attribute("data-overdue", "true")
        expect(late_row.locator("td.col-ackBy")).to_contain_text("overdue")
        expect(late_row.locator("td.col-escalation")).to_have_text("Supervisor")
        expect(late_row.locator("td.col-alarm")).to_have_text("–")
        burning_row = page.locator(f'#cases tr[data-case-id="{burning}"]')
        expect(burning_row.locator("td.col-alarm")).to_have_attribute("data-alarm", "active")
        expect(burning_row.locator("td.col-alarm")).to_have_text("alarm active")
        expect(burning_row.locator("td.col-ackBy")).to_contain_text("done")
        expect(burning_row.locator("td.col-resolveBy")).not_to_contain_text("done")
        expect(page.locator(f'#cases tr[data-case-id="{cleared}"] td.col-alarm')).to_have_text("cleared")
        north = page.locator(f'#community-counts li[data-community="{N}"]')
        open_north = wall.query(
            "SELECT count(*) FROM cases WHERE community_id = %s AND status NOT IN ('resolved', 'closed', 'cancelled')",
            N,
        )[0][0]
        expect(north).to_contain_text(f"North Gardens{open_north} open")
        expect(north).to_contain_text("1 overdue")

        assert page.evaluate("document.querySelector('main').getBoundingClientRect().width") <= 1400
        page.click("#wall-mode")
        expect(page.locator("body")).to_have_class("wall")
        assert page.evaluate("document.querySelector('main').getBoundingClientRect().width") > 1800
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#cases td')).fontSize)")
        assert size >= 19, f"wall-mode text is {size}px"
        page.reload()
        expect(page.locator("#wall-mode")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("body")).to_have_class("wall")
        north.locator("button").click()
        assert {r.get_attribute("data-case-id") for r in rows.all()} <= {
            str(i) for (i,) in wall.query("SELECT id FROM cases WHERE community_id = %s", N)
        }
        north.locator("button").click()
        page.click('#nav a[data-nav="plan"]')
        expect(page.locator("body")).not_to_have_class("wall")


def test_the_site_plan_shows_a_device_in_alarm_while_its_case_is_open(tab: Tab, wall: Wall) -> None:
    device = f"{N}-g1-mh01"
    case_id = wall.open_cover_and_clear(device)
    wall.api("wall-colleague").act(
        case_id, {"action": "acknowledge"}
    )  # still open; no alarm bar over the plan
    page = tab.login("wall-duty", f"#/plan/{N}")
    plan = page.locator("svg.plan")
    marker = plan.locator(f'a.device[data-device-id="{device}"]')
    expect(marker).to_have_attribute("data-state", "alerting")
    expect(marker).to_have_attribute("href", f"#/case/{case_id}")
    expect(marker.locator("text.device-label")).to_have_text("g1-mh01")
    expect(page.locator(f'ul.attention li[data-device-id="{device}"] a.case-link')).to_have_text(
        f"case #{case_id}"
    )
    page.uncheck('.kind-filter input[name="labels"]')
    expect(plan.locator("text.device-label")).to_have_count(0)
    page.check('.kind-filter input[name="labels"]')

    # A plan image, uploaded here by a manager of the community, goes under the devices.
    expect(page.locator(".view-plan")).to_have_attribute("data-layout", "plan")
    page.locator('#plan-image-form input[type="file"]').set_input_files(
        files=[FilePayload(name="north.png", mimeType="image/png", buffer=png(400, 250))]
    )
    expect(page.locator(".view-plan")).to_have_attribute("data-layout", "image", timeout=5000)
    expect(plan.locator("image.plan-image")).to_have_count(1)
    expect(plan.locator("a.device")).to_have_count(len([d for d, (_, c) in wall.kinds.items() if c == N]))
    assert wall.query("SELECT plan_image_type, length(plan_image) FROM communities WHERE id = %s", N) == [
        ("image/png", len(png(400, 250)))
    ]
    tab.shot("site-plan-image")

    marker.locator(".marker").click()
    expect(page.locator(f'.view-case[data-case-id="{case_id}"]')).to_be_visible()
    wall.api("wall-colleague").act(case_id, {"action": "start"}, {"action": "resolve", "note": "dust"})
    page.goto(f"{wall.url}/#/plan/{N}")
    expect(marker).to_have_attribute("data-state", "ok")

    # South Court has latitude and longitude only: placed by them.
    page.goto(f"{wall.url}/#/plan/{S}")
    expect(page.locator(".view-plan")).to_have_attribute("data-layout", "geo")
    expect(plan.locator("a.device")).to_have_count(3)
    xs = plan.locator("a.device circle").evaluate_all("cs => cs.map(c => Number(c.getAttribute('cx')))")
    assert len(set(xs)) == 3, "three places, one per device"

    page.click("#logout")
    page = tab.login("wall-operator", f"#/plan/{N}")
    expect(page.locator("image.plan-image")).to_have_count(1)
    expect(page.locator("#plan-image-form")).to_have_count(0)  # operators do not upload plan images


def test_the_device_page_charts_with_dates_zoom_and_values_under_the_cursor(tab: Tab, wall: Wall) -> None:
    page = tab.login("wall-duty", f"#/device/{N}-b1-sd01")
    view = page.locator(".view-device")
    charts = view.locator(".charts")
    expect(charts).to_have_attribute("data-bucket", "1m")
    figure = charts.locator('figure[data-drawn="1"]').first
    expect(figure.locator(".uplot canvas").first).to_be_visible()

    def span() -> float:
        return float(figure.get_attribute("data-x-max") or 0) - float(figure.get_attribute("data-x-min") or 0)

    assert abs(span() - 24 * 3600e3) < 120e3, "24 h across"
    over = figure.locator(".u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    value = figure.locator(".u-legend .u-series").first.locator(".u-value")
    expect(value).to_contain_text(str(datetime.now().year))
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.99, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert poll(lambda: span() < 6 * 3600e3, timeout=3), "dragged across a tenth: zoomed in"
    over.dblclick()
    assert poll(lambda: span() > 23 * 3600e3, timeout=3), "double-click: zoomed out"
    tab.shot("device-charts")


def test_kpi_trends_per_week_with_each_kpi_explained(tab: Tab, wall: Wall) -> None:
    handled = wall.api("wall-operator").report(S, "lighting", "g1", "Lamp out by the gate")
    wall.api("wall-colleague").act(handled, {"action": "acknowledge"})
    page = tab.login("wall-duty", "#/kpis")
    trends = page.locator("#kpi-trends figure[data-chart='trend']")
    expect(trends).to_have_count(6)
    responses = page.locator("#kpi-trends figure[data-kpi='response_rate']")
    expect(responses.locator(".uplot canvas").first).to_be_visible()
    assert int(responses.get_attribute("data-points") or 0) >= 1, "this week's case, acknowledged in time"
    closure = page.locator("#kpi-trends figure[data-kpi='closure_rate']")
    tip = closure.locator(".help-tip")
    tip.focus()
    expect(tip).to_be_focused()
    assert "suspended" in (tip.get_attribute("data-help") or "")
    assert page.evaluate("getComputedStyle(document.activeElement, '::after').content").startswith('"Closed')
    expect(page.locator('#kpi-totals tr[data-kpi="rework_rate"] th')).to_have_attribute(
        "data-help", re.compile("reopened")
    )
    page.select_option('#kpis select[name="interval"]', "month")
    expect(page.locator("#kpis")).to_contain_text("Per month")
    page.click("#locale")
    expect(page.locator("#kpi-trends figure[data-kpi='closure_rate'] .help-tip")).to_have_attribute(
        "data-help", re.compile("已关闭")
    )
    page.click("#locale")


def test_the_public_page_says_which_days_it_counts_and_includes_today(browser: Browser, wall: Wall) -> None:
    reporter = wall.api("wall-operator")
    for i in range(3):
        reporter.report(S, "noise", "g1", f"today's report {i}")
    missing: list[str] = []
    with open_tab(
        browser,
        wall.url,
        PASSWORD,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
    ) as tab:
        tab.page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        page = tab.page
        page.goto(f"{wall.url}/#/public/{S}")
        period = page.locator("#public-period")
        expect(period).to_contain_text("Asia/Shanghai")
        summary = httpx.get(f"{wall.url}/api/v1/public/communities/{S}/summary", params={"days": 30}).json()
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
        expect(period).to_contain_text(today.strftime("%d %b %Y").lstrip("0"))
        expect(period).to_contain_text("today so far")
        assert summary["cases"] != "<3" and summary["cases"] >= 3, "today's reports count"
        expect(page.locator('.tile[data-figure="cases"] dd')).to_have_text(str(summary["cases"]))
        assert missing == [], f"no 404s, favicon included: {missing}"
        page.click("#locale")
        expect(period).to_contain_text("今天截至目前")
    icon = httpx.get(f"{wall.url}/favicon.ico")
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    assert icon.text.startswith("<svg")


PAGES = {
    "queue": "#/queue",
    "plan": f"#/plan/{N}",
    "device": f"#/device/{N}-b1-sd01",
    "kpis": "#/kpis",
    "public": f"#/public/{N}",
}
SIZES = {"1920x1080": (1920, 1080), "1366x768": (1366, 768), "390x844": (390, 844)}


def test_screenshots_of_each_page_at_three_sizes_in_both_languages(browser: Browser, wall: Wall) -> None:
    """For people to look at (test-output/wall/); each page must fit its width and load without errors."""
    wall.fire(f"{S}-b1-sd03")  # an alarm in the bar, as on a real shift
    for size, (width, height) in SIZES.items():
        phone = width < 500
        with open_tab(
            browser,
            wall.url,
            PASSWORD,
            viewport={"width": width, "height": height},
            is_mobile=phone,
            has_touch=phone,
            locale="en-GB",
        ) as tab:
            page = tab.login("wall-duty")
            for lang in ("en", "zh"):
                if lang == "zh":
                    page.click("#locale")
                    expect(page.locator('#nav a[data-nav="queue"]')).to_have_text("指挥中心")
                wall_modes = [False, True] if not phone else [False]
                for wall_mode in wall_modes:
                    page.goto(f"{wall.url}/{PAGES['queue']}")
                    expect(page.locator("#cases tr").first).to_be_visible()
                    if (page.get_attribute("#wall-mode", "aria-pressed") == "true") != wall_mode:
                        page.click("#wall-mode")
                    shoot(tab, f"queue{'-wall' if wall_mode else ''}-{size}-{lang}", width)
                for name, hash_ in PAGES.items():
                    if name == "queue":
                        continue
                    page.goto(f"{wall.url}/{hash_}")
                    ready = {
                        "plan": "svg.plan",
                        "device": ".charts figure[data-drawn]",
                        "kpis": "#kpi-trends figure[data-drawn]",
                        "public": ".view-public .tiles",
                    }[name]
                    expect(page.locator(ready).first).to_be_visible()
                    shoot(tab, f"{name}-{size}-{lang}", width)
                page.goto(f"{wall.url}/#/queue")
                if page.get_attribute("#wall-mode", "aria-pressed") == "true":
                    page.click("#wall-mode")


def shoot(tab: Tab, name: str, width: int) -> None:
    overflow = tab.page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"{name}: {overflow}px wide on a {width}px screen"
    tab.page.evaluate("window.scrollTo(0, 0)")
    tab.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
