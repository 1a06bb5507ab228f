"""An organisation's member in the dashboard, in headless Chromium against a real hub process, broker and
database: an admin creates the drainage contractor's crew lead on the people page; the crew lead logs in,
lands on the contractor's queue, sees only its cases (another organisation's case is not listed and its
page says not found), acknowledges, starts, evidences and resolves one case — in English at laptop size
and in Chinese at phone size — and answers the street office's call on the contractor; and the KPI
page's table of the responsible organisations."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from hub.store.users import upsert_user
from tests.support.browser import NEEDS_CHROMIUM, PHONE, open_tab
from tests.support.factories import community
from tests.support.processes import HubProcess, running_hub

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

PW = "members-pw-2026"
API = "/api/v1"


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(database_url, tmp_path_factory.mktemp("members")) as process:
        yield process


def resolve_on_the_page(page: Page, case_id: int, note: str, evidence: str) -> None:
    """Open the case from the queue and take it from dispatched to resolved with the page's buttons."""
    page.locator(f'#cases tr[data-case-id="{case_id}"] td.id a').click()
    view = page.locator(f'section.view-case[data-case-id="{case_id}"]')
    expect(view).to_have_attribute("data-status", "dispatched")
    for forbidden in ("assign", "cancel", "close"):
        expect(view.locator(f'button[data-action="{forbidden}"]')).to_have_count(0)
    view.locator('button[data-action="acknowledge"]').click()
    expect(view).to_have_attribute("data-status", "acknowledged")
    page.locator(f'section.view-case[data-case-id="{case_id}"] button[data-action="start"]').click()
    expect(view).to_have_attribute("data-status", "in_progress")
    page.locator('button[data-loop="evidence"]').click()
    page.locator('form[data-form="evidence"] input[name="note"]').fill(evidence)
    page.locator('button[data-confirm="evidence"]').click()
    expect(page.locator(".history")).to_contain_text(evidence)
    page.locator('button[data-action="resolve"]').click()
    page.locator('form.action-form input[name="note"]').fill(note)
    page.locator('button[data-confirm="resolve"]').click()
    expect(view).to_have_attribute("data-status", "resolved")


def test_a_member_works_only_its_organisations_cases(
    browser: Browser, hub: HubProcess, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    admin, operator, lead = f"mb-admin-{tag}", f"mb-op-{tag}", f"mb-lead-{tag}"
    drainage, lighting = f"mb-drain-{tag}", f"mb-light-{tag}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        where = community(conn, "mb")
        upsert_user(conn, admin, PW, "admin")
        upsert_user(conn, operator, PW, "operator")
    cases: dict[str, Any] = {}
    with httpx.Client(base_url=hub.url, timeout=10) as http:
        as_admin = hub.login(admin, PW)
        for org, en, zh in (
            (drainage, "Clearwater Drainage", "清源排水"),
            (lighting, "Bright Lamps", "明亮路灯"),
        ):
            body = {"id": org, "kind": "contractor", "name_en": en, "name_zh": zh, "communities": [where]}
            assert http.post(f"{API}/organisations", json=body, headers=as_admin).status_code == 201
            team = {
                "id": f"{org}-crew",
                "name_en": f"{en} crew",
                "name_zh": f"{zh}班组",
                "communities": [where],
            }
            assert http.post(f"{API}/teams", json=team, headers=as_admin).status_code == 201
            bound = http.put(f"{API}/organisations/{org}/teams/{org}-crew", headers=as_admin)
            assert bound.status_code == 200, bound.text
        as_operator = hub.login(operator, PW)
        for name, org, text in (
            ("en", drainage, "manhole overflowing at gate 2"),
            ("zh", drainage, "3号楼雨水井堵塞"),
            ("foreign", lighting, "street lamp out by the pond"),
            ("called", lighting, "lamp post sinking by the drain"),
        ):
            report = {"community": where, "category": "flood", "description": text, "building": "b1"}
            case = http.post(f"{API}/cases", json=report, headers=as_operator).json()
            to_org = {"action": "assign", "team": f"{org}-crew"}
            r = http.post(f"{API}/cases/{case['id']}/actions", json=to_org, headers=as_operator)
            assert r.status_code == 200, r.text
            cases[name] = case["id"]
        call = {
            "organisations": [drainage],
            "request": "check the drain under the lamp",
            "respond_within": "4wh",
        }
        r = http.post(f"{API}/cases/{cases['called']}/calls", json=call, headers=as_operator)
        assert r.status_code == 201, r.text

    with open_tab(browser, hub.url, PW, viewport={"width": 1366, "height": 900}, locale="en-GB") as tab:
        page = tab.login(admin, "#/admin/users")
        page.locator('button:has-text("New user")').first.click()
        form = page.locator("#user-form")
        form.locator('input[name="username"]').fill(lead)
        form.locator('select[name="role"]').select_option("member")
        expect(form.locator(".member-organisation")).to_be_visible()
        form.locator('select[name="organisation"]').select_option(drainage)
        form.locator('select[name="mode"]').select_option("set")
        form.locator('input[name="password"]').fill(PW)
        form.locator('button[type="submit"]').click()
        expect(page.locator(".view-users .result")).to_contain_text(lead)
        page.locator('input[name="q"]').fill(lead)
        row = page.locator(f'tr[data-username="{lead}"]')
        expect(row).to_contain_text("Organisation member")
        expect(row).to_contain_text(f"Cases of {drainage}")
        tab.shot("member-created")

    with open_tab(browser, hub.url, PW, viewport={"width": 1366, "height": 900}, locale="en-GB") as tab:
        page = tab.login(lead)
        expect(page).to_have_url(f"{hub.url}/#/queue")
        expect(page.locator("#queue h2")).to_have_text("Cases of Clearwater Drainage")
        expect(page.locator("#nav a")).to_have_count(1)
        rows = page.locator("#cases tr")
        expect(rows).to_have_count(3)
        expect(page.locator(f'#cases tr[data-case-id="{cases["foreign"]}"]')).to_have_count(0)
        expect(page.locator(f'#cases tr[data-case-id="{cases["called"]}"]')).to_have_count(1)
        expect(page.locator("#claim-next")).to_have_count(0)
        tab.shot("member-queue-en")
        resolve_on_the_page(page, cases["en"], "pumped out and cleared the drain", "new cover fitted")
        history = page.locator(".history")
        expect(history).to_contain_text(f"{lead} resolved it")
        tab.shot("member-case-resolved-en")

        page.goto(f"{hub.url}/#/case/{cases['foreign']}")
        expect(page.locator(".not-found")).to_be_visible()
        page.goto(f"{hub.url}/#/case/{cases['called']}")
        view = page.locator(f'section.view-case[data-case-id="{cases["called"]}"]')
        expect(view.locator("button[data-action]")).to_have_count(0)
        calls = page.locator('[data-panel="calls"]')
        calls.locator('button[data-answer="accept"]').click()
        expect(calls.locator("li.call")).to_have_attribute("data-state", "accepted")
        calls.locator('button[data-answer="done"]').click()
        expect(calls.locator("li.call")).to_have_attribute("data-state", "done")
        expect(page.locator(".history")).to_contain_text(
            f"{lead} reported the call done for Clearwater Drainage"
        )
        tab.shot("member-call-answered-en")

    with open_tab(browser, hub.url, PW, locale="zh-CN", **PHONE) as tab:
        page = tab.login(lead)
        expect(page.locator("#queue h2")).to_have_text("清源排水的工单")
        resolve_on_the_page(page, cases["zh"], "已疏通雨水井", "已清理淤泥")
        expect(page.locator(".history")).to_contain_text("已疏通雨水井")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            "no sideways scroll"
        )
        tab.shot("member-case-resolved-zh-phone")
        page.goto(f"{hub.url}/#/queue")
        expect(page.locator("#cases tr")).to_have_count(1)
        page.locator("#queue select[aria-label]").first.select_option("all")
        expect(page.locator(f'#cases tr[data-case-id="{cases["zh"]}"]')).to_have_attribute(
            "data-status", "resolved"
        )
        tab.shot("member-queue-zh-phone")

    with httpx.Client(base_url=hub.url, timeout=10) as http:
        as_lead = hub.login(lead, PW)
        listed = {c["id"] for c in http.get(f"{API}/cases", params={"limit": 500}, headers=as_lead).json()}
        assert listed == {cases["en"], cases["zh"], cases["called"]}
        assert http.get(f"{API}/cases/{cases['foreign']}", headers=as_lead).status_code == 404


