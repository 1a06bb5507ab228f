"""Verified closure and rework against the real database: an alert case closes only once its alerts
cleared long enough ago (never while one has no data), with a resolution note, a photo where the
category asks for evidence (a photo or a note alone) and a supervisor's on-site confirmation where it asks for one; a reopen counts as
rework, and rework is counted per case, team and category (`hub.store.cases.rework_counts`)."""

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.cases import acting, config, data_gaps, holds, intake, opening, verification
from hub.cases.actions import Action, ActionForbidden, ActionIncomplete, ActionRequest, HoldAction
from hub.cases.config import DispatchConfig, DispatchConfigError, VerificationRule
from hub.cases.holds import HoldFacts, ResolverConfirms
from hub.cases.verification import AlertFacts, ClosureFacts, ClosureRefused, Confirmation, Resolution
from hub.domain.alerts import AlertCleared, AlertOpened
from hub.domain.cases import CaseStatus
from hub.domain.devices import DeviceKind, DeviceRef
from hub.domain.roles import Role
from hub.domain.users import User
from hub.engine.schema import Rule
from hub.store import cases as case_store
from hub.store.users import upsert_user
from tests.support.api import app_client, login
from tests.support.factories import act, community, device, threshold_rule

T0 = datetime(2022, 3, 1, 2, 0, tzinfo=UTC)
EVIDENCE = "no evidence of the finished work: attach a photo, or a note saying what was done"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(100)
CFG = DispatchConfig(
    default_team="cl-desk",
    verification=[
        VerificationRule(category=["gas"], normal_for=1800, photo=True, on_site=True),
        VerificationRule(normal_for=600),
    ],
)


def gas_rule(rule_id: str = "cl-ch4") -> Rule:
    return threshold_rule(
        rule_id,
        title="Methane",
        kinds=["manhole"],
        severity="critical",
        category="gas",
        when="ch4_pct_lel > 10",
        team="gas-emergency",
    )


def world(conn: psycopg.Connection[Any]) -> tuple[DeviceRef, User, User, User]:
    where = community(conn, "cl")
    ref = device(conn, where, "mh1", DeviceKind.MANHOLE)
    people = []
    for role in ("operator", "manager", "admin"):
        name = f"{where}-{role}"
        uid = upsert_user(conn, name, "pw", role, [where])
        people.append(User(uid, name, Role(role), (where,)))
    return ref, people[0], people[1], people[2]


def refused(conn: psycopg.Connection[Any], case_id: int, by: User, at: datetime) -> list[str]:
    with pytest.raises(ClosureRefused) as exc:
        act(conn, case_id, by, at, Action.CLOSE, CFG)
    assert str(exc.value).startswith(f"case {case_id} cannot be closed yet: ")
    return exc.value.missing


def work_and_resolve(conn: psycopg.Connection[Any], case_id: int, by: User, at: datetime, note: str) -> None:
    act(conn, case_id, by, at, Action.START, CFG)
    act(conn, case_id, by, at + timedelta(seconds=1), Action.RESOLVE, CFG, note=note)


