// What closing a case needs, as the hub's checklist says (GET /cases/{id}/closure, the same checks
// `close` is judged by): each item done, waiting (it passes by itself at a known time) or missing, and
// whether Close can pass now or from when.
import { api } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { organisationName } from "./calls.js";
import { alertName } from "./names.js";
import { sentence } from "./sentence.js";
import { timeEl, when } from "./when.js";

/** Statuses whose page shows the checklist: once somebody has the case, until it is closed. */
export const CLOSURE_STATUSES = ["acknowledged", "in_progress", "reopened", "resolved"];

export function loadClosure(c) {
  return CLOSURE_STATUSES.includes(c.status) ? api(`/cases/${c.id}/closure`).catch(() => null) : Promise.resolve(null);
}

const MARK = { done: "✓", waiting: "…", missing: "✗" };

function itemText(item, c) {
  const alert = () => {
    const a = (c.alerts || []).find((x) => x.id === item.alert?.id);
    return a ? alertName(a) : t("alert.named", { title: item.alert?.rule_id || "", where: item.alert?.subject || "" });
  };
  const by = item.by ? h("strong", {}, item.by) : "–";
  switch (`${item.code}.${item.state === "done" ? "done" : item.why}`) {
    case "resolved.done": return sentence("closure.resolved.done");
    case "resolved.not_resolved": return sentence("closure.resolved.missing");
    case "readings_normal.done": return sentence("closure.readings.done", { alert: alert(), since: timeEl(item.since) });
    case "readings_normal.too_recent":
      return sentence("closure.readings.waiting", { alert: alert(), since: timeEl(item.since), until: timeEl(item.until) });
    case "readings_normal.not_cleared": return sentence("closure.readings.notCleared", { alert: alert() });
    case "readings_normal.no_data": return sentence("closure.readings.noData", { alert: alert(), since: timeEl(item.since) });
    case "resolution_note.done": return sentence("closure.note.done", { by, at: timeEl(item.at) });
    case "resolution_note.no_note": return sentence("closure.note.missing");
    case "evidence.done": {
      const what = [item.photos && t("closure.evidence.photos", { n: item.photos }), item.notes && t("closure.evidence.notes", { n: item.notes })];
      return sentence("closure.evidence.done", { what: what.filter(Boolean).join(t("list.sep")) });
    }
    case "evidence.no_evidence": return sentence("closure.evidence.missing");
    case "on_site.done": return sentence("closure.onSite.done", { by, at: timeEl(item.at) });
    case "on_site.only_by_resolver": return sentence("closure.onSite.onlyResolver", { by });
    case "on_site.not_confirmed":
      return sentence(item.by ? "closure.onSite.notByResolver" : "closure.onSite.missing", { by });
    case "calls.done": return sentence("closure.calls.done");
    case "calls.calls_open":
      return sentence("closure.calls.open", { orgs: h("strong", {}, item.organisations.map((o) => organisationName(c, o)).join(t("list.sep"))) });
    default: return item.message;
  }
}

/** The checklist panel; null when the case is past closing or the checklist could not be read. */
export function closurePanel(c, closure) {
  if (!closure) return null;
  const open = closure.items.filter((i) => i.state === "missing").length;
  const summary = closure.can_close
    ? h("p", { class: "closure-summary closure-ready" }, t("closure.ready"))
    : c.status !== "resolved"
      ? h("p", { class: "closure-summary closure-later" }, t("closure.later"))
      : closure.closable_at
        ? h("p", { class: "closure-summary closure-waiting" }, sentence("closure.from", { at: when(closure.closable_at) }))
        : h("p", { class: "closure-summary closure-missing" }, t("closure.missing", { n: open }));
  return h("section", { class: "closure", dataset: { panel: "closure", canClose: String(closure.can_close) } },
    h("h3", {}, t("closure.title")),
    summary,
    h("ul", { class: "checklist" }, closure.items.map((item) => h("li", {
      class: `check-${item.state}`,
      dataset: { code: item.code, state: item.state },
    }, h("span", { class: "mark", "aria-label": t(`closure.state.${item.state}`) }, MARK[item.state]), " ",
    h("span", {}, itemText(item, c))))));
}

/** When the page must read the checklist again by itself: when a waiting item passes. */
export function nextClosureChange(closure) {
  const times = (closure?.items || []).filter((i) => i.state === "waiting" && i.until).map((i) => Date.parse(i.until));
  return times.length ? Math.min(...times) : null;
}
