"""The pure parts of case dispatch: actions, routing, SLA deadlines and escalation, photos, the config."""

import base64
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.cases import config
from hub.cases.actions import (
    MOVE,
    Action,
    ActionForbidden,
    ActionIncomplete,
    ActionRequest,
    plan,
)
from hub.cases.photos import MAX_PHOTO_BYTES, PhotoNotAnImage, PhotoRejected, PhotoTooLarge, decode_photo
from hub.cases.routing import CaseFacts, Match, RouteRule, route
from hub.cases.sla import SlaRule, SlaState, deadlines_for, next_escalation
from hub.domain.cases import MOVES, CaseStatus, Level, Move, TransitionRefused, target_of

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
S = CaseStatus


def full(action: Action) -> ActionRequest:
    return ActionRequest(action, note="done", team="other-team", reason="duplicate")


@pytest.mark.parametrize(("current", "action"), [(s, a) for s in CaseStatus for a in Action])
def test_every_action_in_every_status_is_planned_or_refused_by_the_state_machine(
    current: CaseStatus, action: Action
) -> None:
    target = target_of(MOVE[action])
    if current in MOVES[MOVE[action]].sources:
        assert plan(full(action), current, "operator").target is target
    else:
        with pytest.raises(TransitionRefused, match=f"^a case that is {current} cannot become {target}; "):
            plan(full(action), current, "operator")


def test_refusal_names_the_allowed_next_states() -> None:
    with pytest.raises(TransitionRefused) as exc:
        plan(full(Action.ACKNOWLEDGE), S.RESOLVED, "admin")
    assert (
        str(exc.value) == "a case that is resolved cannot become acknowledged; allowed next: closed, reopened"
    )


@pytest.mark.parametrize("role", ["resident", "integration"])
def test_residents_and_integrations_cannot_act(role: str) -> None:
    with pytest.raises(ActionForbidden):
        plan(full(Action.ACKNOWLEDGE), S.DISPATCHED, role)


def test_only_admins_and_operators_close_and_managers_may_do_the_rest() -> None:
    with pytest.raises(ActionForbidden, match="admin or operator"):
        plan(full(Action.CLOSE), S.RESOLVED, "manager")
    assert plan(full(Action.CLOSE), S.RESOLVED, "operator").target is S.CLOSED
    assert plan(full(Action.REOPEN), S.RESOLVED, "manager").target is S.REOPENED


@pytest.mark.parametrize(
    ("request_", "current", "message"),
    [
        (ActionRequest(Action.RESOLVE), S.IN_PROGRESS, "resolve needs a note"),
        (ActionRequest(Action.RESOLVE, note="   "), S.IN_PROGRESS, "resolve needs a note"),
        (ActionRequest(Action.CANCEL, note="a note is not a reason"), S.DISPATCHED, "cancel needs a reason"),
        (ActionRequest(Action.ASSIGN), S.DISPATCHED, "assign needs the team"),
    ],
)
def test_missing_input_is_refused_before_the_state_is_judged(
    request_: ActionRequest, current: CaseStatus, message: str
) -> None:
    with pytest.raises(ActionIncomplete, match=message):
        plan(request_, current, "operator")


def test_steps_carry_what_the_store_must_change() -> None:
    ack = plan(ActionRequest(Action.ACKNOWLEDGE), S.DISPATCHED, "operator")
    assert ack.take_case and not ack.mark_resolved and ack.move is Move.ACKNOWLEDGE
    assign = plan(ActionRequest(Action.ASSIGN, team="t2", note="wrong team"), S.IN_PROGRESS, "operator")
    assert (assign.target, assign.team, assign.note) == (S.DISPATCHED, "t2", "wrong team")
    cancel = plan(ActionRequest(Action.CANCEL, reason="false alarm"), S.ACKNOWLEDGED, "manager")
    assert (cancel.cancel_reason, cancel.note) == ("false alarm", "false alarm")
    assert plan(ActionRequest(Action.RESOLVE, note="replaced bulb"), S.IN_PROGRESS, "operator").mark_resolved