def test_what_closure_needs_is_a_checklist_of_items_each_done_waiting_or_missing() -> None:
    rule = VerificationRule(normal_for=900, photo=True, on_site=True)
    now = T0 + timedelta(hours=1)
    alerts = [
        AlertFacts(1, "r1", "d1", "d1", "open", None),
        AlertFacts(2, "r2", "d2", "d2", "open", None, "no_data", T0),
        AlertFacts(3, "r3", "d3", "d3", "cleared", now - timedelta(minutes=5)),
        AlertFacts(4, "r4", "d4", "d4", "cleared", now - timedelta(minutes=20)),
    ]
    facts = ClosureFacts(7, CaseStatus.RESOLVED, alerts, Resolution("op", T0, "  "))
    found = verification.checklist(rule, facts, now)
    states = [(i.code, i.state, i.why) for i in found.items]
    assert states == [
        ("resolved", "done", None),
        ("readings_normal", "missing", "not_cleared"),
        ("readings_normal", "missing", "no_data"),
        ("readings_normal", "waiting", "too_recent"),
        ("readings_normal", "done", None),
        ("resolution_note", "missing", "no_note"),
        ("evidence", "missing", "no_evidence"),
        ("on_site", "missing", "not_confirmed"),
    ]
    assert [i.alert.id for i in found.items if i.alert is not None] == [1, 2, 3, 4]
    waiting = found.items[3]
    assert (waiting.since, waiting.until) == (now - timedelta(minutes=5), now + timedelta(minutes=10))
    assert found.items[2].since == T0
    assert found.items[7].by == "op", "the resolver, who may not confirm"
    assert not found.can_close and found.closable_at is None, "people must act first"
    assert found.missing == [
        "alert r1 on d1 has not cleared",
        "alert r2 on d2 has no data since 2022-03-01 02:00 UTC: a silent device is not a recovered one",
        "alert r3 on d3 cleared at 2022-03-01 02:55 UTC; readings must stay normal for 15 min, until "
        "2022-03-01 03:10 UTC",
        "no resolution note saying what was done (resolve with a note)",
        EVIDENCE,
        "no on-site confirmation by an admin or operator other than op, who resolved it (action confirm_on_site)",
    ]

    # Only time is missing: Close will pass by itself when the last alert has been normal long enough.
    done = ClosureFacts(
        7,
        CaseStatus.RESOLVED,
        alerts[2:],
        Resolution("op", T0, "replaced the seal"),
        evidence_photos=1,
        confirmations=[Confirmation("sup", now)],
    )
    later = verification.checklist(rule, done, now)
    assert not later.can_close and later.closable_at == now + timedelta(minutes=10)
    ready = verification.checklist(rule, done, now + timedelta(minutes=10))
    assert ready.can_close and ready.closable_at is None and ready.missing == []
    noted = ClosureFacts(7, CaseStatus.RESOLVED, alerts[3:], done.resolution, evidence_notes=1,
                         confirmations=done.confirmations)  # fmt: skip
    assert verification.checklist(rule, noted, now).can_close, "a note alone is evidence"
    bare = VerificationRule(normal_for=0)
    assert [i.code for i in verification.checklist(bare, noted, now).items] == [
        "resolved",
        "readings_normal",
        "resolution_note",
    ], "no evidence or on-site items where the category asks for none"
    in_progress = verification.checklist(bare, ClosureFacts(7, CaseStatus.IN_PROGRESS, [], None), now)
    assert [(i.code, i.state) for i in in_progress.items] == [
        ("resolved", "missing"),
        ("resolution_note", "missing"),
    ]


def test_the_person_who_resolved_does_not_confirm_on_site_unless_the_category_allows_it() -> None:
    now = T0 + timedelta(hours=1)
    resolved = Resolution("op", T0, "fixed")
    by_resolver = ClosureFacts(
        7, CaseStatus.RESOLVED, [], resolved, evidence_photos=1, confirmations=[Confirmation("op", T0)]
    )
    strict = VerificationRule(normal_for=0, photo=True, on_site=True)
    item = verification.checklist(strict, by_resolver, now).items[-1]
    assert (item.code, item.state, item.why, item.by) == ("on_site", "missing", "only_by_resolver", "op")
    assert item.message == (
        "the work was confirmed on site only by op, who resolved it: another admin or operator confirms it"
    )
    second = ClosureFacts(7, CaseStatus.RESOLVED, [], resolved, evidence_photos=1,
                          confirmations=[Confirmation("op", T0), Confirmation("sup", now)])  # fmt: skip
    assert verification.checklist(strict, second, now).can_close
    lenient = VerificationRule(normal_for=0, photo=True, on_site=True, resolver_may_confirm=True)
    assert verification.checklist(lenient, by_resolver, now).can_close

    facts = HoldFacts(7, CaseStatus.RESOLVED, None, {}, resolved_by="op")
    with pytest.raises(ResolverConfirms) as refused_:
        holds.plan_hold(ActionRequest(HoldAction.CONFIRM_ON_SITE), facts, "operator", "op")
    assert str(refused_.value) == (
        "you resolved case 7, so another admin or operator confirms the work on site "
        "(config/routing.yaml, verification: resolver_may_confirm allows the resolver)"
    )
    assert holds.plan_hold(ActionRequest(HoldAction.CONFIRM_ON_SITE), facts, "admin", "sup").event == (
        "confirmed_on_site"
    )
    allowed = HoldFacts(7, CaseStatus.RESOLVED, None, {}, resolved_by="op", resolver_may_confirm=True)
    assert holds.plan_hold(ActionRequest(HoldAction.CONFIRM_ON_SITE), allowed, "operator", "op")


