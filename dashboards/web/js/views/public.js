// A community's public figures (GET /api/v1/public/communities/{id}/summary): open to everyone without a
// log-in and laid out for a phone. The hub already anonymises them (small counts as "<3", rare
// categories pooled as "other", medians and rates only over 3 or more cases); this page only shows them.
import { api } from "../api.js";
import { barFigure } from "../charts.js";
import { clear, h, label, notice } from "../dom.js";
import { locale, t } from "../i18n.js";
import { formatKpi, isRate, kpiKind, kpiLabel } from "../kpi.js";
import "../locales/wall.js";

const DAYS = [7, 30, 90, 365];
const RECENT = "public.recent";

/** Communities whose figures this browser opened, newest first; the log-in page links to them. */
export function recentCommunities() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT) || "[]");
    return Array.isArray(list) ? list.filter((x) => typeof x === "string").slice(0, 5) : [];
  } catch {
    return [];
  }
}

function remember(community) {
  localStorage.setItem(RECENT, JSON.stringify([community, ...recentCommunities().filter((c) => c !== community)].slice(0, 5)));
}

/** A time as the community reads it: in the hub's working time zone, whatever the browser's. */
function inZone(iso, zone, withTime) {
  return new Date(iso).toLocaleString(locale() === "zh" ? "zh-CN" : "en-GB", {
    timeZone: zone, year: "numeric", month: "short", day: "numeric", weekday: "short", ...(withTime ? { hour: "2-digit", minute: "2-digit" } : {}),
  });
}

const figureLabel = (k) => (t(`public.${k}`) === `public.${k}` ? kpiLabel(k) : t(`public.${k}`));
const countValue = (v) => (typeof v === "number" ? v : null);

export function publicView(root, { params }) {
  const community = decodeURIComponent(params[0]);
  let days = Number(sessionStorage.getItem("public.days")) || 30;
  if (!DAYS.includes(days)) days = 30;
  let stopped = false;
  clear(root, notice(t("common.loading")));

  async function load() {
    let summary;
    try {
      summary = await api(`/public/communities/${encodeURIComponent(community)}/summary`, { query: { days } });
    } catch (err) {
      if (stopped) return;
      clear(root, h("section", { class: "view-public" },
        notice(err.status === 404 ? t("public.notFound", { id: community }) : t("common.error", { msg: err.message }), "error"),
        loginLink()));
      return;
    }
    if (stopped) return;
    remember(community);
    render(summary);
  }

  function render(p) {
    const daysSelect = h("select", { name: "days", "aria-label": t("public.days"), onchange: () => {
      days = Number(daysSelect.value);
      sessionStorage.setItem("public.days", String(days));
      load();
    } }, DAYS.map((d) => h("option", { value: d, selected: d === days }, t("public.lastDays", { n: d }))));
    const figures = [
      ["cases", p.cases],
      ...Object.keys(p).filter(isRate).map((k) => [k, p[k]]),
      ["median_minutes_to_acknowledge", p.median_minutes_to_acknowledge],
      ["median_minutes_to_resolve", p.median_minutes_to_resolve],
      ["average_rating", p.average_rating],
      ["ratings", p.ratings],
    ];
    const tiles = h("dl", { class: "tiles" }, figures.map(([k, v]) => h("div", { class: ["tile", `tile-${kpiKind(k)}`], dataset: { figure: k } },
      h("dt", {}, figureLabel(k)), h("dd", {}, formatKpi(k, v)))));
    const bars = (group, counts) => Object.entries(counts).map(([k, v]) => ({ key: k, label: label(group, k), value: countValue(v), text: formatKpi("count", v) }));
    const byCategory = barFigure(t("public.byCategory"), bars("category", p.by_category));
    byCategory.dataset.chart = "category";
    const byStatus = barFigure(t("public.byStatus"), bars("status", p.by_status));
    byStatus.dataset.chart = "status";
    clear(root, h("section", { class: "view-public", dataset: { community: p.community, days: String(p.days) } },
      h("div", { class: "toolbar" }, h("h2", {}, t("public.title", { name: p.name })), daysSelect),
      h("p", { class: "period", id: "public-period", dataset: { from: p.from, to: p.to, zone: p.time_zone } },
        t("public.covers", { from: inZone(p.from, p.time_zone, false), to: inZone(p.to, p.time_zone, true), zone: p.time_zone })),
      h("p", { class: "muted" }, t("public.fresh")),
      tiles,
      h("div", { class: "charts public-charts" }, byCategory, byStatus),
      organisations(p.by_organisation || []),
      h("p", { class: "muted" }, t("public.privacy")),
      loginLink()));
  }

  load();
  return () => { stopped = true; };
}

/** How each department or contractor that worked the community's cases did, as residents rated it. */
function organisations(rows) {
  if (!rows.length) return null;
  const columns = ["cases", "closure_rate", "on_time_rate", "average_rating", "satisfaction_rate", "ratings"];
  return h("section", { class: "public-organisations", dataset: { panel: "organisations" } },
    h("h3", {}, t("public.byOrganisation")),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("public.organisation")), columns.map((k) => h("th", {}, figureLabel(k))))),
      h("tbody", {}, rows.map((o) => h("tr", { dataset: { organisation: o.organisation } },
        h("td", {}, locale() === "zh" ? o.name_zh : o.name_en),
        columns.map((k) => h("td", { dataset: { label: figureLabel(k) } }, formatKpi(k, o[k]))))))));
}

function loginLink() {
  return h("p", {}, h("a", { href: "#/login", class: "back" }, t("public.staffLogin")));
}
