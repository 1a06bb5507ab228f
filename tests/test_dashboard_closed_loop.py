"""The dashboard's KPI page, public community page and closed-loop case actions in headless Chromium
against a real hub process, broker and database: the KPI charts show what `/kpis` answers for a seeded set
of cases, the public page opens without a token, suspend/resume, extend, merge/split, evidence and
silences are done by clicking and then read back from the database (evidence as a photo and as a note
alone), and an alert frozen because its device went silent shows a "no data" badge on the case page and
the device page.

Screenshots of the new pages go to test-output/screenshots/.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from device_simulators.site import load as load_site
from hub.store import devices as device_store
from tests.support.browser import NEEDS_CHROMIUM, PHONE, Tab, open_tab, switch_user
from tests.support.dashboard_seed import Api, backdate, seed_kpi_cases
from tests.support.dashboard_site import PASSWORD, LiveSite
from tests.support.images import png
from tests.support.processes import poll
from tests.support.services import ROOT

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

L, M = "loop-a", "loop-b"  # communities with devices
K, P = "loop-kpi", "loop-public"  # communities with seeded cases only
NO_DATA_AFTER_S = 3
USERS = {
    "loop-admin": ("admin", []),
    "loop-operator": ("operator", []),
    "loop-operator2": ("operator", []),
    "loop-manager": ("manager", [L]),
    "loop-resident": ("resident", [L]),
}


SITE = load_site(ROOT / "tests" / "data" / "site-closed-loop.yaml")


class Hub(LiveSite):
    def api(self, user: str) -> Api:
        return Api(self.url, self.hub.login(user, PASSWORD))

    def one(self, sql: str, *params: object) -> Any:
        rows = self.query(sql, *params)
        assert len(rows) == 1, rows
        return rows[0][0]

    def alarm_case(self, device: str) -> int:
        self.publish(device, alarm=True, smoke_obscuration_pct_per_m=4.5)
        found = poll(
            lambda: self.query(
                "SELECT id FROM cases WHERE device_id = %s AND status NOT IN ('closed', 'cancelled') "
                "ORDER BY id DESC LIMIT 1",
                device,
            ),
            timeout=10,
        )
        assert found, f"no case for {device}; hub log:\n{self.hub.log()}"
        return int(found[0][0])

    def wait(self, sql: str, *params: object, timeout: float = 5) -> None:
        """Until the query's first value is truthy."""
        assert poll(lambda: (rows := self.query(sql, *params)) and rows[0][0], timeout=timeout), (
            f"never true: {sql} {params}"
        )