def test_the_kpi_page_has_the_organisations_table_in_both_languages(
    browser: Browser, hub: HubProcess, database_url: str
) -> None:
    """Three cases of a contractor's team, each acknowledged at once: its row says 3 cases and a response
    rate of 100 %, the rates nothing is due for yet say –, and its name is the reader's language's."""
    tag = uuid.uuid4().hex[:6]
    admin, org = f"mk-admin-{tag}", f"mk-drain-{tag}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        where = community(conn, "mk")
        upsert_user(conn, admin, PW, "admin")
    with httpx.Client(base_url=hub.url, timeout=10) as http:
        as_admin = hub.login(admin, PW)
        body = {
            "id": org,
            "kind": "contractor",
            "name_en": "Deepwell Drains",
            "name_zh": "深井排水",
            "communities": [where],
        }
        assert http.post(f"{API}/organisations", json=body, headers=as_admin).status_code == 201
        team = {
            "id": f"{org}-crew",
            "name_en": "Deepwell crew",
            "name_zh": "深井班组",
            "communities": [where],
        }
        assert http.post(f"{API}/teams", json=team, headers=as_admin).status_code == 201
        assert http.put(f"{API}/organisations/{org}/teams/{org}-crew", headers=as_admin).status_code == 200
        for n in range(3):
            report = {"community": where, "category": "flood", "description": f"drain {n}", "building": "b1"}
            case = http.post(f"{API}/cases", json=report, headers=as_admin).json()
            for step in ({"action": "assign", "team": f"{org}-crew"}, {"action": "acknowledge"}):
                r = http.post(f"{API}/cases/{case['id']}/actions", json=step, headers=as_admin)
                assert r.status_code == 200, r.text

    for locale, size, name, shot in (
        ("en-GB", {"viewport": {"width": 1366, "height": 900}}, "Deepwell Drains", "kpis-organisations-en"),
        ("zh-CN", PHONE, "深井排水", "kpis-organisations-zh-phone"),
    ):
        with open_tab(browser, hub.url, PW, locale=locale, **size) as tab:
            page = tab.login(admin, "#/kpis")
            page.locator('select[name="community"]').select_option(where)
            row = page.locator(f'#kpi-organisations tr[data-organisation="{org}"]')
            expect(row.locator("td.org-name")).to_have_text(name)
            expect(row.locator('td[data-kpi="cases"]')).to_have_text("3")
            expect(row.locator('td[data-kpi="response_rate"]')).to_have_text("100 %")
            expect(row.locator('td[data-kpi="resolution_rate"]')).to_have_text("–")
            expect(page.locator("#kpi-organisations tbody tr")).to_have_count(1)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                "no sideways scroll"
            )
            page.locator('[data-panel="organisations"]').scroll_into_view_if_needed()
            tab.shot(shot)