def test_resolver_may_confirm_is_validated(tmp_path: Path) -> None:
    def load_config_text(text: str) -> DispatchConfig:
        path = tmp_path / "routing.yaml"
        path.write_text(text)
        return config.load(path)

    with pytest.raises(DispatchConfigError) as bad:
        load_config_text("verification:\n  - {normal_for: 0s, resolver_may_confirm: true}\n")
    assert "resolver_may_confirm says who may confirm on site: set on_site: true as well" in str(bad.value)
    with pytest.raises(DispatchConfigError) as typo:
        load_config_text(
            "verification:\n  - {normal_for: 0s, on_site: true, resolver_may_confirm: perhaps}\n"
        )
    assert "verification.0.resolver_may_confirm" in str(typo.value)
    cfg = load_config_text("verification:\n  - {normal_for: 0s, on_site: true, resolver_may_confirm: true}\n")
    assert cfg.verification_for("fire").resolver_may_confirm
    assert not DispatchConfig().verification_for("fire").resolver_may_confirm, "not allowed by default"
    shipped = config.load(Path(__file__).resolve().parents[1] / "config" / "routing.yaml")
    assert not any(r.resolver_may_confirm for r in shipped.verification)


def test_an_alert_case_closes_only_when_verified_and_a_reopen_is_rework(
    conn: psycopg.Connection[Any],
) -> None:
    device, op, mgr, admin = world(conn)
    rule = gas_rule()
    case_id = intake.open_alert_case(
        conn, AlertOpened(rule, device, device.id, T0, T0, {"readings": []}), CFG, T0
    )
    assert case_id is not None
    act(conn, case_id, op, T0 + timedelta(minutes=1), Action.ACKNOWLEDGE, CFG)
    work_and_resolve(conn, case_id, op, T0 + timedelta(minutes=2), "ventilated the chamber")
    assert refused(conn, case_id, op, T0 + timedelta(minutes=5)) == [
        f"alert cl-ch4 on {device.id} has not cleared",
        EVIDENCE,
        f"no on-site confirmation by an admin or operator other than {op.username}, who resolved it "
        "(action confirm_on_site)",
    ]

    # the device falls silent: its alert freezes, and a frozen alert is not a recovery
    data_gaps.device_silent(conn, [device.id], T0 + timedelta(minutes=6), "test: gone quiet")
    assert any("has no data since" in m for m in refused(conn, case_id, op, T0 + timedelta(minutes=7)))
    data_gaps.readings_arrived(conn, [device.id], T0 + timedelta(minutes=8))
    cleared_at = T0 + timedelta(minutes=10)
    intake.alert_cleared(conn, AlertCleared(rule, device.id, cleared_at, "ch4_pct_lel < 10 held"), cleared_at)

    acting.attach_evidence(conn, case_id, op, "image/png", PNG, T0 + timedelta(minutes=11))
    act(
        conn,
        case_id,
        admin,
        T0 + timedelta(minutes=12),
        HoldAction.CONFIRM_ON_SITE,
        CFG,
        note="no smell, seal new",
    )
    assert refused(conn, case_id, op, T0 + timedelta(minutes=20)) == [
        f"alert cl-ch4 on {device.id} cleared at 2022-03-01 02:10 UTC; readings must stay normal for 30 min, "
        "until 2022-03-01 02:40 UTC"
    ]
    assert cleared_at == datetime(2022, 3, 1, 2, 10, tzinfo=UTC)

    # the verifier rejects the resolution: rework, and the next round needs its own evidence
    act(conn, case_id, op, T0 + timedelta(minutes=41), Action.REOPEN, CFG, note="still smells")
    case = case_store.get_case(conn, case_id)
    assert case is not None and case["rework_count"] == 1
    assert case["history"][-1]["detail"] == {"team": "gas-emergency", "rework_count": 1}
    work_and_resolve(conn, case_id, op, T0 + timedelta(minutes=50), "replaced the pipe joint")
    assert refused(conn, case_id, op, T0 + timedelta(minutes=55)) == [
        EVIDENCE,
        f"no on-site confirmation by an admin or operator other than {op.username}, who resolved it "
        "(action confirm_on_site)",
    ]
    acting.attach_evidence(conn, case_id, mgr, "image/png", PNG, T0 + timedelta(minutes=56), note="joint")
    with pytest.raises(ResolverConfirms):
        act(conn, case_id, op, T0 + timedelta(minutes=57), HoldAction.CONFIRM_ON_SITE, CFG)
    act(conn, case_id, admin, T0 + timedelta(minutes=57), HoldAction.CONFIRM_ON_SITE, CFG)
    act(conn, case_id, op, T0 + timedelta(minutes=58), Action.CLOSE, CFG, note="verified")
    case = case_store.get_case(conn, case_id)
    assert case is not None
    assert (case["status"], case["rework_count"]) == ("closed", 1)
    actions = [h["action"] for h in case["history"]]
    assert actions.count("evidence_added") == 2 and actions.count("confirmed_on_site") == 2
    assert [a["purpose"] for a in case["attachments"]] == ["evidence", "evidence"]
    assert "alert_no_data" in actions and "alert_data_back" in actions


