"""The `hub` command."""

import argparse
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description="Smart-community event hub")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run ingest, rules, jobs and the API")
    sub.add_parser("migrate", help="apply database migrations")
    rules = sub.add_parser("rules", help="rule files").add_subparsers(dest="rules_command", required=True)
    check = rules.add_parser("check", help="validate rule files and print errors like a compiler")
    check.add_argument("path", nargs="?", type=Path)
    bt = rules.add_parser(
        "backtest", help="replay stored data through rules without dispatching; compare with live"
    )
    bt.add_argument("path", type=Path, help="a rule file or directory")
    bt.add_argument("--from", dest="start", required=True, type=_aware, help="ISO 8601 with offset")
    bt.add_argument("--to", dest="end", required=True, type=_aware)
    bt.add_argument("--devices", type=lambda v: v.split(","), default=None, help="comma-separated device ids")
    bt.add_argument("--json", action="store_true", help="print the whole report as JSON")
    adapters = sub.add_parser("adapters", help="adapter files for vendor devices").add_subparsers(
        dest="adapters_command", required=True
    )
    a_check = adapters.add_parser("check", help="validate adapter files and print errors like a compiler")
    a_check.add_argument("path", nargs="?", type=Path)
    a_test = adapters.add_parser("test", help="map each sample of a JSON-lines file; non-zero on a mismatch")
    a_test.add_argument("adapter_file", type=Path)
    a_test.add_argument("samples", type=Path)
    a_replay = adapters.add_parser(
        "replay", help="replay an adapter's dead letters through it (once fixed); waits for the running hub"
    )
    a_replay.add_argument("adapter")
    a_replay.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the hub")
    mqtt = sub.add_parser("mqtt", help="broker integration").add_subparsers(
        dest="mqtt_command", required=True
    )
    export = mqtt.add_parser("export-auth", help="write Mosquitto's passwd and acl files from the registry")
    export.add_argument("--out", type=Path, help="directory (default HUB_MQTT_AUTH_DIR)")
    users = sub.add_parser("users", help="user accounts").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="create or update a user; the password is read from HUB_NEW_PASSWORD")
    add.add_argument("username")
    add.add_argument(
        "--role", required=True, choices=["admin", "operator", "manager", "resident", "integration", "member"]
    )
    add.add_argument("--community", action="append", default=[])
    add.add_argument("--organisation", help="a member's organisation (members only; it must exist)")
    teams = sub.add_parser("teams", help="teams that claim cases").add_subparsers(
        dest="teams_command", required=True
    )
    team_add = teams.add_parser("add", help="create or update a team's record and add members")
    team_add.add_argument("team")
    team_add.add_argument("--name-en", required=True)
    team_add.add_argument("--name-zh", required=True)
    team_add.add_argument("--community", action="append", default=[], help="repeat; none: every community")
    team_add.add_argument("--member", action="append", default=[], help="a username; repeat")
    team_import = teams.add_parser(
        "import", help="`add` for each team of a YAML list of {id, name_en, name_zh, communities, members}"
    )
    team_import.add_argument("file", type=Path, help="- reads standard input")
    orgs = sub.add_parser("organisations", help="departments, utilities, contractors").add_subparsers(
        dest="organisations_command", required=True
    )
    org_add = orgs.add_parser(
        "add",
        help="create or update an organisation, and give it teams (with records) and integration accounts",
    )
    org_add.add_argument("organisation")
    org_add.add_argument(
        "--kind", required=True, choices=["department", "utility", "contractor", "property", "ngo"]
    )
    org_add.add_argument("--name-en", required=True)
    org_add.add_argument("--name-zh", required=True)
    org_add.add_argument("--community", action="append", required=True, help="repeat; at least one")
    org_add.add_argument("--team", action="append", default=[], help="a team with a record; repeat")
    org_add.add_argument("--account", action="append", default=[], help="an integration account; repeat")
    devices = sub.add_parser("devices", help="device registry").add_subparsers(
        dest="devices_command", required=True
    )
    imp = devices.add_parser(
        "import", help="register devices from a JSON list or a CSV file; per-row results"
    )
    imp.add_argument("file", type=Path)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    settings = get_settings()

    if args.command == "rules" and args.rules_command == "check":
        return _rules_check(args.path or settings.rules_dir)
    if args.command == "adapters" and args.adapters_command != "replay":
        return _adapters(args, settings)
    if args.command == "run":
        from hub.app import Hub

        Hub(settings).serve()
        return 0

    from hub.store import db, migrations

    if args.command == "migrate":
        try:
            applied = migrations.migrate(settings.database_url)
        except migrations.MigrationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m.version} {m.name}" for m in applied))
        return 0
    migrations.migrate(settings.database_url)
    with db.connect(settings.database_url, autocommit=True) as conn:
        if args.command == "rules":
            return _backtest(conn, args)
        if args.command == "mqtt":
            from hub.devices.service import export_auth

            target = settings.model_copy(update={"mqtt_auth_dir": args.out or settings.mqtt_auth_dir})
            if target.mqtt_auth_dir is None:
                print("error: give --out or set HUB_MQTT_AUTH_DIR", file=sys.stderr)
                return 2
            changed = export_auth(conn, target)
            print(f"{'wrote' if changed else 'unchanged:'} broker accounts in {target.mqtt_auth_dir}")
            return 0
        if args.command == "users":
            from hub.store.organisations import organisation
            from hub.store.users import upsert_user

            password = os.environ.get("HUB_NEW_PASSWORD")
            if not password:
                print("error: set HUB_NEW_PASSWORD to the new user's password", file=sys.stderr)
                return 2
            if (args.role == "member") != (args.organisation is not None):
                print("error: a member needs --organisation, and only a member takes one", file=sys.stderr)
                return 2
            if args.organisation is not None and organisation(conn, args.organisation) is None:
                print(
                    f"error: no organisation {args.organisation}; add it with hub organisations add",
                    file=sys.stderr,
                )
                return 1
            upsert_user(conn, args.username, password, args.role, args.community, args.organisation)
            print(f"user {args.username} ({args.role}) ready")
            return 0
        if args.command == "teams":
            return _teams(conn, settings, args)
        if args.command == "organisations":
            return _organisations(conn, args)
        if args.command == "adapters":
            return _replay(conn, args)
        if args.command == "devices":
            return _devices_import(conn, settings, args.file)
    return 2


