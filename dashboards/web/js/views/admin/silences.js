// Silences (admins and operators): a new silence of a rule, a device, a community or a building until a
// time, with a reason; those in force, to come and ended in the last week, each in force ended early.
import { api } from "../../api.js";
import { badge, clear, h, notice, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { dataTable, fmtDateTime, fromLocalInput, localInput, ruleTitle, twoStep } from "./ui.js";

const RECENT_DAYS = 7;
const FOR = { "1h": 60, "4h": 240, "8h": 480, "24h": 1440, "3d": 4320, "7d": 10080 };

export function silencesView(root) {
  let stopped = false;
  let rules = [];

  const ruleSelect = h("select", { name: "rule_id", id: "silence-rule" }, h("option", { value: "" }, t("silences.anyRule")));
  const deviceInput = h("input", { name: "device_id", id: "silence-device", maxlength: 100, autocomplete: "off", placeholder: t("silences.devicePlaceholder") });
  const communitySelect = h("select", { name: "community_id", id: "silence-community" }, h("option", { value: "" }, t("silences.anyCommunity")));
  const buildingInput = h("input", { name: "building", id: "silence-building", maxlength: 100, autocomplete: "off", placeholder: t("silences.buildingPlaceholder") });
  const duration = h("select", { name: "for", id: "silence-for", onchange: () => { until.hidden = duration.value !== "until"; } },
    [...Object.keys(FOR), "until"].map((d) => h("option", { value: d, selected: d === "4h" }, t(`silences.for.${d}`))));
  const untilInput = h("input", { type: "datetime-local", name: "until", id: "silence-until", value: localInput(new Date(Date.now() + 86400e3)), "aria-label": t("silences.until") });
  const until = h("span", { hidden: true }, untilInput);
  const reason = h("textarea", { name: "reason", id: "silence-reason", required: true, minlength: 3, maxlength: 500, rows: 2, placeholder: t("silences.reasonPlaceholder") });
  const formError = h("p", { class: "form-error", role: "alert", id: "silence-error" });
  const field = (text, control) => h("label", { class: "field" }, h("span", {}, text), control);
  const form = h("form", { class: "admin-form", id: "silence-form", onsubmit: create },
    h("h3", {}, t("silences.new")),
    h("p", { class: "muted" }, t("silences.scopeHint")),
    h("div", { class: "form-grid" },
      field(t("silences.rule"), ruleSelect), field(t("silences.device"), deviceInput),
      field(t("silences.community"), communitySelect), field(t("silences.building"), buildingInput),
      field(t("silences.for"), h("span", { class: "inline-form" }, duration, until)),
      field(t("silences.reason"), reason)),
    formError,
    h("button", { type: "submit", class: "btn btn-primary", id: "silence-create" }, t("silences.create")));
  const list = h("div", { id: "silence-list" }, notice(t("common.loading")));
  clear(root, h("section", { class: "view-admin view-admin-silences", id: "silences" },
    h("div", { class: "toolbar" }, h("h2", {}, t("silences.title"))),
    h("p", { class: "muted" }, t("silences.intro")),
    form, h("h3", {}, t("silences.listTitle", { days: RECENT_DAYS })), list));

  async function start() {
    try {
      const [inForce, sites] = await Promise.all([api("/rules"), api("/sites")]);
      if (stopped) return;
      rules = inForce.rules;
      ruleSelect.append(...rules.map((r) => h("option", { value: r.id }, `${r.id} — ${ruleTitle(r)}`)));
      communitySelect.append(...sites.map((s) => h("option", { value: s.id }, `${s.name} (${s.id})`)));
    } catch (err) {
      if (err.status === 401) return;
      formError.textContent = t("common.error", { msg: err.message });
    }
    load();
  }

  async function load() {
    try {
      const rows = await api("/silences", { query: { recent_days: RECENT_DAYS } });
      if (!stopped) draw(rows);
    } catch (err) {
      if (!stopped && err.status !== 401) clear(list, notice(t("common.error", { msg: err.message }), "error"));
    }
  }

  function scope(s) {
    const parts = [];
    if (s.rule_id) {
      const rule = rules.find((r) => r.id === s.rule_id);
      parts.push(h("span", {}, t("silences.ofRule"), " ", h("code", {}, s.rule_id), rule ? h("small", {}, ruleTitle(rule)) : null));
    }
    if (s.device_id) parts.push(h("span", {}, t("silences.ofDevice"), " ", h("code", {}, s.device_id)));
    if (s.community_id) parts.push(h("span", {}, t(s.building ? "silences.ofBuilding" : "silences.ofCommunity", { community: s.community_id, building: s.building })));
    return h("span", { class: "scope" }, parts);
  }

  function draw(rows) {
    const columns = ["state", "scope", "from", "until", "reason", "by", "actions"].map((key) => ({ key, label: t(`silences.col.${key}`) }));
    clear(list, dataTable(columns, rows, (s, key) => {
      if (key === "state") return badge("silenceState", s.state);
      if (key === "scope") return scope(s);
      if (key === "from") return fmtDateTime(s.starts_at);
      if (key === "until") return [fmtDateTime(s.ends_at), s.ended_by ? h("small", {}, t("silences.endedBy", { by: s.ended_by })) : null];
      if (key === "reason") return s.reason;
      if (key === "by") return [s.created_by, h("small", {}, fmtDateTime(s.created_at))];
      if (s.state === "ended") return null;
      return twoStep(t("silences.end"), t("silences.endConfirm"), { class: "btn btn-cancel", dataset: { end: s.id } }, () => end(s.id));
    }, { id: "silences-table", empty: t("silences.none"), rowAttrs: (s) => ({ dataset: { silence: s.id, state: s.state } }) }));
  }

  async function create(ev) {
    ev.preventDefault();
    formError.textContent = "";
    if (!form.reportValidity()) return;
    const endsAt = duration.value === "until" ? fromLocalInput(untilInput.value) : new Date(Date.now() + FOR[duration.value] * 60e3).toISOString();
    const body = {
      rule_id: ruleSelect.value || undefined,
      device_id: deviceInput.value.trim() || undefined,
      community_id: communitySelect.value || undefined,
      building: buildingInput.value.trim() || undefined,
      ends_at: endsAt,
      reason: reason.value.trim(),
    };
    if (!body.rule_id && !body.device_id && !body.community_id) { formError.textContent = t("silences.needScope"); return; }
    if (body.building && !body.community_id) { formError.textContent = t("silences.needCommunity"); return; }
    if (!endsAt) { formError.textContent = t("silences.needUntil"); return; }
    try {
      const created = await api("/silences", { method: "POST", body });
      toast(t("silences.created", { id: created.id, until: fmtDateTime(created.ends_at) }), "ok");
      form.reset();
      until.hidden = true;
      load();
    } catch (err) {
      formError.textContent = err.message;
    }
  }

  async function end(id) {
    try {
      await api(`/silences/${id}`, { method: "DELETE" });
      toast(t("silences.ended", { id }), "ok");
    } catch (err) {
      toast(err.message, "error");
    }
    load();
  }

  start();
  const timer = setInterval(load, 30_000);
  return () => { stopped = true; clearInterval(timer); };
}
