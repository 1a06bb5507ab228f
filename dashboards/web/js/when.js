// Times as people on shift read them: "14:05, 3 min ago" in the reader's language and time zone, and
// durations as "5 min" or "2 hr 10 min". The full date and time stay in the element's title.
import { ago, h } from "./dom.js";
import { locale, t } from "./i18n.js";

const intlLocale = () => (locale() === "zh" ? "zh-CN" : "en-GB");

/** The clock time, with the day when it is not today and the year when it is not this year. */
export function clock(iso, now = Date.now()) {
  const d = new Date(iso);
  const today = new Date(now);
  const opts = { hour: "2-digit", minute: "2-digit" };
  if (d.toDateString() !== today.toDateString()) Object.assign(opts, { month: "short", day: "numeric" });
  if (d.getFullYear() !== today.getFullYear()) opts.year = "numeric";
  return d.toLocaleString(intlLocale(), opts);
}

/** "14:05, 3 min ago" (or "in 12 min" for a time to come). */
export function when(iso) {
  return iso ? t("when.at", { time: clock(iso), ago: ago(iso) }) : "–";
}

/** A <time> element saying `when(iso)`, the full date and time on hover. */
export function timeEl(iso, text = when(iso)) {
  if (!iso) return "–";
  const full = new Date(iso).toLocaleString(intlLocale(), { dateStyle: "medium", timeStyle: "medium" });
  return h("time", { datetime: iso, title: full }, text);
}

// Units in US English ("5 min", "2 hr"): British short units say "5 mins".
const unit = (n, name) =>
  new Intl.NumberFormat(locale() === "zh" ? "zh-CN" : "en-US", { style: "unit", unit: name, unitDisplay: "short", maximumFractionDigits: 0 }).format(n);

/** A length of time in at most two units: "45 sec", "5 min", "2 hr 10 min", "3 days 4 hr". */
export function duration(seconds) {
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return unit(s, "second");
  if (s < 3600) return unit(Math.round(s / 60), "minute");
  const pair = (big, bigName, rest, restName) => (rest ? `${unit(big, bigName)} ${unit(rest, restName)}` : unit(big, bigName));
  if (s < 86400) return pair(Math.floor(s / 3600), "hour", Math.floor((s % 3600) / 60), "minute");
  return pair(Math.floor(s / 86400), "day", Math.floor((s % 86400) / 3600), "hour");
}