def _devices_import(conn: Any, settings: Settings, path: Path) -> int:
    """A JSON list of devices, or a CSV file (by its `.csv` suffix) with the API's columns, through the
    same service as the API's import; one result line per row."""
    from hub.domain.errors import Refused
    from hub.services import devices as device_service

    try:
        body = path.read_bytes()
        if path.suffix.lower() == ".csv":
            results = device_service.import_csv(conn, settings, body, rotate_credentials=False, dry_run=False)
        else:
            rows = json.loads(body)
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise ValueError("a JSON list of device objects expected")
            results = device_service.import_rows(conn, settings, rows, rotate_credentials=False)
    except (OSError, ValueError, Refused) as exc:
        print(f"cannot import {path}: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(r.model_dump_json(exclude_none=True))
    return 1 if any(r.status == "error" for r in results) else 0


def _teams(conn: Any, settings: Settings, args: argparse.Namespace) -> int:
    """As an admin would in the console, without the audit log: the machine's operator runs this."""
    import yaml

    from hub.cases import config
    from hub.domain.errors import Conflict, Refused
    from hub.domain.roles import Role
    from hub.domain.users import User
    from hub.engine import loader
    from hub.services import teams

    if args.teams_command == "add":
        wanted: Any = [
            {
                "id": args.team,
                "name_en": args.name_en,
                "name_zh": args.name_zh,
                "communities": args.community,
                "members": args.member,
            }
        ]
    else:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
        wanted = yaml.safe_load(text)
    root = User(0, "hub-cli", Role.ADMIN, ())
    named = teams.named_by(config.current(settings.routing_file), loader.load(settings.rules_dir))
    try:
        for team in wanted:
            record = teams.TeamRecord(team["name_en"], team["name_zh"], tuple(team.get("communities") or ()))
            try:
                teams.create(conn, root, team["id"], record, named)
            except Conflict:
                change = {
                    "name_en": record.name_en,
                    "name_zh": record.name_zh,
                    "communities": record.communities,
                }
                teams.update(conn, root, team["id"], change, named)
            for username in team.get("members") or ():
                teams.add_member(conn, root, team["id"], username)
            print(f"team {team['id']} ({record.name_en} / {record.name_zh}) ready")
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, AttributeError):
        print("error: give a list of teams, each with id, name_en and name_zh", file=sys.stderr)
        return 2
    return 0