def test_rework_is_counted_per_case_team_and_category(conn: psycopg.Connection[Any]) -> None:
    device, op, _, _ = world(conn)
    where = device.community
    start = datetime(2022, 5, 1, tzinfo=UTC)
    cases = []
    for n, (category, team) in enumerate((("noise", "t-a"), ("noise", "t-b"), ("other", "t-a"))):
        r = opening.Report(where, category, "x", "text", "b1", None, None, "minor")  # type: ignore[arg-type]
        cases.append(
            opening.open_report(conn, r, op, DispatchConfig(default_team=team), start + timedelta(minutes=n))
        )
    at = start + timedelta(hours=1)
    for case_id, reworks in zip(cases, (2, 1, 0), strict=True):
        act(conn, case_id, op, at, Action.ACKNOWLEDGE, CFG)
        work_and_resolve(conn, case_id, op, at, "done")
        for _ in range(reworks):
            act(conn, case_id, op, at + timedelta(seconds=5), Action.REOPEN, CFG)
            work_and_resolve(conn, case_id, op, at + timedelta(seconds=10), "done again")
    by_case = case_store.rework_counts(conn, start, start + timedelta(days=1), by="case", communities=[where])
    assert [(r["key"], r["reworks"], r["resolutions"], r["rework_count"], r["team"]) for r in by_case] == [
        (cases[0], 2, 3, 2, "t-a"),
        (cases[1], 1, 2, 1, "t-b"),
        (cases[2], 0, 1, 0, "t-a"),
    ]
    by_team = case_store.rework_counts(conn, start, start + timedelta(days=1), by="team", communities=[where])
    assert [(r["key"], r["reworks"], r["reworked_cases"], r["resolutions"]) for r in by_team] == [
        ("t-a", 2, 1, 4),
        ("t-b", 1, 1, 2),
    ]
    by_category = case_store.rework_counts(
        conn, start, start + timedelta(days=1), by="category", communities=[where]
    )
    assert [(r["key"], r["reworks"], r["resolutions"]) for r in by_category] == [
        ("noise", 3, 5),
        ("other", 0, 1),
    ]
    assert (
        case_store.rework_counts(
            conn, start + timedelta(days=1), start + timedelta(days=2), by="team", communities=[where]
        )
        == []
    )


ROUTING = """
default_team: cl-api
verification:
  - {category: lighting, normal_for: 0s, photo: true, on_site: true}
  - {normal_for: 0s}
"""


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    with app_client(database_url, routing=ROUTING) as c:
        yield c


def lamp_case(
    client: TestClient, conn: psycopg.Connection[Any]
) -> tuple[int, dict[str, dict[str, str]], User]:
    """A lighting case opened by an operator: (case id, headers of the operator, the manager and an
    admin by role, the manager)."""
    device, op, mgr, admin = world(conn)
    headers = {
        role: login(client, u.username) for role, u in (("operator", op), ("manager", mgr), ("admin", admin))
    }
    body = {
        "community": device.community,
        "category": "lighting",
        "description": "lamp out",
        "building": "b1",
    }
    case_id = int(client.post("/api/v1/cases", json=body, headers=headers["operator"]).json()["id"])
    return case_id, headers, mgr


