// The device registry: a paged, filtered list of the caller's devices; for admins, registering one device,
// importing many (a dry-run preview with each refused row's field and message, then the commit), and
// managing one: its place and parent, a new MQTT password, decommissioning and re-commissioning.
// Passwords are shown once, as the API issues them.
import "../../locales/admin-devices.js";
import { api } from "../../api.js";
import { ago, badge, clear, fmtNumber, fmtTime, h, label, notice, toast } from "../../dom.js";
import { t } from "../../i18n.js";

export const KINDS = ["smoke_detector", "lamppost", "manhole", "access_gate"];
const STATES = ["ok", "alerting", "offline", "low_battery"];
const PAGE = 50;
const FILTERS = ["q", "kind", "state", "community", "building", "grid", "silent_min", "battery_below", "decommissioned"];

/** A selectable list of labelled codes with an "any" first. */
function choice(name, any, codes, group, value) {
  return h("select", { name, "aria-label": any },
    h("option", { value: "" }, any),
    codes.map((c) => h("option", { value: c, selected: c === value }, group ? label(group, c) : c)));
}

function field(text, input) {
  return h("label", { class: "field" }, h("span", {}, text), input);
}

/** A password the API issued: shown once, selectable, with a note saying so. */
export function passwordBox(id, password) {
  return h("div", { class: "secret-box", role: "status" },
    h("p", {}, t("registry.passwordOnce", { id })),
    h("code", { class: "secret", tabindex: "0" }, password));
}