@pytest.fixture(scope="module")
def loop(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for the module with a short no-data window, so a silent device freezes its alert within
    seconds; two communities with devices and two with seeded cases only."""
    with Hub.running(
        database_url,
        tmp_path_factory.mktemp("loop"),
        SITE,
        USERS,
        HUB_NO_DATA_AFTER_S=str(NO_DATA_AFTER_S),
    ) as loop:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE communities SET name = 'Loop Gardens' WHERE id = %s", (L,))
            device_store.ensure_community(conn, K, "Loop KPI Court")
            device_store.ensure_community(conn, P, "Loop Public Park")
        yield loop


@pytest.fixture
def tab(browser: Browser, loop: Hub) -> Iterator[Tab]:
    viewport = {"width": 1280, "height": 900}
    with open_tab(browser, loop.url, PASSWORD, viewport=viewport, locale="en-GB", accept_downloads=True) as t:
        yield t


def percent(v: float) -> str:
    """How the page writes a rate in en-GB: one decimal at most, no trailing zero."""
    return f"{round(v * 100, 1):g} %"


def bars(page: Page, chart: str) -> dict[str, tuple[str, str]]:
    """key → (data-value, shown text) of a bar chart's rows."""
    rows = page.eval_on_selector_all(
        f'figure[data-chart="{chart}"] g.chart-bar-row',
        "rows => rows.map(r => [r.dataset.key, r.dataset.value, r.querySelector('.chart-bar-value').textContent])",
    )
    return {key: (value, text) for key, value, text in rows}


# -- KPIs ---------------------------------------------------------------------------------------------------


def test_the_kpi_page_charts_what_the_api_counts_for_seeded_cases(tab: Tab, loop: Hub) -> None:
    seeded = seed_kpi_cases(loop.api("loop-operator"), K)
    page = tab.login("loop-admin", "#/kpis")
    expect(page.locator('#nav a[data-nav="kpis"]')).to_have_class("active")
    view = page.locator("#kpis")
    page.select_option('#kpis select[name="community"]', K)
    expect(view).to_have_attribute("data-community", K)
    expect(view.locator('figure[data-chart="team"] g.chart-bar-row')).to_have_count(len(seeded.by_team))

    admin = loop.api("loop-admin")
    period = {
        "from": str(view.get_attribute("data-from")),
        "to": str(view.get_attribute("data-to")),
        "community": K,
    }
    answers = {by: admin.get("/kpis", **period, group_by=by) for by in ("team", "category", "grid")}
    expected = {"team": seeded.by_team, "category": seeded.by_category, "grid": seeded.by_grid}
    for by, answer in answers.items():
        assert {g["key"]: g["opened"] for g in answer["groups"]} == expected[by], "the API counts the seed"
        assert bars(page, by) == {g["key"]: (str(g["opened"]), str(g["opened"])) for g in answer["groups"]}
    totals = answers["team"]["totals"]
    assert totals["opened"] == 6 and totals["emergencies"] == 1 and totals["closed"] == 2
    assert totals["rework_rate"] == pytest.approx(1 / 3)

    # Every rate the API sends is drawn as a percentage, whatever its name.
    rate_keys = [k for k in totals if k.endswith("_rate")]
    assert rate_keys and set(bars(page, "rates")) == set(rate_keys)
    for key, (_, text) in bars(page, "rates").items():
        assert text == ("–" if totals[key] is None else percent(totals[key])), key
    assert bars(page, "rates")["rework_rate"][1] == "33.3 %"
    table = view.locator("#kpi-totals")
    expect(table.locator("tbody tr")).to_have_count(len([k for k in totals if k != "key"]))
    expect(table.locator('tr[data-kpi="opened"] td.total')).to_have_text("6")
    expect(table.locator('tr[data-kpi="opened"] td.emergency')).to_have_text("1")
    expect(table.locator('tr[data-kpi="rework_rate"] td.total')).to_have_text("33.3 %")
    tab.shot("kpis")

    page.select_option('#kpis select[name="measure"]', "rework_rate")
    expect(view.locator('figure[data-chart="category"]')).to_have_attribute("data-measure", "rework_rate")
    for by, answer in answers.items():
        assert bars(page, by) == {
            g["key"]: (
                "" if g["rework_rate"] is None else repr(float(g["rework_rate"])).removesuffix(".0"),
                "–" if g["rework_rate"] is None else percent(g["rework_rate"]),
            )
            for g in answer["groups"]
        }
    assert bars(page, "category")["lighting"][1] == "100 %"

    # A rate the hub adds later (extension_rate, response_rate …) is formatted by its name alone.
    formatted = page.evaluate(
        """async () => {
            const k = await import("/static/js/kpi.js");
            return [k.formatKpi("extension_rate", 0.25), k.formatKpi("some_new_rate", 0.5),
                    k.formatKpi("some_new_rate", null), k.kpiLabel("some_new_rate"), k.kpiLabel("extension_rate")];
        }"""
    )
    assert formatted == ["25 %", "50 %", "–", "Some new rate", "Extension rate"]

    # The monthly report: the CSV the API gives, and the printable page in a new tab.
    month = str(view.get_attribute("data-month"))
    with page.expect_download() as download:
        page.click("#kpi-csv")
    csv_path = Path(download.value.path())
    api_csv = httpx.get(
        f"{loop.url}/api/v1/kpis/report.csv", params={"month": month, "community": K}, headers=admin.headers
    )
    assert csv_path.read_bytes() == api_csv.content
    assert download.value.suggested_filename == f"kpis-{K}-{month}.csv"
    with page.expect_popup() as popup:
        page.click("#kpi-print")
    report = popup.value
    expect(report.locator("h1")).to_contain_text(f"Case KPIs – Loop KPI Court – {month}")
    report.close()

    # Another period: last month has none of the seeded cases.
    page.select_option('#kpis select[name="period"]', "last_month")
    expect(view.locator(".no-cases")).to_contain_text("No case was created")
    expect(view.locator('#kpi-totals tr[data-kpi="opened"] td.total')).to_have_text("0")
    # A custom range over today holds them all again.
    page.select_option('#kpis select[name="period"]', "custom")
    today = page.evaluate("(() => { const d = new Date(); return d.toLocaleDateString('sv-SE'); })()")
    for field in ("from", "to"):
        page.fill(f'#kpis input[name="{field}"]', today)
        page.locator(f'#kpis input[name="{field}"]').dispatch_event("change")
    expect(view.locator('#kpi-totals tr[data-kpi="opened"] td.total')).to_have_text("6")


def test_a_manager_reads_kpis_of_their_communities_only(tab: Tab, loop: Hub) -> None:
    page = tab.login("loop-manager", "#/kpis")
    options = page.locator('#kpis select[name="community"] option')
    expect(options).to_have_count(2)
    assert [o.get_attribute("value") for o in options.all()] == ["", L]
    expect(page.locator('#kpis figure[data-chart="rates"]')).to_be_visible()
    manager = loop.api("loop-manager")
    r = httpx.get(f"{loop.url}/api/v1/kpis", params={"community": K}, headers=manager.headers)
    assert r.status_code == 404
    page.goto(f"{loop.url}/#/queue")
    expect(page.locator("#queue")).to_be_visible()
    page.click("#logout")
    tab.login("loop-resident", "#/kpis")
    expect(page.locator("#kpis")).to_have_count(0)
    assert [a.get_attribute("data-nav") for a in page.locator("#nav a").all()] == ["mine", "report"]


def test_the_kpi_page_fits_a_phone_in_chinese(browser: Browser, loop: Hub) -> None:
    with open_tab(browser, loop.url, PASSWORD, **PHONE) as tab:
        page = tab.login("loop-operator", "#/kpis")
        page.click("#locale")
        expect(page.locator('#nav a[data-nav="kpis"]')).to_have_text("绩效指标")
        expect(page.locator("#kpis h2")).to_have_text("工单绩效指标")
        expect(page.locator('#kpis figure[data-chart="rates"] figcaption')).to_have_text(
            "各项比率（全部工单）"
        )
        expect(page.locator('#kpi-totals tr[data-kpi="closure_rate"] th')).to_have_text("结案率")
        with page.expect_popup() as popup:
            page.click("#kpi-print")  # the browser asks for English: the page follows the dashboard
        expect(popup.value.locator("h1")).to_contain_text("工单绩效指标 – 您权限内的全部社区")
        popup.value.close()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the KPI page overflows a phone screen ({width}px)"
        tab.shot("phone-kpis-zh")
        page.click("#locale")


# -- the public page ----------------------------------------------------------------------------------------


def test_the_public_page_opens_without_a_token_on_a_phone(browser: Browser, loop: Hub) -> None:
    op = loop.api("loop-operator")
    ids = [op.report(P, "noise", "g1", f"public seed {i}") for i in range(4)]
    ids.append(op.report(P, "lighting", "g1", "public seed lamp"))
    for case_id in ids[:3]:
        op.act(case_id, {"action": "acknowledge"})
    backdate(loop.database_url, ids, timedelta(days=2))
    summary = httpx.get(f"{loop.url}/api/v1/public/communities/{P}/summary").json()
    assert summary["cases"] == 5 and summary["by_category"] == {"noise": 4, "other": "<3"}

    sent: list[Request] = []
    with open_tab(browser, loop.url, PASSWORD, **PHONE, locale="en-GB") as tab:
        tab.page.on("request", lambda r: sent.append(r) if "/api/v1/" in r.url else None)
        page = tab.page
        page.goto(f"{loop.url}/")
        expect(page.locator("#login")).to_be_visible()
        entry = page.locator("#public-entry")
        entry.locator('input[name="community"]').fill(P)
        entry.locator('button[type="submit"]').click()
        view = page.locator(f'.view-public[data-community="{P}"]')
        expect(view).to_be_visible()
        expect(view.locator("h2")).to_contain_text("Loop Public Park")
        expect(view.locator('[data-figure="cases"] dd')).to_have_text("5")
        expect(view.locator('[data-figure="median_minutes_to_acknowledge"] dd')).to_have_text(
            f"{summary['median_minutes_to_acknowledge']:g} min"
        )
        assert bars(page, "category") == {"noise": ("4", "4"), "other": ("", "<3")}
        assert page.evaluate("sessionStorage.getItem('hub.session')") is None
        assert sent and all("authorization" not in r.headers for r in sent)
        assert all("/public/" in r.url for r in sent), [r.url for r in sent]
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the public page overflows a phone screen ({width}px)"
        tab.shot("phone-public-summary")
        page.click("#locale")
        expect(view.locator("h2")).to_contain_text("问题处理情况")
        expect(page.locator(".view-public h2")).to_be_visible()
        tab.shot("phone-public-summary-zh")
        page.click("#locale")
        page.goto(f"{loop.url}/#/public/no-such-place")
        expect(page.locator(".view-public .notice-error")).to_contain_text("no-such-place")
        page.click("#login-link")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator(f'#public-entry a[href="#/public/{P}"]')).to_be_visible()  # remembered


