"""Organisations from the command line, as `scripts/run` sets up the demo: `scripts/demo-people` gives
Sunrise Garden a drainage contractor with its team, integration account and a member who logs in, again
and again without error; `hub organisations add` and `hub users add` refuse what the API refuses."""

import os
import subprocess
import sys

import psycopg

from hub.services.auth import authenticate
from tests.support.services import ROOT, migrated_database


def hub_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return env | {
        "HUB": f"{sys.executable} -m hub",
        "HUB_DATABASE_URL": database_url,
        "HUB_DEMO_PASSWORD": "demo-people-pw",
        "HUB_ROUTING_FILE": str(ROOT / "config" / "routing.yaml"),
        "HUB_RULES_DIR": str(ROOT / "rules"),
    }


def test_the_demo_has_a_drainage_contractor_with_a_team_and_an_integration_account() -> None:
    with migrated_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO communities (id, name) VALUES ('sunrise', 'Sunrise Garden')")
        for _ in range(2):
            done = subprocess.run(
                ["bash", str(ROOT / "scripts" / "demo-people")],
                env=hub_env(url),
                cwd=ROOT / "tests",
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr
        with psycopg.connect(url) as conn:
            org = conn.execute(
                "SELECT kind, name_zh, communities FROM organisations WHERE id = 'clearwater-drainage'"
            ).fetchone()
            team = conn.execute(
                "SELECT organisation FROM teams WHERE id = 'sunrise-drainage-crew'"
            ).fetchone()
            bot = conn.execute(
                "SELECT role, organisation FROM users WHERE username = 'drainage-bot'"
            ).fetchone()
        assert org == ("contractor", "清源排水公司", ["sunrise"])
        assert team == ("clearwater-drainage",)
        assert bot == ("integration", "clearwater-drainage")
        with psycopg.connect(url) as conn:
            lead = authenticate(conn, "drainage-lead", "demo-people-pw")
        assert lead is not None
        assert (lead.role, lead.organisation, lead.community_scope()) == (
            "member",
            "clearwater-drainage",
            ["sunrise"],
        )
        for args, code, says in (
            (["--role", "member"], 2, "a member needs --organisation"),
            (["--role", "operator", "--organisation", "clearwater-drainage"], 2, "only a member takes one"),
            (["--role", "member", "--organisation", "nowhere-co"], 1, "no organisation nowhere-co"),
        ):
            refused = subprocess.run(
                [sys.executable, "-m", "hub", "users", "add", "someone", *args],
                env=hub_env(url) | {"HUB_NEW_PASSWORD": "someone-pw-1"},
                cwd=ROOT / "tests",
                capture_output=True,
                text=True,
            )
            assert (refused.returncode, says in refused.stderr) == (code, True), refused.stderr

        refused = subprocess.run(
            [sys.executable, "-m", "hub", "organisations", "add", "clearwater-drainage", "--kind", "contractor",
             "--name-en", "x", "--name-zh", "x", "--community", "sunrise", "--account", "operator"],
            env=hub_env(url),
            cwd=ROOT / "tests",
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert refused.returncode == 1
        assert "operator is a operator: only integration accounts are bound" in refused.stderr
