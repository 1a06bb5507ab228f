// How KPI figures read: any key ending in `_rate` is a share shown as a percentage, `_seconds_` keys are
// durations, `rating_avg`/`average_rating` are stars, `median_minutes_…` are minutes, the rest are counts.
// Driven by the key alone, so a KPI the hub adds later is drawn without a change here.
import { fmtNumber } from "./dom.js";
import { t } from "./i18n.js";

export const isRate = (key) => key.endsWith("_rate");

export function kpiKind(key) {
  if (isRate(key)) return "rate";
  if (key.includes("_seconds")) return "duration";
  if (key.startsWith("median_minutes")) return "minutes";
  if (key === "rating_avg" || key === "average_rating") return "stars";
  return "count";
}

export function fmtDuration(seconds) {
  const a = Math.abs(seconds);
  if (a < 120) return t("unit.seconds", { n: fmtNumber(seconds, 0) });
  if (a < 2 * 3600) return t("unit.minutes", { n: fmtNumber(seconds / 60, 1) });
  if (a < 2 * 86400) return t("unit.hours", { n: fmtNumber(seconds / 3600, 1) });
  return t("unit.days", { n: fmtNumber(seconds / 86400, 1) });
}

/** A KPI value as text; null (a rate over nothing, a suppressed median) is "–", and "<3" stays as sent. */
export function formatKpi(key, value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  switch (kpiKind(key)) {
    case "rate": return `${fmtNumber(value * 100, 1)} %`;
    case "duration": return fmtDuration(value);
    case "minutes": return t("unit.minutes", { n: fmtNumber(value, 1) });
    case "stars": return `${fmtNumber(value, 2)} ★`;
    default: return fmtNumber(value, 0);
  }
}

/** The label of a KPI key; an unknown key is spelled out ("extension_rate" → "Extension rate"). */
export function kpiLabel(key) {
  const text = t(`kpi.${key}`);
  if (text !== `kpi.${key}`) return text;
  const words = key.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The numeric KPI keys of a block, in the order the hub sends them. */
export const kpiKeys = (block) => Object.keys(block).filter((k) => k !== "key" && (block[k] === null || typeof block[k] === "number"));

/** What a KPI means and how it is counted (hub/cases/kpis.py), in the reader's language; null if unknown. */
export function kpiHelp(key) {
  const text = t(`kpiHelp.${key}`);
  return text === `kpiHelp.${key}` ? null : text;
}
