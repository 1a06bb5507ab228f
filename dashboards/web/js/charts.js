// Charts. Time series (device history, an alert's evidence, KPI trends) are drawn by uPlot, the one
// third-party library of the dashboard (vendored by scripts/setup under /static/vendor/uplot): time axes
// with dates, drag to zoom (double-click to zoom out), values under the cursor. Colours come from the
// stylesheet's custom properties, so the palette stays in app.css. Bars (KPIs per group, public figures)
// are small SVGs built here.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { fmtNumber, h, s } from "./dom.js";
import { locale, t } from "./i18n.js";

const intlLocale = () => (locale() === "zh" ? "zh-CN" : "en-GB");
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#555";
const DAY = 86400e3;

/** Tick labels of a time axis: times, with the date under the first tick of each day; dates alone when
 * the ticks are a day or more apart. */
function timeTicks(u, splits, axis, space, incr) {
  let previous = null;
  return splits.map((ms) => {
    const d = new Date(ms);
    const date = d.toLocaleDateString(intlLocale(), { month: "short", day: "numeric" });
    if (incr >= DAY) return date;
    const time = d.toLocaleTimeString(intlLocale(), { hour: "2-digit", minute: "2-digit", ...(incr < 60e3 ? { second: "2-digit" } : {}) });
    const day = d.toDateString();
    const text = day === previous ? time : `${time}\n${date}`;
    previous = day;
    return text;
  });
}

export const fmtWhen = (ms) => new Date(ms).toLocaleString(intlLocale(), { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });

const AXIS_FONT = "12px system-ui, sans-serif";
const measurer = document.createElement("canvas").getContext("2d");

/** Room for the value axis's widest tick label: a fixed width cut "100.0 %" to "00.0 %". */
function valueAxisSize(_u, labels) {
  measurer.font = AXIS_FONT;
  const widest = Math.max(0, ...(labels || []).map((v) => measurer.measureText(String(v)).width));
  return Math.max(40, Math.ceil(widest) + 18);
}

/** The union of the series' times and the edges of the range, and each series' values on it (null where
 * it has no point): the edges make the range asked for the chart's whole extent, also after a zoom out. */
function align(columns, edges) {
  const times = [...new Set([...edges, ...columns.flatMap((points) => points.map((p) => p.t))])].sort((a, b) => a - b);
  const at = new Map(times.map((ms, i) => [ms, i]));
  return [times, ...columns.map((points) => {
    const values = new Array(times.length).fill(null);
    for (const p of points) values[at.get(p.t)] = p.v === null || !Number.isFinite(p.v) ? null : p.v;
    return values;
  })];
}

/** Vertical lines with a label at given times (alert opened, cleared), drawn over the plot. */
function markerPlugin(markers) {
  const colour = { "marker-open": "--critical", "marker-start": "--major", "marker-clear": "--ok" };
  return {
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        const { top, height } = u.bbox;
        ctx.save();
        ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
        markers.forEach((m, i) => {
          const x = Math.round(u.valToPos(m.t, "x", true));
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
          ctx.strokeStyle = ctx.fillStyle = css(colour[m.cls] || "--critical");
          ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          const right = x > u.bbox.left + u.bbox.width * 0.6;
          ctx.textAlign = right ? "right" : "left";
          ctx.fillText(m.label, x + (right ? -4 : 4) * devicePixelRatio, top + (12 + (i % 2) * 13) * devicePixelRatio);
        });
        ctx.restore();
      }],
    },
  };
}

/**
 * A time-series chart as a <figure>: caption, the uPlot chart (drawn once the figure is laid out, and
 * resized with it) and its legend, which shows the values under the cursor.
 * series: [{name, points: [{t: ms, v: number|null}], band?: [{t, lo, hi}], dots?: bool, step?: bool}]
 * options: {from, to (ms), height, markers: [{t, label, cls}], bool: a 0/1 metric, format: v → text,
 *           yRange: [lo, hi], counts: the axis starts at 0 (for counts), sync: a key that links the
 *           cursors of charts shown together, empty: the
 *           text without any point}
 */
