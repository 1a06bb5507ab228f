// The control room: the live case queue. Refreshes when the event stream reports a case event (and on a
// timer, faster when the stream is down). Overdue cases come first, then by severity, then the longest
// waiting; each row says when it must be acknowledged and resolved, its escalation level and whether its
// alarm is still active. Wall mode (remembered in this browser) sets it in large type across a wall screen,
// with counts per community on top. Critical cases nobody acknowledged alarm in the shell (js/alarm.js).
import { actionBar } from "../actions.js";
import { activeAlarms, onAlarms } from "../alarm.js";
import { OPEN_STATUSES, SEVERITY_RANK, api } from "../api.js";
import { ago, badge, clear, fmtTime, h, label, notice, toast } from "../dom.js";
import { locale, t } from "../i18n.js";
import { liveState, onCaseEvent, onLiveState } from "../live.js";
import "../locales/admin.js";
import "../locales/wall.js";
import { loadTeamNames, teamName } from "../teams.js";
import { caseTitle } from "../names.js";

const FILTERS = ["open", "all", "resolved", "closed", "cancelled"];
const PAGE = 500;
const WALL = "queue.wall";

const ms = (iso) => (iso ? Date.parse(iso) : null);

/** A member's organisation by name in the reader's language (GET /auth/me carries both). */
const orgName = (user) => (locale() === "zh" ? user.organisation_name_zh : user.organisation_name_en) || user.organisation;

/** Past a deadline that still applies: acknowledge-by while unacknowledged, resolve-by while open. A
 * suspended case's deadlines stand still, so it is not overdue. */
export function overdue(c, now = Date.now()) {
  if (!OPEN_STATUSES.includes(c.status) || c.suspended_at) return false;
  return (!c.acknowledged_at && ms(c.ack_due_at) !== null && ms(c.ack_due_at) < now)
    || (ms(c.resolve_due_at) !== null && ms(c.resolve_due_at) < now);
}

/** Overdue first, then the most severe, then the longest waiting. */
export const byUrgency = (now = Date.now()) => (a, b) =>
  Number(overdue(b, now)) - Number(overdue(a, now))
  || (SEVERITY_RANK[b.severity] ?? 0) - (SEVERITY_RANK[a.severity] ?? 0)
  || a.created_at.localeCompare(b.created_at) || a.id - b.id;
const MAX_OPEN = 5000; // per status; a control room with more open cases has other problems

