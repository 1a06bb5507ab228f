// One device: registry data and live state, its latest values, telemetry charts over 1 h to 30 d (uPlot:
// dated time axes, drag to zoom, values under the cursor, the cursors of all charts moving together), its
// alerts and cases; for admins and managers its refused messages, for admins its registration, and for a
// gate its access events (read on request: each read is audited).
import { OPEN_STATUSES, api } from "../api.js";
import { chartFigure } from "../charts.js";
import { ago, badge, clear, fmtNumber, fmtTime, h, label, noDataBadge, notice } from "../dom.js";
import { t } from "../i18n.js";
import { silencePanel } from "../loop.js";
import { codeBadge, payloadCell, viaAdapter } from "./admin/deadletters.js";
import "../locales/wall.js";

const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const UNITS = [
  ["_pct_per_m", "%/m"], ["_pct_lel", "% LEL"], ["_ug_m3", "µg/m³"], ["_pct", "%"], ["_dbm", "dBm"], ["_db", "dB"],
  ["_deg", "°"], ["_ppm", "ppm"], ["_cm", "cm"], ["_c", "°C"], ["_w", "W"], ["_v", "V"], ["_a", "A"], ["_s", "s"],
];

// Boolean telemetry fields (charted as yes/no); tests/test_dashboard_static.py checks them against the hub.
// BOOLEANS-BEGIN
export const BOOLEAN_METRICS = [
  "alarm", "cabinet_door_open", "cover_open", "door_open", "emergency_call", "fault", "lamp_on", "tamper", "test_button"
];
// BOOLEANS-END

export const unitOf = (metric) => (UNITS.find(([suffix]) => metric.endsWith(suffix)) || [null, ""])[1];

/** As the hub counts it (hub/store/devices.py): in alarm while an alert or a case about it is open. */
export function deviceState(d, alerts, cases) {
  if (alerts.some((a) => a.status === "open") || cases.some((c) => OPEN_STATUSES.includes(c.status))) return "alerting";
  if (!d.online) return "offline";
  if (d.battery_pct !== null && d.battery_pct < 20) return "low_battery";
  return "ok";
}

