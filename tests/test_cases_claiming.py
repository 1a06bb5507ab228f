"""Claiming under contention: 20 claimers, each on its own connection, over 50 cases."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.cases import acting, opening
from hub.cases.config import DispatchConfig
from hub.domain.roles import Role
from hub.domain.users import User
from hub.store import devices as device_store

CLAIMERS = 20
CASES = 50
SEVERITIES = ("info", "minor", "major", "critical")


def setup(conn: psycopg.Connection[Any], claimers: int, cases: int) -> tuple[list[User], list[int], datetime]:
    tag = uuid.uuid4().hex[:8]
    team, where = f"claim-{tag}", f"claim-{tag}"
    device_store.ensure_community(conn, where)
    users = []
    for n in range(claimers):
        name = f"claim-{tag}-{n}"
        row = conn.execute(
            "INSERT INTO users (username, password_hash, role) VALUES (%s, 'no log-in', 'operator') RETURNING id",
            (name,),
        ).fetchone()
        assert row is not None
        uid = int(row[0])
        conn.execute("INSERT INTO team_members (team, user_id) VALUES (%s, %s)", (team, uid))
        users.append(User(uid, name, Role.OPERATOR, ()))
    dispatch = DispatchConfig(default_team=team)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for n in range(cases):
        report = opening.Report(where, "other", f"case {n}", "text", "b1", None, None, SEVERITIES[n % 4])
        ids.append(opening.open_report(conn, report, users[0], dispatch, t0 + timedelta(seconds=n)))
    return users, ids, t0


def test_twenty_parallel_claimers_each_get_different_cases_and_all_are_handed_out(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    users, ids, _ = setup(conn, CLAIMERS, CASES)
    got: dict[str, list[int]] = {u.username: [] for u in users}
    errors: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)

    def claimer(user: User) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as own:
                start.wait(10)
                while (case_id := acting.claim_next(own, user, None, datetime.now(UTC))) is not None:
                    got[user.username].append(case_id)
        except BaseException as exc:  # reported below, a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    handed = [c for cases in got.values() for c in cases]
    assert len(handed) == len(set(handed)), "no case is handed out twice"
    assert sorted(handed) == sorted(ids), "every case is handed out"
    assert sum(1 for cases in got.values() if cases) > 1, "the claimers really ran side by side"
    rows = conn.execute(
        "SELECT c.id, u.username, c.status, "
        "(SELECT count(*) FROM case_events e WHERE e.case_id = c.id AND e.action = 'claimed') "
        "FROM cases c JOIN users u ON u.id = c.assignee_id WHERE c.id = ANY(%s)",
        (ids,),
    ).fetchall()
    owner = {c: name for name, cases in got.items() for c in cases}
    assert len(rows) == CASES
    for case_id, assignee, status, claims in rows:
        assert (assignee, status, claims) == (owner[case_id], "acknowledged", 1)


def test_claims_come_most_severe_first_then_oldest(conn: psycopg.Connection[Any]) -> None:
    [user], ids, _ = setup(conn, 1, 8)
    order = []
    while (case_id := acting.claim_next(conn, user, None, datetime.now(UTC))) is not None:
        order.append(case_id)
    by_severity = {s: [i for n, i in enumerate(ids) if SEVERITIES[n % 4] == s] for s in SEVERITIES}
    assert (
        order == by_severity["critical"] + by_severity["major"] + by_severity["minor"] + by_severity["info"]
    )
