// The control room: the live case queue. Refreshes when the event stream reports a case event (and on a
// timer, faster when the stream is down); new critical cases are highlighted and beep.
import { actionBar } from "../actions.js";
import { OPEN_STATUSES, SEVERITY_RANK, api } from "../api.js";
import { ago, badge, clear, fmtTime, h, label, notice, toast } from "../dom.js";
import { t } from "../i18n.js";
import { liveState, onCaseEvent, onLiveState } from "../live.js";
import { caseTitle } from "../names.js";
import { beep } from "../sound.js";

const FILTERS = ["open", "all", "resolved", "closed", "cancelled"];
const FRESH_MS = 120_000;
const PAGE = 500;
const MAX_OPEN = 5000; // per status; a control room with more open cases has other problems

export function queueView(root, { user, navigate }) {
  const handler = ["admin", "operator", "manager"].includes(user.role);
  let filter = sessionStorage.getItem("queue.filter") || "open";
  if (!FILTERS.includes(filter)) filter = "open";
  let community = sessionStorage.getItem("queue.community") || "";
  let cases = [];
  let known = null; // ids seen so far; null until the first load, so existing cases do not beep
  const fresh = new Map(); // case id → until (ms)
  const beeped = new Set();
  let timer = 0;
  let debounce = 0;
  let stopped = false;
  let loading = null;

  const banner = h("div", { class: "banner", role: "alert", hidden: true });
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
  const claim = handler
    ? h("button", { type: "button", class: "btn btn-primary", id: "claim-next", onclick: claimNext }, t("queue.claim"))
    : null;
  const tbody = h("tbody", { id: "cases" });
  const table = h("table", { class: "queue" },
    h("thead", {}, h("tr", {}, ["id", "severity", "status", "title", "where", "team", "opened", "due", "actions"]
      .map((c) => h("th", { scope: "col" }, t(`col.${c}`))))),
    tbody);
  const empty = notice(t("queue.empty"));
  empty.hidden = true; // until the first load says so
  communitySelect.hidden = true;
  clear(root,
    h("section", { id: "queue", class: "view-queue" },
      h("div", { class: "toolbar" },
        h("h2", {}, t("queue.title")), count, filterSelect, communitySelect, claim),
      banner, table, empty));

  async function claimNext() {
    claim.disabled = true;
    try {
      const c = await api("/cases/next", { method: "POST" });
      toast(t("queue.claimed", { id: c.id }), "ok");
      navigate(`#/case/${c.id}`);
    } catch (err) {
      toast(err.message, "error");
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

  function markFresh(id, title) {
    fresh.set(id, Date.now() + FRESH_MS);
    if (!beeped.has(id)) {
      beeped.add(id);
      beep();
      clear(banner, h("a", { href: `#/case/${id}` }, t("queue.newCritical", { id, title })));
      banner.hidden = false;
    }
  }

  async function refresh() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const rows = await load();
        if (stopped) return;
        if (known !== null) {
          for (const c of rows) {
            if (!known.has(c.id) && c.severity === "critical" && OPEN_STATUSES.includes(c.status)) markFresh(c.id, caseTitle(c));
          }
        }
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

  const sortOpen = (rows) => rows.sort((a, b) =>
    (SEVERITY_RANK[b.severity] ?? 0) - (SEVERITY_RANK[a.severity] ?? 0) || b.created_at.localeCompare(a.created_at) || b.id - a.id);

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
    if (keep && known && !known.has(c.id) && c.severity === "critical" && OPEN_STATUSES.includes(c.status)) markFresh(c.id, caseTitle(c));
    if (at >= 0 && keep) cases[at] = c;
    else if (at >= 0) cases.splice(at, 1);
    else if (keep) cases.push(c);
    if (known) known.add(c.id);
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

  function dueCell(c) {
    const open = OPEN_STATUSES.includes(c.status);
    const due = !open ? null : c.acknowledged_at ? c.resolve_due_at : c.ack_due_at;
    if (!due) return cell({ dataset: { label: t("col.due") } }, "–");
    const overdue = new Date(due).getTime() < Date.now();
    return cell({ class: overdue ? "overdue" : null, dataset: { label: t("col.due") }, title: fmtTime(due) },
      overdue ? `${t("case.overdue")} ${ago(due)}` : ago(due));
  }

  function row(c) {
    const isFresh = (fresh.get(c.id) || 0) > Date.now() && ["new", "dispatched"].includes(c.status);
    const where = [c.community_id, c.building, c.device_id].filter(Boolean).join(" · ");
    const tr = h("tr", {
      class: [`sev-${c.severity}`, isFresh && "fresh"],
      dataset: { caseId: c.id, status: c.status },
      tabindex: 0,
      onclick: () => navigate(`#/case/${c.id}`),
      onkeydown: (ev) => { if (ev.key === "Enter" && ev.target === tr) navigate(`#/case/${c.id}`); },
    },
    cell({ class: "id", dataset: { label: t("col.id") } }, h("a", { href: `#/case/${c.id}`, onclick: (ev) => ev.stopPropagation() }, `#${c.id}`)),
    cell({ dataset: { label: t("col.severity") } }, badge("severity", c.severity)),
    cell({ dataset: { label: t("col.status") } }, badge("status", c.status)),
    cell({ class: "title", dataset: { label: t("col.title") } }, caseTitle(c), h("small", {}, label("category", c.category))),
    cell({ dataset: { label: t("col.where") } }, where),
    cell({ dataset: { label: t("col.team") } }, c.team || "–", c.assignee ? h("small", {}, c.assignee) : null),
    cell({ dataset: { label: t("col.opened") }, title: fmtTime(c.created_at, true) }, ago(c.created_at)),
    dueCell(c),
    cell({ class: "row-actions", dataset: { label: t("col.actions") } },
      handler ? actionBar(c, user.role, (updated) => { upsert(updated); render(); }, { only: ["acknowledge", "start"] }) : null));
    return tr;
  }

  function render() {
    renderCommunities();
    const shown = community ? cases.filter((c) => c.community_id === community) : cases;
    tbody.replaceChildren(...shown.map(row));
    count.textContent = t("queue.count", { n: shown.length });
    empty.hidden = shown.length > 0;
    table.hidden = shown.length === 0;
    if (!document.body.dataset.queueReady) {
      document.body.dataset.queueReady = "1";
      performance.mark("queue-rendered");
    }
  }

  const offEvent = onCaseEvent((ev) => {
    if (ev.action === "opened" && ev.severity === "critical") markFresh(ev.case_id, ev.title);
    soon(ev.case_id);
  });
  const offState = onLiveState(() => schedule());
  refresh();

  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(debounce);
    offEvent();
    offState();
  };
}
