"""No alarm floods: many alerts of one place become one case.

Two guards run before an alert opens a case of its own, inside the caller's transaction:

- **Communication outage.** An absence rule firing for many devices of one place (at least
  `storms.outage.min_devices` and `share` of the place's devices in service, each within `window`) is
  one problem, a power cut or a broken uplink: one outage case takes in their alerts and folds the cases
  they opened moments before. It lists the devices (its alerts) and says when the last one is back;
  when too few are left silent to call it an outage, those still silent `stragglers_after` the case
  last changed get cases of their own (`split_stragglers`, run by a job).
- **Storm guard.** More than `storms.max_cases` new cases of one rule in one place (a grid by default)
  within `window`: the next alert opens a storm case titled with the count ("38 lampposts of grid g2 …")
  that folds the untouched ones and takes in every later alert of the rule there while it is open.
  Categories in `never_fold` (fire, gas, safety) always get a case of their own.

Both key their case by a subject naming kind, rule and place (`hub.domain.storms`), so the table's one
open case per subject makes them find-or-open, and an advisory lock per subject makes the count of
two alerts written side by side include each other.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.cases import folding
from hub.cases.config import DispatchConfig
from hub.cases.opening import SYSTEM, NewCase, calendar_of, open_case, route_alert
from hub.cases.routing import CaseFacts, route
from hub.cases.sla import deadlines_for
from hub.domain.alerts import AlertOpened, Transition
from hub.domain.storms import Area, StormKind, area_of, is_outage, outage_titles, storm_titles
from hub.engine.schema import AbsenceRule
from hub.store import alerts as alert_store
from hub.store import cases as case_store
from hub.store import storms


class Arriving:
    """The alerts of one transaction still to be written, per storm and outage subject: a hub starting
    after an outage, or one absence tick, brings many alerts at once, and counting them all from the
    first keeps the first ones from opening cases of their own that the later ones would fold again
    (each a notification for nothing)."""

    def __init__(self, transitions: Iterable[Transition], cfg: DispatchConfig) -> None:
        self._left: Counter[str] = Counter(
            subject
            for t in transitions
            if isinstance(t, AlertOpened) and t.subject == t.device.id
            for subject in (_outage_subject(t, cfg), _storm_subject(t, cfg))
            if subject is not None
        )

    def take(self, subject: str) -> int:
        """How many alerts of `subject` this transaction brings from this one on; counts this one off."""
        left = max(self._left[subject], 1)
        self._left[subject] = left - 1
        return left


def fold_into_storm(
    conn: psycopg.Connection[Any],
    a: AlertOpened,
    cfg: DispatchConfig,
    now: datetime,
    arriving: Arriving | None = None,
) -> int | None:
    """The outage or storm case the alert went into, or None when it is no part of one (it then opens
    a case of its own as usual). Only a device's own alerts count; a group rule's alert already speaks
    for many devices."""
    if a.subject != a.device.id:
        return None
    outage = _outage_subject(a, cfg)
    if outage is not None:
        left = arriving.take(outage) if arriving is not None else 1
        case_id = _guard(conn, a, cfg, now, outage, lambda earlier: _is_outage(conn, cfg, a, earlier + left))
        if case_id is not None:
            return case_id
    storm = _storm_subject(a, cfg)
    if storm is None:
        return None
    left = arriving.take(storm) if arriving is not None else 1
    return _guard(conn, a, cfg, now, storm, lambda earlier: earlier + left > cfg.storms.max_cases)


def _outage_subject(a: AlertOpened, cfg: DispatchConfig) -> str | None:
    area = area_of(a.device, cfg.storms.outage.scope) if isinstance(a.rule, AbsenceRule) else None
    return None if area is None else area.subject(StormKind.OUTAGE, a.rule.id)


def _storm_subject(a: AlertOpened, cfg: DispatchConfig) -> str | None:
    if a.rule.category in cfg.storms.never_fold:
        return None
    area = area_of(a.device, cfg.storms.scope)
    return None if area is None else area.subject(StormKind.STORM, a.rule.id)


def _is_outage(conn: psycopg.Connection[Any], cfg: DispatchConfig, a: AlertOpened, silent: int) -> bool:
    o = cfg.storms.outage
    area = area_of(a.device, o.scope)
    assert area is not None
    return is_outage(silent, storms.devices_in(conn, area), min_devices=o.min_devices, share=o.share)


def _guard(
    conn: psycopg.Connection[Any],
    a: AlertOpened,
    cfg: DispatchConfig,
    now: datetime,
    subject: str,
    breaks: Callable[[int], bool],
) -> int | None:
    """The alert joins the open case of `subject`; without one, when `breaks` says the alerts (or cases)
    counted so far make a storm, it opens that case and takes in the earlier members."""
    kind = StormKind(subject.split(":", 1)[0])
    area = _area_of(a, cfg, kind)
    storms.lock(conn, subject)
    case_id = storms.open_case(conn, subject)
    earlier: list[int] = []
    if case_id is None:
        if kind is StormKind.OUTAGE:
            window = cfg.storms.outage.window
            earlier = storms.silent_devices(conn, a.rule.id, area, now - timedelta(seconds=window))
            counted = len(earlier)
        else:
            counted, earlier = storms.recent_cases(
                conn, a.rule.id, area, now - timedelta(seconds=cfg.storms.window)
            )
        if not breaks(counted):
            return None
    alert_id = alert_store.open_alert(conn, a, now)
    if alert_id is None:
        return None
    opened = case_id is None
    if case_id is None:
        case_id = _open(conn, a, cfg, area, kind, subject, now)
    _take_in(conn, case_id, [*earlier, alert_id], subject, now, opened=opened)
    _retitle(conn, case_id, area, kind, a, now)
    return case_id


def _area_of(a: AlertOpened, cfg: DispatchConfig, kind: StormKind) -> Area:
    area = area_of(a.device, cfg.storms.outage.scope if kind is StormKind.OUTAGE else cfg.storms.scope)
    assert area is not None
    return area


def _open(
    conn: psycopg.Connection[Any],
    a: AlertOpened,
    cfg: DispatchConfig,
    area: Area,
    kind: StormKind,
    subject: str,
    now: datetime,
) -> int:
    facts = CaseFacts(a.rule.category, area.community, area.building, area.grid, "alert")
    routed, due = route_alert(conn, cfg, a, facts, now)
    new = NewCase(
        title=a.rule.title,
        title_zh=a.rule.title_zh,
        category=a.rule.category,
        severity=a.rule.severity,
        source="alert",
        subject=subject,
        community_id=area.community,
        building=area.building,
        grid=area.grid,
        device_id=None,
    )
    why = f"{kind.value} of rule {a.rule.id} in {subject.split(':', 2)[2]}"
    detail = {
        "storm": kind.value,
        "rule_id": a.rule.id,
        "scope": area.scope,
        "place": area.part or area.community,
    }
    case_id, _ = open_case(conn, new, routed, due, actor=SYSTEM, why=why, why_detail=detail, at=now)
    return case_id


def _take_in(
    conn: psycopg.Connection[Any],
    case_id: int,
    alert_ids: list[int],
    subject: str,
    now: datetime,
    *,
    opened: bool,
) -> None:
    """The alerts join the storm case; the cases they opened on their own, if nobody has taken them up,
    are folded into it (the move `fold`), and reports merged into those follow. Only the opening says
    so in the history: a storm's later members raise its count in the title, not a notification each."""
    kind = subject.split(":", 1)[0]
    what = "an outage" if kind == StormKind.OUTAGE else "a storm"
    for case in storms.take_in(conn, alert_ids, case_id):
        folding.fold(
            conn,
            case,
            case_id,
            why=f"absorbed into case #{case_id}: part of {what}",
            taken_in=f"case #{case['id']} of {case['device_id']} taken in: part of {what}",
            detail={"storm": kind},
            at=now,
        )
    if opened:
        case_store.add_event(
            conn,
            case_id,
            actor=SYSTEM,
            action="alerts_joined",
            at=now,
            note=f"{len(alert_ids)} alert(s) joined {what}",
            detail={"alert_ids": alert_ids, "storm": kind, "count": len(alert_ids)},
        )


