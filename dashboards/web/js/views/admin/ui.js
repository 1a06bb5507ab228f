// Pieces the admin pages share: tables that turn into cards on a phone, absolute times, datetime-local
// fields, and the table of a rule file's errors.
import { h } from "../../dom.js";
import { locale, t } from "../../i18n.js";

/**
 * A table whose cells carry their column's label, so on a phone each row becomes a card.
 * columns: [{key, label}]; cell(row, key) → node, text or [nodes]; rowAttrs(row) → attributes.
 */
export function dataTable(columns, rows, cell, { id, rowAttrs, empty } = {}) {
  if (!rows.length && empty) return h("p", { class: "notice", role: "status", id }, empty);
  return h("table", { class: "data-table", id },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => h("td", { dataset: { label: c.label, col: c.key } }, h("div", { class: "cell" }, cell(row, c.key))))))));
}

const intl = () => (locale() === "zh" ? "zh-CN" : "en-GB");

/** Date and time to the second, in the browser's time zone. */
export function fmtDateTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(intl(), { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

const pad = (n) => String(n).padStart(2, "0");

/** The value of a datetime-local field for a Date, in the browser's time zone. */
export function localInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local field's value as an ISO time with its offset, or null when empty. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The errors of a rule file's check, as `hub rules check` names them: file, rule, field, message. */
export function errorsTable(errors, id = "rule-errors") {
  return dataTable(
    ["file", "rule", "field", "message"].map((key) => ({ key, label: t(`rules.err.${key}`) })),
    errors, (e, key) => e[key], { id },
  );
}

/** A rule's title in the reader's language. */
export const ruleTitle = (r) => (locale() === "zh" && r.title_zh) || r.title;

/** The first characters of a content hash, enough to tell versions apart. */
export const shortHash = (hash) => (hash ? hash.slice(0, 12) : "–");

/**
 * A button that acts only on a second click (ending a silence, restoring a version, unsubscribing): the
 * first click turns it into the question `sure`.
 */
export function twoStep(text, sure, attrs, act) {
  let armed = false;
  const button = h("button", { type: "button", class: "btn", ...attrs, onclick: () => {
    if (!armed) {
      armed = true;
      button.textContent = sure;
      button.classList.add("btn-confirm");
      return;
    }
    button.disabled = true;
    act();
  } }, text);
  return button;
}
