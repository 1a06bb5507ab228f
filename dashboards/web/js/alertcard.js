// An alert of a case as evidence for the staff: what it is, which device and place (under its title), when (the hub's
// clock, and the device's where they differ), why it cleared, and a chart of its own device's readings.
import { api } from "./api.js";
import { chartFigure } from "./charts.js";
import { badge, h, label, noDataBadge } from "./dom.js";
import { t } from "./i18n.js";
import { alertTitle, alertWhere } from "./names.js";
import { clearReason } from "./history.js";
import { clock, duration, timeEl } from "./when.js";

const MINUTE = 60e3;
const SKEW_MS = MINUTE; // a device clock within a minute of the hub's is not worth a word

/** How the device's time of an alert stands to the hub's: ahead, late, or null when they agree. */
function clockSkew(a) {
  if (!a.recorded_at || !a.opened_at) return null;
  const ms = Date.parse(a.opened_at) - Date.parse(a.recorded_at);
  if (Math.abs(ms) < SKEW_MS) return null;
  return ms > 0 ? t("time.deviceAhead", { d: duration(ms / 1000) }) : t("time.arrivedLate", { d: duration(-ms / 1000) });
}

const deviceLink = (id) => h("a", { href: `#/device/${encodeURIComponent(id)}` }, id);

export function alertCard(a) {
  const ex = a.explanation || {};
  const skew = clockSkew(a);
  const own = a.device_id && a.subject === a.device_id;
  const rows = [
    own ? [t("alert.device"), deviceLink(a.device_id)] : null,
    ex.members ? [t("alert.members"), ex.members.flatMap((m, i) => [i ? ", " : "", deviceLink(m)])] : null,
    [t("alert.opened"), timeEl(a.recorded_at || a.opened_at)],
    skew ? [t("alert.deviceTime"), h("span", { class: "skew" }, clock(a.opened_at), ` – ${skew}`)] : null,
    ex.condition_started_at ? [t("alert.started"), h("span", {}, clock(ex.condition_started_at), skew ? ` (${t("time.deviceClock")})` : "")] : null,
    [t("alert.cleared"), a.cleared_at
      ? h("span", { class: "clear-reason" }, timeEl(a.cleared_at), " – ", clearReason(a.clear_facts, a.clear_reason))
      : t("alert.stillOpen")],
    [t("alert.rule"), h("span", { class: "rule" }, `${a.rule_id} · ${a.rule_version}`,
      ex.condition ? [" ", h("code", {}, ex.condition)] : null)],
  ].filter(Boolean);
  const chartBox = h("div", { class: "evidence" });
  const card = h("article", { class: ["alert-card", `alert-${a.status}`], dataset: { alertId: a.id, deviceId: a.device_id || "" } },
    h("h4", {}, alertTitle(a), " ", badge("alertStatus", a.status), a.data_state === "no_data" ? [" ", noDataBadge()] : null,
      h("small", { class: "alert-where" }, alertWhere(a))),
    a.data_state === "no_data"
      ? h("p", { class: "no-data-note" }, t("alert.noDataSince", { at: clock(a.last_reading_at || a.data_state_since) }))
      : null,
    h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    chartBox);
  evidence(a, chartBox, skew ? ` (${t("time.deviceClock")})` : "");
  return card;
}

/** The alert's readings as dots over its own device's telemetry around the alert; the charts keep the
 * device's times, which `clockNote` says where its clock is off. */
async function evidence(a, box, clockNote) {
  const ex = a.explanation || {};
  const series = new Map();
  const add = (metric, ts, v) => {
    const n = typeof v === "boolean" ? Number(v) : typeof v === "number" ? v : null;
    if (n === null) return;
    if (!series.has(metric)) series.set(metric, { bool: typeof v === "boolean", points: [] });
    series.get(metric).points.push({ t: Date.parse(ts), v: n });
  };
  for (const r of ex.readings || []) {
    if (r.values) for (const [m, v] of Object.entries(r.values)) add(m, r.ts, v);
    else if ("value" in r) add(ex.metric || "value", r.ts, r.value);
  }
  if (!series.size) {
    if (!ex.members) box.append(h("p", { class: "muted" }, t("alert.noReadings")));
    return;
  }
  const started = Date.parse(ex.condition_started_at || a.opened_at);
  const opened = Date.parse(a.opened_at);
  const cleared = a.cleared_at ? Date.parse(a.cleared_at) : null;
  // The window is the alert itself with some context either side, not "until now": a case looked at
  // hours later still shows its evidence large. Readings carry the device's times, so the chart does too.
  const times = [started, opened, ...[...series.values()].flatMap((e) => e.points.map((p) => p.t))];
  const first = Math.min(...times);
  const last = Math.max(...times, cleared ?? opened);
  const pad = Math.max(2 * MINUTE, (last - first) * 0.25);
  const from = first - pad;
  const to = Math.max(opened + MINUTE, last + pad);
  let context = null;
  if (a.device_id && a.subject === a.device_id) {
    try {
      context = await api(`/devices/${encodeURIComponent(a.device_id)}/telemetry`, {
        query: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), metrics: [...series.keys()].join(",") },
      });
    } catch { /* event fields are not telemetry metrics: the readings alone are the evidence */ }
  }
  const markers = [
    { t: started, label: t("alert.started"), cls: "marker-start" },
    { t: opened, label: t("alert.opened"), cls: "marker-open" },
    cleared ? { t: cleared, label: t("alert.cleared"), cls: "marker-clear" } : null,
  ].filter(Boolean);
  for (const [metric, ev] of series) {
    const lines = [];
    if (context && context.metrics.includes(metric)) {
      const points = context.points.map((p) => {
        const v = p[metric];
        if (v === null || v === undefined) return { t: Date.parse(p.t), v: null };
        return { t: Date.parse(p.t), v: typeof v === "object" ? v.avg : Number(v) };
      });
      lines.push({ name: t("alert.telemetry", { device: a.device_id }), points, step: ev.bool });
    }
    lines.push({ name: t("alert.ruleReadings"), points: ev.points, dots: true });
    box.append(chartFigure(label("metric", metric) + clockNote, lines, { from, to, markers, bool: ev.bool, height: 130 }));
  }
}
