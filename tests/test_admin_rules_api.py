"""Rule files through the API (in-process app, a database of its own, rule directories in tmp): a check
gives the messages of `hub rules check`; a save is checked among the other files, recorded with who,
when and its check, written and put in force, and audited; a bad file, a stale editor and an unchanged
file are refused and the rules in force stay; restore saves an earlier version again; operators read
but may not save; a second worker catches up with a save by itself, and a new one starts with it."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from hub import cli
from hub.api.app import create_app
from hub.engine.loader import LoadError, digest
from hub.engine.schema import Rule
from hub.ingest.rules import RuleSet
from hub.settings import Settings
from hub.store import db, migrations
from hub.store.users import upsert_user
from tests.support.processes import HubProcess, poll
from tests.support.services import Broker, create_database, drop_database

API = "/api/v1"
PW = "ra-pw"
USERS = {"ra-admin": "admin", "ra-op": "operator", "ra-mgr": "manager"}
ALPHA = """# hot smoke detectors
rules:
  - id: a-hot
    type: threshold
    title: Hot detector
    title_zh: 烟感过热
    kinds: [smoke_detector]
    severity: major
    category: fire
    when: temperature_c >= 60
    dispatch: {team: fire-safety}
"""
BETA = """rules:
  - id: b-battery
    type: threshold
    title: Battery low
    kinds: [smoke_detector]
    severity: minor
    category: device_health
    when: battery_pct < 10
    dispatch: {team: maintenance}
"""
WARMER = ALPHA.replace("temperature_c >= 60", "temperature_c >= 50")
BAD = ALPHA.replace("temperature_c >= 60", "temprature_c >= 60")
TWICE = ALPHA.replace("id: a-hot", "id: b-battery")


class Worker:
    """A hub worker's rules: its own directory, the shared database, what it handed to its engine."""

    def __init__(self, directory: Path, pool: ConnectionPool, name: str) -> None:
        self.directory = directory
        self.applied: list[list[Rule]] = []
        self.rules = RuleSet(directory, apply=self.applied.append, pool=pool, worker=name)
        self.rules.load()

    def versions(self) -> dict[str, str]:
        return {r.id: r.version for r in self.rules.rules}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """Saved rule files are keyed by file name, so these tests keep them out of the session database."""
    name, url = create_database()
    migrations.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for user, role in USERS.items():
            upsert_user(conn, user, PW, role, ["ra"] if role == "manager" else None)
    yield url
    drop_database(name)


@pytest.fixture
def pool(database: str) -> Iterator[ConnectionPool]:
    p = db.make_pool(database)
    with p.connection() as conn:
        conn.execute("TRUNCATE rule_file_versions, rule_loads, audit_log")
    yield p
    p.close()


def shipped(directory: Path) -> Path:
    directory.mkdir()
    (directory / "alpha.yaml").write_text(ALPHA)
    (directory / "beta.yaml").write_text(BETA)
    return directory


@pytest.fixture
def here(pool: ConnectionPool, tmp_path: Path) -> Worker:
    return Worker(shipped(tmp_path / "a"), pool, "worker-a")


@pytest.fixture
def client(here: Worker, pool: ConnectionPool, database: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=database, environment="test", mqtt_auth_dir=tmp_path / "auth")
    with TestClient(create_app(settings, pool, rule_set=here.rules)) as c:
        yield c


_tokens: dict[tuple[int, str], dict[str, str]] = {}


def login(client: TestClient, user: str) -> dict[str, str]:
    """Once per client and user: a log-in checks an argon2 hash on purpose slowly."""
    key = (id(client), user)
    if key not in _tokens:
        r = client.post(f"{API}/auth/login", json={"username": user, "password": PW})
        assert r.status_code == 200, r.text
        _tokens[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _tokens[key]


def save(client: TestClient, name: str, content: str, base: str | None, user: str = "ra-admin") -> Any:
    return client.put(
        f"{API}/rules/files/{name}", json={"content": content, "base_hash": base}, headers=login(client, user)
    )


def audit_rows(pool: ConnectionPool) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT actor, action, target_type, target_id, outcome, details FROM audit_log ORDER BY id"
        ).fetchall()


def versions(pool: ConnectionPool, name: str) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT id, source, saved_by, content, restored_from, check_result -> 'ok' FROM rule_file_versions "
            "WHERE file_name = %s ORDER BY id",
            (name,),
        ).fetchall()


