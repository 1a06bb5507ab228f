"""The admin console in headless Chromium against a real hub process, broker and database, set up as
`scripts/run` sets up the demo (the demo site, then `scripts/demo-people`): the demo operator claims the
next case from the queue out of the box; an admin creates a user who logs in, joins a team and claims a
case; an account is disabled, enabled and given a new password from its page; a manager sees and changes
only their community's teams, users and settings (and the API refuses them the rest); an operator gets no
user management. Screenshots of every admin page at 1920×1080, 1366×768 and 390×844 in English and
Chinese go to test-output/screenshots/admin-*.png.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from device_simulators.site import devices as site_devices
from device_simulators.site import load as load_site
from hub.cases.config import load as load_routing
from hub.devices.service import register
from hub.engine import loader
from hub.services.teams import named_by
from hub.store.migrations import migrate
from hub.store.users import upsert_user
from tests.support.browser import NEEDS_CHROMIUM, Tab
from tests.support.dashboard_site import reading
from tests.support.processes import HubProcess, poll
from tests.support.publisher import Publisher
from tests.support.services import ROOT, Broker, create_database, drop_database

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

LOADGEN_PW = "admin-loadgen-pw"
PW = "admin-demo-pw"
SIZES = {"wall": (1920, 1080), "laptop": (1366, 768), "phone": (390, 844)}
API = "/api/v1"


def demo_people(database_url: str) -> None:
    """scripts/demo-people as scripts/run calls it, with the tests' password for the demo log-ins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {
        "HUB": f"{sys.executable} -m hub",
        "HUB_DATABASE_URL": database_url,
        "HUB_DEMO_PASSWORD": PW,
        "HUB_ROUTING_FILE": str(ROOT / "config" / "routing.yaml"),
        "HUB_RULES_DIR": str(ROOT / "rules"),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo-people")],
        env=env,
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


class Demo:
    def __init__(self, hub: HubProcess, publisher: Publisher, database_url: str) -> None:
        self.hub = hub
        self.url = hub.url
        self.publisher = publisher
        self.database_url = database_url
        self.kinds = {
            d.id: (d.kind, d.community)
            for d in site_devices(load_site(ROOT / "device_simulators" / "sites" / "demo.yaml"))
        }
        self.seq = 1000

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def alarm(self, device: str) -> int:
        """A smoke alarm on `device`, and the id of the case it opens."""
        kind, community = self.kinds[device]
        self.seq += 1
        self.publisher.publish(
            f"sc/v1/{community}/{kind}/{device}/telemetry",
            reading(kind, device, self.seq, datetime.now(UTC), alarm=True, smoke_obscuration_pct_per_m=4.4),
        ).wait_for_publish(5)
        found = poll(
            lambda: self.query("SELECT id FROM cases WHERE device_id = %s ORDER BY id DESC LIMIT 1", device),
            timeout=10,
        )
        assert found, f"no case for {device}; hub log:\n{self.hub.log()}"
        return int(found[0][0])

    def api(self, user: str, password: str = PW) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}{API}", headers=self.hub.login(user, password), timeout=10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A database of its own holding the demo site and the demo's people (the names `operator`, `manager`
    must not meet other modules' users), a broker and a hub."""
    name, url = create_database()
    migrate(url)
    site = load_site(ROOT / "device_simulators" / "sites" / "demo.yaml")
    with psycopg.connect(url, autocommit=True) as conn:
        assert all(
            r.status == "created" for r in register(conn, [d.registration() for d in site_devices(site)])
        )
        for c in site.communities:
            conn.execute("UPDATE communities SET name = %s WHERE id = %s", (c.name, c.id))
        upsert_user(conn, "admin", PW, "admin")
    demo_people(url)
    demo_people(url)  # idempotent: scripts/run runs it on every start
    broker = Broker()
    broker.start()
    hub = HubProcess(url, broker, tmp_path_factory.mktemp("admin"), HUB_MQTT_LOADGEN_PASSWORD=LOADGEN_PW)
    hub.start()
    publisher = Publisher(broker.port, "loadgen", LOADGEN_PW)
    try:
        yield Demo(hub, publisher, url)
    finally:
        publisher.close()
        hub.stop()
        broker.cleanup()
        drop_database(name)