RULES = [
    RouteRule(
        name="sunrise lamps", match=Match(community="sunrise", category=["lighting"]), team="sun-electric"
    ),
    RouteRule(match=Match(building="b9"), team="b9-caretaker"),
    RouteRule(match=Match(source=["resident"], category="noise"), team="wardens"),
]


BASE_FACTS = CaseFacts(category="lighting", community="maple", building=None, grid=None, source="alert")


def facts(**changes: Any) -> CaseFacts:
    return replace(BASE_FACTS, **changes)


def test_first_matching_rule_wins_and_is_named_in_the_reason() -> None:
    got = route(RULES, facts(community="sunrise", building="b9"), rule_team="lighting", default_team="desk")
    assert (got.team, got.reason) == ("sun-electric", "routing rule sunrise lamps")
    got = route(RULES, facts(building="b9"), rule_team="lighting", default_team="desk")
    assert (got.team, got.reason) == ("b9-caretaker", "routing rule 2")


def test_every_key_of_a_match_must_fit() -> None:
    assert (
        route(RULES, facts(community="sunrise", category="fire"), rule_team=None, default_team="d").team
        == "d"
    )
    assert (
        route(RULES, facts(category="noise", source="operator"), rule_team=None, default_team="d").team == "d"
    )
    assert (
        route(RULES, facts(category="noise", source="resident"), rule_team=None, default_team="d").team
        == "wardens"
    )


def test_a_missing_location_never_matches_a_rule_that_asks_for_one() -> None:
    assert route([RULES[1]], facts(building=None), rule_team=None, default_team="d").team == "d"


def test_without_a_match_the_alert_rules_team_comes_before_the_default() -> None:
    got = route(RULES, facts(), rule_team="lighting", default_team="desk")
    assert (got.team, got.reason) == ("lighting", "the alert rule's team")
    got = route(RULES, facts(), rule_team=None, default_team="desk")
    assert (got.team, got.reason) == ("desk", "the default team")


def test_an_empty_match_catches_everything() -> None:
    assert (
        route([RouteRule(match=Match(), team="all")], facts(), rule_team="x", default_team="d").team == "all"
    )


SLA = [
    SlaRule(category=["fire"], ack_within=300, resolve_within=3600),
    SlaRule(severity="critical", ack_within=600, resolve_within=7200),
    SlaRule(ack_within=3600, resolve_within=86400),
]


def test_deadlines_come_from_the_first_fitting_sla_rule() -> None:
    fire = deadlines_for(SLA, "fire", "minor", T0)
    assert (fire.ack_due_at, fire.resolve_due_at) == (T0 + timedelta(minutes=5), T0 + timedelta(hours=1))
    gas = deadlines_for(SLA, "gas", "critical", T0)
    assert gas.ack_due_at == T0 + timedelta(minutes=10)
    noise = deadlines_for(SLA, "noise", "minor", T0)
    assert noise.resolve_due_at == T0 + timedelta(days=1)


BASE_STATE = SlaState(
    status=S.DISPATCHED,
    level=Level.TEAM,
    ack_due_at=T0 + timedelta(minutes=5),
    resolve_due_at=T0 + timedelta(hours=1),
    acknowledged_at=None,
    ack_escalated_at=None,
    resolve_escalated_at=None,
)


def state(**changes: Any) -> SlaState:
    return replace(BASE_STATE, **changes)


def test_nothing_escalates_before_a_deadline() -> None:
    assert next_escalation(state(), T0 + timedelta(minutes=5)) is None


def test_a_missed_acknowledgement_goes_to_the_supervisor_once() -> None:
    e = next_escalation(state(), T0 + timedelta(minutes=6))
    assert e is not None and (e.deadline, e.level) == ("ack", Level.SUPERVISOR)
    assert "acknowledgement was due" in e.describe() and "supervisor" in e.describe()
    done = state(level=Level.SUPERVISOR, ack_escalated_at=T0 + timedelta(minutes=6))
    assert next_escalation(done, T0 + timedelta(minutes=30)) is None


