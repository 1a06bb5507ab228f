// A case as a resident sees it: what it is, how far it has come (reported → dispatched → being handled →
// resolved → closed), what happens next in plain words, safety advice for fire and gas, what was done,
// their own comments — and, on their own report, a comment box, and Withdraw while nobody has started
// on it. No teams, deadlines, escalations or rule expressions: those are the staff's.
import { api, imageDataUrl } from "../api.js";
import { badge, clear, h, label, toast } from "../dom.js";
import { t } from "../i18n.js";
import { caseTitle } from "../names.js";
import { sentence } from "../sentence.js";
import { timeEl } from "../when.js";

const STEPS = ["reported", "dispatched", "handling", "resolved", "closed"];
const STEP_OF = { new: 0, dispatched: 1, acknowledged: 2, in_progress: 2, reopened: 2, resolved: 3, closed: 4 };
const WITHDRAWABLE = ["new", "dispatched"];
/** Categories with safety advice, shown on their cases and in the report form. */
export const ADVICE = ["fire", "gas"];

/** The fixed safety advice of a category (fire, gas), or null. */
export function safetyAdvice(category) {
  if (!ADVICE.includes(category)) return null;
  return h("aside", { class: "safety", role: "note", dataset: { advice: category } },
    h("strong", {}, t(`safety.${category}.title`)), h("p", {}, t(`safety.${category}.text`)));
}

/** When each step was reached, from the history (the latest resolution counts). */
function stepTimes(c) {
  const at = { reported: c.created_at };
  for (const e of c.history || []) {
    if (e.to_status === "dispatched") at.dispatched ??= e.at;
    if (["acknowledged", "in_progress"].includes(e.to_status)) at.handling ??= e.at;
    if (e.to_status === "resolved") at.resolved = e.at;
    if (e.to_status === "closed") at.closed = e.at;
  }
  return at;
}

/** The progress steps of a case; with its history, each reached step says when. */
export function progressBar(c) {
  if (c.status === "cancelled") return badge("status", "cancelled");
  const current = STEP_OF[c.status] ?? 0;
  const at = c.history ? stepTimes(c) : {};
  return h("ol", { class: "progress", "aria-label": t("progress.label"), dataset: { step: STEPS[current] } },
    STEPS.map((step, i) => h("li", { class: [i < current && "done", i === current && "current"], dataset: { step } },
      h("span", { class: "step-name" }, t(`progress.${step}`)),
      at[step] && i <= current ? h("small", {}, timeEl(at[step])) : null)));
}

/** Whether the case is the user's own report, or a report of theirs went into it. */
export function isReporter(c, user) {
  return user.id !== undefined && (c.reporter_id === user.id || (c.merged_cases || []).some((m) => m.reporter_id === user.id));
}

function ended(c, user) {
  const end = c.ended;
  if (!end) return null;
  if (end.into) return h("p", { class: "notice ended", dataset: { move: end.move } }, sentence("resident.joined", { into: h("a", { href: `#/case/${end.into}` }, `#${end.into}`) }));
  if (end.move === "withdraw") return h("p", { class: "notice ended", dataset: { move: end.move } }, t(c.reporter_id === user.id ? "resident.withdrawnByYou" : "resident.withdrawn"));
  return h("div", { class: "notice ended", dataset: { move: end.move } }, t("resident.cancelled"), end.note ? h("p", { class: "note" }, end.note) : null);
}

