// Refused data: why the hub turned messages away (the dead letters), counted per reason over time and
// listed newest first with their origin and payload (as text, or hex bytes when not readable). A message
// from an unknown device offers admins "register this device", pre-filled from its topic.
import "../../locales/admin-devices.js";
import { api } from "../../api.js";
import { chartFigure } from "../../charts.js";
import { clear, fmtTime, h, label, notice } from "../../dom.js";
import { t } from "../../i18n.js";
import { KINDS } from "./devices.js";

// Every reason code ingest writes (hub/domain/deadletters.py CODES; tests/test_dashboard_static.py).
// CODES-BEGIN
export const CODES = [
  "wrong", "unregistered", "decommissioned", "topic", "payload", "invalid", "event", "ts", "rate_limited", "internal",
  "adapter"
];
// CODES-END
const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const PAGE = 50;

export function codeBadge(code) {
  return h("span", { class: ["badge", `dl-${code}`], dataset: { code } }, label("dlCode", code));
}

/** The stored payload prefix: its text when readable, else its hex bytes, and its full size. */
export function payloadCell(r) {
  return [
    r.payload_text !== null
      ? h("pre", { class: "payload" }, r.payload_text)
      : h("pre", { class: "payload payload-hex", title: t("dl.hex") }, r.payload_hex),
    h("small", {}, t("dl.bytes", { n: r.payload_size })),
  ];
}

/** "Register this device" for a message whose topic names a device kind but no registered device. */
export function registerLink(r, user) {
  if (user.role !== "admin" || r.registered || r.code !== "unregistered" || !KINDS.includes(r.kind)) return null;
  const ref = [r.community_id, r.kind, r.device_id].map(encodeURIComponent).join("/");
  return h("a", { class: "btn register-this", href: `#/admin/devices?register=${ref}` }, t("dl.registerThis"));
}

export function deadLettersView(root, { user, params }) {
  const query = new URLSearchParams(params[0] || "");
  const filters = { device: query.get("device") || "", community: "", code: "" };
  let range = sessionStorage.getItem("dl.range") || "24h";
  if (!(range in RANGES)) range = "24h";
  let cursor = null;
  let stopped = false;
  let debounce = 0;
  const chart = h("div", { class: "dl-summary" });
  const tbody = h("tbody", {});
  const list = h("div", { class: "dl-list" });
  const more = h("button", { type: "button", class: "btn", id: "dl-more", hidden: true, onclick: () => loadPage() }, t("dl.more"));

  const form = h("form", { class: "filters", role: "search", onsubmit: (ev) => ev.preventDefault(), oninput: () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const data = new FormData(form);
      for (const k of Object.keys(filters)) filters[k] = String(data.get(k) || "").trim();
      reload();
    }, 300);
  } },
  h("input", { name: "device", value: filters.device, placeholder: t("dl.device"), "aria-label": t("dl.device") }),
  h("input", { name: "community", placeholder: t("dl.community"), "aria-label": t("dl.community"), class: "short" }),
  h("select", { name: "code", "aria-label": t("dl.anyCode") }, h("option", { value: "" }, t("dl.anyCode")),
    CODES.map((c) => h("option", { value: c }, label("dlCode", c)))));
  const rangeButtons = Object.keys(RANGES).map((r) => h("button", {
    type: "button", class: "btn range", dataset: { range: r }, "aria-pressed": String(r === range),
    onclick: () => {
      range = r;
      sessionStorage.setItem("dl.range", r);
      rangeButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === r)));
      reload();
    },
  }, t(`range.${r}`)));

  const span = () => {
    const to = Date.now();
    return { from: new Date(to - RANGES[range]).toISOString(), to: new Date(to).toISOString() };
  };

  async function loadSummary() {
    const bucket = RANGES[range] > 2 * 86400e3 ? "day" : "hour";
    let data;
    try {
      data = await api("/dead-letters/summary", { query: { ...filters, ...span(), bucket } });
    } catch (err) {
      if (!stopped && err.status !== 401) clear(chart, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    const codes = Object.keys(data.totals).sort();
    const step = bucket === "hour" ? 3600e3 : 86400e3;
    const from = Date.parse(data.from);
    const to = Date.parse(data.to);
    const series = codes.map((code) => {
      const counts = new Map(data.buckets.filter((b) => b.code === code).map((b) => [Date.parse(b.start), b.count]));
      const points = [];
      for (let at = Math.floor(from / step) * step; at < to; at += step) points.push({ t: at, v: counts.get(at) || 0 });
      return { name: label("dlCode", code), points, step: true };
    });
    clear(chart,
      h("ul", { class: "dl-totals", "aria-label": t("dl.totals") }, codes.map((c) => h("li", { dataset: { code: c } }, codeBadge(c), " ", String(data.totals[c])))),
      codes.length ? chartFigure(t("dl.perBucket", { bucket: t(`dl.bucket.${bucket}`) }), series, { from, to, height: 140, counts: true }) : null);
  }

  async function loadPage() {
    let data;
    try {
      data = await api("/dead-letters", { query: { ...filters, ...span(), limit: PAGE, cursor } });
    } catch (err) {
      if (!stopped && err.status !== 401) clear(list, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    tbody.append(...data.dead_letters.map((r) => row(r, user)));
    cursor = data.next_cursor;
    more.hidden = !cursor;
    if (!tbody.children.length) clear(list, notice(t("dl.empty")));
  }

  function reload() {
    cursor = null;
    tbody.replaceChildren();
    clear(list, h("table", { class: "dead-letters cards-on-phone" },
      h("thead", {}, h("tr", {}, ["time", "reason", "from", "payload"].map((c) => h("th", { scope: "col" }, t(`dl.col.${c}`))))),
      tbody));
    loadSummary();
    loadPage();
  }

  clear(root, h("section", { class: "view-admin view-dead-letters" },
    h("div", { class: "toolbar" }, h("h2", {}, t("dl.title")), h("div", { class: "ranges", role: "group", "aria-label": t("dl.range") }, rangeButtons)),
    h("p", { class: "muted" }, t("dl.intro")),
    form, chart, list, more));
  reload();
  return () => { stopped = true; clearTimeout(debounce); };
}

// A vendor message an adapter mapped or refused: which adapter, and at which step.
export function viaAdapter(r) {
  return r.adapter ? h("small", { class: "adapter" }, t("dl.adapter", { adapter: r.adapter, step: t(`dlStep.${r.step}`) })) : null;
}

function row(r, user) {
  return h("tr", { dataset: { id: r.id, code: r.code, deviceId: r.device_id || "" } },
    h("td", { dataset: { label: t("dl.col.time") } }, fmtTime(r.received_at, true)),
    h("td", { dataset: { label: t("dl.col.reason") } }, h("div", { class: "cell" }, codeBadge(r.code), h("small", {}, r.reason))),
    h("td", { dataset: { label: t("dl.col.from") } }, h("div", { class: "cell" },
      r.device_id && r.registered ? h("a", { href: `#/device/${encodeURIComponent(r.device_id)}` }, r.device_id) : h("span", {}, r.device_id || "–"),
      h("small", { class: "topic" }, r.topic),
      r.client_id ? h("small", {}, t("dl.client", { id: r.client_id })) : null,
      viaAdapter(r),
      registerLink(r, user))),
    h("td", { dataset: { label: t("dl.col.payload") } }, h("div", { class: "cell" }, payloadCell(r))));
}
