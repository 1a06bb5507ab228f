"""Checking a played scenario's expectations against a running hub, through its cases API.

There is no alert list in the API, so alerts are read where operators see them: in the cases of the
scenario's devices (`GET /cases`, then `GET /cases/{id}` with its alerts). Only alerts that were not there
before the scenario played count (not "opened after its start": scenario clocks run ahead, so an earlier
run's alerts can carry later device times). One still open from an earlier run is named in the failure,
since the hub keeps a single open alert per rule and subject and cannot raise it again.

Absence rules are the exception to device time: the hub runs them on its own clock, from the device
time of a device's last message. So an absence expectation is timed from each device's last message,
against the rule's period as the hub reports it (a test hub may run a shorter one than the pack's), and
the verifier waits for it in real seconds whatever `--compress` says.
"""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from device_simulators.player import Played
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

    def absence_periods(self) -> dict[str, float]:
        """Period in seconds of each absence rule in force."""
        rules = self.call("GET", "/rules")["rules"]
        return {r["id"]: float(r["definition"]["period"]) for r in rules if r["type"] == "absence"}


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


Verdict = Literal["pass", "fail"]


@dataclass(frozen=True)
class HubClock:
    """What absence expectations are judged by."""

    periods: Mapping[str, float]
    """Absence rules in force at the hub: id → period in seconds (`HubApi.absence_periods`)."""
    margin_s: float
    """How long after its period the alert may take to show: the hub checks absence once a second,
    then writes the alert and its case, and may be busy with ingest meanwhile."""


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
    scenario: Scenario,
    cast_: Cast,
    played: Played,
    seen: list[SeenAlert],
    before: frozenset[int],
    hub: HubClock,
) -> list[Outcome]:
    """`before`: ids of the alerts that existed before the scenario played."""
    out = []
    started = played.started
    for e in scenario.expect:
        for subject in subjects(e, cast_):
            what = f"{e.rule_id} on {subject}"
            if e.within_s is None:
                out.append(_silent(e, what, subject, played.last_message[subject], seen, before, hub))
            else:
                out.append(_expected(e, e.within_s, what, subject, started, seen, before))
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


def _first_new(
    e: Expect, subject: str, seen: list[SeenAlert], before: frozenset[int], within: str
) -> SeenAlert | str:
    """The first alert of the rule on the subject raised since the scenario began, or why there is none."""
    mine = [a for a in seen if a.rule_id == e.rule_id and a.subject == subject]
    new = sorted((a for a in mine if a.alert_id not in before), key=lambda a: a.opened_at)
    if new:
        return new[0]
    stale = [a for a in mine if a.status == "open"]
    why = f"no alert within {within}"
    if stale:
        why += (
            f": one from an earlier run is still open (case {stale[0].case_id}) and the hub keeps one open"
            " alert per rule and subject; wait until it clears or play on other devices"
        )
    return why


def _severity(e: Expect, a: SeenAlert) -> tuple[str, bool]:
    """How to name the alert's severity, and whether it is the expected one."""
    have, want = SEVERITY_RANK.get(a.severity, -1), SEVERITY_RANK[e.severity]
    if a.exact_severity:
        return a.severity, have == want
    return f"case {a.severity} (≥ {e.severity})", have >= want


def _expected(
    e: Expect,
    within_s: float,
    what: str,
    subject: str,
    started: datetime,
    seen: list[SeenAlert],
    before: frozenset[int],
) -> Outcome:
    a = _first_new(e, subject, seen, before, f"{within_s:g} s")
    if isinstance(a, str):
        return Outcome("fail", what, a)
    after = (a.opened_at - started).total_seconds()
    if after > within_s:
        return Outcome("fail", what, f"opened {after:.0f} s after the start, expected within {within_s:g} s")
    severity, right = _severity(e, a)
    if not right:
        return Outcome("fail", what, f"severity {severity}, expected {e.severity} (case {a.case_id})")
    return Outcome(
        "pass",
        what,
        f"{severity}, opened {after:.0f} s after the start (within {within_s:g} s), case {a.case_id}",
    )


def _silent(
    e: Expect,
    what: str,
    subject: str,
    last_message: datetime,
    seen: list[SeenAlert],
    before: frozenset[int],
    hub: HubClock,
) -> Outcome:
    """An absence alert opens on the hub's clock once the device has been silent for the period, so it
    must open neither sooner nor much later than that after the device's last message."""
    period = hub.periods.get(e.rule_id)
    if period is None:
        return Outcome("fail", what, f"the hub has no absence rule {e.rule_id} in force (GET /api/v1/rules)")
    window = f"its {period:g} s period + {hub.margin_s:g} s of its last message (hub clock)"
    a = _first_new(e, subject, seen, before, window)
    if isinstance(a, str):
        return Outcome("fail", what, a)
    after = (a.opened_at - last_message).total_seconds()
    if after < period:
        return Outcome(
            "fail", what, f"opened {after:.1f} s after its last message, before its {period:g} s period"
        )
    if after > period + hub.margin_s:
        return Outcome("fail", what, f"opened {after:.0f} s after its last message, expected within {window}")
    severity, right = _severity(e, a)
    if not right:
        return Outcome("fail", what, f"severity {severity}, expected {e.severity} (case {a.case_id})")
    return Outcome(
        "pass",
        what,
        f"{severity}, opened {after:.0f} s after its last message (within {window}), case {a.case_id}",
    )


def settled(outcomes: list[Outcome]) -> bool:
    """Every expected alert is there (forbidden ones are judged once more after a pause)."""
    return not any(o.verdict == "fail" and not o.forbidden for o in outcomes)


def silence_wait_s(scenario: Scenario, cast_: Cast, played: Played, hub: HubClock, now: datetime) -> float:
    """Real seconds from `now` until the last absence expectation is due: its device's last message
    (device time, which a compressed scenario runs ahead of the clock) plus the period and the margin."""
    due = [
        (played.last_message[subject] - now).total_seconds() + period + hub.margin_s
        for e in scenario.expect
        if e.within_s is None and (period := hub.periods.get(e.rule_id)) is not None
        for subject in subjects(e, cast_)
    ]
    return max(due, default=0.0)


def verify(
    api: HubApi,
    scenario: Scenario,
    cast_: Cast,
    played: Played,
    before: frozenset[int],
    hub: HubClock,
    *,
    timeout_s: float,
    settle_s: float = 1.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Poll until every expected alert is there, or `timeout_s` passes and every absence expectation is
    due, then wait `settle_s` more so a forbidden alert raised by the last readings is seen too."""
    wait = max(timeout_s, silence_wait_s(scenario, cast_, played, hub, clock()))
    deadline = monotonic() + wait
    while True:
        outcomes = judge(scenario, cast_, played, observe(api, cast_), before, hub)
        if settled(outcomes) or monotonic() >= deadline:
            break
        sleep(0.5)
    sleep(settle_s)
    return judge(scenario, cast_, played, observe(api, cast_), before, hub)


def report(scenario: Scenario, outcomes: list[Outcome]) -> str:
    failed = sum(o.verdict == "fail" for o in outcomes)
    width = max((len(o.what) for o in outcomes), default=0)
    lines = [f"  {o.verdict.upper():<8} {o.what:<{width}}  {o.detail}" for o in outcomes]
    result = "FAIL" if failed else "PASS"
    lines.append(f"{scenario.name}: {result}: {len(outcomes) - failed} passed, {failed} failed")
    return "\n".join(lines)