def test_the_files_in_force_list_their_rules_versions_titles_and_the_workers(
    client: TestClient, here: Worker
) -> None:
    r = client.get(f"{API}/rules/files", headers=login(client, "ra-op"))
    assert r.status_code == 200, r.text
    body = r.json()
    files = {f["name"]: f for f in body["files"]}
    assert list(files) == ["alpha.yaml", "beta.yaml"]
    assert files["alpha.yaml"]["hash"] == digest(ALPHA)
    assert files["alpha.yaml"]["saved"] is None
    (hot,) = files["alpha.yaml"]["rules"]
    assert (hot["id"], hot["title_zh"], hot["version"]) == ("a-hot", "烟感过热", here.versions()["a-hot"])
    (worker,) = body["workers"]
    assert worker["worker_id"] == "worker-a"
    assert worker["files"] == {"alpha.yaml": digest(ALPHA), "beta.yaml": digest(BETA)}
    assert (worker["rule_count"], worker["behind"], worker["alive"]) == (2, [], True)

    in_force = client.get(f"{API}/rules", headers=login(client, "ra-mgr")).json()["rules"]
    assert {(x["id"], x["file"], x["title_zh"]) for x in in_force} == {
        ("a-hot", "alpha.yaml", "烟感过热"),
        ("b-battery", "beta.yaml", None),
    }
    assert client.get(f"{API}/rules/files", headers=login(client, "ra-mgr")).status_code == 403