# -- closed-loop actions ------------------------------------------------------------------------------------


def loop_button(page: Page, name: str) -> Any:
    return page.locator(f'.view-case .loop-actions button[data-loop="{name}"]')


def shown_loop_buttons(page: Page) -> list[str]:
    page.locator(".view-case .loop-actions").wait_for()
    return [str(b.get_attribute("data-loop")) for b in page.locator(".view-case .loop-actions button").all()]


def test_suspend_and_resume_with_a_second_persons_approval(tab: Tab, loop: Hub) -> None:
    case_id = loop.api("loop-operator").report(L, "noise", "g1", "Generator hum at night")
    page = tab.login("loop-operator", f"#/case/{case_id}")
    expect(page.locator(f'.view-case[data-case-id="{case_id}"]')).to_be_visible()
    assert shown_loop_buttons(page) == ["suspend", "extend", "evidence", "merge"]
    loop_button(page, "suspend").click()
    page.fill('.view-case form[data-form="suspend"] input[name="reason"]', "waiting for the landlord")
    page.click('.view-case button[data-confirm="suspend"]')
    expect(page.locator(".view-case .loop-pending-suspension")).to_contain_text("waiting for the landlord")
    expect(page.locator(".view-case .badge.no-data")).to_have_count(0)  # no alert, so nothing frozen
    assert loop.query(
        "SELECT kind, requested_by, decision FROM case_requests WHERE case_id = %s", case_id
    ) == [("suspension", "loop-operator", None)]
    assert loop.one("SELECT suspended_at FROM cases WHERE id = %s", case_id) is None
    # The asker may not approve their own request.
    expect(loop_button(page, "approve_suspension")).to_have_count(0)
    expect(loop_button(page, "decline_suspension")).to_be_visible()

    page = switch_user(tab, "loop-operator2", f"#/case/{case_id}")
    loop_button(page, "approve_suspension").click()
    expect(page.locator(".view-case .loop-suspended")).to_contain_text("waiting for the landlord")
    assert loop.one("SELECT suspended_at IS NOT NULL FROM cases WHERE id = %s", case_id)
    assert loop.one("SELECT decided_by FROM case_requests WHERE case_id = %s", case_id) == "loop-operator2"
    # Suspended: no status action but cancel (calling on departments changes no status and stays), and
    # resume instead of suspend.
    actions = [
        b.get_attribute("data-action") for b in page.locator(".view-case .actions button[data-action]").all()
    ]
    assert actions == ["cancel", "call"]
    assert "resume" in shown_loop_buttons(page) and "suspend" not in shown_loop_buttons(page)
    expect(page.locator(".view-case .case-head .hold-suspended")).to_be_visible()
    tab.shot("case-suspended")

    loop_button(page, "resume").click()
    expect(page.locator(".view-case .loop-suspended")).to_have_count(0)
    assert loop.one("SELECT suspended_at FROM cases WHERE id = %s", case_id) is None
    assert loop.query(
        "SELECT action FROM case_events WHERE case_id = %s AND action IN "
        "('suspension_requested', 'suspended', 'resumed') ORDER BY id",
        case_id,
    ) == [("suspension_requested",), ("suspended",), ("resumed",)]
    expect(page.locator(".view-case .history")).to_contain_text("resumed")