def test_the_closure_checklist_evidence_and_confirmation_through_the_api(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    case_id, who, _ = lamp_case(client, conn)
    o, m, a = who["operator"], who["manager"], who["admin"]

    def action(headers: dict[str, str], name: str, **fields: Any) -> Any:
        return client.post(
            f"/api/v1/cases/{case_id}/actions", json={"action": name, **fields}, headers=headers
        )

    def checklist(headers: dict[str, str] = o) -> Any:
        r = client.get(f"/api/v1/cases/{case_id}/closure", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    def states(found: Any) -> list[tuple[str, str]]:
        return [(i["code"], i["state"]) for i in found["items"]]

    opened = checklist(m)
    assert states(opened) == [
        ("resolved", "missing"),
        ("resolution_note", "missing"),
        ("evidence", "missing"),
        ("on_site", "missing"),
    ]
    assert (opened["can_close"], opened["closable_at"], opened["normal_for"]) == (False, None, 0.0)
    for name, fields in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "new lamp"})):
        assert action(o, name, **fields).status_code == 200
    resolved = checklist()
    assert states(resolved)[:2] == [("resolved", "done"), ("resolution_note", "done")]
    on_site = resolved["items"][-1]
    operator = conn.execute("SELECT actor FROM case_events WHERE case_id = %s AND action = 'resolved'",
                            (case_id,)).fetchone()  # fmt: skip
    assert operator is not None
    assert (on_site["why"], on_site["by"]) == ("not_confirmed", operator[0])
    r = action(o, "close")
    assert r.status_code == 409
    assert r.json()["error"]["message"] == (
        f"case {case_id} cannot be closed yet: " + "; ".join(i["message"] for i in resolved["items"][2:])
    ), "the refusal names what the checklist says is missing"

    photo = base64.b64encode(PNG).decode()
    up = client.post(f"/api/v1/cases/{case_id}/attachments", json={"photo": photo, "note": "lit"}, headers=m)
    assert up.status_code == 201
    assert (up.json()["kind"], up.json()["content_type"], up.json()["note"]) == ("photo", "image/png", "lit")
    gif = client.post(
        f"/api/v1/cases/{case_id}/attachments",
        json={"photo": base64.b64encode(b"GIF89a" + bytes(9)).decode()},
        headers=m,
    )
    assert gif.status_code == 415
    evidence = checklist()["items"][2]
    assert [evidence[k] for k in ("code", "state", "photos", "notes")] == ["evidence", "done", 1, 0]
    assert action(m, "confirm_on_site").status_code == 403, "managers do not confirm on site"
    own = action(o, "confirm_on_site", note="checked my own work")
    assert own.status_code == 409, "the resolver does not confirm their own work"
    assert own.json()["error"]["message"].startswith(
        f"you resolved case {case_id}, so another admin or operator confirms the work on site"
    )
    assert not checklist()["can_close"]
    assert action(a, "confirm_on_site", note="checked at dusk").status_code == 200
    ready = checklist()
    assert ready["can_close"] and ready["closable_at"] is None
    assert ready["items"][-1]["state"] == "done" and ready["items"][-1]["by"] != operator[0]
    community = conn.execute("SELECT community_id FROM cases WHERE id = %s", (case_id,)).fetchone()
    assert community is not None
    upsert_user(conn, f"{community[0]}-resident", "pw", "resident", [community[0]])
    login = client.post("/api/v1/auth/login", json={"username": f"{community[0]}-resident", "password": "pw"})
    resident = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get(f"/api/v1/cases/{case_id}/closure", headers=resident).status_code == 403
    done = action(o, "close")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "closed" and done.json()["rework_count"] == 0
    late = client.post(f"/api/v1/cases/{case_id}/attachments", json={"photo": photo}, headers=m)
    assert late.status_code == 409


