// What the people and places pages share: a password shown once, community check boxes, names
// in the reader's language, and a table that turns into cards on a phone.
import { clear, h, notice } from "../../dom.js";
import { locale, t } from "../../i18n.js";

export const ROLES = ["admin", "operator", "manager", "resident", "integration", "member"];
/** Roles that see every community: their accounts have none (hub/domain/roles.py ALL_COMMUNITIES). */
export const ALL_COMMUNITIES = new Set(["admin", "operator", "integration"]);
/** A generated password: shown here once, never again (the hub keeps only its hash). */
export function secretNotice(username, password) {
  const value = h("code", { class: "secret-value", id: "new-password" }, password);
  const copy = h("button", { type: "button", class: "btn", onclick: async () => {
    try {
      await navigator.clipboard.writeText(password);
      copy.textContent = t("admin.copied");
    } catch {
      getSelection().selectAllChildren(value); // no clipboard on a plain-HTTP address: select it instead
    }
  } }, t("admin.copy"));
  return h("div", { class: "secret", role: "status" },
    h("p", {}, t("admin.passwordFor", { user: username })), h("p", { class: "secret-line" }, value, " ", copy),
    h("p", { class: "muted" }, t("admin.passwordOnce")));
}

/** Check boxes for communities, `chosen` ticked; read them back with `checkedValues`. */
export function communityChecks(communities, chosen, name = "communities") {
  const picked = new Set(chosen);
  return h("fieldset", { class: "checks" }, h("legend", {}, t("admin.communities")),
    communities.length
      ? communities.map((c) => h("label", {}, h("input", { type: "checkbox", name, value: c.id, checked: picked.has(c.id) }), " ", placeName(c), h("small", {}, c.id)))
      : h("p", { class: "muted" }, t("admin.noCommunities")));
}

export const checkedValues = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);

/** A community, grid or building in the reader's language; an unnamed one by its id. */
export function placeName(p) {
  const zh = locale() === "zh";
  return (zh ? p.name_zh : p.name_en ?? p.name) || p.name_en || p.name || p.id;
}

export function communityNames(communities) {
  const byId = new Map(communities.map((c) => [c.id, c]));
  return (ids) => (ids.length ? listed(ids.map((id) => (byId.has(id) ? placeName(byId.get(id)) : id))) : t("admin.everyCommunity"));
}

/** Items of a list as the reader writes them: "a, b" or "a、b"; "–" for none. */
export function listed(items) {
  return items.length ? items.join(locale() === "zh" ? "、" : ", ") : "–";
}

/** A labelled form field. */
export function field(text, input, hint) {
  return h("label", { class: "field" }, h("span", {}, text), input, hint ? h("small", {}, hint) : null);
}

/** A table whose rows become label: value cards on a phone. `columns` are [key, label] pairs, `cells(row)`
 * gives each key's content and `rowAttrs(row)` the row's attributes. */
export function cardTable(columns, rows, cells, { rowAttrs = () => ({}), ...attrs } = {}) {
  return h("table", { class: "admin-table", ...attrs },
    h("thead", {}, h("tr", {}, columns.map(([, text]) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows.map((row) => {
      const values = cells(row);
      return h("tr", rowAttrs(row), columns.map(([key, text]) => h("td", { dataset: { label: text, col: key } }, h("div", { class: "cell" }, values[key] ?? "–"))));
    })));
}

/** Two clicks: the first arms the button, the second (within 5 s) does it. */
export function confirmButton(text, confirmText, attrs, onConfirm) {
  let armed = 0;
  const button = h("button", { type: "button", class: "btn", ...attrs, onclick: async () => {
    if (!armed) {
      button.textContent = confirmText;
      button.classList.add("btn-armed");
      armed = setTimeout(() => { armed = 0; button.textContent = text; button.classList.remove("btn-armed"); }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    button.disabled = true;
    try { await onConfirm(); } finally { button.disabled = false; }
  } }, text);
  return button;
}

export function formError() {
  return h("p", { class: "form-error", role: "alert" });
}

/** A "New …" button that opens the form `makeForm(close)` in a box under it (and closes it again). */
export function formOpener(id, text, makeForm) {
  const box = h("div", { class: "admin-form-box", hidden: true });
  const close = () => { box.hidden = true; };
  const button = h("button", { type: "button", class: "btn btn-primary", id, onclick: () => {
    box.hidden = !box.hidden;
    if (!box.hidden) { clear(box, makeForm(close)); box.querySelector("input").focus(); }
  } }, text);
  return { button, box, close };
}

export function createButtons(close) {
  return h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("admin.create")),
    h("button", { type: "button", class: "btn btn-plain", onclick: close }, t("admin.cancel")));
}

/** The page of an account, team or community the caller cannot see (or that does not exist). */
export function notFoundPage(root, back, text) {
  clear(root, h("section", { class: "view-admin" }, back, notice(text, "error")));
}