def test_extend_a_deadline_with_approval(tab: Tab, loop: Hub) -> None:
    case_id = loop.api("loop-operator").report(L, "safety", "g1", "Loose railing on the footbridge")
    before = loop.one("SELECT resolve_due_at FROM cases WHERE id = %s", case_id)
    page = tab.login("loop-operator", f"#/case/{case_id}")
    loop_button(page, "extend").click()
    form = page.locator('.view-case form[data-form="extend"]')
    form.locator('select[name="extend_by"]').select_option("2h")
    form.locator('input[name="reason"]').fill("parts arrive tomorrow")
    page.click('.view-case button[data-confirm="extend"]')
    expect(page.locator(".view-case .loop-pending-extension")).to_contain_text("parts arrive tomorrow")
    assert loop.query("SELECT kind, extend_by, decision FROM case_requests WHERE case_id = %s", case_id) == [
        ("extension", "2h", None)
    ]
    assert loop.one("SELECT resolve_due_at FROM cases WHERE id = %s", case_id) == before
    expect(loop_button(page, "extend")).to_have_count(0)  # one request at a time

    page = switch_user(tab, "loop-operator2", f"#/case/{case_id}")
    loop_button(page, "approve_extension").click()
    expect(page.locator(".view-case .loop-pending-extension")).to_have_count(0)
    assert loop.one("SELECT resolve_due_at FROM cases WHERE id = %s", case_id) == before + timedelta(hours=2)
    assert loop.one("SELECT decision FROM case_requests WHERE case_id = %s", case_id) == "approved"
    expect(page.locator(".view-case .history")).to_contain_text(
        "loop-operator2 approved extending the resolution deadline"
    )


