// Every open alert across the caller's devices, newest first, filtered by community, rule, severity,
// category, data state, silence and device kind; each links to its device and its case.
import "../../locales/admin-devices.js";
import { api } from "../../api.js";
import { ago, badge, clear, fmtTime, h, label, noDataBadge, notice } from "../../dom.js";
import { locale, t } from "../../i18n.js";
import { KINDS } from "./devices.js";

const SEVERITIES = ["critical", "major", "minor", "info"];
const CATEGORIES = ["fire", "flood", "gas", "security", "lighting", "infrastructure", "device_health", "safety"];
const FILTERS = ["community", "rule", "severity", "category", "data_state", "silenced", "kind"];
const PAGE = 100;

const options = (name, any, codes, group) => h("select", { name, "aria-label": any },
  h("option", { value: "" }, any), codes.map(([v, text]) => h("option", { value: v }, text ?? label(group, v))));

export function alertsView(root) {
  const filters = Object.fromEntries(FILTERS.map((k) => [k, ""]));
  let cursor = null;
  let shown = 0;
  let stopped = false;
  let debounce = 0;
  const count = h("span", { class: "count" });
  const tbody = h("tbody", {});
  const list = h("div", { class: "alerts-list" });
  const more = h("button", { type: "button", class: "btn", hidden: true, onclick: () => loadPage() }, t("dl.more"));

  const form = h("form", { class: "filters", role: "search", onsubmit: (ev) => ev.preventDefault(), oninput: (ev) => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const data = new FormData(form);
      for (const k of FILTERS) filters[k] = String(data.get(k) || "").trim();
      reload();
    }, ev.target.tagName === "SELECT" ? 0 : 300);
  } },
  h("input", { name: "community", placeholder: t("queue.community"), "aria-label": t("queue.community"), class: "short" }),
  h("input", { name: "rule", placeholder: t("openAlerts.rule"), "aria-label": t("openAlerts.rule"), class: "short" }),
  options("severity", t("openAlerts.anySeverity"), SEVERITIES.map((s) => [s]), "severity"),
  options("category", t("openAlerts.anyCategory"), CATEGORIES.map((c) => [c]), "category"),
  options("data_state", t("openAlerts.anyDataState"), [["live"], ["no_data"]], "dataState"),
  options("silenced", t("openAlerts.anySilence"), [["true", t("openAlerts.silenced")], ["false", t("openAlerts.notSilenced")]]),
  options("kind", t("registry.anyKind"), KINDS.map((k) => [k]), "kind"));

  async function loadPage() {
    let data;
    try {
      data = await api("/alerts", { query: { ...filters, limit: PAGE, cursor } });
    } catch (err) {
      if (!stopped && err.status !== 401) clear(list, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    tbody.append(...data.alerts.map(row));
    shown += data.alerts.length;
    cursor = data.next_cursor;
    more.hidden = !cursor;
    count.textContent = t("openAlerts.count", { n: shown });
    if (!shown) clear(list, notice(t("openAlerts.empty")));
  }

  function reload() {
    cursor = null;
    shown = 0;
    tbody.replaceChildren();
    clear(list, h("table", { class: "open-alerts cards-on-phone" },
      h("thead", {}, h("tr", {}, ["alert", "where", "since", "state", "case"].map((c) => h("th", { scope: "col" }, t(`openAlerts.col.${c}`))))),
      tbody));
    loadPage();
  }

  clear(root, h("section", { class: "view-admin view-alerts" },
    h("div", { class: "toolbar" }, h("h2", {}, t("openAlerts.title")), count), form, list, more));
  reload();
  return () => { stopped = true; clearTimeout(debounce); };
}

function row(a) {
  const title = locale() === "zh" && a.title_zh ? a.title_zh : a.title;
  return h("tr", { class: `sev-${a.severity}`, dataset: { alertId: a.id, rule: a.rule_id } },
    h("td", { dataset: { label: t("openAlerts.col.alert") } }, h("div", { class: "cell" },
      badge("severity", a.severity), " ", h("strong", {}, title), h("small", {}, `${a.rule_id} · ${label("category", a.category)}`))),
    h("td", { dataset: { label: t("openAlerts.col.where") } }, h("div", { class: "cell" },
      a.device_id ? h("a", { href: `#/device/${encodeURIComponent(a.device_id)}` }, a.device_id) : h("span", {}, a.subject),
      a.device_kind ? h("small", {}, label("kind", a.device_kind)) : null,
      h("small", {}, [a.community_id, a.building, a.grid].filter(Boolean).join(" / ")))),
    h("td", { dataset: { label: t("openAlerts.col.since") } }, h("div", { class: "cell" }, fmtTime(a.opened_at), h("small", {}, ago(a.opened_at)))),
    h("td", { dataset: { label: t("openAlerts.col.state") } }, h("div", { class: "cell" },
      a.data_state === "no_data" ? noDataBadge() : badge("dataState", a.data_state),
      a.silenced ? [" ", badge("hold", "silenced")] : null)),
    h("td", { dataset: { label: t("openAlerts.col.case") } },
      a.case_ids.length ? a.case_ids.map((c) => [h("a", { href: `#/case/${c}` }, `#${c}`), " "]) : h("span", { class: "muted" }, t("openAlerts.noCase"))));
}
