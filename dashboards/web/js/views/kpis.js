// Case KPIs for a community: the rates that matter as trends per week or month (GET /api/v1/kpis/trend),
// then, for a period (GET /api/v1/kpis), every rate of all cases as bars, the chosen measure per team,
// category and grid, the totals next to the emergencies, the responsible organisations' table (response,
// resolution, on-time, satisfaction and rework rates, small counts hidden as in the public summary), false
// alarms per rule and device, and the monthly report as CSV and as a printable page. Each KPI is explained on hover or focus. Managers get only their
// communities (the API enforces it; the community list comes from /sites, which is scoped the same way).
import { api } from "../api.js";
import { barFigure, chartFigure } from "../charts.js";
import { clear, fmtTime, h, notice, toast } from "../dom.js";
import { locale, t } from "../i18n.js";
import { formatKpi, isRate, kpiHelp, kpiKeys, kpiLabel } from "../kpi.js";
import "../locales/wall.js";
import { loadTeamNames, teamName } from "../teams.js";

const TRENDS = ["closure_rate", "on_time_rate", "response_rate", "satisfaction_rate", "rework_rate", "false_alarm_rate"];
const INTERVALS = { week: 12, month: 12 };

const DIMENSIONS = ["team", "category", "grid"];
const ORG_RATES = ["response_rate", "resolution_rate", "on_time_rate", "satisfaction_rate", "rework_rate"];

/** The organisations' table of GET /kpis (`organisations`), names in the reader's language. */
function organisationTable(rows) {
  if (!rows.length) return notice(t("kpis.orgs.none"));
  const name = (o) => (locale() === "zh" ? o.name_zh : o.name_en);
  return h("table", { class: "kpi-table cards-on-phone", id: "kpi-organisations" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("kpis.orgs.name")), h("th", { scope: "col" }, t("kpis.orgs.cases")),
      ORG_RATES.map((k) => h("th", { scope: "col", ...helpAttrs(k) }, kpiLabel(k))))),
    h("tbody", {}, rows.map((o) => h("tr", { dataset: { organisation: o.organisation } },
      h("td", { class: "org-name", dataset: { label: t("kpis.orgs.name") } }, h("strong", {}, name(o))),
      h("td", { dataset: { label: t("kpis.orgs.cases"), kpi: "cases" } }, formatKpi("opened", o.cases)),
      ORG_RATES.map((k) => h("td", { dataset: { label: kpiLabel(k), kpi: k } }, formatKpi(k, o[k])))))));
}
const PERIODS = ["this_month", "last_month", "custom"];
const pad = (n) => String(n).padStart(2, "0");
const day = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const monthOf = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;

/**
 * The period [from, to) in the browser's time zone, and the report month that goes with it. The
 * monthly report counts calendar months in the hub's working-calendar zone, so near midnight at a
 * month's edge it can differ from the page in a browser set to another zone.
 */
export function periodOf(kind, customFrom, customTo, now = new Date()) {
  if (kind === "last_month") {
    const from = new Date(now.getFullYear(), now.getMonth() - 1, 1);
    return { from, to: new Date(now.getFullYear(), now.getMonth(), 1), month: monthOf(from) };
  }
  if (kind === "custom" && customFrom && customTo) {
    const [fy, fm, fd] = customFrom.split("-").map(Number);
    const [ty, tm, td] = customTo.split("-").map(Number);
    const from = new Date(fy, fm - 1, fd);
    return { from, to: new Date(ty, tm - 1, td + 1), month: monthOf(from) };
  }
  const from = new Date(now.getFullYear(), now.getMonth(), 1);
  return { from, to: new Date(now.getFullYear(), now.getMonth() + 1, 1), month: monthOf(from) };
}

/** What a KPI means, shown on hover and on keyboard focus (the title also reaches screen readers). */
function helpAttrs(key) {
  const text = kpiHelp(key);
  return text ? { title: text, tabindex: 0, class: "has-help", dataset: { help: text } } : {};
}

function helpTip(key) {
  const text = kpiHelp(key);
  return text ? h("span", { ...helpAttrs(key), class: "help-tip has-help", role: "note" }, "?") : null;
}