export function queueView(root, { user, navigate }) {
  const handler = ["admin", "operator", "manager"].includes(user.role);
  const member = user.role === "member";
  let filter = sessionStorage.getItem("queue.filter") || "open";
  if (!FILTERS.includes(filter)) filter = "open";
  let community = sessionStorage.getItem("queue.community") || "";
  let cases = [];
  let known = null; // ids seen so far; null until the first load
  let wall = localStorage.getItem(WALL) === "1";
  let names = {};
  let timer = 0;
  let debounce = 0;
  let stopped = false;
  let loading = null;

  const filterSelect = h("select", { "aria-label": t("queue.show"), onchange: () => {
    filter = filterSelect.value;
    sessionStorage.setItem("queue.filter", filter);
    known = null;
    refresh();
  } }, FILTERS.map((f) => h("option", { value: f, selected: f === filter }, t(`queue.filter.${f}`))));
  const communitySelect = h("select", { "aria-label": t("queue.community"), onchange: () => {
    community = communitySelect.value;
    sessionStorage.setItem("queue.community", community);
    render();
  } });
  const count = h("span", { class: "count" });
  const wallButton = h("button", { type: "button", class: "btn", id: "wall-mode", "aria-pressed": String(wall), onclick: () => {
    wall = !wall;
    localStorage.setItem(WALL, wall ? "1" : "0");
    wallButton.setAttribute("aria-pressed", String(wall));
    document.body.classList.toggle("wall", wall);
    render();
  } }, t("wall.toggle"));
  const perCommunity = h("ul", { class: "community-counts", id: "community-counts", "aria-label": t("wall.perCommunity") });
  const claim = handler
    ? h("button", { type: "button", class: "btn btn-primary", id: "claim-next", onclick: claimNext }, t("queue.claim"))
    : null;
  const tbody = h("tbody", { id: "cases" });
  const table = h("table", { class: "queue" },
    h("thead", {}, h("tr", {}, ["id", "severity", "status", "escalation", "alarm", "title", "where", "team", "opened", "ackBy", "resolveBy", "actions"]
      .map((c) => h("th", { scope: "col", class: `col-${c}` }, t(`col.${c}`))))),
    tbody);
  const empty = notice(t("queue.empty"));
  empty.hidden = true; // until the first load says so
  communitySelect.hidden = true;
  document.body.classList.toggle("wall", wall);
  clear(root,
    h("section", { id: "queue", class: "view-queue" },
      h("div", { class: "toolbar" },
        h("h2", {}, member ? t("queue.orgTitle", { org: orgName(user) }) : t("queue.title")), count, filterSelect, communitySelect, claim, wallButton),
      perCommunity, h("div", { class: "queue-scroll" }, table), empty));
  api("/sites").then((sites) => { names = Object.fromEntries(sites.map((x) => [x.id, x.name])); if (!stopped) render(); }).catch(() => {});

  async function claimNext() {
    claim.disabled = true;
    try {
      const c = await api("/cases/next", { method: "POST" });
      toast(t("queue.claimed", { id: c.id }), "ok");
      navigate(`#/case/${c.id}`);
    } catch (err) {
      if (err.status !== 404) { toast(err.message, "error"); return; }
      const me = await api("/auth/me").catch(() => null);
      toast(me && !me.teams.length ? t("queue.noTeam") : t("queue.nothingToClaim"), "error");
    } finally {
      claim.disabled = false;
    }
  }

  /** Every case of a status, page by page (the API gives at most 500 at a time), up to MAX_OPEN. */
  async function allOf(status) {
    const rows = [];
    for (let offset = 0; offset < MAX_OPEN; offset += PAGE) {
      const page = await api("/cases", { query: { status, limit: PAGE, offset } });
      rows.push(...page);
      if (page.length < PAGE) break;
    }
    return rows;
  }

  async function load() {
    if (filter === "open") {
      const pages = await Promise.all(OPEN_STATUSES.map(allOf));
      return sortOpen(pages.flat());
    }
    return api("/cases", { query: { status: filter === "all" ? undefined : filter, limit: PAGE } }); // newest 500
  }

  async function refresh() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const [rows] = await Promise.all([load(), loadTeamNames()]);
        if (stopped) return;
        known = new Set(rows.map((c) => c.id));
        cases = rows;
        render();
      } catch (err) {
        if (err.status !== 401) toast(t("common.error", { msg: err.message }), "error");
      } finally {
        loading = null;
        schedule();
      }
    })();
    return loading;
  }

  function schedule() {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(refresh, liveState() === "sse" ? 30000 : 3000);
  }

  const sortOpen = (rows) => rows.sort(byUrgency());

  // A case event changes one case: fetch that case rather than the whole queue (which may hold a
  // thousand), unless many changed at once or the filter is not the open queue.
  const pending = new Set();
  function soon(caseId) {
    pending.add(caseId);
    clearTimeout(debounce);
    debounce = setTimeout(applyEvents, 250);
  }

  async function applyEvents() {
    const ids = [...pending];
    pending.clear();
    if (filter !== "open" || known === null || ids.length > 20) { refresh(); return; }
    let changed;
    try {
      changed = await Promise.all(ids.map((id) => api(`/cases/${id}`).catch((err) => (err.status === 404 ? { id, gone: true } : Promise.reject(err)))));
    } catch {
      refresh();
      return;
    }
    if (stopped) return;
    changed.forEach(upsert);
    sortOpen(cases);
    render();
  }

  function upsert(c) {
    const at = cases.findIndex((x) => x.id === c.id);
    const keep = !c.gone && (filter !== "open" || OPEN_STATUSES.includes(c.status));
    if (at >= 0 && keep) cases[at] = c;
    else if (at >= 0) cases.splice(at, 1);
    else if (keep) cases.push(c);
    if (known) known.add(c.id);
  }

  /** Per community: open, critical and overdue cases; a click shows that community alone (again: all). */
  function renderCounts() {
    const open = cases.filter((c) => OPEN_STATUSES.includes(c.status));
    const ids = [...new Set(open.map((c) => c.community_id))].sort();
    perCommunity.hidden = filter !== "open" || ids.length === 0;
    clear(perCommunity, ids.map((id) => {
      const mine = open.filter((c) => c.community_id === id);
      const critical = mine.filter((c) => c.severity === "critical").length;
      const late = mine.filter((c) => overdue(c)).length;
      return h("li", { class: [id === community && "chosen", critical && "has-critical", late && "has-overdue"], dataset: { community: id } },
        h("button", { type: "button", "aria-pressed": String(id === community), onclick: () => {
          community = community === id ? "" : id;
          sessionStorage.setItem("queue.community", community);
          render();
        } },
        h("span", { class: "cc-name" }, names[id] || id),
        h("span", { class: "cc-open" }, t("wall.open", { n: mine.length })),
        h("span", { class: "cc-critical" }, t("wall.critical", { n: critical })),
        h("span", { class: "cc-overdue" }, t("wall.overdue", { n: late }))));
    }));
  }

  function renderCommunities() {
    const names = [...new Set(cases.map((c) => c.community_id))].sort();
    if (community && !names.includes(community)) names.push(community);
    clear(communitySelect,
      h("option", { value: "" }, t("queue.allCommunities")),
      names.map((n) => h("option", { value: n, selected: n === community }, n)));
    communitySelect.hidden = names.length < 2 && !community;
  }

  // Each cell's content sits in one <div>, so on a phone (cells as label: value lines) it wraps as one.
  const cell = (attrs, ...children) => h("td", attrs, h("div", { class: "cell" }, ...children));

  /** A deadline cell: done (when), overdue (by how much) or due (in how long); "–" without one. */
  function deadlineCell(column, due, doneAt, open) {
    const attrs = { class: `col-${column}`, dataset: { label: t(`col.${column}`) } };
    if (doneAt) return cell({ ...attrs, class: [attrs.class, "done"], title: fmtTime(doneAt) }, t("wall.doneAt", { when: fmtTime(doneAt) }));
    if (!open || !due) return cell(attrs, "–");
    const late = ms(due) < Date.now();
    return cell({ ...attrs, class: [attrs.class, late ? "overdue" : null], title: fmtTime(due), dataset: { ...attrs.dataset, overdue: String(late) } },
      late ? t("wall.overdueBy", { ago: ago(due) }) : ago(due), h("small", {}, fmtTime(due)));
  }

  function alarmCell(c) {
    const attrs = { class: "col-alarm", dataset: { label: t("col.alarm"), alarm: c.alarm_active ? "active" : "cleared" } };
    if (c.alarm_active) return cell(attrs, h("span", { class: "badge alarm-active" }, t("wall.alarmActive")));
    return cell(attrs, c.source === "alert" ? h("span", { class: "badge alarm-cleared" }, t("wall.alarmCleared")) : "–");
  }

  function row(c, alarmed) {
    const open = OPEN_STATUSES.includes(c.status);
    const where = [names[c.community_id] || c.community_id, c.building, c.device_id].filter(Boolean).join(" · ");
    const tr = h("tr", {
      class: [`sev-${c.severity}`, alarmed.has(c.id) && "fresh", overdue(c) && "late"],
      dataset: { caseId: c.id, status: c.status, overdue: String(overdue(c)) },
      tabindex: 0,
      onclick: () => navigate(`#/case/${c.id}`),
      onkeydown: (ev) => { if (ev.key === "Enter" && ev.target === tr) navigate(`#/case/${c.id}`); },
    },
    cell({ class: "id", dataset: { label: t("col.id") } }, h("a", { href: `#/case/${c.id}`, onclick: (ev) => ev.stopPropagation() }, `#${c.id}`)),
    cell({ dataset: { label: t("col.severity") } }, badge("severity", c.severity)),
    cell({ dataset: { label: t("col.status") } }, badge("status", c.status), c.suspended_at ? [" ", badge("hold", "suspended")] : null),
    cell({ class: "col-escalation", dataset: { label: t("col.escalation"), escalation: c.escalation_level } },
      h("span", { class: ["badge", `escalation-${c.escalation_level}`] }, label("escalation", c.escalation_level))),
    alarmCell(c),
    cell({ class: "title", dataset: { label: t("col.title") } }, caseTitle(c), h("small", {}, label("category", c.category))),
    cell({ dataset: { label: t("col.where") } }, where),
    cell({ dataset: { label: t("col.team") }, title: c.team }, teamName(c.team), c.assignee ? h("small", {}, c.assignee) : null),
    cell({ dataset: { label: t("col.opened") }, title: fmtTime(c.created_at, true) }, ago(c.created_at)),
    deadlineCell("ackBy", c.ack_due_at, c.acknowledged_at, open),
    deadlineCell("resolveBy", c.resolve_due_at, c.resolved_at && !open ? c.resolved_at : null, open),
    cell({ class: "row-actions", dataset: { label: t("col.actions") } },
      handler || (member && c.organisation === user.organisation) ? actionBar(c, user.role, (updated) => { upsert(updated); render(); }, { only: ["acknowledge", "start"] }) : null));
    return tr;
  }

  function render() {
    renderCommunities();
    const shown = community ? cases.filter((c) => c.community_id === community) : cases;
    const alarmed = new Set(activeAlarms().map((c) => c.id));
    tbody.replaceChildren(...shown.map((c) => row(c, alarmed)));
    renderCounts();
    count.textContent = t("queue.count", { n: shown.length });
    empty.hidden = shown.length > 0;
    table.hidden = shown.length === 0;
    if (!document.body.dataset.queueReady) {
      document.body.dataset.queueReady = "1";
      performance.mark("queue-rendered");
    }
  }

  const offEvent = onCaseEvent((ev) => soon(ev.case_id));
  const offState = onLiveState(() => schedule());
  const offAlarms = onAlarms(() => { if (known !== null) render(); });
  refresh();

  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(debounce);
    offEvent();
    offState();
    offAlarms();
    document.body.classList.remove("wall");
  };
}
