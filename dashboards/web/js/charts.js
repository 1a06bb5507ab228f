// Small inline SVG charts: time series with an optional min–max band, dots for evidence readings and
// vertical markers (alert opened, cleared). Colours come from CSS classes, so no inline style is needed.
import { h, s } from "./dom.js";
import { locale, t } from "./i18n.js";

const W = 560;
const PAD = { left: 46, right: 10, top: 10, bottom: 22 };

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  const loc = locale() === "zh" ? "zh-CN" : "en-GB";
  if (spanMs <= 36 * 3600e3) {
    return d.toLocaleTimeString(loc, { hour: "2-digit", minute: "2-digit", ...(spanMs < 600e3 ? { second: "2-digit" } : {}) });
  }
  return d.toLocaleDateString(loc, { month: "2-digit", day: "2-digit" });
}

function niceNumber(v) {
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
  return v.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
}

/**
 * series: [{name, points: [{t: ms, v: number|null}], band?: [{t, lo, hi}], dots?: bool, step?: bool}]
 * options: {from, to (ms), height, markers: [{t, label}], bool: true for a 0/1 metric, title, floor: the
 * lowest value the axis shows (0 for a rate that cannot be negative)}
 */
export function lineChart(series, { from, to, height = 150, markers = [], bool = false, title = "", floor = null } = {}) {
  const H = height;
  const values = [];
  const times = [];
  for (const ser of series) {
    for (const p of ser.points) if (p.v !== null && Number.isFinite(p.v)) { values.push(p.v); times.push(p.t); }
    for (const b of ser.band || []) { values.push(b.lo, b.hi); times.push(b.t); }
  }
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title || series.map((x) => x.name).join(", "),
    preserveAspectRatio: "xMidYMid meet",
  });
  if (!values.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, class: "chart-empty", "text-anchor": "middle" }, t("chart.noData")));
    return svg;
  }
  const t0 = from ?? Math.min(...times);
  let t1 = to ?? Math.max(...times);
  if (t1 <= t0) t1 = t0 + 60e3;
  let lo = bool ? 0 : Math.min(...values);
  let hi = bool ? 1 : Math.max(...values);
  if (hi === lo) { const pad = Math.abs(hi) * 0.1 || 1; lo -= pad; hi += pad; }
  else if (!bool) { const pad = (hi - lo) * 0.08; lo -= pad; hi += pad; }
  if (floor !== null) lo = Math.max(lo, floor);
  const x = (ms) => PAD.left + ((ms - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const f = (n) => n.toFixed(1);

  const axis = s("g", { class: "chart-axis" });
  const ticks = bool ? [0, 1] : [lo, (lo + hi) / 2, hi];
  for (const v of ticks) {
    axis.append(
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: f(y(v)), y2: f(y(v)), class: "chart-grid" }),
      s("text", { x: PAD.left - 4, y: f(y(v) + 4), "text-anchor": "end" }, bool ? (v ? t("common.yes") : t("common.no")) : niceNumber(v)),
    );
  }
  const span = t1 - t0;
  for (const [ms, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
    axis.append(s("text", { x: f(x(ms)), y: H - 6, "text-anchor": anchor }, timeLabel(ms, span)));
  }
  svg.append(axis);

  series.forEach((ser, i) => {
    const cls = `series-${i % 6}`;
    if (ser.band && ser.band.length) {
      const top = ser.band.map((b) => `${f(x(b.t))},${f(y(b.hi))}`);
      const bottom = ser.band.slice().reverse().map((b) => `${f(x(b.t))},${f(y(b.lo))}`);
      svg.append(s("polygon", { points: [...top, ...bottom].join(" "), class: `chart-band ${cls}` }));
    }
    let segment = [];
    const flush = () => {
      if (segment.length > 1) svg.append(s("polyline", { points: segment.join(" "), class: `chart-line ${cls}` }));
      segment = [];
    };
    let prev = null;
    for (const p of ser.points) {
      if (p.v === null || !Number.isFinite(p.v)) { flush(); prev = null; continue; }
      if (ser.step && prev !== null) segment.push(`${f(x(p.t))},${f(y(prev))}`);
      segment.push(`${f(x(p.t))},${f(y(p.v))}`);
      prev = p.v;
    }
    flush();
    if (ser.dots || ser.points.length === 1) {
      for (const p of ser.points) {
        if (p.v === null || !Number.isFinite(p.v)) continue;
        svg.append(
          s("circle", { cx: f(x(p.t)), cy: f(y(p.v)), r: ser.dots ? 4 : 2.5, class: `chart-dot ${cls}` },
            s("title", {}, `${ser.name}: ${niceNumber(p.v)} @ ${new Date(p.t).toLocaleString()}`)),
        );
      }
    }
  });

  // Markers closer than a few pixels share one line and one label ("Condition since / Alert opened").
  const groups = [];
  for (const m of markers.filter((m) => m.t >= t0 && m.t <= t1).sort((a, b) => a.t - b.t)) {
    const last = groups[groups.length - 1];
    if (last && x(m.t) - x(last.t) < 8) last.label += ` / ${m.label}`;
    else groups.push({ ...m });
  }
  groups.forEach((m, i) => {
    const mx = x(m.t);
    const right = mx > W * 0.6;
    svg.append(
      s("line", { x1: f(mx), x2: f(mx), y1: PAD.top, y2: H - PAD.bottom, class: `chart-marker ${m.cls || ""}` }),
      s("text", { x: f(right ? mx - 4 : mx + 4), y: PAD.top + 10 + (i % 2) * 12, class: "chart-marker-label", "text-anchor": right ? "end" : "start" }, m.label),
    );
  });
  return svg;
}