def test_merge_and_split_by_clicking(tab: Tab, loop: Hub) -> None:
    op = loop.api("loop-operator")
    survivor = op.report(L, "infrastructure", "g1", "Broken paving near b1")
    merged = op.report(L, "infrastructure", "g1", "Trip hazard by building 1")
    op.act(merged, {"action": "acknowledge"})
    page = tab.login("loop-operator", f"#/case/{merged}")
    loop_button(page, "merge").click()
    page.fill('.view-case form[data-form="merge"] input[name="into"]', str(survivor))
    page.fill('.view-case form[data-form="merge"] input[name="note"]', "same hole")
    page.click('.view-case button[data-confirm="merge"]')
    expect(page.locator(f'.view-case[data-case-id="{merged}"][data-status="cancelled"]')).to_be_visible()
    expect(page.locator('.view-case .ended[data-move="merge"]')).to_contain_text(
        f"Merged into case #{survivor}"
    )
    assert loop.query(
        "SELECT surviving_case_id, split_at FROM case_merges WHERE merged_case_id = %s", merged
    ) == [(survivor, None)]
    assert loop.one("SELECT cancel_reason FROM cases WHERE id = %s", merged) == f"merged into #{survivor}"
    assert shown_loop_buttons(page) == ["split"]
    tab.shot("case-merged")

    page.click(f".view-case .ended a[href='#/case/{survivor}']")
    row = page.locator(
        f'.view-case[data-case-id="{survivor}"] li.loop-merged-in[data-merged-case="{merged}"]'
    )
    expect(row).to_be_visible()
    expect(loop_button(page, "merge")).to_have_count(0)  # cases were merged into it
    page.goto(f"{loop.url}/#/case/{merged}")
    loop_button(page, "split").click()
    page.click('.view-case button[data-confirm="split"]')
    expect(page.locator(f'.view-case[data-case-id="{merged}"][data-status="acknowledged"]')).to_be_visible()
    assert loop.one("SELECT split_at IS NOT NULL FROM case_merges WHERE merged_case_id = %s", merged)
    assert loop.one("SELECT status FROM cases WHERE id = %s", merged) == "acknowledged"