export function kpisView(root) {
  const saved = JSON.parse(sessionStorage.getItem("kpis.view") || "{}");
  const state = {
    period: PERIODS.includes(saved.period) ? saved.period : "this_month",
    from: saved.from || day(new Date(new Date().getFullYear(), new Date().getMonth(), 1)),
    to: saved.to || day(new Date()),
    community: saved.community || "",
    measure: saved.measure || "opened",
    interval: saved.interval in INTERVALS ? saved.interval : "week",
  };
  let stopped = false;
  let generation = 0;
  let data = null;

  const periodSelect = h("select", { name: "period", "aria-label": t("kpis.period"), onchange: () => { state.period = periodSelect.value; changed(); } },
    PERIODS.map((p) => h("option", { value: p, selected: p === state.period }, t(`kpis.period.${p}`))));
  const fromInput = h("input", { type: "date", name: "from", value: state.from, "aria-label": t("kpis.from"), onchange: () => { state.from = fromInput.value; changed(); } });
  const toInput = h("input", { type: "date", name: "to", value: state.to, "aria-label": t("kpis.to"), onchange: () => { state.to = toInput.value; changed(); } });
  const custom = h("span", { class: "custom-period" }, h("label", {}, t("kpis.from"), " ", fromInput), " ", h("label", {}, t("kpis.to"), " ", toInput));
  const communitySelect = h("select", { name: "community", "aria-label": t("kpis.community"), onchange: () => { state.community = communitySelect.value; changed(); } },
    h("option", { value: "" }, t("kpis.allCommunities")));
  const measureSelect = h("select", { name: "measure", "aria-label": t("kpis.measure"), onchange: () => { state.measure = measureSelect.value; save(); draw(); } });
  const csvButton = h("button", { type: "button", class: "btn", id: "kpi-csv", onclick: () => report("csv") }, t("kpis.csv"));
  const printButton = h("button", { type: "button", class: "btn", id: "kpi-print", onclick: () => report("html") }, t("kpis.printable"));
  const intervalSelect = h("select", { name: "interval", "aria-label": t("trend.interval"), onchange: () => { state.interval = intervalSelect.value; save(); loadTrend(); } },
    Object.keys(INTERVALS).map((i) => h("option", { value: i, selected: i === state.interval }, t(`trend.${i}`))));
  const trend = h("div", { class: "charts kpi-trends", id: "kpi-trends" }, notice(t("common.loading")));
  const trendNote = h("p", { class: "muted" });
  const reportLabel = h("span", { class: "muted" });
  const summary = h("p", { class: "muted period-summary" });
  const body = h("div", { class: "kpi-body" }, notice(t("common.loading")));
  const section = h("section", { class: "view-kpis", id: "kpis" },
    h("div", { class: "toolbar" }, h("h2", {}, t("kpis.title")), communitySelect),
    h("div", { class: "toolbar" }, h("h3", {}, t("trend.title")), intervalSelect),
    trendNote, trend,
    h("div", { class: "toolbar period-bar" }, h("h3", {}, t("trend.period")), periodSelect, custom,
      h("label", { class: "inline-field" }, t("kpis.measure"), " ", measureSelect)),
    summary,
    h("div", { class: "report-links toolbar" }, reportLabel, csvButton, printButton),
    body);
  clear(root, section);

  function save() { sessionStorage.setItem("kpis.view", JSON.stringify(state)); }
  function changed() { save(); load(); loadTrend(); }

  let trendGeneration = 0;
  /** One small chart per rate, a point per week or month; a period without cases to count has none. */
  async function loadTrend() {
    const mine = ++trendGeneration;
    let answer;
    try {
      answer = await api("/kpis/trend", { query: { interval: state.interval, periods: INTERVALS[state.interval], community: state.community || undefined } });
    } catch (err) {
      if (!stopped && mine === trendGeneration && err.status !== 401) clear(trend, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped || mine !== trendGeneration) return;
    const periods = answer.periods;
    const from = Date.parse(periods[0].from);
    const to = Date.parse(periods[periods.length - 1].to);
    trendNote.textContent = t("trend.note", { zone: answer.time_zone, from: fmtTime(periods[0].from), to: fmtTime(periods[periods.length - 1].as_of) });
    clear(trend, TRENDS.map((k) => {
      const points = periods.map((p) => ({ t: Date.parse(p.from), v: p[k] === null ? null : p[k] * 100 }));
      const latest = [...periods].reverse().find((p) => p[k] !== null);
      const fig = chartFigure(kpiLabel(k), [{ name: kpiLabel(k), points, dots: true }],
        { from, to, height: 150, yRange: [0, 100], format: (v) => `${v.toFixed(1)} %`, sync: "kpi-trend", empty: t("trend.empty") });
      fig.dataset.kpi = k;
      fig.dataset.chart = "trend";
      fig.querySelector("figcaption").append(" ", h("span", { class: "latest" }, latest ? formatKpi(k, latest[k]) : "–"), " ", helpTip(k));
      return fig;
    }));
  }

  async function start() {
    try {
      const sites = await api("/sites");
      if (stopped) return;
      communitySelect.append(...sites.map((site) => h("option", { value: site.id }, `${site.name} (${site.id})`)));
      if (state.community && !sites.some((site) => site.id === state.community)) state.community = "";
      communitySelect.value = state.community;
    } catch (err) {
      if (err.status === 401) return;
    }
    load();
    loadTrend();
  }

  async function load() {
    custom.hidden = state.period !== "custom";
    const p = periodOf(state.period, state.from, state.to);
    if (!(p.to > p.from)) { clear(body, notice(t("kpis.badPeriod"), "error")); return; }
    const mine = ++generation;
    const query = { from: p.from.toISOString(), to: p.to.toISOString(), community: state.community || undefined };
    Object.assign(section.dataset, { from: query.from, to: query.to, community: state.community, month: p.month });
    reportLabel.textContent = t("kpis.report", { month: p.month });
    clear(body, notice(t("common.loading")));
    try {
      const [answers] = await Promise.all([Promise.all(DIMENSIONS.map((by) => api("/kpis", { query: { ...query, group_by: by } }))), loadTeamNames()]);
      if (stopped || mine !== generation) return;
      data = Object.fromEntries(DIMENSIONS.map((by, i) => [by, answers[i]]));
    } catch (err) {
      if (!stopped && mine === generation && err.status !== 401) clear(body, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    const first = data[DIMENSIONS[0]];
    summary.textContent = t("kpis.summary", { from: fmtTime(first.from), to: fmtTime(first.to), asOf: fmtTime(first.as_of) });
    const keys = kpiKeys(first.totals);
    if (!keys.includes(state.measure)) state.measure = "opened";
    clear(measureSelect, keys.map((k) => h("option", { value: k, selected: k === state.measure }, kpiLabel(k))));
    draw();
  }

  function draw() {
    if (!data) return;
    const first = data[DIMENSIONS[0]];
    const { totals, emergencies } = first;
    const keys = kpiKeys(totals);
    const measure = state.measure;
    const rateKeys = keys.filter(isRate);
    const rates = barFigure(t("kpis.rates"), rateKeys.map((k) => ({ key: k, label: kpiLabel(k), value: totals[k], text: formatKpi(k, totals[k]) })), { max: 1 });
    rates.dataset.chart = "rates";
    const perDimension = DIMENSIONS.map((by) => {
      const groups = data[by].groups;
      const values = groups.map((g) => g[measure]).filter((v) => typeof v === "number");
      const bars = groups.map((g) => ({
        key: g.key ?? "",
        label: g.key === null || g.key === undefined ? t("kpis.none") : by === "team" ? teamName(g.key) : g.key,
        value: typeof g[measure] === "number" ? g[measure] : null,
        text: formatKpi(measure, g[measure]),
      }));
      const fig = barFigure(t("kpis.by", { what: t(`kpis.dim.${by}`), measure: kpiLabel(measure) }), bars,
        { max: isRate(measure) ? 1 : Math.max(0, ...values) });
      fig.dataset.chart = by;
      fig.dataset.measure = measure;
      return fig;
    });
    const totalsTable = h("table", { class: "kpi-table", id: "kpi-totals" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("kpis.kpi")), h("th", { scope: "col" }, t("kpis.allCases")), h("th", { scope: "col" }, t("kpis.emergencies")))),
      h("tbody", {}, keys.map((k) => h("tr", { dataset: { kpi: k } },
        h("th", { scope: "row", ...helpAttrs(k) }, kpiLabel(k)),
        h("td", { class: "total" }, formatKpi(k, totals[k])),
        h("td", { class: "emergency" }, formatKpi(k, emergencies[k]))))));
    const falseAlarms = ["by_rule", "by_device"].map((which) => {
      const rows = first.false_alarms[which].slice(0, 10);
      return h("div", { class: "false-alarms", dataset: { which } }, h("h3", {}, t(`kpis.falseAlarms.${which}`)),
        rows.length
          ? h("table", { class: "kpi-table" },
            h("thead", {}, h("tr", {}, [t("kpis.key"), kpiLabel("alert_cases"), kpiLabel("false_alarms"), kpiLabel("false_alarm_rate")].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, r.key), h("td", {}, formatKpi("alert_cases", r.alert_cases)),
              h("td", {}, formatKpi("false_alarms", r.false_alarms)), h("td", {}, formatKpi("false_alarm_rate", r.false_alarm_rate))))))
          : notice(t("common.none")));
    });
    clear(body,
      totals.opened === 0 ? h("p", { class: "notice notice-info no-cases", role: "status" }, t("kpis.noCases")) : null,
      h("div", { class: "charts kpi-charts" }, rates, perDimension),
      h("h3", {}, t("kpis.totals")), totalsTable,
      h("section", { class: "kpi-organisations", dataset: { panel: "organisations" } },
        h("h3", {}, t("kpis.orgs.title")), h("p", { class: "muted" }, t("kpis.orgs.note")), organisationTable(first.organisations)),
      h("div", { class: "kpi-false" }, falseAlarms));
  }

  /** The monthly report needs the bearer token, which a plain link cannot send: fetch it, then hand
   * the browser a blob: URL to save (CSV) or to open in a new tab for printing (HTML, in the locale the
   * dashboard shows, which may not be the browser's). */
  async function report(kind) {
    const p = periodOf(state.period, state.from, state.to);
    const query = { month: p.month, community: state.community || undefined, lang: kind === "html" ? locale() : undefined };
    const button = kind === "csv" ? csvButton : printButton;
    button.disabled = true;
    try {
      const response = await api(`/kpis/report.${kind}`, { query, raw: true });
      const url = URL.createObjectURL(await response.blob());
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      if (kind === "csv") {
        const link = h("a", { href: url, download: `kpis-${state.community || "all"}-${p.month}.csv`, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
      } else if (!window.open(url, "_blank")) {
        toast(t("kpis.popupBlocked"), "error");
      }
    } catch (err) {
      if (err.status !== 401) toast(t("common.error", { msg: err.message }), "error");
    } finally {
      button.disabled = false;
    }
  }

  start();
  return () => { stopped = true; };
}
