// One case. Staff: what, where, deadlines on the hub's clock, the closure checklist and the actions it
// allows, the closed loop, the alerts' evidence (each card its own device's readings), photos, ratings and
// the history as sentences. Residents get their own view (case_resident.js). Another community's case
// answers 404 and shows a not-found message.
import "../locales/cases.js";
import { actionBar } from "../actions.js";
import { callsPanel } from "../calls.js";
import { alertCard } from "../alertcard.js";
import { OPEN_STATUSES, api, imageDataUrl } from "../api.js";
import { closurePanel, loadClosure, nextClosureChange } from "../closure.js";
import { badge, clear, h, label, noDataBadge, notice, toast } from "../dom.js";
import { historyList } from "../history.js";
import { t } from "../i18n.js";
import { onCaseEvent } from "../live.js";
import { caseScope, loopPanel, silencePanel } from "../loop.js";
import { caseTitle, place } from "../names.js";
import { sentence } from "../sentence.js";
import { loadTeamNames, teamName } from "../teams.js";
import { timeEl } from "../when.js";
import { residentCase } from "./case_resident.js";

const MAX_CARDS = 6;

const MAX_TIMER = 2 ** 31 - 1;

export function caseView(root, { user, params }) {
  const id = Number(params[0]);
  const resident = user.role === "resident";
  // An organisation's member works its organisation's cases and answers calls on it in others; no device
  // pages or silences.
  const member = user.role === "member";
  let stopped = false;
  let debounce = 0;
  let closureTimer = 0;
  clear(root, notice(t("common.loading")));

  const formOpen = () => root.querySelector("form.action-form, form.comment-form textarea:not(:placeholder-shown)") !== null;

  /** `live`: a refresh for a case event, which must not throw away a half-filled form. */
  async function load({ live = false } = {}) {
    let c;
    let closure = null;
    try {
      [c] = await Promise.all([api(`/cases/${id}`), loadTeamNames()]);
      if (!resident) closure = await loadClosure(c);
    } catch (err) {
      if (stopped) return;
      if (err.status === 404 || err.status === 422) {
        clear(root, h("section", { class: "view-case" }, backLink(),
          notice(t("case.notFound", { id: params[0] }), "error")));
        root.querySelector(".notice").classList.add("not-found");
      } else if (err.status !== 401) {
        clear(root, notice(t("common.error", { msg: err.message }), "error"));
      }
      return;
    }
    if (stopped) return;
    if (live && formOpen()) refreshSoon();
    else if (resident) residentCase(root, c, user, () => load(), rating(c));
    else render(c, closure);
  }

  /** After an action: the case as the hub answered, with its checklist read again. */
  const updated = async (c) => render(c, await loadClosure(c));

  function render(c, closure) {
    const facts = [
      [t("case.source"), label("source", c.source)],
      [t("case.where"), [c.community_id, place(c)].filter(Boolean).join(" · ")],
      [t("case.device"), c.device_id ? (member ? c.device_id : h("a", { href: `#/device/${encodeURIComponent(c.device_id)}` }, c.device_id)) : "–"],
      [t("case.team"), h("span", { dataset: { team: c.team || "" }, title: c.team || "" }, teamName(c.team))],
      [t("case.assignee"), c.assignee || "–"],
      [t("case.created"), h("span", { class: "opened" }, timeEl(c.created_at), " ", h("small", { class: "clock-note" }, t("time.hubClock")))],
      [t("case.ackDue"), deadline(c.ack_due_at, c.acknowledged_at, c, "ack")],
      [t("case.resolveDue"), deadline(c.resolve_due_at, c.resolved_at, c, "resolve")],
      [t("case.escalation"), label("escalation", c.escalation_level)],
    ];
    const section = h("section", { class: "view-case", dataset: { caseId: c.id, status: c.status } },
      backLink(),
      h("header", { class: `case-head sev-${c.severity}` },
        h("h2", {}, t("case.title", { id: c.id }), " ", caseTitle(c)),
        h("p", {}, badge("severity", c.severity), " ", badge("status", c.status), " ", badge("category", c.category),
          c.suspended_at ? [" ", badge("hold", "suspended")] : null,
          c.alerts.some((a) => a.status === "open" && a.data_state === "no_data") ? [" ", noDataBadge()] : null)),
      endedNotice(c),
      !member || c.organisation === user.organisation ? actionBar(c, user.role, updated, { canClose: Boolean(closure?.can_close) }) : null,
      closurePanel(c, closure),
      loopPanel(c, user, updated, closure),
      callsPanel(c, user, updated),
      h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      !member && (c.device_id || c.alerts.length) ? silencePanel(caseScope(c), user) : null,
      c.description ? h("section", {}, h("h3", {}, t("case.description")), h("p", { class: "description" }, c.description)) : null,
      photos(c),
      rating(c),
      alertsSection(c),
      h("section", { class: "history" }, h("h3", {}, t("case.history")), historyList(c)),
    );
    clear(root, section);
    clearTimeout(closureTimer);
    const next = nextClosureChange(closure);
    if (next !== null) closureTimer = setTimeout(() => load({ live: true }), Math.min(MAX_TIMER, Math.max(1000, next - Date.now() + 1000)));
  }

  /** Each alert's evidence as a card; a storm's or an outage's many alerts as one table of devices,
   * still alerting first, so a case of 160 silent devices stays one readable page. */
  function alertsSection(c) {
    if (!c.alerts.length) return null;
    if (c.alerts.length <= MAX_CARDS) return h("section", { class: "alerts" }, h("h3", {}, t("case.alerts")), ownAlertFirst(c).map(alertCard));
    const open = c.alerts.filter((a) => a.status === "open").length;
    const rows = [...c.alerts].sort((a, b) => Number(b.status === "open") - Number(a.status === "open") || String(a.device_id).localeCompare(String(b.device_id)));
    const cell = (key, ...content) => h("td", { dataset: { label: t(`case.m.${key}`) } }, ...content);
    return h("section", { class: "alerts members" },
      h("h3", {}, t("case.members", { n: c.alerts.length })),
      h("p", { class: "muted", id: "members-summary" }, t("case.membersOpen", { open, back: c.alerts.length - open })),
      h("table", { class: "members cards-on-phone", id: "members" },
        h("thead", {}, h("tr", {}, ["device", "where", "opened", "state"].map((k) => h("th", { scope: "col" }, t(`case.m.${k}`))))),
        h("tbody", {}, rows.map((a) => h("tr", { dataset: { alertId: a.id, deviceId: a.device_id || "", status: a.status } },
          cell("device", a.device_id ? h("a", { href: `#/device/${encodeURIComponent(a.device_id)}` }, a.device_id) : a.subject),
          cell("where", place(a) || "–"),
          cell("opened", timeEl(a.recorded_at || a.opened_at)),
          cell("state", badge("alertStatus", a.status), a.cleared_at ? [" ", timeEl(a.cleared_at)] : null))))));
  }

  /** The alert that opened the case (its subject's) first, then the ones that joined it. */
  const ownAlertFirst = (c) => [...c.alerts].sort((a, b) => Number(b.subject === c.subject) - Number(a.subject === c.subject));

  /** Why a cancelled case ended: cancelled, withdrawn, or taken into another case (with the link). */
  function endedNotice(c) {
    const end = c.ended;
    if (!end) return null;
    const into = end.into ? h("a", { href: `#/case/${end.into}` }, `#${end.into}`) : null;
    const text = {
      merge: () => sentence("ended.merge", { into }),
      absorb: () => sentence("ended.absorb", { into }),
      fold: () => sentence("ended.fold", { into, parent: end.parent || "–" }),
      withdraw: () => sentence("ended.withdraw", { who: end.actor }),
      cancel: () => sentence("ended.cancel", { who: end.actor }),
    }[end.move];
    if (!text) return null;
    return h("div", { class: "ended notice", dataset: { move: end.move, into: end.into || "" } },
      text(), " ", h("small", {}, timeEl(end.at)), end.note ? h("p", { class: "note" }, end.note) : null);
  }

  function deadline(due, done, c, which) {
    if (!due || c.status === "cancelled") return "–";
    const late = done ? new Date(done) > new Date(due) : OPEN_STATUSES.includes(c.status) && new Date(due) < new Date();
    return h("span", { class: ["deadline", late && "overdue"], dataset: { deadline: which } }, timeEl(due), late ? ` · ${t("case.overdue")}` : "");
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
    const canRate = resident && c.source !== "alert" && ["resolved", "closed"].includes(c.status) && !c.ratings.length;
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

  function refreshSoon() {
    clearTimeout(debounce);
    debounce = setTimeout(() => (formOpen() ? refreshSoon() : load({ live: true })), 200);
  }
  const off = onCaseEvent((ev) => {
    if (ev.case_id === id) refreshSoon();
  });
  load();
  return () => { stopped = true; off(); clearTimeout(debounce); clearTimeout(closureTimer); };

  function backLink() {
    return resident
      ? h("a", { href: "#/mine", class: "back" }, `← ${t("mine.title")}`)
      : h("a", { href: "#/queue", class: "back" }, t("case.backToQueue"));
  }
}
