"""The dashboard's files without a browser: nothing the CSP would block, no third-party code but the one
vendored chart library (uPlot, installed by scripts/setup at its pinned version), every module import
resolvable, both languages complete, and the tables the pages keep in step with the hub (case actions per
status, boolean metrics, label codes)."""

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from hub.cases.actions import MOVE, Action, HoldAction
from hub.cases.config import ReportCategory
from hub.cases.holds import CONFIRMABLE
from hub.cases.kpis import KPI_FIELDS
from hub.domain.alerts import Category, Severity
from hub.domain.cases import EVENT, MOVES, CaseStatus
from hub.domain.deadletters import CODES as dead_letter_codes
from hub.domain.devices import DeviceKind
from hub.domain.roles import HANDLERS, VERIFIERS
from hub.store import history
from hub.store.devices import DEVICE_STATES
from tests.support.services import ROOT

WEB = ROOT / "dashboards" / "web"
VENDOR = WEB / "vendor"
# The one third-party library: what scripts/setup puts there, and the one module that imports it.
VENDORED = {"uplot/uPlot.esm.js", "uplot/uPlot.min.css", "uplot/LICENSE", "uplot/VERSION"}
VENDOR_IMPORT = ("js/charts.js", "../vendor/uplot/uPlot.esm.js")
SCRIPTS = sorted(p for p in WEB.rglob("*.js") if VENDOR not in p.parents)
LOCALES = sorted((WEB / "js" / "locales").glob("*.js"))


def _dictionary(name: str) -> dict[str, str]:
    """Every label of one language across the locale files; a key defined in two files is an error."""
    found: dict[str, str] = {}
    for path in LOCALES:
        body = re.search(rf"^  {name}: \{{\n(.*?)^  \}},", path.read_text(encoding="utf-8"), re.S | re.M)
        assert body, f"no {name} labels in {path.name}"
        pairs = re.findall(r'^\s*"([^"]+)":\s*"((?:[^"\\]|\\.)*)",?$', body.group(1), re.M)
        assert pairs, path.name
        for k, v in pairs:
            assert k not in found, f"{path.name}: {k} is defined twice"
            found[k] = json.loads(f'"{v}"')
    return found


EN, ZH = _dictionary("en"), _dictionary("zh")


def _block(path: Path, marker: str) -> str:
    text = path.read_text(encoding="utf-8")
    found = re.search(rf"// {marker}-BEGIN\n(.*?)// {marker}-END", text, re.S)
    assert found, f"{path.name}: no {marker} block"
    return found.group(1)


def test_the_page_has_no_inline_script_or_style_and_no_third_party_code() -> None:
    html = (WEB / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script> is blocked by the CSP"
    assert "<style" not in html and "style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers are blocked by the CSP"
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert ref.startswith("/static/"), f"{ref}: only the hub's own files (no CDN)"
        assert (WEB / ref.removeprefix("/static/")).is_file(), ref
        if ref.startswith("/static/vendor/"):
            assert ref == "/static/vendor/uplot/uPlot.min.css", f"{ref}: not the vendored chart library"
    for path in SCRIPTS:
        code = "\n".join(
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if not line.strip().startswith("//")
        )
        name = path.relative_to(WEB)
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code, f"{name}: build DOM nodes"
        assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*[\"'`]", code), f"{name}: no eval"
        assert not re.search(r"setAttribute\(\s*[\"']style|\.style\.|\.cssText", code), f"{name}: use classes"
        urls = set(re.findall(r"https?://[^\s\"'`]+", code)) - {"http://www.w3.org/2000/svg"}  # a namespace
        assert urls == set(), f"{name}: no absolute URLs (CSP default-src 'self')"


def test_every_module_import_resolves_to_a_file() -> None:
    for path in SCRIPTS:
        for target in re.findall(
            r'^import (?:.*? from )?"([^"]+)";$', path.read_text(encoding="utf-8"), re.M
        ):
            assert target.startswith("./") or target.startswith("../"), f"{path.name}: bare import {target}"
            assert (path.parent / target).resolve().is_file(), f"{path.name} imports missing {target}"
            assert target.endswith(".js")
            if VENDOR in (path.parent / target).resolve().parents:
                assert (str(path.relative_to(WEB)), target) == VENDOR_IMPORT, f"{path.name}: {target}"


def test_the_only_third_party_code_is_the_pinned_chart_library() -> None:
    """scripts/setup vendors uPlot (git-ignored) at the version and tarball hash it pins, and nothing
    else lands in the folder the hub serves."""
    found = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_file()}
    assert found == VENDORED, "run scripts/setup; nothing else belongs in dashboards/web/vendor"
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8")
    version = re.search(r"^UPLOT_VERSION=(\d+\.\d+\.\d+)$", setup, re.M)
    assert version and re.search(r"^UPLOT_SHA512=[A-Za-z0-9+/]{86}==$", setup, re.M), (
        "pinned version and hash"
    )
    assert (VENDOR / "uplot" / "VERSION").read_text().strip() == version.group(1)
    assert "dashboards/web/vendor/" in (ROOT / ".gitignore").read_text().splitlines()


