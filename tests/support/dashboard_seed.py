"""Cases for the dashboard's browser tests, made through the hub's own API as people would make them, so
the KPI and public pages are checked against figures the tests know in advance."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import psycopg


@dataclass
class Seeded:
    """What the seeded cases must add up to: opened cases per team, category and grid."""

    case_ids: list[int] = field(default_factory=list)
    by_team: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_grid: dict[str, int] = field(default_factory=dict)


class Api:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base = f"{base_url}/api/v1"
        self.headers = headers

    def post(self, path: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
        r = httpx.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=10)
        assert r.status_code == expect, f"POST {path}: {r.status_code} {r.text}"
        return dict(r.json())

    def get(self, path: str, **params: str) -> Any:
        r = httpx.get(f"{self.base}{path}", params=params, headers=self.headers, timeout=10)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text}"
        return r.json()

    def report(
        self, community: str, category: str, grid: str, title: str, severity: str | None = None
    ) -> int:
        body: dict[str, Any] = {
            "community": community,
            "category": category,
            "grid": grid,
            "title": title,
            "description": f"{title} (seeded by the dashboard tests)",
        }
        if severity is not None:
            body["severity"] = severity
        return int(self.post("/cases", body, expect=201)["id"])

    def act(self, case_id: int, *steps: dict[str, Any]) -> None:
        for step in steps:
            self.post(f"/cases/{case_id}/actions", step)


RESOLVE = {"action": "resolve", "note": "fixed"}
ACK, START, CLOSE = {"action": "acknowledge"}, {"action": "start"}, {"action": "close"}


def seed_kpi_cases(api: Api, community: str) -> Seeded:
    """Six cases over three teams, three categories and two grids: two closed, one reworked and resolved
    again, one cancelled, one only acknowledged, one critical left dispatched."""
    seeded = Seeded()
    plan: list[tuple[str, str, str, str | None, list[dict[str, Any]]]] = [
        ("noise", "g1", "duty-desk", None, [ACK, START, RESOLVE, CLOSE]),
        ("noise", "g1", "duty-desk", None, [ACK, START, RESOLVE, CLOSE]),
        ("noise", "g1", "duty-desk", None, [ACK]),
        (
            "lighting",
            "g2",
            "lighting",
            None,
            [ACK, START, RESOLVE, {"action": "reopen", "note": "still dark"}, START, RESOLVE],
        ),
        ("lighting", "g2", "lighting", None, [{"action": "cancel", "reason": "duplicate report"}]),
        ("infrastructure", "g1", "street-works", "critical", []),
    ]
    for i, (category, grid, team, severity, steps) in enumerate(plan):
        case_id = api.report(community, category, grid, f"KPI seed {i + 1}: {category}", severity)
        api.act(case_id, *steps)
        seeded.case_ids.append(case_id)
        seeded.by_team[team] = seeded.by_team.get(team, 0) + 1
        seeded.by_category[category] = seeded.by_category.get(category, 0) + 1
        seeded.by_grid[grid] = seeded.by_grid.get(grid, 0) + 1
    return seeded


def backdate(database_url: str, case_ids: list[int], by: timedelta) -> None:
    """Move cases and their history into the past (the public summary counts whole days before today)."""
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "UPDATE cases SET created_at = created_at - %(by)s, updated_at = updated_at - %(by)s, "
            "acknowledged_at = acknowledged_at - %(by)s, resolved_at = resolved_at - %(by)s, "
            "ack_due_at = ack_due_at - %(by)s, resolve_due_at = resolve_due_at - %(by)s WHERE id = ANY(%(ids)s)",
            {"by": by, "ids": case_ids},
        )
        conn.execute("UPDATE case_events SET at = at - %s WHERE case_id = ANY(%s)", (by, case_ids))
