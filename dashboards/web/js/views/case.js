// One case: what, where, deadlines, actions, history, the alerts' evidence as small charts, photos and
// ratings. Another community's case answers 404 and shows a not-found message.
import { actionBar } from "../actions.js";
import { OPEN_STATUSES, api, imageDataUrl } from "../api.js";
import { chartFigure } from "../charts.js";
import { ago, badge, clear, fmtNumber, fmtTime, h, label, noDataBadge, notice, toast } from "../dom.js";
import { t } from "../i18n.js";
import { onCaseEvent } from "../live.js";
import { caseScope, loopPanel, silencePanel } from "../loop.js";
import { loadTeamNames, teamName } from "../teams.js";

const MINUTE = 60e3;

export function caseView(root, { user, params }) {
  const id = Number(params[0]);
  let stopped = false;
  let debounce = 0;
  clear(root, notice(t("common.loading")));

  const formOpen = () => root.querySelector("form.action-form") !== null;

  /** `live`: a refresh for a case event, which must not throw away a half-filled action form. */
  async function load({ live = false } = {}) {
    let c;
    try {
      [c] = await Promise.all([api(`/cases/${id}`), loadTeamNames()]);
    } catch (err) {
      if (stopped) return;
      if (err.status === 404 || err.status === 422) {
        clear(root, h("section", { class: "view-case" }, backLink(user),
          notice(t("case.notFound", { id: params[0] }), "error")));
        root.querySelector(".notice").classList.add("not-found");
      } else if (err.status !== 401) {
        clear(root, notice(t("common.error", { msg: err.message }), "error"));
      }
      return;
    }
    if (stopped) return;
    if (live && formOpen()) refreshSoon();
    else render(c);
  }

  function render(c) {
    const resident = user.role === "resident";
    const facts = [
      [t("case.source"), label("source", c.source)],
      [t("case.where"), [c.community_id, c.building, c.grid].filter(Boolean).join(" · ")],
      [t("case.device"), c.device_id && !resident ? h("a", { href: `#/device/${encodeURIComponent(c.device_id)}` }, c.device_id) : c.device_id || "–"],
      [t("case.team"), c.team ? h("span", { title: c.team }, teamName(c.team)) : "–"],
      [t("case.assignee"), c.assignee || "–"],
      [t("case.created"), `${fmtTime(c.created_at, true)} (${ago(c.created_at)})`],
      [t("case.ackDue"), deadline(c.ack_due_at, c.acknowledged_at, c)],
      [t("case.resolveDue"), deadline(c.resolve_due_at, c.resolved_at, c)],
      [t("case.escalation"), label("escalation", c.escalation_level)],
      c.cancel_reason ? [t("case.cancelReason"), c.cancel_reason] : null,
    ].filter(Boolean);
    const section = h("section", { class: "view-case", dataset: { caseId: c.id, status: c.status } },
      backLink(user),
      h("header", { class: `case-head sev-${c.severity}` },
        h("h2", {}, t("case.title", { id: c.id }), " ", c.title),
        h("p", {}, badge("severity", c.severity), " ", badge("status", c.status), " ", badge("category", c.category),
          c.suspended_at ? [" ", badge("hold", "suspended")] : null,
          c.alerts.some((a) => a.status === "open" && a.data_state === "no_data") ? [" ", noDataBadge()] : null)),
      actionBar(c, user.role, (updated) => render(updated)),
      resident ? null : loopPanel(c, user, (updated) => render(updated)),
      h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      resident || !(c.device_id || c.alerts.length) ? null : silencePanel(caseScope(c), user),
      c.description ? h("section", {}, h("h3", {}, t("case.description")), h("p", { class: "description" }, c.description)) : null,
      photos(c),
      rating(c),
      c.alerts.length ? h("section", { class: "alerts" }, h("h3", {}, t("case.alerts")), c.alerts.map((a) => alertCard(a, c))) : null,
      h("section", { class: "history" }, h("h3", {}, t("case.history")),
        h("ol", {}, c.history.map((e) => h("li", {},
          h("time", { datetime: e.at }, fmtTime(e.at, true)), " ",
          h("strong", {}, label("event", e.action)), " · ", e.actor,
          e.from_status || e.to_status ? h("span", { class: "transition" }, ` ${label("status", e.from_status)} → ${label("status", e.to_status)}`) : null,
          e.note ? h("p", { class: "note" }, e.note) : null)))),
    );
    clear(root, section);
  }

  function deadline(due, done, c) {
    if (!due) return "–";
    const late = done ? new Date(done) > new Date(due) : OPEN_STATUSES.includes(c.status) && new Date(due) < new Date();
    return h("span", { class: late ? "overdue" : null }, `${fmtTime(due)} (${ago(due)})`, late ? ` · ${t("case.overdue")}` : "");
  }

  function photos(c) {
    if (!c.attachments.length) return null;
    const box = h("div", { class: "photos" });
    for (const a of c.attachments) {
      const img = h("img", { alt: `${t("case.photos")} ${a.id}`, class: "photo" });
      box.append(img);
      imageDataUrl(`/cases/${c.id}/attachments/${a.id}`).then((url) => { img.src = url; }).catch(() => { img.alt = "×"; });
    }
    return h("section", {}, h("h3", {}, t("case.photos")), box);
  }

  function rating(c) {
    const list = c.ratings.map((r) => h("li", {}, t("rate.yours", { n: r.stars }), r.comment ? ` – ${r.comment}` : ""));
    const canRate = user.role === "resident" && c.source !== "alert" && ["resolved", "closed"].includes(c.status) && !c.ratings.length;
    if (!list.length && !canRate) return null;
    return h("section", { class: "ratings" }, h("h3", {}, t("case.ratings")),
      list.length ? h("ul", {}, list) : null,
      canRate ? ratingForm(c) : null);
  }

  function ratingForm(c) {
    let stars = 0;
    const buttons = [1, 2, 3, 4, 5].map((n) => h("button", {
      type: "button", class: "star", dataset: { stars: n }, "aria-label": t("rate.star", { n }), "aria-pressed": "false",
      onclick: () => {
        stars = n;
        buttons.forEach((b, i) => { b.setAttribute("aria-pressed", String(i < n)); b.classList.toggle("on", i < n); });
      },
    }, "★"));
    const comment = h("textarea", { name: "comment", maxlength: 2000, rows: 2, "aria-label": t("rate.comment"), placeholder: t("rate.comment") });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("rate.submit"));
    return h("form", { class: "rating-form", onsubmit: async (ev) => {
      ev.preventDefault();
      if (!stars) { buttons[4].focus(); return; }
      submit.disabled = true;
      try {
        await api(`/cases/${c.id}/rating`, { method: "POST", body: { stars, comment: comment.value.trim() || null } });
        toast(t("rate.done"), "ok");
        load();
      } catch (err) {
        toast(t("action.failed", { msg: err.message }), "error");
        submit.disabled = false;
      }
    } }, h("p", {}, t("rate.title")), h("div", { class: "stars" }, buttons), comment, submit);
  }

  function alertCard(a, c) {
    const ex = a.explanation || {};
    const rows = [
      [t("alert.rule"), `${a.rule_id} (${a.rule_version})`],
      ex.condition ? [t("alert.condition"), ex.condition + (ex.hold_s ? ` · ${ex.hold_s}s` : "")] : null,
      ex.summary ? [t("alert.condition"), ex.summary] : null,
      ex.condition_started_at ? [t("alert.started"), fmtTime(ex.condition_started_at, true)] : null,
      [t("alert.opened"), fmtTime(a.opened_at, true)],
      [t("alert.cleared"), a.cleared_at ? `${fmtTime(a.cleared_at, true)} – ${a.clear_reason || ""}` : t("alert.stillOpen")],
      ex.members ? [t("alert.members"), ex.members.join(", ")] : null,
    ].filter(Boolean);
    const chartBox = h("div", { class: "evidence" });
    const card = h("article", { class: ["alert-card", `alert-${a.status}`], dataset: { alertId: a.id } },
      h("h4", {}, a.rule_id, " ", badge("alertStatus", a.status),
        a.data_state === "no_data" ? [" ", noDataBadge()] : null),
      a.data_state === "no_data"
        ? h("p", { class: "no-data-note" }, t("alert.noDataSince", { at: fmtTime(a.last_reading_at || a.data_state_since, true) }))
        : null,
      h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      chartBox);
    evidence(a, c, chartBox);
    return card;
  }

  async function evidence(a, c, box) {
    const ex = a.explanation || {};
    const readings = ex.readings || [];
    const evidenceSeries = new Map();
    const add = (metric, ts, v) => {
      const n = typeof v === "boolean" ? Number(v) : typeof v === "number" ? v : null;
      if (n === null) return;
      if (!evidenceSeries.has(metric)) evidenceSeries.set(metric, { bool: typeof v === "boolean", points: [] });
      evidenceSeries.get(metric).points.push({ t: Date.parse(ts), v: n });
    };
    for (const r of readings) {
      if (r.values) for (const [m, v] of Object.entries(r.values)) add(m, r.ts, v);
      else if ("value" in r) add(ex.metric || "value", r.ts, r.value);
    }
    if (!evidenceSeries.size) {
      box.append(h("p", { class: "muted" }, t("alert.noReadings")));
      return;
    }
    const started = Date.parse(ex.condition_started_at || a.opened_at);
    const opened = Date.parse(a.opened_at);
    const cleared = a.cleared_at ? Date.parse(a.cleared_at) : null;
    // The window is the alert itself with some context either side, not "until now": a case looked at
    // hours later still shows its evidence large.
    const times = [started, opened, ...[...evidenceSeries.values()].flatMap((e) => e.points.map((p) => p.t))];
    const first = Math.min(...times);
    const last = Math.max(...times, cleared ?? opened);
    const pad = Math.max(2 * MINUTE, (last - first) * 0.25);
    const from = first - pad;
    const to = Math.max(opened + MINUTE, Math.min(last + pad, Date.now()));
    let context = null;
    if (c.device_id && user.role !== "resident") {
      try {
        context = await api(`/devices/${encodeURIComponent(c.device_id)}/telemetry`, {
          query: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), metrics: [...evidenceSeries.keys()].join(",") },
        });
      } catch { /* event fields are not telemetry metrics: the readings alone are the evidence */ }
    }
    const markers = [
      { t: started, label: t("alert.started"), cls: "marker-start" },
      { t: opened, label: t("alert.opened"), cls: "marker-open" },
      cleared ? { t: cleared, label: t("alert.cleared"), cls: "marker-clear" } : null,
    ].filter(Boolean);
    for (const [metric, ev] of evidenceSeries) {
      const series = [];
      if (context && context.metrics.includes(metric)) {
        const points = context.points.map((p) => {
          const v = p[metric];
          if (v === null || v === undefined) return { t: Date.parse(p.t), v: null };
          if (typeof v === "object") return { t: Date.parse(p.t), v: v.avg };
          return { t: Date.parse(p.t), v: Number(v) };
        });
        series.push({ name: label("metric", metric), points, step: ev.bool });
      }
      series.push({ name: `${t("alert.readings")}: ${label("metric", metric)}`, points: ev.points, dots: true });
      box.append(chartFigure(label("metric", metric), series, { from, to, markers, bool: ev.bool, height: 130 }));
    }
    box.append(h("p", { class: "muted" }, readings.map((r) =>
      `${fmtTime(r.ts, true)}: ${r.values ? Object.entries(r.values).map(([k, v]) => `${k}=${fmtNumber(v)}`).join(", ") : fmtNumber(r.value)}`).join(" · ")));
  }

  function refreshSoon() {
    clearTimeout(debounce);
    debounce = setTimeout(() => (formOpen() ? refreshSoon() : load({ live: true })), 200);
  }
  const off = onCaseEvent((ev) => {
    if (ev.case_id === id) refreshSoon();
  });
  load();
  return () => { stopped = true; off(); clearTimeout(debounce); };
}

function backLink(user) {
  return user.role === "resident"
    ? h("a", { href: "#/mine", class: "back" }, `← ${t("mine.title")}`)
    : h("a", { href: "#/queue", class: "back" }, t("case.backToQueue"));
}