def test_both_languages_have_every_label() -> None:
    singular = {k for k in EN if k.endswith(".one")}  # English singulars; Chinese has no plural forms
    assert set(EN) - singular == set(ZH)
    placeholders = re.compile(r"\{(\w+)\}")
    for key, text in EN.items():
        if key in singular:
            continue
        assert set(placeholders.findall(text)) == set(placeholders.findall(ZH[key])), key
    used: set[str] = set()
    for path in SCRIPTS:
        used |= set(re.findall(r'\b(?:t|sentence)\("([^"]+)"', path.read_text(encoding="utf-8")))
    assert used - set(EN) == set(), "labels used but not defined"


def test_every_history_and_closure_label_a_page_names_is_defined() -> None:
    """Keys of the case page's own label groups are often picked in a helper (`hub("hist.…")`) or a
    ternary: every quoted key of those groups, wherever it stands, must be defined."""
    groups = {"hist", "closure", "ended", "resident", "clear", "progress", "next", "safety", "time", "place"}
    named: set[str] = set()
    for path in SCRIPTS:
        if path.parent.name != "locales":
            named |= {k for k in re.findall(r'"([a-z]+(?:\.[A-Za-z_]+)+)"', path.read_text(encoding="utf-8"))
                      if k.split(".", 1)[0] in groups}  # fmt: skip
    assert named and named - set(EN) == set()


@pytest.mark.parametrize(
    ("group", "codes"),
    [
        ("status", [s.value for s in CaseStatus]),
        ("severity", list(get_args(Severity))),
        ("category", sorted(set(get_args(Category)) | set(get_args(ReportCategory)))),
        ("kind", [k.value for k in DeviceKind]),
        ("state", list(DEVICE_STATES)),
        (
            "action",
            [a.value for a in Action] + [a.value for a in HoldAction] + ["evidence", "merge", "split"],
        ),
        ("kpi", list(KPI_FIELDS)),
        ("dataState", ["live", "no_data"]),
        ("escalation", ["team", "supervisor", "street_office"]),
        ("metric", sorted({m for metrics in history.METRICS.values() for m in metrics})),
        ("source", ["alert", "resident", "operator"]),
        ("alertStatus", ["open", "cleared"]),
        (
            "event",
            sorted(
                set(EVENT.values())
                | {
                    "opened",
                    "dispatched",
                    "claimed",
                    "escalated",
                    "alert_cleared",
                    "alert_joined",
                    "rated",
                    "absorbed",
                    "suspension_requested",
                    "suspended",
                    "suspension_declined",
                    "resumed",
                    "extension_requested",
                    "deadline_extended",
                    "extension_declined",
                    "confirmed_on_site",
                    "evidence_added",
                    "merged",
                    "merge_received",
                    "split",
                    "merge_undone",
                    "reporter_notified",
                    "alert_no_data",
                    "alert_data_back",
                    "alert_suppressed",
                    "commented",
                }
            ),
        ),
    ],
)
def test_every_code_the_hub_sends_has_a_label(group: str, codes: list[str]) -> None:
    assert [c for c in codes if f"{group}.{c}" not in EN] == []


def test_the_action_buttons_follow_the_case_lifecycle() -> None:
    """A button for each action the lifecycle allows from a status, and none it would refuse."""
    shown = json.loads(_block(WEB / "js" / "actions.js", "ACTIONS").split("=", 1)[1].strip().rstrip(";"))
    expected = {
        status.value: sorted(a.value for a in Action if status in MOVES[MOVE[a]].sources)
        for status in CaseStatus
    }
    assert {s: sorted(a) for s, a in shown.items()} == expected
    assert {"admin", "operator"} == VERIFIERS, "actions.js hides close from other roles"


def test_the_device_page_knows_the_boolean_metrics() -> None:
    shown = json.loads(
        _block(WEB / "js" / "views" / "device.js", "BOOLEANS").split("=", 1)[1].strip().rstrip(";")
    )
    hub_booleans = {m for metrics in history.METRICS.values() for m, t in metrics.items() if t == "boolean"}
    assert set(shown) == hub_booleans


def test_the_refused_data_page_knows_every_reason_code() -> None:
    shown = json.loads(
        _block(WEB / "js" / "views" / "admin" / "deadletters.js", "CODES")
        .split("=", 1)[1]
        .strip()
        .rstrip(";")
    )
    assert shown == list(dead_letter_codes)
    assert [c for c in shown if f"dlCode.{c}" not in EN] == []


def _js_strings(path: Path, name: str) -> set[str]:
    found = re.search(rf"^const {name} = (?:new Set\()?\[([^\]]*)\]", path.read_text(encoding="utf-8"), re.M)
    assert found, f"{path.name}: no {name}"
    return set(re.findall(r'"([^"]+)"', found.group(1)))


def test_the_closed_loop_buttons_follow_the_hubs_roles_and_states() -> None:
    """loop.js offers suspend/extend to handlers, decisions, merges and on-site checks to verifiers, and
    on-site confirmation only where hub/cases/holds.py accepts it."""
    loop = WEB / "js" / "loop.js"
    assert _js_strings(loop, "HANDLERS") == set(HANDLERS)
    assert _js_strings(loop, "VERIFIERS") == set(VERIFIERS)
    assert _js_strings(loop, "CONFIRMABLE") == {s.value for s in CONFIRMABLE}
    offered = set(re.findall(r'out\.push\("([a-z_]+)"\)', loop.read_text(encoding="utf-8")))
    assert offered == {a.value for a in HoldAction} | {"evidence", "merge", "split"}