def test_a_note_alone_is_evidence_and_counts_for_closure(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    case_id, who, mgr = lamp_case(client, conn)
    m = who["manager"]
    url = f"/api/v1/cases/{case_id}/attachments"

    def action(name: str, **fields: Any) -> Any:
        return client.post(
            f"/api/v1/cases/{case_id}/actions", json={"action": name, **fields}, headers=who["operator"]
        )

    for name, fields in (("acknowledge", {}), ("start", {}), ("resolve", {"note": "new lamp"})):
        assert action(name, **fields).status_code == 200
    confirm = {"action": "confirm_on_site"}
    assert (
        client.post(f"/api/v1/cases/{case_id}/actions", json=confirm, headers=who["admin"]).status_code == 200
    )
    assert action("close").json()["error"]["message"] == f"case {case_id} cannot be closed yet: {EVIDENCE}"

    # neither photo nor note, or a blank note, or an overlong one: 422 saying what to send
    for bad, says in (
        ({}, "evidence needs a photo or a note"),
        ({"photo": None, "note": None}, "evidence needs a photo or a note"),
        ({"note": ""}, "the note is blank"),
        ({"note": " \n\t "}, "the note is blank"),
        ({"note": "x" * 2001}, "at most 2000 characters"),
    ):
        r = client.post(url, json=bad, headers=m)
        assert r.status_code == 422, (bad, r.text)
        assert says in r.json()["error"]["message"], (bad, r.json())
    assert conn.execute(
        "SELECT count(*) FROM case_events WHERE case_id = %s AND action = 'evidence_added'", (case_id,)
    ).fetchone() == (0,)
    assert "no evidence" in action("close").json()["error"]["message"]

    up = client.post(url, json={"note": "  replaced the lamp and the fuse  "}, headers=m)
    assert up.status_code == 201, up.text
    assert up.json() == {
        "id": None,
        "case_id": case_id,
        "kind": "note",
        "content_type": None,
        "size": None,
        "note": "replaced the lamp and the fuse",
    }
    assert conn.execute(
        "SELECT actor, note, detail FROM case_events WHERE case_id = %s AND action = 'evidence_added'",
        (case_id,),
    ).fetchall() == [(mgr.username, "replaced the lamp and the fuse", {"kind": "note"})]
    assert conn.execute(
        "SELECT count(*) FROM case_attachments WHERE case_id = %s", (case_id,)
    ).fetchone() == (0,)
    assert verification.facts_of(conn, case_id).evidence_notes == 1
    done = action("close")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "closed"
    late = client.post(url, json={"note": "one more thing"}, headers=m)
    assert late.status_code == 409 and "takes no more evidence" in late.json()["error"]["message"]


def test_a_note_from_before_a_reopen_is_not_evidence_for_the_next_round(
    conn: psycopg.Connection[Any],
) -> None:
    device, op, mgr, admin = world(conn)
    case_id = intake.open_alert_case(
        conn, AlertOpened(gas_rule("cl-ch4-note"), device, device.id, T0, T0, {"readings": []}), CFG, T0
    )
    assert case_id is not None
    intake.alert_cleared(conn, AlertCleared(gas_rule("cl-ch4-note"), device.id, T0, "normal"), T0)
    act(conn, case_id, op, T0 + timedelta(minutes=1), Action.ACKNOWLEDGE, CFG)
    work_and_resolve(conn, case_id, op, T0 + timedelta(minutes=2), "sealed")
    with pytest.raises(ActionForbidden):
        acting.attach_evidence_note(conn, case_id, User(0, "nobody", Role.RESIDENT, ()), "x", T0)
    with pytest.raises(ActionIncomplete):
        acting.attach_evidence_note(conn, case_id, mgr, "   ", T0 + timedelta(minutes=3))
    acting.attach_evidence_note(conn, case_id, mgr, "sealed the joint", T0 + timedelta(minutes=3))
    act(conn, case_id, admin, T0 + timedelta(minutes=4), HoldAction.CONFIRM_ON_SITE, CFG)
    assert verification.facts_of(conn, case_id).evidence_notes == 1
    act(conn, case_id, op, T0 + timedelta(minutes=40), Action.REOPEN, CFG, note="still smells")
    work_and_resolve(conn, case_id, op, T0 + timedelta(minutes=41), "new joint")
    act(conn, case_id, admin, T0 + timedelta(minutes=42), HoldAction.CONFIRM_ON_SITE, CFG)
    assert refused(conn, case_id, op, T0 + timedelta(minutes=43)) == [EVIDENCE]
    acting.attach_evidence_note(conn, case_id, mgr, "joint replaced, tested", T0 + timedelta(minutes=44))
    act(conn, case_id, op, T0 + timedelta(minutes=45), Action.CLOSE, CFG)
    case = case_store.get_case(conn, case_id)
    assert case is not None and case["status"] == "closed"