def test_evidence_before_resolve_and_what_each_role_is_offered(tab: Tab, loop: Hub, tmp_path: Path) -> None:
    case_id = loop.api("loop-operator").report(L, "lighting", "g1", "Lamp out by the gate")
    loop.api("loop-operator").act(case_id, {"action": "acknowledge"}, {"action": "start"})
    photo = tmp_path / "fixed.png"
    photo.write_bytes(png())
    page = tab.login("loop-manager", f"#/case/{case_id}")
    # A manager handles cases but neither merges, decides on requests, confirms on site nor silences.
    assert shown_loop_buttons(page) == ["suspend", "extend", "evidence"]
    expect(page.locator('.view-case [data-loop="silence"]')).to_have_count(0)
    loop_button(page, "evidence").click()
    form = page.locator('.view-case form[data-form="evidence"]')
    form.locator('input[name="photo"]').set_input_files(str(photo))
    form.locator('input[name="note"]').fill("new lamp fitted")
    page.click('.view-case button[data-confirm="evidence"]')
    expect(page.locator(".view-case img.photo")).to_have_count(1)
    assert loop.query("SELECT purpose, length(data) FROM case_attachments WHERE case_id = %s", case_id) == [
        ("evidence", len(png()))
    ]
    assert (
        loop.one("SELECT note FROM case_events WHERE case_id = %s AND action = 'evidence_added'", case_id)
        == "new lamp fitted"
    )

    # A note alone is evidence too; with neither photo nor note the form asks for the note.
    loop_button(page, "evidence").click()
    form = page.locator('.view-case form[data-form="evidence"]')
    page.click('.view-case button[data-confirm="evidence"]')
    assert form.locator('input[name="note"]').evaluate("e => e.validity.valueMissing")
    expect(form).to_be_visible()
    form.locator('input[name="note"]').fill("  cleaned the lamp glass too  ")
    page.click('.view-case button[data-confirm="evidence"]')
    expect(page.locator(".view-case .history")).to_contain_text("cleaned the lamp glass too")
    assert loop.query(
        "SELECT note, detail->>'kind' FROM case_events WHERE case_id = %s AND action = 'evidence_added' "
        "ORDER BY id",
        case_id,
    ) == [("new lamp fitted", "photo"), ("cleaned the lamp glass too", "note")]
    assert loop.one("SELECT count(*) FROM case_attachments WHERE case_id = %s", case_id) == 1
    expect(page.locator(".view-case img.photo")).to_have_count(1)

    page = switch_user(tab, "loop-admin", f"#/case/{case_id}")
    assert shown_loop_buttons(page) == ["suspend", "extend", "confirm_on_site", "evidence", "merge"]
    loop_button(page, "confirm_on_site").click()
    loop.wait("SELECT count(*) FROM case_events WHERE case_id = %s AND action = 'confirmed_on_site'", case_id)

    page.click("#logout")
    tab.login("loop-resident")
    page.goto(f"{loop.url}/#/case/{case_id}")
    expect(page.locator(".view-case .not-found")).to_be_visible()  # an operator's case is not a resident's