@pytest.fixture
def tab(browser: Browser, demo: Demo) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    t = Tab(context, demo.url, PW)
    yield t
    context.close()
    assert t.errors == []


def log_out(page: Page) -> None:
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()


def test_the_demo_set_up_puts_the_operator_in_every_team_cases_are_sent_to(demo: Demo) -> None:
    named = named_by(load_routing(ROOT / "config" / "routing.yaml"), loader.load(ROOT / "rules"))
    rows = demo.query("SELECT id, name_en, name_zh, communities, organisation FROM teams")
    teams = {r[0]: r[1:] for r in rows}
    assert set(named) <= set(teams), f"teams without names: {set(named) - set(teams)}"
    assert all(en and re.search(r"[\u4e00-\u9fff]", zh) for en, zh, _, _ in teams.values())
    members = demo.query("SELECT t.team, u.username FROM team_members t JOIN users u ON u.id = t.user_id")
    assert {team for team, user in members if user == "operator"} >= set(named)
    sunrise = {
        team for team, (_, _, communities, org) in teams.items() if communities == ["sunrise"] and not org
    }
    assert {team for team, (*_, org) in teams.items() if org} == {"sunrise-drainage-crew"}, (
        "the contractor's own"
    )
    assert sunrise and sunrise <= {team for team, user in members if user == "manager"}
    assert len(members) == len(set(members)) and len(rows) == len(teams), "a second run adds nothing"


def test_the_demo_operator_claims_the_next_case_from_the_queue(tab: Tab, demo: Demo) -> None:
    """The control room's first finding: Claim next failed out of the box (the operator was in no team)."""
    case_id = demo.alarm("sunrise-b2-sd03")
    assert demo.query("SELECT team FROM cases WHERE id = %s", case_id) == [("fire-safety",)]
    page = tab.login("operator")
    row = page.locator(f'#cases tr[data-case-id="{case_id}"]')
    expect(row.locator('td[data-label="Team"]')).to_contain_text("Fire safety")
    page.click("#claim-next")
    expect(page.locator(f'.view-case[data-case-id="{case_id}"]')).to_be_visible()
    expect(page.locator(".view-case > dl.facts")).to_contain_text("Fire safety")
    assert demo.query(
        "SELECT u.username, c.status FROM cases c JOIN users u ON u.id = c.assignee_id WHERE c.id = %s",
        case_id,
    ) == [("operator", "acknowledged")]


def test_an_admin_creates_a_user_who_logs_in_joins_a_team_and_claims_a_case(tab: Tab, demo: Demo) -> None:
    page = tab.login("admin", "#/admin")
    expect(page.locator("#nav a[data-nav=admin]")).to_have_class("active")
    page.click("#new-user")
    form = page.locator("#user-form")
    form.locator("input[name=username]").fill("li.wei")
    form.locator("input[name=display_name]").fill("Li Wei")
    form.locator("select[name=role]").select_option("operator")
    expect(form.locator("fieldset.checks")).to_be_hidden()
    form.locator("button[type=submit]").click()
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 16
    expect(page.locator('#user-list tr[data-username="li.wei"]')).to_contain_text("Li Wei")
    tab.shot("admin-user-created")
    log_out(page)

    page.fill("#login input[name=username]", "li.wei")
    page.fill("#login input[name=password]", password)
    page.click("#login button[type=submit]")
    expect(page.locator("#who")).to_contain_text("li.wei")
    page.click("#claim-next")
    expect(page.locator("#toast")).to_contain_text("You are in no team yet")
    log_out(page)

    page = tab.login("admin", "#/admin/teams/fire-safety")
    expect(page.locator(".view-team h2")).to_have_text("Fire safety")
    page.fill("#add-member input[name=username]", "li.wei")
    page.click("#add-member button[type=submit]")
    expect(page.locator('#members li[data-member="li.wei"]')).to_be_visible()
    log_out(page)

    case_id = demo.alarm("sunrise-b3-sd05")
    page.fill("#login input[name=username]", "li.wei")
    page.fill("#login input[name=password]", password)
    page.click("#login button[type=submit]")
    page.click("#claim-next")
    expect(page.locator(f'.view-case[data-case-id="{case_id}"]')).to_be_visible()
    assert demo.query(
        "SELECT u.username FROM cases c JOIN users u ON u.id = c.assignee_id WHERE c.id = %s", case_id
    ) == [("li.wei",)]
    actions = [
        r[0]
        for r in demo.query(
            "SELECT action FROM audit_log WHERE target_id IN ('li.wei', 'fire-safety') ORDER BY id"
        )
    ]
    assert actions == ["user.create", "team.add_member"]


