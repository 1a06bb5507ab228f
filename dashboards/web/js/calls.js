// The street office's calls on departments (`calls` of GET /cases/{id}): whom the case called on, by
// when each must answer, and its answer — accepted, declined with a reason, done — or none yet.
import { badge, h } from "./dom.js";
import { locale, t } from "./i18n.js";
import { timeEl } from "./when.js";

/** An organisation's name in the reader's language, as the case's calls carry it; its id otherwise. */
export function organisationName(c, id) {
  const call = (c.calls || []).find((k) => k.organisation === id);
  if (!call) return id || "–";
  return (locale() === "zh" ? call.organisation_name_zh : call.organisation_name_en) || id;
}

export function callsPanel(c) {
  if (!c.calls?.length) return null;
  const row = (k) => h("li", { class: "call", dataset: { call: k.id, organisation: k.organisation, state: k.state } },
    h("strong", {}, organisationName(c, k.organisation)), " ", badge("callState", k.state),
    k.escalated_at ? [" ", badge("callState", "escalated")] : null, " ",
    h("small", {}, t("calls.respondBy"), " ", timeEl(k.respond_by)),
    h("p", { class: "request" }, k.request),
    k.answered_at
      ? h("p", { class: "answer" }, t("calls.answeredBy", { who: k.answered_by }), " ", timeEl(k.answered_at),
        k.answer_note ? h("span", { class: "note" }, ` – ${k.answer_note}`) : null)
      : null);
  return h("section", { class: "calls", dataset: { panel: "calls" } },
    h("h3", {}, t("calls.title")), h("ul", { class: "call-list" }, c.calls.map(row)));
}
