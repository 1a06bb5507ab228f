"""The case page's calls on departments, in headless Chromium against a real hub process, broker and
database, everything set up over HTTP as an admin, the street office and the departments' systems do it:
the street office calls on two departments from the page, one of them accepts; the page shows both with their state and the
answer, the history says who called and who answered, and the closure checklist waits for both — in
English and in Chinese; the community's public page evaluates the department that worked its cases."""

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect

from hub.store.users import upsert_user
from tests.support.browser import NEEDS_CHROMIUM, open_tab
from tests.support.factories import community
from tests.support.processes import HubProcess, running_hub

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

PW = "calls-pw"
API = "/api/v1"


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(database_url, tmp_path_factory.mktemp("calls")) as process:
        yield process


def test_the_case_page_shows_two_calls_open_one_answered(
    browser: Browser, hub: HubProcess, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    admin, operator = f"kb-admin-{tag}", f"kb-op-{tag}"
    water, power = f"kb-water-{tag}", f"kb-power-{tag}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        where = community(conn, "kb")
        upsert_user(conn, admin, PW, "admin")
        upsert_user(conn, operator, PW, "operator")
        for org in (water, power):
            upsert_user(conn, f"{org}-bot", PW, "integration")
    with httpx.Client(base_url=hub.url, timeout=10) as http:
        as_admin = hub.login(admin, PW)
        for org, en, zh in ((water, "City Water", "城市水务"), (power, "Grid Power", "电网公司")):
            body = {"id": org, "kind": "utility", "name_en": en, "name_zh": zh, "communities": [where]}
            assert http.post(f"{API}/organisations", json=body, headers=as_admin).status_code == 201
            bound = http.put(f"{API}/organisations/{org}/accounts/{org}-bot", headers=as_admin)
            assert bound.status_code == 200, bound.text
        team = {"id": f"{water}-crew", "name_en": "Water crew", "name_zh": "水务班组", "communities": [where]}
        assert http.post(f"{API}/teams", json=team, headers=as_admin).status_code == 201
        assert (
            http.put(f"{API}/organisations/{water}/teams/{water}-crew", headers=as_admin).status_code == 200
        )
        as_operator = hub.login(operator, PW)
        for n in range(3):
            leak = {"community": where, "category": "flood", "description": f"leak {n}", "building": "b2"}
            own = http.post(f"{API}/cases", json=leak, headers=as_operator).json()
            to_water = {"action": "assign", "team": f"{water}-crew"}
            assert (
                http.post(f"{API}/cases/{own['id']}/actions", json=to_water, headers=as_operator).status_code
                == 200
            )
        report = {
            "community": where,
            "category": "flood",
            "description": "underpass flooded",
            "building": "b1",
        }
        case = http.post(f"{API}/cases", json=report, headers=as_operator).json()
        acknowledged = http.post(
            f"{API}/cases/{case['id']}/actions", json={"action": "acknowledge"}, headers=as_operator
        )
        assert acknowledged.status_code == 200

    with open_tab(browser, hub.url, PW, viewport={"width": 1366, "height": 900}, locale="en-GB") as tab:
        page = tab.login(operator, f"#/case/{case['id']}")
        panel = page.locator('[data-panel="calls"]')
        expect(panel.locator("li.call")).to_have_count(0)
        panel.locator('button[data-action="call"]').click()
        panel.get_by_label("City Water").check()
        panel.get_by_label("Grid Power").check()
        panel.locator("textarea[name=request]").fill("pump the underpass, cut the lights")
        panel.locator("select[name=respond_within]").select_option("2wd")
        panel.locator('button[data-confirm="call"]').click()
        expect(panel.locator("li.call")).to_have_count(2)
        expect(panel.locator('li.call[data-state="open"]')).to_have_count(2)
        with httpx.Client(base_url=hub.url, timeout=10) as http:
            calls = http.get(f"{API}/cases/{case['id']}", headers=hub.login(operator, PW)).json()["calls"]
            water_call = next(c["id"] for c in calls if c["organisation"] == water)
            answered = http.post(
                f"{API}/cases/{case['id']}/calls/{water_call}/answer",
                json={"answer": "accept", "note": "pump truck on its way"},
                headers=hub.login(f"{water}-bot", PW) | {"Idempotency-Key": tag},
            )
            assert answered.status_code == 200, answered.text
        page.reload()
        expect(panel.locator("li.call")).to_have_count(2)
        accepted = panel.locator(f'li[data-organisation="{water}"]')
        expect(accepted).to_have_attribute("data-state", "accepted")
        expect(accepted).to_contain_text("City Water")
        expect(accepted).to_contain_text("accepted")
        expect(accepted).to_contain_text("pump truck on its way")
        still = panel.locator(f'li[data-organisation="{power}"]')
        expect(still).to_have_attribute("data-state", "open")
        expect(still).to_contain_text("Grid Power")
        expect(still).to_contain_text("not answered")
        expect(still).to_contain_text("pump the underpass, cut the lights")
        history = page.locator(".history")
        expect(history).to_contain_text(f"{operator} called on Grid Power for a joint response")
        expect(history).to_contain_text(f"{water}-bot accepted the call for City Water")
        item = page.locator('.closure li[data-code="calls"]')
        expect(item).to_have_attribute("data-state", "missing")
        expect(item).to_contain_text("City Water")
        expect(item).to_contain_text("Grid Power")
        tab.shot("case-calls")

    with open_tab(browser, hub.url, PW, viewport={"width": 390, "height": 844}, locale="zh-CN") as tab:
        page = tab.login(operator, f"#/case/{case['id']}")
        panel = page.locator('[data-panel="calls"]')
        expect(panel).to_contain_text("街道召集的部门")
        expect(panel.locator(f'li[data-organisation="{water}"]')).to_contain_text("城市水务")
        expect(panel.locator(f'li[data-organisation="{water}"]')).to_contain_text("已接受")
        expect(panel.locator(f'li[data-organisation="{power}"]')).to_contain_text("未响应")
        expect(page.locator(".history")).to_contain_text("代表 城市水务 接受了召集")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            "no sideways scroll"
        )
        tab.shot("case-calls-zh-phone")
        page.goto(f"{hub.url}/#/public/{where}")
        row = page.locator(f'[data-panel="organisations"] tr[data-organisation="{water}"]')
        expect(page.locator('[data-panel="organisations"]')).to_contain_text("按责任部门或单位")
        expect(row).to_contain_text("城市水务")
        expect(row.locator("td").nth(1)).to_have_text("3")
        tab.shot("public-organisations-zh-phone")