def test_silence_a_device_from_the_case_and_a_rule_from_the_device_page(tab: Tab, loop: Hub) -> None:
    device = f"{L}-b1-sd02"
    case_id = loop.alarm_case(device)
    page = tab.login("loop-operator", f"#/case/{case_id}")
    panel = page.locator('.view-case [data-panel="silences"]')
    expect(panel).to_contain_text("Nothing is silenced")
    panel.locator('button[data-loop="silence"]').click()
    form = panel.locator('form[data-form="silence"]')
    form.locator('select[name="target"]').select_option("device")
    form.locator('select[name="duration"]').select_option("1h")
    form.locator('input[name="reason"]').fill("detector being replaced")
    started = datetime.now(UTC)
    panel.locator('button[data-confirm="silence"]').click()
    expect(panel.locator("li[data-silence-id]")).to_have_count(1)
    rows = loop.query(
        "SELECT id, rule_id, device_id, community_id, ends_at, reason, created_by FROM silences "
        "WHERE device_id = %s",
        device,
    )
    assert len(rows) == 1
    silence_id, rule_id, device_id, community, ends_at, reason, by = rows[0]
    assert (rule_id, device_id, community, reason, by) == (
        None,
        device,
        L,
        "detector being replaced",
        "loop-operator",
    )
    assert abs((ends_at - started) - timedelta(hours=1)) < timedelta(seconds=30)
    tab.shot("case-silenced")

    panel.locator(f'button[data-end-silence="{silence_id}"]').click()
    expect(panel.locator("li[data-silence-id]")).to_have_count(0)
    assert loop.one("SELECT ends_at <= now() FROM silences WHERE id = %s", silence_id)

    page.goto(f"{loop.url}/#/device/{device}")
    device_panel = page.locator(f'.view-device[data-device-id="{device}"] [data-panel="silences"]')
    device_panel.locator('button[data-loop="silence"]').click()
    rule = loop.one(
        "SELECT DISTINCT rule_id FROM alerts WHERE device_id = %s AND status = 'open' LIMIT 1", device
    )
    device_panel.locator('select[name="target"]').select_option(f"rule:{rule}")
    device_panel.locator('input[name="reason"]').fill("smoke tests in the building")
    device_panel.locator('button[data-confirm="silence"]').click()
    expect(device_panel.locator("li[data-silence-id]")).to_have_count(1)
    rows = loop.query(
        "SELECT id, rule_id, device_id, community_id FROM silences WHERE reason = 'smoke tests in the building'"
    )
    assert [r[1:] for r in rows] == [(rule, None, L)]
    tab.shot("device-silenced")
    # End it, or the rule stays silent in the community for the other tests.
    device_panel.locator(f'button[data-end-silence="{rows[0][0]}"]').click()
    expect(device_panel.locator("li[data-silence-id]")).to_have_count(0)
    assert loop.one("SELECT ends_at <= now() FROM silences WHERE id = %s", rows[0][0])


def test_an_alert_frozen_by_a_silent_device_shows_a_no_data_badge(tab: Tab, loop: Hub) -> None:
    device = f"{L}-b1-sd05"
    case_id = loop.alarm_case(device)
    # The device says nothing more: after the no-data window its alert freezes instead of clearing.
    loop.wait(
        "SELECT count(*) FROM alerts a JOIN case_alerts ca ON ca.alert_id = a.id "
        "WHERE ca.case_id = %s AND a.status = 'open' AND a.data_state = 'no_data'",
        case_id,
        timeout=NO_DATA_AFTER_S + 10,
    )
    page = tab.login("loop-operator", f"#/case/{case_id}")
    view = page.locator(f'.view-case[data-case-id="{case_id}"]')
    expect(view.locator(".case-head .badge.no-data")).to_have_text("No data")
    expect(view.locator(".alert-card .badge.no-data")).to_be_visible()
    expect(view.locator(".loop-no-data")).to_contain_text("the device is silent")
    expect(view.locator(".history")).to_contain_text("No data for the alert")
    tab.shot("case-no-data")

    # The device page's alert list shows the same badge on the frozen alert (on its own device's page:
    # after the other tests the case may also hold an alert of another detector in the building).
    alert_id, frozen_device = loop.query(
        "SELECT a.id, a.device_id FROM alerts a JOIN case_alerts ca ON ca.alert_id = a.id "
        "WHERE ca.case_id = %s AND a.status = 'open' AND a.data_state = 'no_data' ORDER BY a.id LIMIT 1",
        case_id,
    )[0]
    frozen = loop.one(
        "SELECT count(*) FROM alerts WHERE device_id = %s AND status = 'open' AND data_state = 'no_data'",
        frozen_device,
    )
    page.goto(f"{loop.url}/#/device/{frozen_device}")
    view = page.locator(f'.view-device[data-device-id="{frozen_device}"]')
    item = view.locator(f'li[data-alert-id="{alert_id}"]')
    expect(item).to_have_attribute("data-data-state", "no_data")
    expect(item.locator(".badge.no-data")).to_have_text("No data")
    expect(view.locator("li[data-alert-id] .badge.no-data")).to_have_count(frozen)
    expect(view.locator('li[data-data-state="live"] .badge.no-data')).to_have_count(0)
    tab.shot("device-no-data")