def _organisations(conn: Any, args: argparse.Namespace) -> int:
    """As an admin would with the API, without the audit log: the machine's operator runs this."""
    from hub.domain.errors import Conflict, Refused
    from hub.domain.organisations import OrganisationKind
    from hub.domain.roles import Role
    from hub.domain.users import User
    from hub.services import organisations

    root = User(0, "hub-cli", Role.ADMIN, ())
    record = organisations.OrganisationRecord(
        OrganisationKind(args.kind), args.name_en, args.name_zh, tuple(args.community)
    )
    try:
        try:
            organisations.create(conn, root, args.organisation, record)
        except Conflict:
            change = {"kind": record.kind, "name_en": record.name_en, "name_zh": record.name_zh}
            organisations.update(conn, root, args.organisation, change | {"communities": record.communities})
        for team in args.team:
            organisations.bind_team(conn, args.organisation, team)
        for username in args.account:
            organisations.bind_account(conn, args.organisation, username)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"organisation {args.organisation} ({record.name_en} / {record.name_zh}) ready")
    return 0


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. 2026-11-28T08:00:00+08:00")
    return value


def _backtest(conn: Any, args: argparse.Namespace) -> int:
    from hub.engine import loader
    from hub.services.rules import backtest

    try:
        rules = loader.load(args.path)
    except loader.RulesRejected as exc:
        print(exc, file=sys.stderr)
        return 1

    def bar(n: int, total: int, at: datetime) -> None:
        whole = max(total, 1)
        done = min(n / whole, 1.0)
        print(
            f"\r[{'#' * int(done * 40):<40}] {done:6.1%} {n}/{whole} readings, at {at:%Y-%m-%d %H:%M}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    report = backtest(conn, rules, start=args.start, end=args.end, devices=args.devices, progress=bar)
    print(file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {"readings": report.readings, "by_rule": report.by_rule, "alerts": report.alerts}, default=str
            )
        )
        return 0
    print(f"{report.readings} reading(s) replayed from {args.start.isoformat()} to {args.end.isoformat()}")
    for rule_id, c in report.by_rule.items():
        print(f"  {rule_id}: would raise {c['backtest']}, live raised {c['live']}, both {c['matched']}")
    for a in report.alerts:
        print(
            f"  {a['opened_at']} {a['rule_id']} on {a['subject']}{'' if a['live'] else '  (not raised live)'}"
        )
    return 0


def _rules_check(path: Path) -> int:
    from hub.engine.loader import RulesRejected, load

    try:
        rules = load(path)
    except RulesRejected as exc:
        for err in exc.errors:
            print(f"{err}", file=sys.stderr)
        print(f"{len(exc.errors)} error(s); no rules loaded", file=sys.stderr)
        return 1
    print(f"{len(rules)} rule(s) OK in {path}")
    return 0


def _adapters(args: argparse.Namespace, settings: Settings) -> int:
    from hub.adapters.loader import AdaptersRejected, load

    prefix = settings.topic_prefix
    path = args.path or settings.adapters_dir if args.adapters_command == "check" else args.adapter_file
    try:
        mappers = load(path, prefix)
    except AdaptersRejected as exc:
        for err in exc.errors:
            print(f"{err}", file=sys.stderr)
        print(f"{len(exc.errors)} error(s) in {path}", file=sys.stderr)
        return 1
    if args.adapters_command == "check":
        print(f"{len(mappers)} adapter(s) OK in {path}")
        return 0
    from hub.ingest.adapted import run_samples

    lines, ok = run_samples(path, args.samples, prefix)
    print("\n".join(lines))
    return 0 if ok else 1


def _replay(conn: Any, args: argparse.Namespace) -> int:
    import time

    from hub.store import adapter_replays

    replay_id = adapter_replays.request(conn, args.adapter, "cli")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        found = adapter_replays.get(conn, replay_id)
        if found is not None and found["done_at"] is not None:
            print(f"replay {replay_id}: {found['replayed']} dead letter(s) of {args.adapter} replayed")
            if found["error"]:
                print(f"error: {found['error']}", file=sys.stderr)
                return 1
            return 0
        time.sleep(0.5)
    print(f"error: replay {replay_id} not done in {args.timeout:.0f}s; is the hub running?", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
