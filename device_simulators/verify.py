"""Checking a played scenario's expectations against a running hub, through its cases API.

There is no alert list in the API, so alerts are read where operators see them: in the cases of the
scenario's devices (`GET /cases`, then `GET /cases/{id}` with its alerts). Only alerts that were not there
before the scenario played count (not "opened after its start": scenario clocks run ahead, so an earlier
run's alerts can carry later device times). One still open from an earlier run is named in the failure,
since the hub keeps a single open alert per rule and subject and cannot raise it again.
"""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from device_simulators.scenarios import Cast, Expect, Scenario

SEVERITY_RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3}
PAGE = 500


class ApiError(RuntimeError):
    pass


class HubApi:
    """The few API calls the simulator needs, on the standard library (no HTTP client dependency)."""

    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = 30) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - the operator's hub
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(
                f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}"
            ) from None
        except urllib.error.URLError as exc:
            raise ApiError(f"{method} {self.url}/api/v1{path}: {exc.reason}") from None

    def login(self, username: str, password: str) -> None:
        self.token = self.call("POST", "/auth/login", {"username": username, "password": password})[
            "access_token"
        ]

    def cases(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.call("GET", f"/cases?limit={PAGE}&offset={len(out)}")
            out += page
            if len(page) < PAGE:
                return out


@dataclass(frozen=True)
class SeenAlert:
    alert_id: int
    rule_id: str
    subject: str
    status: str
    opened_at: datetime
    case_id: int
    severity: str
    exact_severity: bool
    """False when only the case's severity is known and other rules' alerts share the case (a case
    takes the highest severity of its alerts), so only "at least" can be checked."""


def observe(api: HubApi, cast_: Cast) -> list[SeenAlert]:
    """The alerts in the cases of the scenario's devices, building and grid."""
    devices = {d.id for d in cast_.targets}
    places = {group_subject(cast_, level) for level in ("building", "grid")} - {None}
    seen = []
    for case in api.cases():
        if case["community_id"] != cast_.community:
            continue
        if case.get("device_id") not in devices and case.get("subject") not in places:
            continue
        detail = api.call("GET", f"/cases/{case['id']}")
        rules = {a["rule_id"] for a in detail["alerts"]}
        for a in detail["alerts"]:
            severity = a.get("severity")
            seen.append(
                SeenAlert(
                    alert_id=int(a["id"]),
                    rule_id=a["rule_id"],
                    subject=a.get("subject") or a.get("device_id") or case["subject"],
                    status=a["status"],
                    opened_at=datetime.fromisoformat(a["opened_at"]),
                    case_id=int(case["id"]),
                    severity=severity or case["severity"],
                    exact_severity=severity is not None or len(rules) == 1,
                )
            )
    return seen


Verdict = Literal["pass", "fail", "pending"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    what: str
    detail: str
    forbidden: bool = False
    """The outcome of a must-not (judged once more at the end) rather than of an expected alert."""


def subjects(e: Expect, cast_: Cast) -> list[str]:
    targets = [d for d in cast_.targets if e.kind in (None, d.kind)]
    if e.subject == "each":
        return [d.id for d in targets]
    if e.subject == "first":
        return [d.id for d in targets[:1]]
    place = group_subject(cast_, e.subject)
    return [place] if place and targets else []


def group_subject(cast_: Cast, level: str) -> str | None:
    """The hub names a group alert's subject `building:COMMUNITY/BUILDING` (or `grid:…`)."""
    place = cast_.building if level == "building" else cast_.grid
    return f"{level}:{cast_.community}/{place}" if place else None


def judge(
    scenario: Scenario, cast_: Cast, started: datetime, seen: list[SeenAlert], before: frozenset[int]
) -> list[Outcome]:
    """`before`: ids of the alerts that existed before the scenario played."""
    out = []
    for e in scenario.expect:
        for subject in subjects(e, cast_):
            what = f"{e.rule_id} on {subject}"
            if e.pending_rule_kind:
                out.append(Outcome("pending", what, f"waits for a rule of kind {e.pending_rule_kind}"))
            else:
                out.append(_expected(e, what, subject, started, seen, before))
    targets = {d.id for d in cast_.targets}
    for rule_id in scenario.forbid:
        hits = [a for a in seen if a.rule_id == rule_id and a.subject in targets and a.alert_id not in before]
        if hits:
            a = hits[0]
            late = (a.opened_at - started).total_seconds()
            out.append(
                Outcome(
                    "fail", f"no {rule_id}", f"raised on {a.subject} {late:.0f} s in (case {a.case_id})", True
                )
            )
        else:
            out.append(Outcome("pass", f"no {rule_id}", "not raised on the scenario's devices", True))
    return out


def _expected(
    e: Expect, what: str, subject: str, started: datetime, seen: list[SeenAlert], before: frozenset[int]
) -> Outcome:
    mine = [a for a in seen if a.rule_id == e.rule_id and a.subject == subject]
    new = sorted((a for a in mine if a.alert_id not in before), key=lambda a: a.opened_at)
    if not new:
        stale = [a for a in mine if a.status == "open"]
        why = f"no alert within {e.within_s:g} s"
        if stale:
            why += (
                f": one from an earlier run is still open (case {stale[0].case_id}) and the hub keeps one open"
                " alert per rule and subject; wait until it clears or play on other devices"
            )
        return Outcome("fail", what, why)
    a = new[0]
    after = (a.opened_at - started).total_seconds()
    if after > e.within_s:
        return Outcome(
            "fail", what, f"opened {after:.0f} s after the start, expected within {e.within_s:g} s"
        )
    have, want = SEVERITY_RANK.get(a.severity, -1), SEVERITY_RANK[e.severity]
    severity = a.severity if a.exact_severity else f"case {a.severity} (≥ {e.severity})"
    if (have != want) if a.exact_severity else (have < want):
        return Outcome("fail", what, f"severity {severity}, expected {e.severity} (case {a.case_id})")
    return Outcome(
        "pass",
        what,
        f"{severity}, opened {after:.0f} s after the start (within {e.within_s:g} s), case {a.case_id}",
    )


def settled(outcomes: list[Outcome]) -> bool:
    """Every expected alert is there (forbidden ones are judged once more after a pause)."""
    return not any(o.verdict == "fail" and not o.forbidden for o in outcomes)


def verify(
    api: HubApi,
    scenario: Scenario,
    cast_: Cast,
    started: datetime,
    before: frozenset[int],
    *,
    timeout_s: float,
    settle_s: float = 1.0,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Poll until every expected alert is there or `timeout_s` passes, then wait `settle_s` more so a
    forbidden alert raised by the last readings is seen too."""
    deadline = monotonic() + timeout_s
    while True:
        outcomes = judge(scenario, cast_, started, observe(api, cast_), before)
        if settled(outcomes) or monotonic() >= deadline:
            break
        sleep(0.5)
    sleep(settle_s)
    return judge(scenario, cast_, started, observe(api, cast_), before)


def report(scenario: Scenario, outcomes: list[Outcome]) -> str:
    counts = {v: sum(o.verdict == v for o in outcomes) for v in ("pass", "fail", "pending")}
    width = max((len(o.what) for o in outcomes), default=0)
    lines = [f"  {o.verdict.upper():<8} {o.what:<{width}}  {o.detail}" for o in outcomes]
    result = "FAIL" if counts["fail"] else "PASS"
    lines.append(
        f"{scenario.name}: {result}: {counts['pass']} passed, {counts['fail']} failed, {counts['pending']} pending"
    )
    return "\n".join(lines)