def test_a_check_gives_the_messages_of_hub_rules_check(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = client.post(
        f"{API}/rules/files/alpha.yaml/check", json={"content": BAD}, headers=login(client, "ra-op")
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["ok"] is False
    api_lines = [str(LoadError(**e)) for e in result["errors"]]
    assert [(e["file"], e["rule"], e["field"]) for e in result["errors"]] == [("alpha.yaml", "a-hot", "when")]

    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "alpha.yaml").write_text(BAD)
    (candidate / "beta.yaml").write_text(BETA)
    monkeypatch.chdir(candidate)
    assert cli.main(["rules", "check", "."]) == 1
    cli_lines = capsys.readouterr().err.splitlines()[:-1]  # the last line counts them
    assert sorted(api_lines) == sorted(cli_lines)

    good = client.post(
        f"{API}/rules/files/alpha.yaml/check", json={"content": WARMER}, headers=login(client, "ra-op")
    )
    assert good.json()["ok"] is True and [x["id"] for x in good.json()["rules"]] == ["a-hot"]
    twice = client.post(
        f"{API}/rules/files/alpha.yaml/check", json={"content": TWICE}, headers=login(client, "ra-op")
    ).json()
    assert [str(LoadError(**e)) for e in twice["errors"]] == [
        "beta.yaml: rule b-battery: id: duplicate rule id, also in alpha.yaml"
    ]


def test_a_save_is_recorded_written_put_in_force_and_audited(
    client: TestClient, here: Worker, pool: ConnectionPool
) -> None:
    before = here.versions()
    opened = client.get(f"{API}/rules/files/alpha.yaml", headers=login(client, "ra-admin")).json()
    assert (opened["content"], opened["hash"], opened["history"]) == (ALPHA, digest(ALPHA), [])

    r = save(client, "alpha.yaml", WARMER, opened["hash"])
    assert r.status_code == 200, r.text
    saved = r.json()
    assert (saved["source"], saved["saved_by"], saved["content_hash"]) == (
        "saved",
        "ra-admin",
        digest(WARMER),
    )
    assert saved["check_result"]["ok"] is True

    recorded = versions(pool, "alpha.yaml")
    assert [(v[1], v[2], v[3], v[5]) for v in recorded] == [
        ("shipped", "hub", ALPHA, True),
        ("saved", "ra-admin", WARMER, True),
    ]
    assert (here.directory / "alpha.yaml").read_text() == WARMER
    assert here.versions()["a-hot"] != before["a-hot"]
    assert here.versions()["b-battery"] == before["b-battery"]
    assert [r.version for r in here.applied[-1] if r.id == "a-hot"] == [here.versions()["a-hot"]]
    listed = client.get(f"{API}/rules", headers=login(client, "ra-op")).json()["rules"]
    assert {x["id"]: x["version"] for x in listed} == here.versions()

    history = client.get(f"{API}/rules/files/alpha.yaml", headers=login(client, "ra-op")).json()["history"]
    assert [h["id"] for h in history] == [recorded[1][0], recorded[0][0]]
    (worker,) = client.get(f"{API}/rules/files", headers=login(client, "ra-op")).json()["workers"]
    assert (worker["files"]["alpha.yaml"], worker["behind"]) == (digest(WARMER), [])
    assert audit_rows(pool)[-1][:5] == ("ra-admin", "rule_file.save", "rule_file", "alpha.yaml", 200)
    assert audit_rows(pool)[-1][5]["version"] == saved["id"]


def test_a_bad_file_is_refused_with_its_errors_and_the_rules_in_force_stay(
    client: TestClient, here: Worker, pool: ConnectionPool
) -> None:
    before = here.versions()
    r = save(client, "alpha.yaml", BAD, digest(ALPHA))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "the running rules stay in force" in error["message"]
    assert "alpha.yaml: rule a-hot: when: unknown name 'temprature_c'" in error["message"]
    assert [(d["file"], d["rule"], d["field"]) for d in error["details"]] == [("alpha.yaml", "a-hot", "when")]
    assert versions(pool, "alpha.yaml") == []
    assert (here.directory / "alpha.yaml").read_text() == ALPHA
    assert here.versions() == before
    actor, action, _, target, outcome, details = audit_rows(pool)[-1]
    assert (actor, action, target, outcome) == ("ra-admin", "rule_file.save", "alpha.yaml", 422)
    assert "temprature_c" in details["refusal"]


def test_a_stale_editor_and_an_unchanged_file_are_refused(client: TestClient, pool: ConnectionPool) -> None:
    assert save(client, "alpha.yaml", WARMER, digest(ALPHA)).status_code == 200
    stale = save(client, "alpha.yaml", ALPHA.replace("60", "70"), digest(ALPHA))
    assert stale.status_code == 409, stale.text
    assert "was changed since you opened it" in stale.json()["error"]["message"]
    unchanged = save(client, "alpha.yaml", WARMER, digest(WARMER))
    assert unchanged.status_code == 422 and "unchanged" in unchanged.json()["error"]["message"]
    assert len(versions(pool, "alpha.yaml")) == 2
    assert save(client, "not a rule file.txt", WARMER, None).status_code == 422


def test_restore_saves_an_earlier_version_again_checked_among_todays_files(
    client: TestClient, here: Worker, pool: ConnectionPool
) -> None:
    original = here.versions()["a-hot"]
    assert save(client, "alpha.yaml", WARMER, digest(ALPHA)).status_code == 200
    shipped_id = versions(pool, "alpha.yaml")[0][0]
    admin = login(client, "ra-admin")

    r = client.post(
        f"{API}/rules/files/alpha.yaml/versions/{shipped_id}/restore",
        json={"base_hash": digest(WARMER)},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["source"], r.json()["restored_from"]) == ("restored", shipped_id)
    assert (here.directory / "alpha.yaml").read_text() == ALPHA
    assert here.versions()["a-hot"] == original
    assert audit_rows(pool)[-1][:5] == ("ra-admin", "rule_file.restore", "rule_file", "alpha.yaml", 200)

    # a new file now holds a-hot, so the shipped alpha.yaml no longer fits beside it
    renamed = WARMER.replace("id: a-hot", "id: a-warm")
    assert save(client, "alpha.yaml", renamed, digest(ALPHA)).status_code == 200
    assert save(client, "gamma.yaml", ALPHA.replace("# hot", "# moved"), None).status_code == 200
    refused = client.post(
        f"{API}/rules/files/alpha.yaml/versions/{shipped_id}/restore",
        json={"base_hash": digest(renamed)},
        headers=admin,
    )
    assert refused.status_code == 422, refused.text
    assert {(d["rule"], d["field"]) for d in refused.json()["error"]["details"]} == {("a-hot", "id")}
    assert (here.directory / "alpha.yaml").read_text() == renamed
    operator = client.post(
        f"{API}/rules/files/alpha.yaml/versions/{shipped_id}/restore",
        json={"base_hash": digest(renamed)},
        headers=login(client, "ra-op"),
    )
    assert operator.status_code == 403


def test_an_operator_reads_and_checks_but_may_not_save(client: TestClient, pool: ConnectionPool) -> None:
    operator = login(client, "ra-op")
    assert client.get(f"{API}/rules/files/alpha.yaml", headers=operator).status_code == 200
    r = save(client, "alpha.yaml", WARMER, digest(ALPHA), user="ra-op")
    assert r.status_code == 403, r.text
    assert audit_rows(pool)[-1][:5] == ("ra-op", "rule_file.save", "rule_file", "alpha.yaml", 403)
    assert versions(pool, "alpha.yaml") == []


def test_another_worker_catches_up_by_itself_and_a_new_one_starts_with_the_save(
    client: TestClient, here: Worker, pool: ConnectionPool, tmp_path: Path
) -> None:
    other = Worker(shipped(tmp_path / "b"), pool, "worker-b")
    assert save(client, "alpha.yaml", WARMER, digest(ALPHA)).status_code == 200
    workers = {
        w["worker_id"]: w
        for w in client.get(f"{API}/rules/files", headers=login(client, "ra-op")).json()["workers"]
    }
    assert (workers["worker-a"]["behind"], workers["worker-b"]["behind"]) == ([], ["alpha.yaml"])

    other.rules.watch()  # the scheduler's job, every two seconds

    assert (other.directory / "alpha.yaml").read_text() == WARMER
    assert other.versions() == here.versions()
    workers = {
        w["worker_id"]: w
        for w in client.get(f"{API}/rules/files", headers=login(client, "ra-op")).json()["workers"]
    }
    assert workers["worker-b"]["behind"] == []

    newcomer = Worker(shipped(tmp_path / "c"), pool, "worker-c")
    assert (newcomer.directory / "alpha.yaml").read_text() == WARMER
    assert newcomer.versions() == here.versions()

    (other.directory / "alpha.yaml").write_text(ALPHA)  # a hand edit of a saved file does not last
    other.rules.watch()
    assert (other.directory / "alpha.yaml").read_text() == WARMER


def test_a_file_backtest_reports_only_its_own_rules_and_refuses_a_bad_file(client: TestClient) -> None:
    admin = login(client, "ra-admin")
    period = {"from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"}
    correlated = (
        ALPHA
        + """
  - id: a-many-low
    type: correlation
    title: Several low batteries
    kinds: [smoke_detector]
    severity: major
    category: device_health
    of: [b-battery]
    within: 10m
    dispatch: {team: maintenance}
"""
    )
    r = client.post(
        f"{API}/rules/files/alpha.yaml/backtest", json={"content": correlated, **period}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert sorted(r.json()["by_rule"]) == ["a-hot", "a-many-low"]
    assert [x["id"] for x in r.json()["rules"]] == ["a-hot", "a-many-low"]
    bad = client.post(
        f"{API}/rules/files/alpha.yaml/backtest", json={"content": BAD, **period}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"]


@pytest.mark.e2e
def test_two_hub_processes_run_a_save_made_on_either_within_seconds(
    database: str, pool: ConnectionPool, broker: Broker, tmp_path: Path
) -> None:
    """The same as above with real workers: the `rules-watch` job of the other process catches up."""
    hubs = [
        HubProcess(
            database,
            broker,
            tmp_path,
            HUB_RULES_DIR=str(shipped(tmp_path / name)),
            HUB_WORKER_ID=name,
            HUB_MQTT_CLIENT_ID=f"ra-{name}",
            HUB_INGEST_ENABLED="true" if name == "ra-one" else "false",
        )
        for name in ("ra-one", "ra-two")
    ]
    try:
        for hub in hubs:
            hub.start()
        one, two = hubs
        r = httpx.put(
            f"{one.url}{API}/rules/files/alpha.yaml",
            json={"content": WARMER, "base_hash": digest(ALPHA)},
            headers=one.login("ra-admin", PW),
        )
        assert r.status_code == 200, r.text

        reader = {hub.url: hub.login("ra-op", PW) for hub in hubs}

        def in_force(hub: HubProcess) -> str:
            rules = httpx.get(f"{hub.url}{API}/rules", headers=reader[hub.url]).json()["rules"]
            return str(next(x["version"] for x in rules if x["id"] == "a-hot"))

        saved = in_force(one)
        assert poll(lambda: in_force(two) == saved, timeout=6), two.log()
        assert (tmp_path / "ra-two" / "alpha.yaml").read_text() == WARMER
        workers = httpx.get(f"{two.url}{API}/rules/files", headers=reader[two.url]).json()["workers"]
        assert {w["worker_id"]: w["behind"] for w in workers} == {"ra-one": [], "ra-two": []}
    finally:
        for hub in hubs:
            hub.stop()