export function registryView(root, { user, params }) {
  const query = new URLSearchParams(params[0] || "");
  const admin = user.role === "admin";
  const filters = Object.fromEntries(FILTERS.map((k) => [k, ""]));
  let offset = 0;
  let stopped = false;
  let debounce = 0;
  let communities = [];
  const count = h("span", { class: "count" });
  const list = h("div", { class: "registry-list" });
  const panel = h("div", { class: "registry-panel" });

  const form = h("form", { class: "filters", role: "search", onsubmit: (ev) => ev.preventDefault(),
    oninput: (ev) => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { readFilters(); offset = 0; load(); }, ev.target.tagName === "SELECT" ? 0 : 300);
    } });

  function readFilters() {
    const data = new FormData(form);
    for (const k of FILTERS) filters[k] = String(data.get(k) ?? "").trim();
  }

  function renderFilters() {
    clear(form,
      h("input", { name: "q", type: "search", value: filters.q, placeholder: t("registry.search"), "aria-label": t("registry.search") }),
      choice("kind", t("registry.anyKind"), KINDS, "kind", filters.kind),
      choice("state", t("registry.anyState"), STATES, "state", filters.state),
      h("select", { name: "community", "aria-label": t("registry.anyCommunity") },
        h("option", { value: "" }, t("registry.anyCommunity")),
        communities.map((c) => h("option", { value: c.id, selected: c.id === filters.community }, c.name === c.id ? c.id : `${c.name} (${c.id})`))),
      h("input", { name: "building", value: filters.building, placeholder: t("registry.building"), "aria-label": t("registry.building"), class: "short" }),
      h("input", { name: "grid", value: filters.grid, placeholder: t("registry.grid"), "aria-label": t("registry.grid"), class: "short" }),
      h("input", { name: "silent_min", type: "number", min: 0, value: filters.silent_min, placeholder: t("registry.silentMin"), "aria-label": t("registry.silentMin"), class: "short" }),
      h("input", { name: "battery_below", type: "number", min: 0, max: 100, value: filters.battery_below, placeholder: t("registry.batteryBelow"), "aria-label": t("registry.batteryBelow"), class: "short" }),
      h("select", { name: "decommissioned", "aria-label": t("registry.service.all") },
        [["", "all"], ["false", "in"], ["true", "out"]].map(([v, k]) => h("option", { value: v, selected: v === filters.decommissioned }, t(`registry.service.${k}`)))),
      h("button", { type: "button", class: "btn btn-plain", onclick: () => {
        for (const k of FILTERS) filters[k] = "";
        offset = 0;
        renderFilters();
        load();
      } }, t("registry.clear")));
  }

  async function load() {
    clear(list, notice(t("common.loading")));
    let rows;
    let total;
    try {
      const response = await api("/devices", { query: { ...filters, limit: PAGE, offset }, raw: true });
      rows = await response.json();
      total = Number(response.headers.get("X-Total-Count") || rows.length);
    } catch (err) {
      if (!stopped && err.status !== 401) clear(list, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    count.textContent = t("registry.count", { n: total });
    if (!rows.length) { clear(list, notice(t("registry.empty"))); return; }
    const head = ["id", "kind", "place", "state", "lastSeen", "battery", admin ? "manage" : null].filter(Boolean);
    clear(list,
      h("table", { class: "registry cards-on-phone" },
        h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, t(`registry.col.${c}`))))),
        h("tbody", {}, rows.map((d) => h("tr", { dataset: { deviceId: d.id, decommissioned: String(Boolean(d.decommissioned_at)) } },
          h("td", { dataset: { label: t("registry.col.id") } }, h("a", { href: `#/device/${encodeURIComponent(d.id)}` }, d.id)),
          h("td", { dataset: { label: t("registry.col.kind") } }, label("kind", d.kind)),
          h("td", { dataset: { label: t("registry.col.place") } }, [d.community_id, d.building, d.grid].map((p) => p || "–").join(" / ")),
          h("td", { dataset: { label: t("registry.col.state") } },
            d.decommissioned_at ? badge("registry", "decommissioned", "state-decommissioned") : badge("state", d.state)),
          h("td", { dataset: { label: t("registry.col.lastSeen") } }, d.last_seen ? ago(d.last_seen) : t("device.never")),
          h("td", { dataset: { label: t("registry.col.battery") } }, d.battery_pct === null ? "–" : `${fmtNumber(d.battery_pct, 0)} %`),
          admin ? h("td", { dataset: { label: t("registry.col.manage") } },
            h("button", { type: "button", class: "btn", dataset: { manage: d.id }, onclick: () => manage(d.id) }, t("registry.manage"))) : null)))),
      pager(total));
  }

  function pager(total) {
    const last = Math.min(offset + PAGE, total);
    return h("div", { class: "pager" },
      h("button", { type: "button", class: "btn", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, t("registry.prev")),
      h("span", { class: "count" }, t("registry.page", { first: total ? offset + 1 : 0, last, total })),
      h("button", { type: "button", class: "btn", disabled: last >= total, onclick: () => { offset += PAGE; load(); } }, t("registry.next")));
  }

  function closeButton() {
    return h("button", { type: "button", class: "btn btn-plain close", onclick: () => clear(panel) }, t("registry.close"));
  }

  // --- Register one device -------------------------------------------------------------------------
  function registerForm(prefill = {}) {
    const out = h("div", { class: "panel-result" });
    const f = h("form", { class: "admin-form", id: "register-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const data = Object.fromEntries([...new FormData(f)].filter(([, v]) => String(v).trim() !== "").map(([k, v]) => [k, String(v).trim()]));
      for (const k of ["plan_x", "plan_y"]) if (k in data) data[k] = Number(data[k]);
      try {
        const made = await api("/devices", { method: "POST", body: data });
        clear(out, notice(t("registry.registered", { id: made.id }), "ok"), passwordBox(made.id, made.mqtt_password));
        f.reset();
        load();
      } catch (err) {
        clear(out, notice(t("registry.failed", { msg: err.message }), "error"));
      }
    } },
    h("div", { class: "form-grid" },
      field(t("registry.field.id"), h("input", { name: "id", required: true, maxlength: 64, value: prefill.id || "" })),
      field(t("registry.field.kind"), h("select", { name: "kind", required: true }, KINDS.map((k) => h("option", { value: k, selected: k === prefill.kind }, label("kind", k))))),
      field(t("registry.field.community"), h("input", { name: "community", required: true, maxlength: 64, value: prefill.community || "" })),
      field(t("registry.field.building"), h("input", { name: "building", maxlength: 64 })),
      field(t("registry.field.grid"), h("input", { name: "grid", maxlength: 64 })),
      field(t("registry.field.planX"), h("input", { name: "plan_x", type: "number", step: "any" })),
      field(t("registry.field.planY"), h("input", { name: "plan_y", type: "number", step: "any" })),
      field(t("registry.field.installedOn"), h("input", { name: "installed_on", type: "date" }))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("registry.registerSubmit"))));
    clear(panel, h("section", { class: "panel", id: "register-panel" },
      h("div", { class: "toolbar" }, h("h3", {}, t("registry.register")), closeButton()), f, out));
    f.elements.id.focus();
  }

  // --- Import with a preview -----------------------------------------------------------------------
  function importForm() {
    const text = h("textarea", { name: "data", rows: 8, class: "import-text", spellcheck: "false", "aria-label": t("registry.import.text") });
    const file = h("input", { type: "file", name: "file", accept: ".csv,.json,text/csv,application/json", onchange: async () => {
      if (file.files[0]) text.value = await file.files[0].text();
    } });
    const out = h("div", { class: "panel-result", id: "import-result" });

    async function send(dryRun) {
      const body = text.value.trim();
      if (!body) return null;
      if (body.startsWith("[") || body.startsWith("{")) {
        let devices;
        try {
          devices = JSON.parse(body);
          if (!Array.isArray(devices)) devices = devices.devices;
          if (!Array.isArray(devices)) throw new Error("[ … ]");
        } catch (err) {
          clear(out, notice(t("registry.import.notJson", { msg: err.message }), "error"));
          return null;
        }
        return api("/devices/import", { method: "POST", body: { devices, dry_run: dryRun } });
      }
      return api("/devices/import/csv", { method: "POST", query: { dry_run: dryRun }, body: new Blob([body], { type: "text/csv" }) });
    }

    async function run(dryRun) {
      let result;
      try {
        result = await send(dryRun);
      } catch (err) {
        clear(out, notice(t("registry.failed", { msg: err.message }), "error"));
        return;
      }
      if (!result) return;
      if (dryRun) showPreview(result);
      else {
        const issued = result.rows.filter((r) => r.mqtt_password);
        clear(out, notice(t("registry.import.done", result), result.errors ? "error" : "ok"),
          resultTable(result.rows), issued.map((r) => passwordBox(r.id, r.mqtt_password)));
        load();
      }
    }

    function showPreview(result) {
      const accepted = result.created + result.updated;
      clear(out, h("div", { class: "preview", dataset: { errors: String(result.errors) } },
        notice(t("registry.import.summary", result), result.errors ? "error" : "ok"),
        resultTable(result.rows),
        h("div", { class: "actions" },
          accepted
            ? h("button", { type: "button", class: "btn btn-primary", id: "import-commit", onclick: () => run(false) }, t("registry.import.commit"))
            : notice(t("registry.import.nothing")))));
    }

    clear(panel, h("section", { class: "panel", id: "import-panel" },
      h("div", { class: "toolbar" }, h("h3", {}, t("registry.import")), closeButton()),
      h("p", { class: "muted" }, t("registry.import.hint")),
      field(t("registry.import.file"), file),
      text,
      h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-primary", id: "import-preview", onclick: () => run(true) }, t("registry.import.preview"))),
      out));
  }

  // --- Manage one device ---------------------------------------------------------------------------
  async function manage(id) {
    let d;
    try {
      d = await api(`/devices/${encodeURIComponent(id)}`);
    } catch (err) {
      toast(t("common.error", { msg: err.message }), "error");
      return;
    }
    const out = h("div", { class: "panel-result" });
    const done = (text, kind = "ok", ...more) => clear(out, notice(text, kind), ...more);
    const failed = (err) => done(t("registry.failed", { msg: err.message }), "error");
    const place = h("form", { class: "admin-form", id: "place-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [k, v] of new FormData(place)) {
        const value = String(v).trim();
        body[k] = value === "" ? null : ["plan_x", "plan_y"].includes(k) ? Number(value) : value;
      }
      try {
        await api(`/devices/${encodeURIComponent(id)}`, { method: "PATCH", body });
        done(t("registry.edit.saved", { id }));
        load();
      } catch (err) { failed(err); }
    } },
    h("div", { class: "form-grid" },
      field(t("registry.field.community"), h("input", { name: "community", required: true, value: d.community_id })),
      field(t("registry.field.building"), h("input", { name: "building", value: d.building || "" })),
      field(t("registry.field.grid"), h("input", { name: "grid", value: d.grid || "" })),
      field(t("registry.field.planX"), h("input", { name: "plan_x", type: "number", step: "any", value: d.plan_x ?? "" })),
      field(t("registry.field.planY"), h("input", { name: "plan_y", type: "number", step: "any", value: d.plan_y ?? "" })),
      field(t("registry.field.parent"), h("input", { name: "parent_id", value: d.parent_id || "" }))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("registry.edit.save"))));

    const inService = !d.decommissioned_at;
    const rotation = h("p", { class: "muted" }, d.credentials_rotated_at
      ? t("registry.edit.lastRotation", { at: fmtTime(d.credentials_rotated_at, true) }) : t("registry.edit.neverRotated"));
    const rotate = h("button", { type: "button", class: "btn", id: "rotate", disabled: !inService, onclick: async () => {
      if (!confirm(t("registry.edit.rotateConfirm", { id }))) return;
      try {
        const c = await api(`/devices/${encodeURIComponent(id)}/credentials`, { method: "POST" });
        rotation.textContent = t("registry.edit.lastRotation", { at: fmtTime(c.rotated_at, true) });
        done(t("registry.edit.rotated"), "ok", passwordBox(id, c.mqtt_password));
      } catch (err) { failed(err); }
    } }, t("registry.edit.rotate"));
    const service = inService
      ? h("button", { type: "button", class: "btn btn-cancel", id: "decommission", onclick: async () => {
        if (!confirm(t("registry.edit.decommissionConfirm", { id }))) return;
        try {
          await api(`/devices/${encodeURIComponent(id)}/decommission`, { method: "POST" });
          await manage(id);
          toast(t("registry.edit.decommissioned", { id }), "ok");
          load();
        } catch (err) { failed(err); }
      } }, t("registry.edit.decommission"))
      : h("button", { type: "button", class: "btn", id: "recommission", onclick: async () => {
        try {
          const c = await api(`/devices/${encodeURIComponent(id)}/recommission`, { method: "POST" });
          await manage(id);
          toast(t("registry.edit.recommissioned", { id }), "ok");
          panel.querySelector(".panel-result")?.append(passwordBox(id, c.mqtt_password));
          load();
        } catch (err) { failed(err); }
      } }, t("registry.edit.recommission"));

    clear(panel, h("section", { class: "panel", id: "manage-panel", dataset: { deviceId: id } },
      h("div", { class: "toolbar" },
        h("h3", {}, t("registry.edit.title", { id })),
        inService ? badge("registration", "inService") : badge("registry", "decommissioned", "state-decommissioned"),
        h("a", { href: `#/device/${encodeURIComponent(id)}` }, t("common.open")), closeButton()),
      h("h4", {}, t("registry.edit.place")), place,
      h("h4", {}, t("registry.edit.credentials")),
      rotation,
      h("div", { class: "actions" }, rotate),
      h("h4", {}, t("registry.edit.service")),
      h("div", { class: "actions" }, service),
      out));
    panel.scrollIntoView({ block: "nearest" });
  }

  async function start() {
    try {
      communities = await api("/sites");
    } catch (err) {
      if (err.status === 401) return;
    }
    if (stopped) return;
    clear(root, h("section", { class: "view-admin view-registry" },
      h("div", { class: "toolbar" }, h("h2", {}, t("registry.title")), count,
        admin ? [
          h("button", { type: "button", class: "btn", id: "open-register", onclick: () => registerForm() }, t("registry.register")),
          h("button", { type: "button", class: "btn", id: "open-import", onclick: importForm }, t("registry.import")),
        ] : null),
      panel, form, list));
    renderFilters();
    load();
    const wanted = query.get("register");
    if (admin && wanted) {
      const [community, kind, id] = wanted.split("/");
      registerForm({ community, kind, id });
    } else if (admin && query.get("device")) manage(query.get("device"));
  }

  start();
  return () => { stopped = true; clearTimeout(debounce); };
}