def _retitle(
    conn: psycopg.Connection[Any], case_id: int, area: Area, kind: StormKind, a: AlertOpened, now: datetime
) -> None:
    m = storms.members(conn, case_id)
    if kind is StormKind.OUTAGE:
        title, title_zh = outage_titles(area, m["alerts"], storms.devices_in(conn, area))
    else:
        title, title_zh = storm_titles(area, m["alerts"], set(m["kinds"]), a.rule.title, a.rule.title_zh)
    storms.retitle(conn, case_id, title, title_zh, now)


def member_cleared(conn: psycopg.Connection[Any], alert_id: int, now: datetime) -> list[int]:
    """A member of open storm or outage cases cleared: returns those cases. Members come back one by
    one, so the history says nothing until the last one is back (a note, and a notification, per device
    would be the flood again); each return marks the case changed, which is when the stragglers' wait
    starts."""
    cases = storms.storm_cases_of_alert(conn, alert_id)
    for case_id in cases:
        storms.touch(conn, case_id, now)
        m = storms.members(conn, case_id)
        if m["open"] == 0:
            case_store.add_event(
                conn,
                case_id,
                actor=SYSTEM,
                action="storm_over",
                at=now,
                note=f"all {m['alerts']} device alert(s) of the case cleared",
                detail={"count": m["alerts"]},
            )
    return cases


