// The street office's calls on departments (`calls` of GET /cases/{id}): whom the case called on, by
// when each must answer, and its answer — accepted, declined with a reason, done — or none yet. An
// admin or operator calls on departments from here (POST /cases/{id}/calls): the organisations serving
// the case's community, what they are asked to do, and the response deadline. A member of a called
// organisation answers its call here (POST /cases/{id}/calls/{call_id}/answer): accept, decline with a
// reason, or done.
import { OPEN_STATUSES, api } from "./api.js";
import { badge, clear, h, toast } from "./dom.js";
import { locale, t } from "./i18n.js";
import { timeEl } from "./when.js";

const VERIFIERS = new Set(["admin", "operator"]);
const WITHIN = ["4wh", "1wd", "2wd", "5wd"];

/** An organisation's name in the reader's language, as the case's calls carry it; its id otherwise. */
export function organisationName(c, id) {
  const call = (c.calls || []).find((k) => k.organisation === id);
  if (!call) return id || "–";
  return (locale() === "zh" ? call.organisation_name_zh : call.organisation_name_en) || id;
}

const named = (org) => (locale() === "zh" ? org.name_zh : org.name_en);

// The answers a call in each state takes (hub/domain/calls.py ANSWERS).
const ANSWERS_BY_STATE = { open: ["accept", "decline", "done"], accepted: ["done"] };

/** The called organisation's answers to its call: one click, or two for decline (which needs a reason). */
function answerBar(c, k, onUpdated) {
  const answers = ANSWERS_BY_STATE[k.state] || [];
  if (!answers.length) return null;
  const bar = h("div", { class: "actions call-answer", dataset: { call: k.id } });
  const send = async (answer, note, buttons) => {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const updated = await api(`/cases/${c.id}/calls/${k.id}/answer`, { method: "POST", body: { answer, note } });
      toast(t("calls.answered", { answer: t(`calls.answer.${answer}`) }), "ok");
      onUpdated(updated);
    } catch (err) {
      toast(t("action.failed", { msg: err.message }), "error");
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  const showButtons = () => {
    const buttons = answers.map((a) => h("button", { type: "button", class: "btn", dataset: { answer: a },
      onclick: () => (a === "decline" ? showDecline() : send(a, null, buttons)) }, t(`calls.answer.${a}`) + (a === "decline" ? "…" : "")));
    clear(bar, buttons);
  };
  const showDecline = () => {
    const reason = h("input", { name: "reason", required: true, maxlength: 2000, autocomplete: "off", placeholder: t("calls.declineWhy"), "aria-label": t("calls.declineWhy") });
    const confirm = h("button", { type: "submit", class: "btn btn-confirm", dataset: { confirm: "decline" } }, t("action.confirm"));
    const back = h("button", { type: "button", class: "btn btn-plain", onclick: showButtons }, t("action.back"));
    const form = h("form", { class: "action-form", onsubmit: (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) { reason.focus(); return; }
      send("decline", reason.value.trim(), [confirm, back]);
    } }, reason, confirm, back);
    clear(bar, form);
    reason.focus();
  };
  showButtons();
  return bar;
}

export function callsPanel(c, user, onUpdated) {
  const canCall = VERIFIERS.has(user.role) && OPEN_STATUSES.includes(c.status);
  if (!c.calls?.length && !canCall) return null;
  const row = (k) => h("li", { class: "call", dataset: { call: k.id, organisation: k.organisation, state: k.state } },
    h("strong", {}, organisationName(c, k.organisation)), " ", badge("callState", k.state),
    k.escalated_at ? [" ", badge("callState", "escalated")] : null, " ",
    h("small", {}, t("calls.respondBy"), " ", timeEl(k.respond_by)),
    h("p", { class: "request" }, k.request),
    k.answered_at
      ? h("p", { class: "answer" }, t("calls.answeredBy", { who: k.answered_by }), " ", timeEl(k.answered_at),
        k.answer_note ? h("span", { class: "note" }, ` – ${k.answer_note}`) : null)
      : null,
    user.organisation && user.organisation === k.organisation ? answerBar(c, k, onUpdated) : null);
  const bar = h("div", { class: "actions call-actions" });
  const showButton = () => clear(bar, h("button", { type: "button", class: "btn", dataset: { action: "call" }, onclick: showForm }, t("calls.call")));
  async function showForm() {
    let orgs = [];
    try {
      orgs = (await api("/organisations")).filter((o) => o.communities.includes(c.community_id));
    } catch (err) {
      toast(t("action.failed", { msg: err.message }), "error");
      return;
    }
    if (!orgs.length) {
      clear(bar, h("p", { class: "notice" }, t("calls.none")));
      return;
    }
    const boxes = orgs.map((o) => h("label", { class: "call-org" },
      h("input", { type: "checkbox", name: "organisation", value: o.id }), " ", named(o)));
    const request = h("textarea", { name: "request", required: true, maxlength: 2000, rows: 2, "aria-label": t("calls.request"), placeholder: t("calls.request") });
    const within = h("select", { name: "respond_within", "aria-label": t("calls.within") },
      WITHIN.map((w) => h("option", { value: w }, t(`calls.within.${w}`))));
    const confirm = h("button", { type: "submit", class: "btn btn-confirm", dataset: { confirm: "call" } }, t("action.confirm"));
    const back = h("button", { type: "button", class: "btn btn-plain", onclick: showButton }, t("action.back"));
    const form = h("form", { class: "action-form call-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const picked = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      if (!picked.length || !request.value.trim()) { toast(t("calls.pick"), "error"); return; }
      confirm.disabled = true;
      try {
        const updated = await api(`/cases/${c.id}/calls`, { method: "POST", body: { organisations: picked, request: request.value.trim(), respond_within: within.value } });
        toast(t("calls.done", { n: picked.length }), "ok");
        onUpdated(updated);
      } catch (err) {
        toast(t("action.failed", { msg: err.message }), "error");
        confirm.disabled = false;
      }
    } }, h("fieldset", {}, h("legend", {}, t("calls.who")), boxes), request, h("label", {}, t("calls.within"), " ", within), confirm, back);
    clear(bar, form);
  }
  if (canCall) showButton();
  return h("section", { class: "calls", dataset: { panel: "calls" } },
    h("h3", {}, t("calls.title")),
    c.calls?.length ? h("ul", { class: "call-list" }, c.calls.map(row)) : null,
    canCall ? bar : null);
}
