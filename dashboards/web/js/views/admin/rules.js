// Rules (admins edit, operators read): the rule files in force with their rules, versions and the workers
// running them; and a file's page: its text, checked with the messages of `hub rules check`, backtested
// over a period beside the alerts the live rules raised, and only then saved (admins); its saved versions,
// each of which can be viewed and restored.
import { api } from "../../api.js";
import { badge, clear, fmtNumber, h, label, notice, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { dataTable, errorsTable, fmtDateTime, fromLocalInput, localInput, ruleTitle, shortHash, twoStep } from "./ui.js";

const PERIODS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const ALERTS_SHOWN = 100;
const TEMPLATE = `# One rule per list item; the format is in docs/rules.md.
rules:
  - id: new-rule
    type: threshold
    title: New rule
    title_zh: 新规则
    kinds: [smoke_detector]
    severity: minor
    category: device_health
    when: battery_pct < 10
    dispatch: {team: maintenance}
`;

export function rulesView(root, ctx) {
  return ctx.params[0] ? fileView(root, ctx, decodeURIComponent(ctx.params[0])) : listView(root, ctx);
}

const fileHref = (name) => `#/admin/rules/${encodeURIComponent(name)}`;

function origin(saved) {
  if (!saved) return t("rules.shipped");
  const who = { n: saved.id, by: saved.saved_by, at: fmtDateTime(saved.saved_at) };
  if (saved.source === "restored") return t("rules.restoredBy", { ...who, from: saved.restored_from });
  if (saved.source === "shipped") return t("rules.shippedVersion", who);
  return t("rules.savedBy", who);
}

function rulesTable(rules, id) {
  const columns = ["id", "title", "type", "severity", "version"].map((key) => ({ key, label: t(`rules.col.${key}`) }));
  return dataTable(columns, rules, (r, key) => {
    if (key === "title") return ruleTitle(r);
    if (key === "severity") return badge("severity", r.severity);
    if (key === "type") return label("ruleType", r.type);
    if (key === "version") return h("code", {}, r.version);
    return h("code", {}, r.id);
  }, { id, empty: t("rules.noRules"), rowAttrs: (r) => ({ dataset: { rule: r.id, version: r.version } }) });
}

/** Which version of the saved files every worker runs; `behind` lists what it has not caught up with. */
function workersTable(workers) {
  const columns = ["worker", "rules", "state", "loaded"].map((key) => ({ key, label: t(`rules.workerCol.${key}`) }));
  return dataTable(columns, workers, (w, key) => {
    if (key === "worker") return [w.worker_id, w.alive ? null : h("small", {}, t("rules.workerGone", { at: fmtDateTime(w.seen_at) }))];
    if (key === "rules") return fmtNumber(w.rule_count);
    if (key === "loaded") return fmtDateTime(w.loaded_at);
    if (w.errors.length) return h("span", { class: "badge state-alerting" }, t("rules.workerErrors", { n: w.errors.length }));
    if (w.behind.length) return h("span", { class: "badge state-low_battery" }, t("rules.workerBehind", { files: w.behind.join(", ") }));
    return h("span", { class: "badge state-ok" }, t("rules.workerInStep"));
  }, { id: "rule-workers", empty: t("rules.noWorkers"), rowAttrs: (w) => ({ dataset: { worker: w.worker_id } }) });
}

function listView(root, { user, navigate }) {
  let stopped = false;
  const body = h("div", { class: "rule-files" }, notice(t("common.loading")));
  const nameInput = h("input", { name: "file", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*\\.ya?ml", placeholder: "extra.yaml", "aria-label": t("rules.newName") });
  const newFile = user.role === "admin"
    ? h("form", { class: "inline-form new-file", id: "new-rule-file", onsubmit: (ev) => {
      ev.preventDefault();
      if (nameInput.reportValidity()) navigate(fileHref(nameInput.value.trim()));
    } }, nameInput, h("button", { type: "submit", class: "btn" }, t("rules.newFile")))
    : null;
  clear(root, h("section", { class: "view-admin view-admin-rules", id: "rules" },
    h("div", { class: "toolbar" }, h("h2", {}, t("rules.title")), newFile),
    h("p", { class: "muted" }, t(user.role === "admin" ? "rules.introAdmin" : "rules.introReader")),
    body));

  (async () => {
    try {
      const data = await api("/rules/files");
      if (stopped) return;
      clear(body,
        data.last_reload_errors.length ? [notice(t("rules.reloadRefused"), "error"), errorsTable(data.last_reload_errors, "reload-errors")] : null,
        h("h3", {}, t("rules.workers")), workersTable(data.workers),
        data.files.map((f) => h("article", { class: "rule-file card-box", dataset: { file: f.name } },
          h("div", { class: "toolbar" },
            h("h3", {}, h("a", { href: fileHref(f.name) }, f.name)),
            h("span", { class: "muted" }, origin(f.saved), " · ", t("rules.hash"), " ", h("code", {}, shortHash(f.hash))),
          h("a", { class: "btn", href: fileHref(f.name) }, user.role === "admin" && f.editable ? t("rules.edit") : t("rules.view"))),
          rulesTable(f.rules))));
    } catch (err) {
      if (!stopped && err.status !== 401) clear(body, notice(t("common.error", { msg: err.message }), "error"));
    }
  })();
  return () => { stopped = true; };
}

function fileView(root, { user }, name) {
  const admin = user.role === "admin";
  let stopped = false;
  let file = null;
  let checked = null; // {content, ok}
  let tested = null; // content backtested

  const text = h("textarea", { id: "rule-text", class: "rule-text", spellcheck: "false", autocomplete: "off", rows: 22, readonly: !admin, "aria-label": t("rules.content"), oninput: edited });
  const head = h("div", { class: "rule-file-head" });
  const checkButton = h("button", { type: "button", class: "btn", id: "rule-check", onclick: check }, t("rules.check"));
  const period = h("select", { name: "period", id: "backtest-period", "aria-label": t("rules.period"), onchange: () => { custom.hidden = period.value !== "custom"; edited(false); } },
    [...Object.keys(PERIODS), "custom"].map((p) => h("option", { value: p, selected: p === "24h" }, t(`rules.period.${p}`))));
  const fromInput = h("input", { type: "datetime-local", name: "from", value: localInput(new Date(Date.now() - 86400e3)), "aria-label": t("rules.from") });
  const toInput = h("input", { type: "datetime-local", name: "to", value: localInput(new Date()), "aria-label": t("rules.to") });
  const custom = h("span", { class: "custom-period", hidden: true }, h("label", {}, t("rules.from"), " ", fromInput), h("label", {}, t("rules.to"), " ", toInput));
  const backtestButton = h("button", { type: "button", class: "btn", id: "rule-backtest", onclick: backtest }, t("rules.backtest"));
  const saveButton = h("button", { type: "button", class: "btn btn-primary", id: "rule-save", onclick: save }, t("rules.save"));
  const checkOut = h("div", { id: "check-result", class: "step-result" });
  const backtestOut = h("div", { id: "backtest-result", class: "step-result" });
  const saveOut = h("div", { id: "save-result", class: "step-result", "aria-live": "polite" });
  const historyBox = h("div", { id: "rule-history" });
  const preview = h("div", { id: "version-preview" });
  const workersBox = h("div", { id: "file-workers" });
  const step = (n, title, ...content) => h("li", { class: "rule-step", dataset: { step: n } }, h("h3", {}, title), ...content);
  const steps = admin
    ? h("ol", { class: "rule-steps" },
      step("check", t("rules.step.check"), h("div", { class: "toolbar" }, checkButton), checkOut),
      step("backtest", t("rules.step.backtest"), h("div", { class: "toolbar" }, period, custom, backtestButton), backtestOut),
      step("save", t("rules.step.save"), h("div", { class: "toolbar" }, saveButton, h("span", { class: "muted", id: "save-hint" })), saveOut))
    : null;
  const body = h("div", { class: "rule-editor" }, notice(t("common.loading")));
  clear(root, h("section", { class: "view-admin view-admin-rule", id: "rule-file", dataset: { file: name } },
    h("a", { href: "#/admin/rules", class: "back" }, `← ${t("rules.title")}`),
    h("h2", {}, name), head, body));

  async function load() {
    let workers = [];
    try {
      const [found, all] = await Promise.all([
        api(`/rules/files/${encodeURIComponent(name)}`).catch((err) => { if (err.status === 404 && admin) return null; throw err; }),
        api("/rules/files"),
      ]);
      if (stopped) return;
      file = found || { name, content: TEMPLATE, hash: null, in_force_hash: null, editable: true, history: [] };
      workers = all.workers;
    } catch (err) {
      if (!stopped && err.status !== 401) clear(body, notice(err.status === 404 ? t("rules.noFile", { name }) : t("common.error", { msg: err.message }), "error"));
      return;
    }
    text.value = file.content;
    const latest = file.history[0];
    clear(head,
      h("p", { class: "muted", id: "file-state" },
        file.hash === null ? t("rules.newFileNote") : origin(latest), " · ", t("rules.hash"), " ", h("code", { id: "file-hash" }, shortHash(file.hash)), " · ",
        file.hash !== null && file.in_force_hash === file.hash ? h("span", { class: "badge state-ok", id: "in-force" }, t("rules.inForceHere")) : h("span", { class: "badge state-low_battery", id: "in-force" }, t("rules.notInForceHere"))));
    clear(workersBox, workers.length ? h("ul", { class: "item-list" }, workers.map((w) => h("li", { dataset: { worker: w.worker_id } },
      h("strong", {}, w.worker_id), " ",
      w.files[name] === file.hash ? t("rules.workerRuns") : t("rules.workerRunsOther", { hash: shortHash(w.files[name]) })))) : null);
    clear(body,
      admin && !file.editable ? notice(t("rules.notEditable"), "error") : null,
      text, steps,
      h("h3", {}, t("rules.workersOfFile")), workersBox,
      h("h3", {}, t("rules.history")), historyBox, preview);
    drawHistory();
    edited(false);
  }

  function drawHistory() {
    const columns = ["version", "saved", "by", "source", "hash", "rules", "actions"].map((key) => ({ key, label: t(`rules.histCol.${key}`) }));
    clear(historyBox, dataTable(columns, file.history, (v, key) => {
      if (key === "version") return `#${v.id}`;
      if (key === "saved") return fmtDateTime(v.saved_at);
      if (key === "by") return v.saved_by;
      if (key === "source") return v.source === "restored" ? t("rules.source.restoredFrom", { n: v.restored_from }) : t(`rules.source.${v.source}`);
      if (key === "hash") return h("code", {}, shortHash(v.content_hash));
      if (key === "rules") return fmtNumber(v.check_result.rules.length);
      const latest = v.id === file.history[0].id;
      return h("span", { class: "actions" },
        h("button", { type: "button", class: "btn btn-plain", dataset: { view: v.id }, onclick: () => showVersion(v.id) }, t("rules.viewVersion")),
        admin && !latest ? twoStep(t("rules.restore"), t("rules.restoreConfirm", { n: v.id }), { dataset: { restore: v.id } }, () => restore(v.id)) : null,
        latest ? h("span", { class: "badge" }, t("rules.latest")) : null);
    }, { id: "history-table", empty: t("rules.noHistory"), rowAttrs: (v) => ({ dataset: { version: v.id } }) }));
  }

  async function showVersion(id) {
    try {
      const v = await api(`/rules/files/${encodeURIComponent(name)}/versions/${id}`);
      clear(preview, h("h4", {}, t("rules.versionOf", { n: v.id, at: fmtDateTime(v.saved_at), by: v.saved_by })),
        h("pre", { class: "rule-text version-text", dataset: { version: v.id } }, v.content));
    } catch (err) {
      toast(err.message, "error");
    }
  }

  /** Any change of the text (or of the period, for the backtest) asks for its steps again. */
  function edited(textChanged = true) {
    if (!admin) return;
    if (textChanged) {
      checked = null;
      clear(checkOut);
      clear(saveOut);
    }
    tested = null;
    clear(backtestOut);
    stepsDone();
  }

  /** Backtest after a passing check of this text, save after its backtest: the buttons say what is next. */
  function stepsDone() {
    const content = text.value;
    const ok = Boolean(checked && checked.ok && checked.content === content);
    backtestButton.disabled = !ok;
    saveButton.disabled = !(ok && tested === content) || !file.editable || content === file.content;
    const hint = content === file.content ? "unchanged" : !ok ? "check" : tested !== content ? "backtest" : "ready";
    document.getElementById("save-hint")?.replaceChildren(t(`rules.hint.${hint}`));
  }

  async function check() {
    const content = text.value;
    checkButton.disabled = true;
    try {
      const result = await api(`/rules/files/${encodeURIComponent(name)}/check`, { method: "POST", body: { content } });
      checked = { content, ok: result.ok };
      clear(checkOut, result.ok
        ? [h("p", { class: "notice notice-ok", role: "status", id: "check-ok" }, t("rules.checkOk", { n: result.rules.length })), rulesTable(result.rules, "checked-rules")]
        : [h("p", { class: "notice notice-error", role: "alert", id: "check-failed" }, t("rules.checkFailed", { n: result.errors.length })), errorsTable(result.errors)]);
    } catch (err) {
      clear(checkOut, notice(t("common.error", { msg: err.message }), "error"));
    } finally {
      checkButton.disabled = false;
      tested = null;
      clear(backtestOut);
      stepsDone();
    }
  }

  function range() {
    if (period.value !== "custom") {
      const to = new Date();
      return { from: new Date(to.getTime() - PERIODS[period.value]).toISOString(), to: to.toISOString() };
    }
    return { from: fromLocalInput(fromInput.value), to: fromLocalInput(toInput.value) };
  }

  async function backtest() {
    const content = text.value;
    const { from, to } = range();
    if (!from || !to) { clear(backtestOut, notice(t("rules.badPeriod"), "error")); return; }
    backtestButton.disabled = true;
    clear(backtestOut, notice(t("rules.backtesting")));
    try {
      const result = await api(`/rules/files/${encodeURIComponent(name)}/backtest`, { method: "POST", body: { content, from, to } });
      tested = content;
      clear(backtestOut, backtestReport(result, from, to));
    } catch (err) {
      clear(backtestOut, notice(t("common.error", { msg: err.message }), "error"));
    } finally {
      stepsDone();
    }
  }

  async function save() {
    saveButton.disabled = true;
    try {
      const saved = await api(`/rules/files/${encodeURIComponent(name)}`, { method: "PUT", body: { content: text.value, base_hash: file.hash } });
      toast(t("rules.saved", { n: saved.id }), "ok");
      await load();
      clear(saveOut, h("p", { class: "notice notice-ok", role: "status", id: "saved" }, t("rules.savedInForce", { n: saved.id, hash: shortHash(saved.content_hash) })));
    } catch (err) {
      refused(err);
      stepsDone();
    }
  }

  async function restore(id) {
    try {
      const saved = await api(`/rules/files/${encodeURIComponent(name)}/versions/${id}/restore`, { method: "POST", body: { base_hash: file.hash } });
      toast(t("rules.restored", { n: id, v: saved.id }), "ok");
      await load();
      clear(saveOut, h("p", { class: "notice notice-ok", role: "status", id: "saved" }, t("rules.restoredInForce", { n: id, v: saved.id })));
    } catch (err) {
      refused(err);
      drawHistory();
    }
  }

  /** A refused save names each error (422); a file changed meanwhile (409) must be opened again. */
  function refused(err) {
    const details = err.details || [];
    clear(saveOut,
      h("p", { class: "notice notice-error", role: "alert", id: "save-refused" }, err.status === 409 ? t("rules.conflict", { msg: err.message }) : t("rules.refused", { msg: err.message })),
      details.length ? errorsTable(details, "save-errors") : null);
  }

  load();
  return () => { stopped = true; };
}

function backtestReport(result, from, to) {
  const columns = ["rule", "backtest", "live", "matched", "only_backtest", "only_live"].map((key) => ({ key, label: t(`rules.bt.${key}`) }));
  const titles = Object.fromEntries(result.rules.map((r) => [r.id, ruleTitle(r)]));
  const rows = Object.entries(result.by_rule).map(([id, counts]) => ({ id, ...counts }));
  const alertColumns = ["opened", "rule", "subject", "live", "explanation"].map((key) => ({ key, label: t(`rules.alert.${key}`) }));
  return [
    h("p", { class: "notice notice-ok", role: "status", id: "backtest-done" }, t("rules.backtested", { n: fmtNumber(result.readings), from: fmtDateTime(from), to: fmtDateTime(to) })),
    dataTable(columns, rows, (r, key) => (key === "rule" ? [h("code", {}, r.id), h("small", {}, titles[r.id] || "")] : fmtNumber(r[key])),
      { id: "backtest-table", rowAttrs: (r) => ({ dataset: { rule: r.id, backtest: r.backtest, live: r.live } }) }),
    result.alerts.length ? h("h4", {}, t("rules.btAlerts", { shown: Math.min(ALERTS_SHOWN, result.alerts.length), n: result.alerts.length })) : null,
    result.alerts.length ? dataTable(alertColumns, result.alerts.slice(0, ALERTS_SHOWN), (a, key) => {
      if (key === "opened") return fmtDateTime(a.opened_at);
      if (key === "rule") return h("code", {}, a.rule_id);
      if (key === "live") return a.live ? t("rules.alert.alsoLive") : t("rules.alert.notLive");
      if (key === "subject") return a.subject;
      const ex = a.explanation || {};
      return [ex.condition || ex.summary || "–", ex.condition_started_at ? h("small", {}, t("rules.alert.since", { at: fmtDateTime(ex.condition_started_at) })) : null];
    }, { id: "backtest-alerts" }) : null,
  ];
}
