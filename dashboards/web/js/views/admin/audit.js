// The audit log (admins): who read personal data or acted on a case, a rule file, a silence or a
// webhook, accepted or refused, newest first; filtered by actor, action, target, community and time,
// a page at a time.
import { api } from "../../api.js";
import { clear, h, label, notice } from "../../dom.js";
import { t } from "../../i18n.js";
import { dataTable, fmtDateTime, fromLocalInput } from "./ui.js";

const TARGET_TYPES = ["case", "device", "rule_file", "silence", "subscription", "organisation", "adapter"];
const PAGE = 100;

export function auditView(root) {
  let stopped = false;
  let rows = [];
  let cursor = null;
  let query = {};

  const input = (name, placeholder) => h("input", { name, id: `audit-${name}`, maxlength: 200, autocomplete: "off", placeholder });
  const fields = {
    actor: input("actor", t("audit.actorPlaceholder")),
    action: input("action", "case.resolve"),
    target_type: h("select", { name: "target_type", id: "audit-target_type" }, h("option", { value: "" }, t("audit.anyTarget")),
      TARGET_TYPES.map((x) => h("option", { value: x }, label("auditTarget", x)))),
    target_id: input("target_id", t("audit.targetPlaceholder")),
    community: input("community", t("audit.communityPlaceholder")),
    from: h("input", { type: "datetime-local", name: "from", id: "audit-from" }),
    to: h("input", { type: "datetime-local", name: "to", id: "audit-to" }),
  };
  const field = (key) => h("label", { class: "field" }, h("span", {}, t(`audit.f.${key}`)), fields[key]);
  const error = h("p", { class: "form-error", role: "alert", id: "audit-error" });
  const form = h("form", { class: "admin-form filters", id: "audit-filters", onsubmit: (ev) => { ev.preventDefault(); apply(); } },
    h("div", { class: "form-grid" }, Object.keys(fields).map(field)),
    h("div", { class: "toolbar" },
      h("button", { type: "submit", class: "btn btn-primary", id: "audit-apply" }, t("audit.apply")),
      h("button", { type: "button", class: "btn btn-plain", id: "audit-reset", onclick: () => { form.reset(); apply(); } }, t("audit.reset"))),
    error);
  const list = h("div", { id: "audit-list" }, notice(t("common.loading")));
  const more = h("button", { type: "button", class: "btn", id: "audit-more", hidden: true, onclick: () => fetchPage(false) }, t("audit.more"));
  const count = h("span", { class: "count", id: "audit-count" });
  clear(root, h("section", { class: "view-admin view-admin-audit", id: "audit" },
    h("div", { class: "toolbar" }, h("h2", {}, t("audit.title")), count),
    form, list, more));

  function apply() {
    error.textContent = "";
    query = {
      actor: fields.actor.value.trim(),
      action: fields.action.value.trim(),
      target_type: fields.target_type.value,
      target_id: fields.target_id.value.trim(),
      community: fields.community.value.trim(),
      from: fromLocalInput(fields.from.value),
      to: fromLocalInput(fields.to.value),
    };
    fetchPage(true);
  }

  async function fetchPage(first) {
    more.disabled = true;
    try {
      const page = await api("/audit", { query: { ...query, limit: PAGE, cursor: first ? undefined : cursor } });
      if (stopped) return;
      rows = first ? page.entries : [...rows, ...page.entries];
      cursor = page.next_cursor;
      draw();
    } catch (err) {
      if (!stopped && err.status !== 401) error.textContent = err.message;
    } finally {
      more.disabled = false;
    }
  }

  function draw() {
    count.textContent = t(cursor ? "audit.shownMore" : "audit.shown", { n: rows.length });
    more.hidden = !cursor;
    const columns = ["time", "actor", "action", "target", "community", "outcome", "details"].map((key) => ({ key, label: t(`audit.col.${key}`) }));
    clear(list, dataTable(columns, rows, (r, key) => {
      if (key === "time") return fmtDateTime(r.time);
      if (key === "actor") return [r.actor, h("small", {}, `${label("auditRole", r.role)}${r.client_addr ? ` · ${r.client_addr}` : ""}`)];
      if (key === "action") return [label("auditAction", r.action), h("small", {}, h("code", {}, r.action))];
      if (key === "target") return [label("auditTarget", r.target_type), r.target_id ? h("code", {}, ` ${r.target_id}`) : null];
      if (key === "community") return r.community_id || "–";
      if (key === "outcome") return h("span", { class: ["badge", r.outcome < 400 ? "outcome-ok" : "outcome-refused"] }, `${r.outcome} ${r.outcome < 400 ? t("audit.accepted") : t("audit.refused")}`);
      const details = Object.entries(r.details);
      return details.length ? h("ul", { class: "details" }, details.map(([k, v]) => h("li", {}, h("span", { class: "muted" }, `${label("auditDetail", k)}: `), typeof v === "object" ? JSON.stringify(v) : String(v)))) : "–";
    }, { id: "audit-table", empty: t("audit.none"), rowAttrs: (r) => ({ dataset: { id: r.id, action: r.action, outcome: r.outcome } }) }));
  }

  apply();
  return () => { stopped = true; };
}