/** Render the resident's view of case `c` into `root`; `reload` fetches and renders it again. */
export function residentCase(root, c, user, reload, extras) {
  const mine = isReporter(c, user);
  const own = c.reporter_id === user.id;
  const done = (c.history || []).filter((e) => e.action === "resolved" && e.note).pop();
  const comments = (c.history || []).filter((e) => e.action === "commented");
  clear(root, h("section", { class: "view-case view-case-resident", dataset: { caseId: c.id, status: c.status } },
    h("a", { href: "#/mine", class: "back" }, `← ${t("mine.title")}`),
    h("header", { class: "case-head" },
      h("h2", {}, t("case.title", { id: c.id }), " ", caseTitle(c)),
      h("p", {}, badge("status", c.status), " ", badge("category", c.category), " ", h("span", { class: "muted" }, label("source", c.source)))),
    ended(c, user),
    safetyAdvice(c.category),
    progressBar(c),
    c.status === "cancelled" ? null : h("p", { class: "next", dataset: { next: c.status } }, h("strong", {}, t("resident.next")), " ", t(`next.${c.status}`)),
    done && ["resolved", "closed"].includes(c.status)
      ? h("section", { class: "what-was-done" }, h("h3", {}, t("resident.done")), h("p", { class: "description" }, done.note))
      : null,
    c.description ? h("section", {}, h("h3", {}, t(own ? "resident.yourReport" : "case.description")), h("p", { class: "description" }, c.description)) : null,
    photos(c),
    commentSection(c, comments, mine, reload),
    own && WITHDRAWABLE.includes(c.status) && !(c.merged_cases || []).length ? withdrawBox(c, reload) : null,
    extras));
}

function photos(c) {
  if (!c.attachments.length) return null;
  const box = h("div", { class: "photos" });
  for (const a of c.attachments) {
    const img = h("img", { alt: t(a.purpose === "evidence" ? "resident.photoOfWork" : "resident.photoOfReport"), class: "photo" });
    box.append(img);
    imageDataUrl(`/cases/${c.id}/attachments/${a.id}`).then((url) => { img.src = url; }).catch(() => { img.alt = "×"; });
  }
  return h("section", {}, h("h3", {}, t("case.photos")), box);
}

function commentSection(c, comments, mine, reload) {
  const list = comments.length
    ? h("ul", { class: "comments" }, comments.map((e) => h("li", {}, timeEl(e.at), " ", h("strong", {}, e.actor), h("p", { class: "note" }, e.note))))
    : null;
  if (!mine && !list) return null;
  const open = mine && c.status !== "cancelled";
  const text = h("textarea", { name: "text", required: true, maxlength: 2000, rows: 2, "aria-label": t("resident.comment"), placeholder: t("resident.commentHint") });
  const submit = h("button", { type: "submit", class: "btn" }, t("resident.addComment"));
  const form = open ? h("form", { class: "comment-form", onsubmit: async (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) { text.focus(); return; }
    submit.disabled = true;
    try {
      await api(`/cases/${c.id}/comments`, { method: "POST", body: { text: text.value.trim() } });
      toast(t("resident.commented"), "ok");
      reload();
    } catch (err) {
      toast(t("action.failed", { msg: err.message }), "error");
      submit.disabled = false;
    }
  } }, text, submit) : null;
  return h("section", { class: "resident-comments" }, h("h3", {}, t("resident.comments")), list, form);
}

function withdrawBox(c, reload) {
  const box = h("section", { class: "withdraw", dataset: { panel: "withdraw" } });
  const ask = () => clear(box, h("p", { class: "muted" }, t("resident.withdrawHint")),
    h("button", { type: "button", class: "btn btn-cancel", dataset: { action: "withdraw" }, onclick: confirm }, t("resident.withdraw")));
  function confirm() {
    const reason = h("input", { name: "reason", maxlength: 500, autocomplete: "off", placeholder: t("resident.withdrawWhy"), "aria-label": t("resident.withdrawWhy") });
    const yes = h("button", { type: "submit", class: "btn btn-confirm", dataset: { confirm: "withdraw" } }, t("resident.withdrawConfirm"));
    clear(box, h("form", { class: "action-form", onsubmit: async (ev) => {
      ev.preventDefault();
      yes.disabled = true;
      try {
        await api(`/cases/${c.id}/withdraw`, { method: "POST", body: { reason: reason.value.trim() || null } });
        toast(t("resident.withdrawDone", { id: c.id }), "ok");
        reload();
      } catch (err) {
        toast(t("action.failed", { msg: err.message }), "error");
        yes.disabled = false;
      }
    } }, reason, yes, h("button", { type: "button", class: "btn btn-plain", onclick: ask }, t("action.back"))));
    reason.focus();
  }
  ask();
  return box;
}