export function deviceView(root, { user, params }) {
  const id = decodeURIComponent(params[0]);
  let range = sessionStorage.getItem("device.range") || "24h";
  if (!(range in RANGES)) range = "24h";
  let stopped = false;
  let device = null;
  const charts = h("div", { class: "charts" });
  clear(root, notice(t("common.loading")));

  async function load() {
    let alerts;
    let cases;
    try {
      [device, alerts, cases] = await Promise.all([
        api(`/devices/${encodeURIComponent(id)}`),
        api(`/devices/${encodeURIComponent(id)}/alerts`, { query: { limit: 20 } }),
        api(`/devices/${encodeURIComponent(id)}/cases`, { query: { limit: 20 } }),
      ]);
    } catch (err) {
      if (stopped) return;
      if (err.status === 404) clear(root, h("section", { class: "view-device" }, notice(t("device.notFound", { id }), "error")));
      else if (err.status !== 401) clear(root, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    const d = device;
    const state = deviceState(d, alerts, cases);
    const latest = d.last_values || {};
    const values = Object.entries(latest).filter(([k]) => !["ts", "seq"].includes(k)).sort(([a], [b]) => a.localeCompare(b));
    const rangeButtons = Object.keys(RANGES).map((r) => h("button", {
      type: "button", class: ["btn", "range"], dataset: { range: r }, "aria-pressed": String(r === range),
      onclick: () => {
        range = r;
        sessionStorage.setItem("device.range", r);
        rangeButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === r)));
        drawCharts();
      },
    }, t(`range.${r}`)));
    const retired = Boolean(d.decommissioned_at);
    clear(root, h("section", { class: "view-device", dataset: { deviceId: d.id, state, decommissioned: String(retired) } },
      h("div", { class: "toolbar" },
        h("h2", {}, t("device.title", { id: d.id })), badge("state", state),
        retired ? badge("registry", "decommissioned", "state-decommissioned") : null,
        user.role !== "resident" ? h("a", { href: `#/plan/${encodeURIComponent(d.community_id)}` }, t("device.onPlan")) : null),
      h("dl", { class: "facts" }, [
        [t("device.kind"), label("kind", d.kind)],
        [t("device.community"), d.community_id],
        [t("device.building"), d.building || "–"],
        [t("device.grid"), d.grid || "–"],
        [t("device.lastSeen"), d.last_seen ? `${fmtTime(d.last_seen, true)} (${ago(d.last_seen)})` : t("device.never")],
        latest.ts ? [t("device.readingTime"), fmtTime(latest.ts, true)] : null,
        [t("device.battery"), d.battery_pct === null ? "–" : `${fmtNumber(d.battery_pct, 0)} %`],
        [t("device.rssi"), d.rssi_dbm === null ? "–" : `${d.rssi_dbm} dBm`],
        [t("device.adapter"), d.adapter ? h("span", { class: "adapter" }, d.adapter) : t("device.native")],
        [t("device.installed"), d.installed_on || "–"],
      ].filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      user.role === "admin" ? registration(d) : null,
      h("h3", {}, t("device.latest")),
      values.length
        ? h("table", { class: "values" }, h("tbody", {}, values.map(([k, v]) =>
          h("tr", {}, h("th", { scope: "row" }, label("metric", k)), h("td", {}, `${fmtNumber(v)} ${typeof v === "number" ? unitOf(k) : ""}`)))))
        : notice(t("device.noValues")),
      h("div", { class: "toolbar" }, h("h3", {}, t("device.history")), h("div", { class: "ranges", role: "group" }, rangeButtons)),
      charts,
      h("h3", {}, t("device.alerts")),
      alerts.length
        ? h("ul", { class: "item-list" }, alerts.map((a) => h("li", { class: `alert-${a.status}`, dataset: { alertId: a.id, dataState: a.data_state } },
          badge("severity", a.severity), " ", badge("alertStatus", a.status), a.silence_id ? [" ", badge("hold", "silenced")] : null,
          a.status === "open" && a.data_state === "no_data" ? [" ", noDataBadge()] : null,
          " ", a.title, " · ", fmtTime(a.opened_at),
          a.case_ids.map((c) => [" ", h("a", { href: `#/case/${c}` }, `#${c}`)]))))
        : notice(t("common.none")),
      user.role === "resident" ? null
        : silencePanel({ deviceId: d.id, community: d.community_id, rules: [...new Set(alerts.map((a) => a.rule_id))].sort() }, user),
      h("h3", {}, t("device.cases")),
      cases.length
        ? h("ul", { class: "item-list" }, cases.map((c) => h("li", {},
          h("a", { href: `#/case/${c.id}` }, `#${c.id}`), " ", badge("severity", c.severity), " ", badge("status", c.status), " ",
          c.title, " · ", fmtTime(c.created_at))))
        : notice(t("common.none")),
      ["admin", "manager"].includes(user.role) ? refused : null,
      d.kind === "access_gate" && ["admin", "operator", "manager"].includes(user.role) ? accessEvents(d.id) : null));
    drawCharts();
    if (["admin", "manager"].includes(user.role)) loadRefused();
  }

  const refused = h("section", { class: "refused", id: "refused" });
  async function loadRefused() {
    let data;
    try {
      data = await api("/dead-letters", { query: { device: id, from: new Date(Date.now() - RANGES["30d"]).toISOString(), limit: 10 } });
    } catch (err) {
      if (!stopped) clear(refused, h("h3", {}, t("dl.deviceTitle")), notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    clear(refused, h("div", { class: "toolbar" }, h("h3", {}, t("dl.deviceTitle")),
      h("a", { href: `#/admin/dead-letters?device=${encodeURIComponent(id)}` }, t("dl.deviceAll"))),
    data.dead_letters.length
      ? h("ul", { class: "item-list refused-list" }, data.dead_letters.map((r) => h("li", { dataset: { code: r.code } },
        codeBadge(r.code), " ", fmtTime(r.received_at, true), h("small", {}, r.reason), viaAdapter(r), payloadCell(r))))
      : notice(t("dl.deviceNone")));
  }

  async function drawCharts() {
    const to = Date.now();
    const from = to - RANGES[range];
    clear(charts, notice(t("common.loading")));
    let data;
    try {
      data = await api(`/devices/${encodeURIComponent(id)}/telemetry`, {
        query: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
      });
    } catch (err) {
      if (!stopped) clear(charts, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    const figures = [];
    const quiet = [];
    for (const metric of data.metrics) {
      const points = [];
      const band = [];
      let bool = false;
      for (const p of data.points) {
        const v = p[metric];
        const ts = Date.parse(p.t);
        if (v === null || v === undefined) { points.push({ t: ts, v: null }); continue; }
        if (typeof v === "object") {
          points.push({ t: ts, v: v.avg });
          band.push({ t: ts, lo: v.min, hi: v.max });
        } else {
          bool = bool || typeof v === "boolean";
          points.push({ t: ts, v: Number(v) });
        }
      }
      if (!points.some((p) => p.v !== null)) continue;
      const isBool = bool || BOOLEAN_METRICS.includes(metric);
      if (isBool && points.every((p) => p.v === null || p.v === 0) && band.every((b) => b.hi === 0)) {
        quiet.push(label("metric", metric));
        continue;
      }
      const unit = unitOf(metric);
      figures.push(chartFigure(`${label("metric", metric)}${unit ? ` (${unit})` : ""}`,
        [{ name: label("metric", metric), points, band, step: isBool }],
        { from, to, bool: isBool, height: 170, sync: `device-${id}`, format: (v) => `${fmtNumber(v)}${unit ? ` ${unit}` : ""}` }));
    }
    clear(charts,
      h("p", { class: "muted" }, data.bucket === "raw" ? t("chart.raw") : t("chart.bucket", { bucket: data.bucket }), " ", t("chart.howTo")),
      figures.length ? figures : notice(t("chart.noData")),
      quiet.length ? h("p", { class: "muted" }, t("device.alwaysNo", { names: quiet.join(", ") })) : null);
    charts.dataset.bucket = data.bucket;
    charts.dataset.points = String(data.points.length);
  }

  load();
  return () => { stopped = true; };
}

/** Admins: in service or not, parent, when registered and when its password last changed. */
function registration(d) {
  return h("section", { class: "registration" },
    h("div", { class: "toolbar" }, h("h3", {}, t("registration.title")),
      h("a", { href: `#/admin/devices?device=${encodeURIComponent(d.id)}` }, t("registration.manage"))),
    h("dl", { class: "facts" }, [
      [t("registry.col.state"), d.decommissioned_at ? t("registration.decommissionedAt", { at: fmtTime(d.decommissioned_at, true) }) : t("registration.inService")],
      [t("registration.parent"), d.parent_id ? h("a", { href: `#/device/${encodeURIComponent(d.parent_id)}` }, d.parent_id) : t("registration.noParent")],
      [t("registration.registered"), fmtTime(d.created_at)],
      [t("registration.rotated"), d.credentials_rotated_at ? fmtTime(d.credentials_rotated_at, true) : t("registry.edit.neverRotated")],
    ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
}

/** A gate's access events of the last 24 h, read only when asked for (each read is audited). */
function accessEvents(id) {
  const box = h("div", { class: "access-events" });
  const show = h("button", { type: "button", class: "btn", id: "show-access", onclick: async () => {
    show.disabled = true;
    let data;
    try {
      data = await api(`/devices/${encodeURIComponent(id)}/access-events`, { query: { limit: 50 } });
    } catch (err) {
      clear(box, notice(t("common.error", { msg: err.message }), "error"));
      show.disabled = false;
      return;
    }
    clear(box, data.events.length
      ? h("table", { class: "access cards-on-phone" },
        h("thead", {}, h("tr", {}, ["time", "result", "method", "direction", "person"].map((c) => h("th", { scope: "col" }, t(`access.col.${c}`))))),
        h("tbody", {}, data.events.map((e) => h("tr", { class: `access-${e.result}` },
          h("td", { dataset: { label: t("access.col.time") } }, fmtTime(e.time, true)),
          h("td", { dataset: { label: t("access.col.result") } }, t(`access.result.${e.result}`)),
          h("td", { dataset: { label: t("access.col.method") } }, t(`access.method.${e.method}`)),
          h("td", { dataset: { label: t("access.col.direction") } }, t(`access.direction.${e.direction}`)),
          h("td", { dataset: { label: t("access.col.person") } }, h("code", {}, e.person_pseudonym || "–"))))))
      : notice(t("access.none")));
    show.disabled = false;
  } }, t("access.show"));
  return h("section", { class: "access-section" }, h("h3", {}, t("access.title")), h("p", { class: "muted" }, t("access.note")), show, box);
}
