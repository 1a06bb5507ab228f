// Webhooks (admins): subscriptions with their deliveries (pending, delivered, dead, latest error), a new
// subscription whose signing secret is shown once, a signed test notification followed until the
// receiver answers, a subscription's deliveries with a retry for each dead one, and unsubscribing.
import { api } from "../../api.js";
import { badge, clear, fmtNumber, h, label, notice, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { dataTable, fmtDateTime, twoStep } from "./ui.js";

const CATEGORIES = ["fire", "flood", "gas", "security", "lighting", "infrastructure", "device_health", "safety", "noise"];
const SEVERITIES = ["info", "minor", "major", "critical"];
const STATUSES = ["dead", "pending", "delivered", ""];
const TEST_WAIT_MS = 20_000;

/** A delivery's error as the hub wrote it (`unreachable: …`, `HTTP 500 …`, `failed: …`), framed in the
 * reader's language; the receiver's or the system's own words after the colon stay as they came. */
function deliveryError(text) {
  if (!text) return "–";
  const http = text.match(/^HTTP (\d{3}) ?(.*)$/);
  if (http) return t("webhooks.err.http", { code: http[1], reason: http[2] });
  const framed = text.match(/^(unreachable|failed): (.*)$/);
  return framed ? t(`webhooks.err.${framed[1]}`, { why: framed[2] }) : text;
}

const list = (value) => {
  const items = value.split(",").map((x) => x.trim()).filter(Boolean);
  return items.length ? items : undefined;
};

export function webhooksView(root) {
  let stopped = false;
  let subscriptions = [];
  let open = null; // subscription whose deliveries are shown
  let status = "dead";
  const outcomes = new Map(); // subscription id → node showing its latest test

  const url = h("input", { name: "url", id: "hook-url", type: "url", required: true, maxlength: 2000, placeholder: t("webhooks.urlPlaceholder") });
  const communities = h("input", { name: "communities", id: "hook-communities", placeholder: t("webhooks.allCommunities") });
  const teams = h("input", { name: "teams", id: "hook-teams", placeholder: t("webhooks.allTeams") });
  const categories = h("fieldset", { class: "checks", id: "hook-categories" }, h("legend", {}, t("webhooks.categories")),
    CATEGORIES.map((c) => h("label", {}, h("input", { type: "checkbox", name: "category", value: c }), " ", label("category", c))));
  const severity = h("select", { name: "min_severity", id: "hook-severity" }, SEVERITIES.map((s) => h("option", { value: s }, label("severity", s))));
  const attempts = h("input", { name: "max_attempts", id: "hook-attempts", type: "number", min: 1, max: 100, value: 10, required: true });
  const formError = h("p", { class: "form-error", role: "alert", id: "hook-error" });
  const secretBox = h("div", { id: "hook-secret" });
  const field = (text, control) => h("label", { class: "field" }, h("span", {}, text), control);
  const form = h("form", { class: "admin-form", id: "hook-form", onsubmit: create },
    h("h3", {}, t("webhooks.new")),
    h("div", { class: "form-grid" },
      field(t("webhooks.url"), url), field(t("webhooks.communities"), communities), field(t("webhooks.teams"), teams),
      field(t("webhooks.minSeverity"), severity), field(t("webhooks.maxAttempts"), attempts)),
    categories, formError,
    h("button", { type: "submit", class: "btn btn-primary", id: "hook-create" }, t("webhooks.create")));
  const table = h("div", { id: "hook-list" }, notice(t("common.loading")));
  const deliveries = h("section", { id: "hook-deliveries", class: "deliveries" });
  clear(root, h("section", { class: "view-admin view-admin-webhooks", id: "webhooks" },
    h("div", { class: "toolbar" }, h("h2", {}, t("webhooks.title"))),
    h("p", { class: "muted" }, t("webhooks.intro")),
    secretBox, table, deliveries, form));

  async function load() {
    try {
      subscriptions = await api("/subscriptions");
      if (!stopped) draw();
    } catch (err) {
      if (!stopped && err.status !== 401) clear(table, notice(t("common.error", { msg: err.message }), "error"));
    }
  }

  function filters(s) {
    const parts = [
      s.communities ? t("webhooks.only", { what: s.communities.join(", ") }) : t("webhooks.allCommunities"),
      s.teams ? t("webhooks.teamsOnly", { what: s.teams.join(", ") }) : null,
      s.categories ? s.categories.map((c) => label("category", c)).join(", ") : null,
      t("webhooks.fromSeverity", { severity: label("severity", s.min_severity) }),
    ];
    return parts.filter(Boolean).map((p) => h("small", {}, p));
  }

  function draw() {
    const columns = ["id", "url", "filters", "deliveries", "lastError", "actions"].map((key) => ({ key, label: t(`webhooks.col.${key}`) }));
    clear(table, dataTable(columns, subscriptions, (s, key) => {
      if (key === "id") return `#${s.id}`;
      if (key === "url") return [h("span", { class: "url" }, s.url), h("small", {}, t("webhooks.createdBy", { by: s.created_by || "–", at: fmtDateTime(s.created_at) }))];
      if (key === "filters") return filters(s);
      if (key === "deliveries") {
        return h("span", { class: "counts" }, ["pending", "delivered", "dead"].map((k) =>
          h("span", { class: s.deliveries[k] ? `count-${k}` : null, dataset: { count: k } }, `${t(`webhooks.status.${k}`)} ${fmtNumber(s.deliveries[k])}`)));
      }
      if (key === "lastError") return s.last_error ? [h("span", { class: "error-text" }, deliveryError(s.last_error.error)), h("small", {}, t("webhooks.ofDelivery", { id: s.last_error.delivery_id, status: t(`webhooks.status.${s.last_error.status}`) }))] : "–";
      if (!outcomes.has(s.id)) outcomes.set(s.id, h("span", { class: "test-outcome", dataset: { outcome: s.id } }));
      return h("span", { class: "actions" },
        h("button", { type: "button", class: "btn", dataset: { test: s.id }, onclick: () => sendTest(s.id) }, t("webhooks.sendTest")),
        h("button", { type: "button", class: "btn", dataset: { deliveries: s.id }, "aria-pressed": String(open === s.id), onclick: () => showDeliveries(s.id) }, t("webhooks.deliveries")),
        twoStep(t("webhooks.delete"), t("webhooks.deleteConfirm"), { class: "btn btn-cancel", dataset: { delete: s.id } }, () => remove(s.id)),
        outcomes.get(s.id));
    }, { id: "hooks-table", empty: t("webhooks.none"), rowAttrs: (s) => ({ dataset: { subscription: s.id } }) }));
  }

  async function create(ev) {
    ev.preventDefault();
    formError.textContent = "";
    if (!form.reportValidity()) return;
    const chosen = [...categories.querySelectorAll("input:checked")].map((c) => c.value);
    const body = {
      url: url.value.trim(),
      communities: list(communities.value),
      teams: list(teams.value),
      categories: chosen.length ? chosen : undefined,
      min_severity: severity.value,
      max_attempts: Number(attempts.value),
    };
    try {
      const created = await api("/subscriptions", { method: "POST", body });
      clear(secretBox, h("div", { class: "notice notice-ok", role: "status" },
        h("p", {}, t("webhooks.secretOnce", { id: created.id })), h("code", { class: "secret", id: "new-secret" }, created.secret)));
      form.reset();
      load();
    } catch (err) {
      formError.textContent = err.message;
    }
  }

  /** A delivery followed until the receiver has answered (or TEST_WAIT_MS has passed). */
  async function follow(subscription, d) {
    const deadline = Date.now() + TEST_WAIT_MS;
    while (d.status === "pending" && Date.now() < deadline && !stopped) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      d = await api(`/subscriptions/${subscription}/deliveries/${d.id}`);
    }
    return d;
  }

  /** Queue a test notification, then follow its delivery until the receiver has answered. */
  async function sendTest(id) {
    const out = outcomes.get(id);
    clear(out, t("webhooks.testSending"));
    try {
      const d = await follow(id, await api(`/subscriptions/${id}/test`, { method: "POST" }));
      out.dataset.status = d.status;
      clear(out, d.status === "delivered"
        ? h("span", { class: "badge state-ok" }, t("webhooks.testDelivered", { id: d.id, at: fmtDateTime(d.delivered_at) }))
        : d.status === "dead"
          ? h("span", { class: "badge state-alerting" }, t("webhooks.testDead", { id: d.id, error: deliveryError(d.last_error) }))
          : h("span", { class: "badge" }, t("webhooks.testPending", { id: d.id })));
      load();
      if (open === id) showDeliveries(id, false);
    } catch (err) {
      clear(out, h("span", { class: "error-text" }, err.message));
    }
  }

  async function showDeliveries(id, toggle = true) {
    if (toggle && open === id) { open = null; clear(deliveries); draw(); return; }
    open = id;
    draw();
    const statusSelect = h("select", { id: "delivery-status", "aria-label": t("webhooks.show"), onchange: () => { status = statusSelect.value; showDeliveries(id, false); } },
      STATUSES.map((s) => h("option", { value: s, selected: s === status }, s ? t(`webhooks.status.${s}`) : t("webhooks.allStatuses"))));
    try {
      const rows = await api(`/subscriptions/${id}/deliveries`, { query: { status: status || undefined, limit: 100 } });
      if (stopped || open !== id) return;
      const columns = ["id", "what", "status", "attempts", "created", "delivered", "error", "actions"].map((key) => ({ key, label: t(`webhooks.dcol.${key}`) }));
      clear(deliveries,
        h("div", { class: "toolbar" }, h("h3", {}, t("webhooks.deliveriesOf", { id })), statusSelect),
        dataTable(columns, rows, (d, key) => {
          if (key === "id") return `#${d.id}`;
          if (key === "what") return d.test ? t("webhooks.test") : h("a", { href: `#/case/${d.case_id}` }, t("webhooks.caseEvent", { case: d.case_id, action: d.payload.action }));
          if (key === "status") return badge("deliveryStatus", d.status);
          if (key === "attempts") return fmtNumber(d.attempts);
          if (key === "created") return fmtDateTime(d.created_at);
          if (key === "delivered") return fmtDateTime(d.delivered_at);
          if (key === "error") return deliveryError(d.last_error);
          return d.status === "dead" ? h("button", { type: "button", class: "btn", dataset: { retry: d.id }, onclick: () => retry(id, d.id) }, t("webhooks.retry")) : null;
        }, { id: "deliveries-table", empty: t("webhooks.noDeliveries"), rowAttrs: (d) => ({ dataset: { delivery: d.id, status: d.status } }) }));
    } catch (err) {
      if (!stopped) clear(deliveries, notice(t("common.error", { msg: err.message }), "error"));
    }
  }

  /** Queue a dead delivery again and follow it, so the list shows how the receiver answered. */
  async function retry(subscription, delivery) {
    try {
      const queued = await api(`/subscriptions/${subscription}/deliveries/${delivery}/retry`, { method: "POST" });
      toast(t("webhooks.retried", { id: delivery }), "ok");
      showDeliveries(subscription, false);
      const d = await follow(subscription, queued);
      toast(t(`webhooks.retry.${d.status}`, { id: delivery, error: deliveryError(d.last_error) }), d.status === "delivered" ? "ok" : "error");
    } catch (err) {
      toast(err.message, "error");
    }
    load();
    showDeliveries(subscription, false);
  }

  async function remove(id) {
    try {
      await api(`/subscriptions/${id}`, { method: "DELETE" });
      toast(t("webhooks.deleted", { id }), "ok");
      if (open === id) { open = null; clear(deliveries); }
    } catch (err) {
      toast(err.message, "error");
    }
    load();
  }

  load();
  const timer = setInterval(load, 10_000);
  return () => { stopped = true; clearInterval(timer); };
}