export function chartFigure(caption, series, { from, to, height = 150, markers = [], bool = false, format, yRange, counts = false, sync, empty } = {}) {
  const box = h("div", { class: "chart-box" });
  const points = series.reduce((n, ser) => n + ser.points.filter((p) => p.v !== null && Number.isFinite(p.v)).length, 0);
  const figure = h("figure", { class: "chart-figure", dataset: { points: String(points), series: String(series.length) } },
    h("figcaption", {}, caption), box);
  if (!points) {
    box.append(h("p", { class: "chart-empty" }, empty || t("chart.noData")));
    return figure;
  }
  const bands = series.filter((ser) => ser.band && ser.band.length);
  const columns = [...series.map((ser) => ser.points), ...bands.flatMap((ser) => [
    ser.band.map((b) => ({ t: b.t, v: b.hi })), ser.band.map((b) => ({ t: b.t, v: b.lo }))])];
  const data = align(columns, [from, to].filter((x) => x !== undefined && x !== null));
  const show = (v) => (v === null || v === undefined ? "–" : bool ? (v >= 0.5 ? t("common.yes") : t("common.no")) : format ? format(v) : fmtNumber(v));
  const uSeries = [{ label: t("chart.time"), value: (u, v) => (v === null ? "–" : fmtWhen(v)) }];
  series.forEach((ser, i) => {
    const colour = css(`--s${i % 6}`);
    uSeries.push({
      label: ser.name, stroke: colour, width: 2, spanGaps: false, value: (u, v) => show(v),
      paths: ser.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
      points: { show: Boolean(ser.dots) || ser.points.length === 1, size: ser.dots ? 8 : 5, fill: colour },
    });
  });
  const bandOptions = [];
  bands.forEach((ser) => {
    const i = series.indexOf(ser);
    const hi = uSeries.length;
    uSeries.push({ label: `${ser.name} max`, stroke: "transparent", show: true, value: (u, v) => show(v), points: { show: false } },
      { label: `${ser.name} min`, stroke: "transparent", value: (u, v) => show(v), points: { show: false } });
    bandOptions.push({ series: [hi, hi + 1], fill: `${css(`--s${i % 6}`)}2e` });
  });
  const axisColour = css("--muted");
  const grid = { stroke: css("--line"), width: 1 };
  const options = (width) => ({
    width, height, ms: 1,
    series: uSeries,
    bands: bandOptions,
    scales: {
      x: { time: true },
      y: bool ? { range: [-0.1, 1.1] } : yRange ? { range: yRange } : counts ? { range: (_u, _lo, hi) => [0, Math.max(1, hi)] } : {},
    },
    axes: [
      { stroke: axisColour, grid, ticks: grid, values: timeTicks, space: 70, font: AXIS_FONT },
      { stroke: axisColour, grid, ticks: grid, size: valueAxisSize, font: AXIS_FONT,
        splits: bool ? () => [0, 1] : undefined, values: (u, vals) => vals.map(show) },
    ],
    cursor: { sync: sync ? { key: sync } : undefined, drag: { x: true, y: false } },
    legend: { live: true },
    // The time range shown (it changes with zoom), for tools and tests.
    hooks: { setScale: [(u, key) => { if (key === "x") Object.assign(figure.dataset, { xMin: String(u.scales.x.min), xMax: String(u.scales.x.max) }); }] },
    plugins: markers.length ? [markerPlugin(markers)] : [],
  });
  let plot = null;
  // uPlot needs its width: draw when the figure is laid out, and follow its size after that. Drawing
  // changes the box's height, so it waits for the next frame: resizing inside the observer's callback
  // is the "ResizeObserver loop" error.
  let width = 0;
  let frame = 0;
  new ResizeObserver(([entry]) => {
    width = Math.floor(entry.contentRect.width);
    if (width < 50 || frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      if (width < 50) return;
      if (!plot) {
        plot = new uPlot(options(width), data, box);
        figure.dataset.drawn = "1";
      } else if (Math.abs(plot.width - width) > 1) plot.setSize({ width, height });
    });
  }).observe(box);
  return figure;
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
