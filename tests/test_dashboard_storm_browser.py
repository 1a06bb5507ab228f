"""A storm as the duty officer sees it, through the real hub, broker and Chromium: eight detectors of one
grid reporting a flat battery make one case in the queue, titled with the count, whose history says
why, in English and in Chinese."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from device_simulators.site import SiteSpec
from tests.support.browser import NEEDS_CHROMIUM, PHONE, open_tab
from tests.support.dashboard_site import PASSWORD, LiveSite
from tests.support.processes import poll

pytestmark = NEEDS_CHROMIUM

C = "storm-a"
SITE = SiteSpec.model_validate(
    {
        "street_office": "storm-office",
        "communities": [
            {
                "id": C,
                "name": "Storm Gardens",
                "grids": [{"id": "g1", "buildings": [{"id": b, "smoke_detectors": 4} for b in ("b1", "b2")]}],
            }
        ],
    }
)
USERS: dict[str, tuple[str, list[str]]] = {"storm-operator": ("operator", [])}
DETECTORS = [f"{C}-{b}-sd{n:02d}" for b in ("b1", "b2") for n in range(1, 5)]


@pytest.fixture(scope="module")
def storm(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveSite, int]]:
    """The hub with eight flat batteries in grid g1, and the storm case they made."""
    with LiveSite.running(database_url, tmp_path_factory.mktemp("storm"), SITE, USERS) as site:
        for d in DETECTORS:
            site.publish(d, battery_pct=9)

        def storm_case() -> list[tuple[object, ...]]:
            return site.query(
                "SELECT c.id FROM cases c WHERE c.community_id = %s AND c.subject LIKE 'storm:%%' "
                "AND (SELECT count(*) FROM case_alerts ca WHERE ca.case_id = c.id) = %s",
                C,
                len(DETECTORS),
            )

        found = poll(storm_case, timeout=15)
        assert found, site.hub.log()
        yield site, int(str(found[0][0]))


def test_the_queue_shows_one_line_with_a_count_and_the_case_says_why(
    browser: Browser, storm: tuple[LiveSite, int]
) -> None:
    site, case_id = storm
    with open_tab(
        browser, site.url, PASSWORD, viewport={"width": 1366, "height": 900}, locale="en-GB"
    ) as tab:
        page = tab.login("storm-operator")
        row = page.locator(f'#cases tr[data-case-id="{case_id}"]')
        expect(row.locator("td.title")).to_contain_text(
            f"8 smoke detectors of grid g1 of {C}: Smoke detector battery below 20 %"
        )
        open_here = site.query(
            "SELECT count(*) FROM cases WHERE community_id = %s AND status NOT IN ('closed', 'cancelled')", C
        )
        assert open_here == [(1,)], "one line in the queue for the eight devices"
        row.locator("td.id a").click()
        view = page.locator(f'.view-case[data-case-id="{case_id}"]')
        members = view.locator("#members tbody tr")
        expect(members).to_have_count(len(DETECTORS))
        expect(members.first).to_have_attribute("data-status", "open")
        expect(view.locator("#members-summary")).to_have_text("8 still alerting, 0 back to normal")
        history = view.locator(".history")
        expect(history).to_contain_text("Opened as a storm: more new cases of rule smoke-battery-low here")
        expect(history).to_contain_text("alerts joined the storm")
        expect(history).not_to_contain_text("hist.")
        tab.shot("storm-case-en")

        page.click("#locale")
        expect(view.locator("h2")).to_contain_text(f"{C} g1 网格 8 个烟感：烟感电量低于 20%")
        expect(history).to_contain_text("作为告警风暴开启")
        expect(history).to_contain_text("条告警并入告警风暴")
        expect(view.locator("#members-summary")).to_have_text("8 台仍在告警，0 台已恢复")
        for english in ("Opened", "storm", "joined"):
            expect(history).not_to_contain_text(english)
        tab.shot("storm-case-zh")


def test_the_storm_case_on_a_phone(browser: Browser, storm: tuple[LiveSite, int]) -> None:
    site, case_id = storm
    with open_tab(browser, site.url, PASSWORD, locale="zh-CN", **PHONE) as tab:
        page = tab.login("storm-operator", f"#/case/{case_id}")
        expect(page.locator(f'.view-case[data-case-id="{case_id}"] .history')).to_contain_text(
            "作为告警风暴开启"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        tab.shot("storm-case-phone-zh")