def split_stragglers(conn: psycopg.Connection[Any], cfg: DispatchConfig, now: datetime) -> list[int]:
    """Devices an outage left behind: once too few of its devices are silent to call it an outage,
    and `stragglers_after` has passed since the case last changed (the last device came back), each
    device still silent gets a case of its own (its alert leaves the outage case, which can then be
    closed). Returns the cases opened."""
    o = cfg.storms.outage
    opened: list[int] = []
    for case in storms.open_storm_cases(conn, StormKind.OUTAGE.value):
        storms.lock(conn, case["subject"])
        m = storms.members(conn, case["id"])
        if m["open"] == 0 or m["open"] == m["alerts"]:
            continue
        if now - case["updated_at"] < timedelta(seconds=o.stragglers_after):
            continue
        area = _area_of_case(case)
        if is_outage(m["open"], storms.devices_in(conn, area), min_devices=o.min_devices, share=o.share):
            continue
        own = [
            _straggler_case(conn, alert, case, cfg, now)
            for alert in storms.open_member_alerts(conn, case["id"])
        ]
        case_store.add_event(
            conn,
            case["id"],
            actor=SYSTEM,
            action="stragglers_split",
            at=now,
            note=f"{len(own)} device(s) still silent got case(s) of their own: "
            + ", ".join(f"#{c}" for c in own),
            detail={"case_ids": own, "count": len(own)},
        )
        opened += own
    return opened


def _area_of_case(case: dict[str, Any]) -> Area:
    if case["grid"] is not None:
        return Area("grid", case["community_id"], case["grid"])
    if case["building"] is not None:
        return Area("building", case["community_id"], case["building"])
    return Area("community", case["community_id"])


def _straggler_case(
    conn: psycopg.Connection[Any],
    alert: dict[str, Any],
    outage: dict[str, Any],
    cfg: DispatchConfig,
    now: datetime,
) -> int:
    facts = CaseFacts(alert["category"], alert["community_id"], alert["building"], alert["grid"], "alert")
    routed = route(cfg.routes, facts, rule_team=outage["team"], default_team=cfg.default_team)
    calendar = calendar_of(conn, cfg, alert["community_id"])
    due = deadlines_for(cfg.sla, alert["category"], alert["severity"], now, calendar)
    new = NewCase(
        title=alert["title"],
        title_zh=alert["title_zh"],
        category=alert["category"],
        severity=alert["severity"],
        source="alert",
        subject=alert["subject"],
        community_id=alert["community_id"],
        building=alert["building"],
        grid=alert["grid"],
        device_id=alert["device_id"],
    )
    why = f"alert {alert['rule_id']} on {alert['subject']}: still silent after outage case #{outage['id']}"
    about = {
        "alert_id": alert["id"],
        "rule_id": alert["rule_id"],
        "subject": alert["subject"],
        "device_id": alert["device_id"],
        "straggler_of": outage["id"],
    }
    case_id, _ = open_case(conn, new, routed, due, actor=SYSTEM, why=why, why_detail=about, at=now)
    case_store.link_alert(conn, case_id, alert["id"])
    storms.unlink(conn, outage["id"], alert["id"])
    return case_id
