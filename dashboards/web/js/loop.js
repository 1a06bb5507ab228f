// Closing the loop on a case, beyond its status: suspend and resume, deadline extensions (each asked by
// a handler and decided by a second person unless an admin asks), merge and split, evidence (a photo,
// a note or both), on-site confirmation, and silences of a device or a rule. Only what the caller's role
// and the case's state allow is offered; the hub checks everything again and a refusal is shown as it comes.
import { act } from "./actions.js";
import { OPEN_STATUSES, api } from "./api.js";
import { ago, badge, clear, fmtTime, h, label, noDataBadge, toast } from "./dom.js";
import { t } from "./i18n.js";

const HANDLERS = new Set(["admin", "operator", "manager"]);
const VERIFIERS = new Set(["admin", "operator"]);
const EXTEND_BY = ["2h", "8h", "1d", "4wh", "1wd", "2wd"];
const SILENCE_FOR = { "30m": 30, "1h": 60, "4h": 240, "24h": 1440, "7d": 10080 };
const CONFIRMABLE = ["in_progress", "resolved"];
const MAX_PHOTO = 2 * 1024 * 1024;

/** The suspension and extension requests that wait for a decision, by kind. */
export function pendingRequests(c) {
  const out = {};
  for (const r of c.requests || []) if (!r.decision) out[r.kind] = r;
  return out;
}

/** Whether the closure checklist leaves nothing for this user to confirm on site: it is confirmed, or
 * they resolved the case and may not confirm their own work. */
const noConfirmationFor = (closure, user) =>
  (closure?.items || []).some((i) => i.code === "on_site" && (i.state === "done" || i.by === user.username));

/** The closed-loop buttons a user may see on a case, in the order they are shown (silences have their
 * own panel). `closure` is the case's closure checklist, when the page has it. */
export function loopActions(c, user, closure = null) {
  const role = user.role;
  if (role === "member") return c.organisation === user.organisation ? memberLoopActions(c) : [];
  if (!HANDLERS.has(role)) return [];
  const open = OPEN_STATUSES.includes(c.status);
  const pending = pendingRequests(c);
  const verifier = VERIFIERS.has(role);
  const out = [];
  if (c.suspended_at) out.push("resume");
  else if (open && !pending.suspension) out.push("suspend");
  if (pending.suspension && verifier) {
    if (pending.suspension.requested_by !== user.username && !c.suspended_at) out.push("approve_suspension");
    out.push("decline_suspension");
  }
  if (open && !pending.extension) out.push("extend");
  if (pending.extension && verifier) {
    if (pending.extension.requested_by !== user.username) out.push("approve_extension");
    out.push("decline_extension");
  }
  if (verifier && CONFIRMABLE.includes(c.status) && !noConfirmationFor(closure, user)) out.push("confirm_on_site");
  if (!["closed", "cancelled"].includes(c.status)) out.push("evidence");
  if (verifier && open && !(c.merged_cases || []).length) out.push("merge");
  if (verifier && c.merged_into) out.push("split");
  return out;
}

/** An organisation's member asks for a suspension or an extension (a verifier decides) and adds
 * evidence; resuming, deciding, confirming, merging and splitting stay with the hub's people. */
function memberLoopActions(c) {
  const open = OPEN_STATUSES.includes(c.status);
  const pending = pendingRequests(c);
  const out = [];
  if (open && !c.suspended_at && !pending.suspension) out.push("suspend");
  if (open && !pending.extension) out.push("extend");
  if (!["closed", "cancelled"].includes(c.status)) out.push("evidence");
  return out;
}

/** A small form in place of the buttons: fields, Confirm and Back. */
function inlineForm(name, fields, onSubmit, onBack) {
  const confirm = h("button", { type: "submit", class: "btn btn-confirm", dataset: { confirm: name } }, t("action.confirm"));
  const back = h("button", { type: "button", class: "btn btn-plain", onclick: onBack }, t("action.back"));
  const form = h("form", { class: "action-form", dataset: { form: name }, onsubmit: async (ev) => {
    ev.preventDefault();
    if (!form.reportValidity()) return;
    confirm.disabled = true;
    back.disabled = true;
    try {
      await onSubmit(Object.fromEntries(new FormData(form)), form);
    } catch (err) {
      toast(t("action.failed", { msg: err.message }), "error");
      confirm.disabled = false;
      back.disabled = false;
    }
  } }, h("span", { class: "action-name" }, label("action", name)), fields, confirm, back);
  return form;
}