/** A chart with its legend, as a <figure>. */
export function chartFigure(caption, series, options = {}) {
  const legend = series.length > 1
    ? h("ul", { class: "chart-legend" }, series.map((ser, i) => h("li", { class: `series-${i % 6}` }, ser.name)))
    : null;
  return h("figure", { class: "chart-figure" }, h("figcaption", {}, caption), lineChart(series, { ...options, title: caption }), legend);
}

/**
 * Horizontal bars, one row per item: bars: [{key, label, value: number|null, text}], scaled to `max`
 * (default: the largest value). A null value draws no bar but keeps its row and text ("–", "<3"), so a
 * missing figure is never shown as zero. Each row carries data-key and data-value for tests and tools.
 */
export function barChart(bars, { max = null, title = "" } = {}) {
  // Narrower than the line charts, so the labels stay legible when a phone scales the chart down.
  const BW = 400;
  const LABEL = 124;
  const VALUE = 64;
  const ROW = 24;
  const TOP = 4;
  const H = TOP * 2 + ROW * Math.max(bars.length, 1);
  const svg = s("svg", { viewBox: `0 0 ${BW} ${H}`, class: "chart chart-bars", role: "img", "aria-label": title, preserveAspectRatio: "xMidYMid meet" });
  if (!bars.length) {
    svg.append(s("text", { x: BW / 2, y: H / 2 + 4, class: "chart-empty", "text-anchor": "middle" }, t("chart.noData")));
    return svg;
  }
  const top = max ?? Math.max(0, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const room = BW - LABEL - VALUE - 8;
  bars.forEach((b, i) => {
    const y = TOP + i * ROW;
    const known = b.value !== null && b.value !== undefined && Number.isFinite(b.value);
    const width = known && top > 0 ? Math.max(0, Math.min(1, b.value / top)) * room : 0;
    const name = String(b.label ?? b.key);
    svg.append(s("g", { class: ["chart-bar-row", `series-${i % 6}`], dataset: { key: b.key ?? "", value: known ? String(b.value) : "" } },
      s("title", {}, `${name}: ${b.text}`),
      s("text", { x: LABEL - 6, y: y + 16, class: "chart-bar-label", "text-anchor": "end" }, name.length > 18 ? `${name.slice(0, 17)}…` : name),
      s("rect", { x: LABEL, y: y + 4, width: width.toFixed(1), height: ROW - 8, rx: 2, class: "chart-bar" }),
      s("text", { x: (LABEL + width + 6).toFixed(1), y: y + 16, class: "chart-bar-value" }, b.text)));
  });
  return svg;
}

/** A bar chart as a <figure> with its caption. */
export function barFigure(caption, bars, options = {}) {
  return h("figure", { class: "chart-figure" }, h("figcaption", {}, caption), barChart(bars, { ...options, title: caption }));
}