def test_an_account_is_disabled_enabled_and_given_a_new_password_from_its_page(tab: Tab, demo: Demo) -> None:
    admin = demo.api("admin")
    made = admin.post(
        "/users", json={"username": "zhao.min", "role": "resident", "communities": ["maple"]}
    ).json()
    old = made["password"]
    page = tab.login("admin", "#/admin/users/zhao.min")
    view = page.locator('.view-user[data-username="zhao.min"]')
    view.locator('button[data-act="disable"]').click()
    view.locator('button[data-act="disable"]').click()  # the second click confirms
    expect(page.locator('.view-user[data-disabled="true"]')).to_be_visible()
    refused = httpx.post(f"{demo.url}{API}/auth/login", json={"username": "zhao.min", "password": old})
    assert refused.status_code == 403 and "disabled" in refused.json()["error"]["message"]
    page.locator('.view-user button[data-act="enable"]').click()
    page.locator('.view-user button[data-act="enable"]').click()
    expect(page.locator('.view-user[data-disabled="false"]')).to_be_visible()
    page.locator('.view-user button[data-act="reset"]').click()
    page.locator('.view-user button[data-act="reset"]').click()
    new = page.locator("#new-password").inner_text()
    tab.shot("admin-user-password-reset")
    assert (
        httpx.post(f"{demo.url}{API}/auth/login", json={"username": "zhao.min", "password": old}).status_code
        == 401
    )
    assert (
        httpx.post(f"{demo.url}{API}/auth/login", json={"username": "zhao.min", "password": new}).status_code
        == 200
    )


def test_a_manager_sees_and_changes_only_their_communitys_teams_users_and_settings(
    tab: Tab, demo: Demo
) -> None:
    admin = demo.api("admin")
    assert (
        admin.post(
            "/teams",
            json={
                "id": "maple-property",
                "name_en": "Maple Court office",
                "name_zh": "枫叶苑物业",
                "communities": ["maple"],
            },
        ).status_code
        == 201
    )
    admin.post("/users", json={"username": "maple.resident", "role": "resident", "communities": ["maple"]})

    page = tab.login("manager", "#/admin/users")
    expect(page.locator('#user-list tr[data-username="resident"]')).to_be_visible()
    expect(page.locator('#user-list tr[data-username="operator"]')).to_have_count(0)
    expect(page.locator('#user-list tr[data-username="maple.resident"]')).to_have_count(0)
    page.click("#new-user")
    form = page.locator("#user-form")
    expect(form.locator("select[name=role] option")).to_have_count(1)
    form.locator("input[name=username]").fill("sun.resident")
    expect(form.locator('input[name=communities][value="sunrise"]')).to_be_checked()
    form.locator("button[type=submit]").click()
    expect(page.locator("#new-password")).to_be_visible()
    assert demo.query("SELECT role, communities FROM users WHERE username = 'sun.resident'") == [
        ("resident", ["sunrise"])
    ]

    page.goto(f"{demo.url}/#/admin/teams")
    expect(page.locator('#team-list tr[data-team="sunrise-property"]')).to_have_attribute(
        "data-editable", "true"
    )
    expect(page.locator('#team-list tr[data-team="fire-safety"]')).to_have_attribute("data-editable", "false")
    expect(page.locator('#team-list tr[data-team="maple-property"]')).to_have_count(0)
    page.goto(f"{demo.url}/#/admin/teams/sunrise-property")
    page.fill("#team-record input[name=name_zh]", "日出花园物业中心")
    page.click("#team-record button[type=submit]")
    expect(page.locator(".view-team dl.facts")).to_contain_text("日出花园物业中心")

    page.goto(f"{demo.url}/#/admin/communities")
    expect(page.locator("#community-list tbody tr")).to_have_count(1)
    expect(page.locator("#new-community")).to_have_count(0)
    page.goto(f"{demo.url}/#/admin/communities/sunrise")
    page.fill("#community-settings input[name=name_zh]", "日出花园")
    page.select_option("#community-settings select[name=calendar]", "six-day")
    page.click("#community-settings button[type=submit]")
    expect(page.locator("#toast")).to_contain_text("Saved.")
    expect(page.locator(".view-community h2")).to_have_text("Sunrise Garden")
    assert demo.query("SELECT name_zh, calendar FROM communities WHERE id = 'sunrise'") == [
        ("日出花园", "six-day")
    ]

    manager = demo.api("manager")
    assert manager.patch("/teams/maple-property", json={"name_en": "x"}).status_code == 404
    assert manager.patch("/teams/fire-safety", json={"name_en": "x"}).status_code == 403
    assert manager.get("/users/maple.resident").status_code == 404
    assert manager.post("/users", json={"username": "sun.op", "role": "operator"}).status_code == 403
    assert manager.patch("/communities/maple", json={"name": "x"}).status_code == 404
    assert manager.post("/communities", json={"id": "elm", "name": "Elm"}).status_code == 403