const reasonField = (placeholder = t("action.reason")) =>
  h("input", { name: "reason", required: true, minlength: 3, maxlength: 500, autocomplete: "off", placeholder, "aria-label": placeholder });

function readPhoto(file) {
  return new Promise((resolve, reject) => {
    if (file.size > MAX_PHOTO) { reject(new Error(t("loop.photoTooBig"))); return; }
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** Silence targets offered for a case or a device: the device itself, a rule on it, a rule in the community. */
export function silenceTargets({ deviceId, community, rules }) {
  const out = [];
  if (deviceId) out.push({ id: "device", label: t("silence.device", { device: deviceId }), body: { device_id: deviceId, community_id: community } });
  for (const rule of rules) {
    if (deviceId) out.push({ id: `rule-device:${rule}`, label: t("silence.ruleOnDevice", { rule, device: deviceId }), body: { rule_id: rule, device_id: deviceId, community_id: community } });
    out.push({ id: `rule:${rule}`, label: t("silence.ruleInCommunity", { rule, community }), body: { rule_id: rule, community_id: community } });
  }
  return out;
}

/** Whether a silence in force covers the device or one of the rules. */
export function silenceCovers(sil, { deviceId, community, rules }) {
  if (sil.community_id && sil.community_id !== community) return false;
  if (sil.device_id && sil.device_id !== deviceId) return false;
  if (sil.rule_id && !rules.includes(sil.rule_id)) return false;
  return Boolean(sil.device_id || sil.rule_id);
}

function silenceForm(scope, onDone, onBack) {
  const targets = silenceTargets(scope);
  const target = h("select", { name: "target", required: true, "aria-label": t("silence.what") }, targets.map((x) => h("option", { value: x.id }, x.label)));
  const duration = h("select", { name: "duration", "aria-label": t("silence.for") },
    Object.keys(SILENCE_FOR).map((d) => h("option", { value: d, selected: d === "4h" }, t(`silence.for.${d}`))));
  return inlineForm("silence", [target, duration, reasonField()], async (v) => {
    const chosen = targets.find((x) => x.id === v.target);
    const endsAt = new Date(Date.now() + SILENCE_FOR[v.duration] * 60e3).toISOString();
    const created = await api("/silences", { method: "POST", body: { ...chosen.body, ends_at: endsAt, reason: v.reason.trim() } });
    toast(t("silence.done", { id: created.id, until: fmtTime(created.ends_at) }), "ok");
    onDone();
  }, onBack);
}

/**
 * The silences in force for a device or rules, each with an End button for admins and operators, and
 * a Silence… button that opens the form. Used on the case page and the device page.
 */
export function silencePanel(scope, user) {
  const box = h("section", { class: "silences", dataset: { panel: "silences" } });
  const canWrite = VERIFIERS.has(user.role);
  let silences = [];

  async function load() {
    try {
      silences = (await api("/silences")).filter((x) => silenceCovers(x, scope));
    } catch (err) {
      if (err.status !== 401) toast(t("common.error", { msg: err.message }), "error");
      silences = [];
    }
    render();
  }

  function render(form = null) {
    const list = silences.length
      ? h("ul", { class: "item-list" }, silences.map((x) => h("li", { dataset: { silenceId: x.id } },
        badge("hold", "silenced"), " ",
        [x.rule_id && `${t("silence.rule")} ${x.rule_id}`, x.device_id && `${t("silence.deviceWord")} ${x.device_id}`, !x.device_id && x.community_id].filter(Boolean).join(" · "),
        " · ", t("silence.until", { until: fmtTime(x.ends_at), left: ago(x.ends_at) }), " · ", x.reason, " · ", x.created_by,
        canWrite ? [" ", h("button", { type: "button", class: "btn btn-plain", dataset: { endSilence: x.id }, onclick: async () => {
          try {
            await api(`/silences/${x.id}`, { method: "DELETE" });
            toast(t("silence.ended", { id: x.id }), "ok");
          } catch (err) {
            toast(t("action.failed", { msg: err.message }), "error");
          }
          load();
        } }, t("silence.end"))] : null)))
      : null;
    const open = canWrite && !form && silenceTargets(scope).length
      ? h("button", { type: "button", class: "btn", dataset: { loop: "silence" }, onclick: () => render(silenceForm(scope, load, () => render())) }, `${label("action", "silence")}…`)
      : null;
    if (!list && !open && !form) { clear(box); box.hidden = true; return; }
    box.hidden = false;
    clear(box, h("h3", {}, t("silence.title")), list || h("p", { class: "muted" }, t("silence.none")), h("div", { class: "actions" }, open, form));
  }

  load();
  return box;
}

/**
 * The closed-loop part of a case page: its hold state (suspended, requests waiting, cases merged in,
 * alerts with no data) and the buttons for what the user may do next. `onUpdated` gets the case after a
 * change. (Where a cancelled case went is said at the top of the page.)
 */
export function loopPanel(c, user, onUpdated, closure = null) {
  const pending = pendingRequests(c);
  const frozen = (c.alerts || []).filter((a) => a.status === "open" && a.data_state === "no_data");
  const state = [
    c.suspended_at ? h("li", { class: "loop-suspended" }, badge("hold", "suspended"), " ",
      t("loop.suspendedSince", { at: fmtTime(c.suspended_at), ago: ago(c.suspended_at) }),
      (() => { const s = (c.suspensions || []).find((x) => !x.ended_at); return s ? ` – ${s.reason} (${s.approved_by})` : ""; })()) : null,
    ...["suspension", "extension"].filter((k) => pending[k]).map((k) => h("li", { class: `loop-pending-${k}`, dataset: { pending: k } },
      badge("hold", `pending_${k}`), " ",
      t(`loop.pending.${k}`, { by: pending[k].requested_by, at: fmtTime(pending[k].requested_at), extendBy: pending[k].extend_by || "" }),
      " – ", pending[k].reason)),
    ...(c.merged_cases || []).map((m) => h("li", { class: "loop-merged-in", dataset: { mergedCase: m.case_id } },
      t("loop.mergedIn", { at: fmtTime(m.merged_at), by: m.merged_by }), " ", h("a", { href: `#/case/${m.case_id}` }, `#${m.case_id}`),
      VERIFIERS.has(user.role) ? [" ", h("button", { type: "button", class: "btn btn-plain", dataset: { splitOff: m.case_id }, onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api(`/cases/${m.case_id}/split`, { method: "POST", body: {} });
          toast(t("loop.splitDone", { id: m.case_id }), "ok");
          onUpdated(await api(`/cases/${c.id}`));
        } catch (err) {
          toast(t("action.failed", { msg: err.message }), "error");
          ev.target.disabled = false;
        }
      } }, t("loop.splitOff"))] : null)),
    frozen.length ? h("li", { class: "loop-no-data" }, noDataBadge(), " ",
      t("loop.noData", { n: frozen.length, since: fmtTime(frozen[0].data_state_since || frozen[0].last_reading_at) })) : null,
  ].filter(Boolean);

  const bar = h("div", { class: "actions loop-actions", dataset: { caseId: c.id } });
  const actions = loopActions(c, user, closure);
  const back = () => showButtons();
  const done = (updated, message) => { toast(message || t("action.done", { id: updated.id, status: label("status", updated.status) }), "ok"); onUpdated(updated); };

  const forms = {
    suspend: () => inlineForm("suspend", [reasonField()], async (v) => done(await act(c.id, "suspend", { reason: v.reason.trim() }),
      t(user.role === "admin" ? "loop.suspended" : "loop.requested", { id: c.id })), back),
    extend: () => inlineForm("extend", [
      h("select", { name: "extend_by", "aria-label": t("loop.extendBy") }, EXTEND_BY.map((x) => h("option", { value: x }, t("loop.by", { limit: label("limit", x) })))),
      reasonField(),
    ], async (v) => done(await act(c.id, "extend", { reason: v.reason.trim(), extend_by: v.extend_by }),
      t(user.role === "admin" ? "loop.extended" : "loop.requested", { id: c.id })), back),
    decline_suspension: () => inlineForm("decline_suspension", [reasonField()], async (v) => done(await act(c.id, "decline_suspension", { reason: v.reason.trim() }),
      t("loop.done", { id: c.id, action: label("action", "decline_suspension") })), back),
    decline_extension: () => inlineForm("decline_extension", [reasonField()], async (v) => done(await act(c.id, "decline_extension", { reason: v.reason.trim() }),
      t("loop.done", { id: c.id, action: label("action", "decline_extension") })), back),
    merge: () => {
      const into = h("input", { name: "into", type: "number", min: 1, step: 1, required: true, list: `merge-${c.id}`, placeholder: t("loop.into"), "aria-label": t("loop.into") });
      const options = h("datalist", { id: `merge-${c.id}` });
      api("/cases", { query: { limit: 200 } }).then((rows) => options.append(...rows
        .filter((x) => x.id !== c.id && x.community_id === c.community_id && OPEN_STATUSES.includes(x.status))
        .map((x) => h("option", { value: x.id }, `#${x.id} ${x.title}`)))).catch(() => {});
      return inlineForm("merge", [into, options, h("input", { name: "note", maxlength: 2000, autocomplete: "off", placeholder: t("loop.note"), "aria-label": t("loop.note") })],
        async (v) => {
          const survivor = await api(`/cases/${c.id}/merge`, { method: "POST", body: { into: Number(v.into), note: v.note.trim() || null } });
          toast(t("loop.mergeDone", { id: c.id, into: survivor.id }), "ok");
          onUpdated(await api(`/cases/${c.id}`));
        }, back);
    },
    split: () => inlineForm("split", [h("input", { name: "note", maxlength: 2000, autocomplete: "off", placeholder: t("loop.note"), "aria-label": t("loop.note") })],
      async (v) => done(await api(`/cases/${c.id}/split`, { method: "POST", body: { note: v.note.trim() || null } }), t("loop.splitDone", { id: c.id })), back),
    evidence: () => {
      // A photo with an optional note, or a note alone: without a photo the note is required.
      const note = h("input", { name: "note", maxlength: 2000, required: true, autocomplete: "off", placeholder: t("loop.evidenceNote"), "aria-label": t("loop.evidenceNote") });
      const file = h("input", { name: "photo", type: "file", accept: "image/jpeg,image/png", "aria-label": t("loop.photo"),
        onchange: () => { note.required = !file.files.length; } });
      return inlineForm("evidence", [file, note],
        async (v) => {
          const text = v.note.trim() || null;
          if (!file.files.length && !text) throw new Error(t("loop.evidenceEmpty"));
          const photo = file.files.length ? await readPhoto(file.files[0]) : null;
          await api(`/cases/${c.id}/attachments`, { method: "POST", body: photo ? { photo, note: text } : { note: text } });
          done(await api(`/cases/${c.id}`), t("loop.evidenceDone", { id: c.id }));
        }, back);
    },
  };

  function showButtons() {
    const buttons = actions.map((a) => h("button", {
      type: "button", class: ["btn", `btn-${a}`], dataset: { loop: a },
      onclick: async () => {
        if (forms[a]) { const form = forms[a](); clear(bar, form); form.querySelector("input, select")?.focus(); return; }
        buttons.forEach((b) => { b.disabled = true; });
        try {
          done(await act(c.id, a), t("loop.done", { id: c.id, action: label("action", a) }));
        } catch (err) {
          toast(t("action.failed", { msg: err.message }), "error");
          buttons.forEach((b) => { b.disabled = false; });
        }
      },
    }, label("action", a) + (forms[a] ? "…" : "")));
    clear(bar, buttons);
  }
  showButtons();

  if (!state.length && !actions.length) return null;
  return h("section", { class: "loop", dataset: { panel: "loop" } },
    state.length ? h("ul", { class: "loop-state" }, state) : null,
    actions.length ? bar : null);
}

/** What a silence from a case page may cover: its device, and the rules of its alerts. */
export function caseScope(c) {
  return {
    deviceId: c.device_id,
    community: c.community_id,
    rules: [...new Set((c.alerts || []).map((a) => a.rule_id))].sort(),
  };
}
