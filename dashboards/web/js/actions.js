// Case actions (POST /cases/{id}/actions) as buttons: one click for acknowledge/start/close/reopen, two
// for those that need words (resolve: a note, cancel and hand back: a reason, assign: a team).
import { api } from "./api.js";
import { h, clear, label, toast } from "./dom.js";
import { t } from "./i18n.js";
import { loadTeamNames, teamName } from "./teams.js";

// The actions each status allows; tests/test_dashboard_static.py checks it against hub/cases/lifecycle.py.
// ACTIONS-BEGIN
export const ACTIONS_BY_STATUS = {
  "new": ["assign", "cancel"],
  "dispatched": ["acknowledge", "assign", "hand_back", "cancel"],
  "acknowledged": ["start", "assign", "hand_back", "cancel"],
  "in_progress": ["resolve", "assign", "hand_back", "cancel"],
  "resolved": ["close", "reopen"],
  "reopened": ["acknowledge", "start", "assign", "hand_back", "cancel"],
  "closed": [],
  "cancelled": []
};
// ACTIONS-END

const NEEDS = { resolve: "note", cancel: "reason", hand_back: "reason", assign: "team" };
const HANDLERS = new Set(["admin", "operator", "manager"]);
const VERIFIERS = new Set(["admin", "operator"]);
// What an organisation's member may do to its organisation's cases (hub/cases/actions.py ORGANISATION_ACTIONS).
const MEMBER_ACTIONS = new Set(["acknowledge", "start", "resolve", "hand_back"]);

let teamList = null;
/** The ids of the teams a case may be handed to (GET /teams, once per page load). */
function teams() {
  teamList ??= api("/teams").then((rows) => rows.map((r) => r.team)).catch(() => []);
  return teamList;
}

/**
 * A suspended case takes no status action but cancel until it is resumed (hub/cases/acting.py); Close
 * is offered only when the closure checklist says it can pass (`canClose`).
 */
export function allowedActions(c, role, { canClose = false } = {}) {
  if (!HANDLERS.has(role) && role !== "member") return [];
  return (ACTIONS_BY_STATUS[c.status] || [])
    .filter((a) => role !== "member" || MEMBER_ACTIONS.has(a))
    .filter((a) => a !== "close" || (VERIFIERS.has(role) && canClose))
    .filter((a) => !c.suspended_at || a === "cancel");
}

export async function act(caseId, action, extra = {}) {
  return api(`/cases/${caseId}/actions`, { method: "POST", body: { action, ...extra } });
}

/**
 * The action buttons of a case. `only` limits them (the queue shows the quick ones); `canClose` offers
 * Close (the case page reads it from the closure checklist); onDone receives the updated case.
 */
export function actionBar(c, role, onDone, { only = null, canClose = false } = {}) {
  const bar = h("div", { class: "actions", dataset: { caseId: c.id } });
  const actions = allowedActions(c, role, { canClose }).filter((a) => !only || only.includes(a));

  const run = async (action, extra, buttons) => {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const updated = await act(c.id, action, extra);
      toast(t("action.done", { id: c.id, status: label("status", updated.status) }), "ok");
      onDone(updated);
    } catch (err) {
      toast(t("action.failed", { msg: err.message }), "error");
      buttons.forEach((b) => { b.disabled = false; });
    }
  };

  const showButtons = () => {
    const buttons = actions.map((a) =>
      h("button", {
        type: "button",
        class: ["btn", `btn-${a}`],
        dataset: { action: a },
        onclick: (ev) => {
          ev.stopPropagation();
          if (NEEDS[a]) showForm(a);
          else run(a, {}, buttons);
        },
      }, label("action", a) + (NEEDS[a] ? "…" : "")),
    );
    clear(bar, buttons);
  };

  const showForm = (a) => {
    const field = NEEDS[a];
    const input = h("input", {
      name: field, required: true, maxlength: field === "team" ? 64 : 4000, "aria-label": t(`action.${field}`),
      placeholder: t(`action.${field}`), autocomplete: "off",
      ...(field === "team" ? { list: `teams-${c.id}`, pattern: "[a-z0-9][a-z0-9_.\\-]{0,63}" } : {}),
    });
    const datalist = field === "team" ? h("datalist", { id: `teams-${c.id}` }) : null;
    if (datalist) Promise.all([teams(), loadTeamNames()]).then(([ids]) => datalist.append(...ids.map((n) => h("option", { value: n, label: teamName(n) }))));
    const confirm = h("button", { type: "submit", class: ["btn", `btn-${a}`, "btn-confirm"], dataset: { confirm: a } }, t("action.confirm"));
    const back = h("button", { type: "button", class: "btn btn-plain", onclick: (ev) => { ev.stopPropagation(); showButtons(); } }, t("action.back"));
    const form = h("form", {
      class: "action-form",
      onclick: (ev) => ev.stopPropagation(),
      onsubmit: (ev) => {
        ev.preventDefault();
        const value = input.value.trim();
        if (!value) { input.focus(); return; }
        run(a, { [field]: value }, [confirm, back]);
      },
    }, h("span", { class: "action-name" }, label("action", a)), input, datalist, confirm, back);
    clear(bar, form);
    input.focus();
  };

  showButtons();
  return bar;
}