def test_an_operator_gets_no_user_management(tab: Tab, demo: Demo) -> None:
    page = tab.login("operator", "#/admin")
    expect(page.locator("#admin-nav a")).to_have_count(
        3
    )  # rules, silences and health: operations, not people
    for people in ("users", "teams", "communities"):
        expect(page.locator(f'#admin-nav a[data-admin="{people}"]')).to_have_count(0)
    page.goto(f"{demo.url}/#/admin/users")
    expect(page.locator("#queue")).to_be_visible()
    operator = demo.api("operator")
    assert operator.get("/users").status_code == 403
    assert (
        operator.post(
            "/users", json={"username": "x.y", "role": "resident", "communities": ["sunrise"]}
        ).status_code
        == 403
    )
    assert operator.post("/users/resident/disable").status_code == 403
    assert operator.post("/teams", json={"id": "ops", "name_en": "x", "name_zh": "x"}).status_code == 403


PAGES = {
    "users": ("#/admin/users", "#user-list table"),
    "user": ("#/admin/users/manager", ".view-user dl.facts"),
    "teams": ("#/admin/teams", "#team-list table"),
    "team": ("#/admin/teams/property-security", "#members"),
    "communities": ("#/admin/communities", "#community-list table"),
    "community": ("#/admin/communities/sunrise", ".places-buildings"),
}


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("size", list(SIZES))
def test_every_admin_page_fits_each_screen_in_both_languages(
    browser: Browser, demo: Demo, size: str, language: str
) -> None:
    width, height = SIZES[size]
    phone = size == "phone"
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale="zh-CN" if language == "zh" else "en-GB",
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
    )
    tab = Tab(context, demo.url, PW)
    case_id = demo.alarm("sunrise-b1-sd01")  # a fire-safety case on the queue (the same one for every size)
    try:
        page = tab.login("admin")
        expect(page.locator('#nav a[data-nav="admin"]')).to_have_text(
            "系统管理" if language == "zh" else "Admin"
        )
        for name, (hash_, ready) in PAGES.items():
            page.goto(f"{demo.url}/{hash_}")
            expect(page.locator(ready)).to_be_visible()
            if name == "users":
                page.click("#new-user")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"{name} overflows {width}px ({overflow}px)"
            tab.shot(f"admin-{name}-{size}-{language}")
        page.goto(f"{demo.url}/#/queue")
        team = "消防安全" if language == "zh" else "Fire safety"
        expect(page.locator(f'#cases tr[data-case-id="{case_id}"] td[title="fire-safety"]')).to_contain_text(
            team
        )
        assert tab.errors == []
    finally:
        context.close()


def test_the_manager_pages_fit_a_phone(browser: Browser, demo: Demo) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    tab = Tab(context, demo.url, PW)
    try:
        page = tab.login("manager", "#/admin/teams")
        expect(page.locator("#team-list table")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        tab.shot("admin-teams-manager-phone-zh")
        page.goto(f"{demo.url}/#/admin/users")
        expect(page.locator("#user-list table")).to_be_visible()
        tab.shot("admin-users-manager-phone-zh")
        assert tab.errors == []
    finally:
        context.close()