def test_a_missed_resolution_escalates_one_more_level() -> None:
    after_ack = state(level=Level.SUPERVISOR, ack_escalated_at=T0 + timedelta(minutes=6))
    e = next_escalation(after_ack, T0 + timedelta(hours=2))
    assert e is not None and (e.deadline, e.level) == ("resolve", Level.STREET_OFFICE)
    assert "street office" in e.describe()


def test_one_step_per_run_when_both_deadlines_are_missed() -> None:
    e = next_escalation(state(), T0 + timedelta(hours=2))
    assert e is not None and (e.deadline, e.level) == ("ack", Level.SUPERVISOR)


def test_an_acknowledged_case_escalates_only_on_its_resolution_deadline() -> None:
    acked = state(acknowledged_at=T0 + timedelta(minutes=1), status=S.IN_PROGRESS)
    assert next_escalation(acked, T0 + timedelta(minutes=30)) is None
    e = next_escalation(acked, T0 + timedelta(hours=2))
    assert e is not None and (e.deadline, e.level) == ("resolve", Level.SUPERVISOR)


@pytest.mark.parametrize("status", [S.RESOLVED, S.CLOSED, S.CANCELLED])
def test_finished_cases_never_escalate(status: CaseStatus) -> None:
    assert next_escalation(state(status=status), T0 + timedelta(days=3)) is None


def test_street_office_is_the_last_level() -> None:
    top = state(level=Level.STREET_OFFICE)
    assert next_escalation(top, T0 + timedelta(days=3)) is None


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)


def test_photos_are_typed_by_magic_bytes() -> None:
    assert decode_photo(base64.b64encode(PNG).decode()).content_type == "image/png"
    assert decode_photo(base64.b64encode(JPEG).decode()).content_type == "image/jpeg"
    with pytest.raises(PhotoNotAnImage):
        decode_photo(base64.b64encode(b"GIF89a" + bytes(10)).decode())
    with pytest.raises(PhotoNotAnImage):
        decode_photo(base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode())
    with pytest.raises(PhotoRejected, match="base64"):
        decode_photo("not base64!")


def test_photos_are_capped_at_two_megabytes() -> None:
    assert (
        len(decode_photo(base64.b64encode(JPEG.ljust(MAX_PHOTO_BYTES, b"\0")).decode()).data)
        == MAX_PHOTO_BYTES
    )
    with pytest.raises(PhotoTooLarge):
        decode_photo(base64.b64encode(JPEG.ljust(MAX_PHOTO_BYTES + 1, b"\0")).decode())


def test_the_shipped_routing_file_loads() -> None:
    cfg = config.load(Path(__file__).resolve().parents[1] / "config" / "routing.yaml")
    assert cfg.default_team and cfg.routes and cfg.sla[-1].catch_all
    got = route(cfg.routes, facts(category="fire", source="resident"), rule_team=None, default_team="x")
    assert got.team == "fire-safety"
    alert = route(cfg.routes, facts(category="security"), rule_team="lighting", default_team="x")
    assert alert.team == "lighting", "the shipped table leaves alert cases to their rule's team"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("routes: [{match: {colour: red}, team: a}]", "routes.0.match.colour"),
        ("routes: [{match: {}, team: 'Bad Team'}]", "routes.0.team"),
        ("sla: [{category: fire, ack_within: 5m, resolve_within: 1h}]", "last SLA rule"),
        ("sla: [{ack_within: soon, resolve_within: 1h}]", "sla.0.ack_within"),
        ("report_severity: {fire: urgent}", "report_severity.fire"),
        ("routes: [unclosed", "cannot read YAML"),
    ],
)
def test_a_bad_routing_file_is_refused_with_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(config.DispatchConfigError, match=message):
        config.load(path)


def test_a_bad_edit_keeps_the_running_configuration(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"

    def edit(text: str, second: int) -> None:
        path.write_text(text)
        os.utime(path, ns=(second * 10**9, second * 10**9))

    assert config.current(path).default_team == "duty-desk", "no file: built-in defaults"
    edit("default_team: first", 1)
    assert config.current(path).default_team == "first"
    edit("default_team: [broken", 2)
    assert config.current(path).default_team == "first"
    edit("default_team: second", 3)
    assert config.current(path).default_team == "second"