/** Rows of an import (or its preview): what happens to each, or why it is refused, field by field. */
function resultTable(rows) {
  return h("table", { class: "import-rows cards-on-phone" },
    h("thead", {}, h("tr", {}, ["row", "id", "result", "detail"].map((c) => h("th", { scope: "col" }, t(`registry.import.col.${c}`))))),
    h("tbody", {}, rows.map((r) => h("tr", { class: `import-${r.status}`, dataset: { row: r.row, status: r.status } },
      h("td", { dataset: { label: t("registry.import.col.row") } }, String(r.row)),
      h("td", { dataset: { label: t("registry.import.col.id") } }, r.id || "–"),
      h("td", { dataset: { label: t("registry.import.col.result") } },
        h("span", { class: ["badge", `import-${r.status}`] }, t(`registry.import.status.${r.status}`))),
      h("td", { dataset: { label: t("registry.import.col.detail") } },
        r.status === "error"
          ? h("ul", { class: "row-errors" }, r.errors.map((e) => h("li", { dataset: { field: e.field } }, h("strong", {}, e.field || "–"), ": ", e.message)))
          : Object.keys(r.changes || {}).length
            ? h("ul", { class: "row-changes" }, Object.entries(r.changes).map(([k, [was, now]]) => h("li", {}, `${k}: ${fmt(was)} → ${fmt(now)}`)))
            : r.status === "updated" ? t("registry.import.unchanged") : "")))));
}

const fmt = (v) => (v === null || v === undefined || v === "" ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));
