// Small DOM helpers: elements are built with textContent only (never innerHTML), so data from the API
// can never become markup, and nothing needs an inline style or script (the page's CSP forbids both).
import { locale, t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "text") node.textContent = String(v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** h("tr", {class: "x", onclick: fn}, child, "text", [more]) */
export const h = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
export const s = (tag, attrs, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);

export function clear(node, ...children) {
  node.replaceChildren();
  return fill(node, {}, children);
}

const intlLocale = () => (locale() === "zh" ? "zh-CN" : "en-GB");

export function fmtTime(iso, withSeconds = false) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(intlLocale(), {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    ...(withSeconds ? { second: "2-digit" } : {}),
  });
}

export function ago(iso, now = Date.now()) {
  if (!iso) return t("device.never");
  const secs = Math.round((new Date(iso).getTime() - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(intlLocale(), { numeric: "auto", style: "short" });
  const abs = Math.abs(secs);
  if (abs < 60) return rtf.format(secs, "second");
  if (abs < 3600) return rtf.format(Math.round(secs / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), "hour");
  return rtf.format(Math.round(secs / 86400), "day");
}

export function fmtNumber(v, digits = 2) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? t("common.yes") : t("common.no");
  if (typeof v !== "number") return String(v);
  return v.toLocaleString(intlLocale(), { maximumFractionDigits: digits });
}

/** A translated label of a known code, falling back to the code itself. */
export function label(group, code) {
  if (code === null || code === undefined) return "–";
  const key = `${group}.${code}`;
  const text = t(key);
  return text === key ? String(code) : text;
}

export function badge(group, code, extra) {
  return h("span", { class: ["badge", `${group}-${code}`, extra] }, label(group, code));
}

/** "No data": an alert frozen because its device went silent (case page, loop panel, device page). */
export function noDataBadge() {
  return badge("dataState", "no_data", "no-data");
}

/** A short status message region; role=status so screen readers announce it. */
export function notice(text, kind = "info") {
  return h("p", { class: ["notice", `notice-${kind}`], role: kind === "error" ? "alert" : "status" }, text);
}

let toastTimer = 0;
export function toast(text, kind = "info") {
  const box = document.getElementById("toast");
  if (!box) return;
  clear(box, h("span", { class: `toast-${kind}` }, text));
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 5000);
}
