// A case's history as sentences in the reader's language. Every line the hub wrote is rendered from its
// action and the codes and values in its `detail` (the English `note` is for the API); what a person
// wrote — a resolution note, a reason, a comment — is shown as they wrote it, under the line.
import { h, label } from "./dom.js";
import { t } from "./i18n.js";
import { organisationName } from "./calls.js";
import { alertName } from "./names.js";
import { teamName } from "./teams.js";
import { sentence } from "./sentence.js";
import { clock, duration, timeEl, when } from "./when.js";

const SYSTEM = "system";
const caseLink = (id) => h("a", { href: `#/case/${id}` }, `#${id}`);
const strong = (text) => h("strong", {}, text);

/** Why an alert cleared, as a sentence (from its clear facts; the English reason for older alerts). */
export function clearReason(facts, fallback) {
  const f = facts || {};
  switch (f.code) {
    case "condition_held":
      return [t("clear.conditionHeld", { for: duration(f.for_s || 0), since: clock(f.since) }), readingValues(f.values)];
    case "heard_again":
      return t("clear.heardAgain", { at: clock(f.at), silence: duration(f.silence_s || 0) });
    case "window_calm":
      return "count" in f
        ? t("clear.fewMessages", { n: f.count, threshold: f.threshold, window: duration(f.window_s) })
        : t("clear.rateCalm", { metric: label("metric", f.metric), change: f.change, window: duration(f.window_s) });
    case "members_cleared":
      return t("clear.membersCleared");
    default:
      return fallback || "";
  }
}

/** " (Smoke obscuration 0.12, Alarm no)" */
function readingValues(values) {
  const shown = Object.entries(values || {}).filter(([, v]) => v !== null && v !== undefined);
  if (!shown.length) return "";
  const value = (v) => (typeof v === "boolean" ? t(v ? "common.yes" : "common.no") : String(v));
  return t("clear.values", { values: shown.map(([k, v]) => `${label("metric", k)} ${value(v)}`).join(t("list.sep")) });
}

/**
 * One history entry as { text: [nodes], note: string|null }: `text` says what happened, `note` is a
 * person's own words. `c` is the case, for the alerts an entry names by id.
 */
export function describe(e, c) {
  const d = e.detail || {};
  const who = strong(e.actor);
  const alertOf = (id) => (c.alerts || []).find((a) => a.id === id);
  const alert = () => {
    const a = alertOf(d.alert_id);
    return a ? alertName(a) : t("alert.named", { title: d.rule_id || `#${d.alert_id}`, where: d.device_id || d.subject || "" });
  };
  const people = (key, vars = {}, note = e.note) => ({ text: sentence(key, { who, ...vars }), note: note || null });
  const hub = (key, vars = {}) => ({ text: sentence(key, vars), note: null });
  switch (e.action) {
    case "opened":
      if (d.storm) return hub(d.storm === "outage" ? "hist.opened.outage" : "hist.opened.storm", { rule: d.rule_id || "–" });
      if (d.alert_id) return hub("hist.opened.alert", { alert: alert() });
      if (d.parent) return hub(d.down === "alert" ? "hist.opened.parentAlert" : "hist.opened.parentOffline", { parent: d.parent });
      if (d.source === "resident") return people("hist.opened.resident", {}, null);
      if (d.source === "operator") return people("hist.opened.operator", {}, null);
      break;
    case "dispatched": {
      const team = strong(teamName(d.team));
      if (d.route === "route") return hub("hist.dispatched.route", { team, name: d.route_name || "" });
      if (d.route === "rule") return hub("hist.dispatched.rule", { team });
      if (d.route === "default") return hub("hist.dispatched.default", { team });
      if (d.team) return hub("hist.dispatched", { team });
      break;
    }
    case "assigned":
      if (d.team) return people("hist.assigned", { from: teamName(d.previous_team), team: strong(teamName(d.team)) }, "note" in d ? d.note : null);
      break;
    case "claimed":
      return people(d.team ? "hist.claimed" : "hist.acknowledged", { team: teamName(d.team) }, null);
    case "acknowledged": return people("hist.acknowledged");
    case "started": return people("hist.started");
    case "resolved": return people("hist.resolved");
    case "closed": return people("hist.closed");
    case "reopened": return people("hist.reopened", { n: d.rework_count || 1 });
    case "cancelled": return people("hist.cancelled");
    case "withdrawn": return people("hist.withdrawn");
    case "called":
      if (d.organisation) return people("hist.called", { org: strong(organisationName(c, d.organisation)), at: timeEl(d.respond_by) });
      break;
    case "call_answered":
      if (d.organisation && d.answer) return people(`hist.callAnswered.${d.answer}`, { org: strong(organisationName(c, d.organisation)) });
      break;
    case "call_escalated":
      if (d.organisation) return hub("hist.callEscalated", { org: strong(organisationName(c, d.organisation)), at: timeEl(d.respond_by) });
      break;
    case "handed_back":
      if (d.team) return people("hist.handedBack", { from: teamName(d.previous_team), team: strong(teamName(d.team)) });
      break;
    case "commented": return people("hist.commented");
    case "confirmed_on_site": return people("hist.confirmedOnSite");
    case "merged": {
      const into = caseLink(d.surviving_case_id);
      if (d.why?.code === "same_device") return hub("hist.merged.sameDevice", { into, device: d.why.device_id });
      if (d.why?.code === "same_place") return hub("hist.merged.samePlace", { into, building: d.why.building || "–" });
      if (d.surviving_case_id) return people("hist.merged", { into }, "note" in d ? d.note : null);
      break;
    }
    case "merge_received":
      if (d.merged_case_id) {
        const vars = { case: caseLink(d.merged_case_id), source: label("source", d.source || "resident") };
        return e.actor === SYSTEM ? hub("hist.mergeReceived.auto", vars) : people("hist.mergeReceived", vars, d.note);
      }
      break;
    case "split":
      if (d.surviving_case_id) return people("hist.split", { from: caseLink(d.surviving_case_id) }, d.note);
      break;
    case "merge_undone":
      if (d.merged_case_id) return people("hist.mergeUndone", { case: caseLink(d.merged_case_id) }, d.note);
      break;
    case "absorbed":
      if (d.into && d.parent) return hub("hist.folded", { into: caseLink(d.into), parent: d.parent });
      if (d.into && d.storm) return hub(d.storm === "outage" ? "hist.folded.outage" : "hist.folded.storm", { into: caseLink(d.into) });
      if (d.into) return hub("hist.absorbed", { into: caseLink(d.into) });
      break;
    case "case_absorbed":
      if (d.case_id && d.storm) return hub("hist.caseAbsorbed.storm", { case: caseLink(d.case_id), device: d.device_id || "–" });
      if (d.case_id) return hub("hist.caseAbsorbed", { case: caseLink(d.case_id), device: d.device_id || "–", parent: d.parent || "–" });
      break;
    case "alert_joined":
      if (d.alert_id) return hub(d.correlated ? "hist.alertJoined.correlated" : "hist.alertJoined", { alert: alert() });
      break;
    case "alerts_joined":
      if (d.count) return hub(d.storm === "outage" ? "hist.alertsJoined.outage" : "hist.alertsJoined.storm", { n: d.count });
      break;
    case "storm_over":
      return hub("hist.stormOver", { n: d.count || 0 });
    case "stragglers_split":
      if (d.case_ids) return hub("hist.stragglersSplit", { n: d.case_ids.length, cases: h("span", {}, ...d.case_ids.flatMap((id, i) => (i ? [", ", caseLink(id)] : [caseLink(id)]))) });
      break;
    case "alert_cleared":
      if (d.alert_id) {
        const a = alertOf(d.alert_id);
        return hub("hist.alertCleared", { alert: alert(), reason: clearReason(d.why, a?.clear_reason) });
      }
      break;
    case "alert_suppressed":
      if (d.alert_id) return hub(d.down === "alert" ? "hist.suppressed.parentAlert" : "hist.suppressed.parentOffline", { alert: alert(), parent: d.parent });
      break;
    case "alert_no_data":
      if (d.alert_id) {
        const cause = { offline: t("hist.noData.offline"), no_reading: t("hist.noData.noReading"), absence: t("hist.noData.absence") }[d.cause] || "";
        return hub("hist.noData", { alert: alert(), since: d.last_reading_at ? clock(d.last_reading_at) : "–", cause });
      }
      break;
    case "alert_data_back":
      if (d.alert_id) return hub("hist.dataBack", { alert: alert() });
      break;
    case "escalated":
      if (d.level) {
        return hub("hist.escalated", {
          level: strong(label("escalation", d.level)),
          deadline: t(`hist.deadline.${d.deadline === "ack" ? "ack" : "resolve"}`),
          due: d.due_at ? when(d.due_at) : "–",
        });
      }
      break;
    case "reporter_notified":
      if (d.merged_case_id) return hub("hist.reporterNotified", { case: caseLink(d.merged_case_id) });
      break;
    case "suspension_requested": return people("hist.suspensionRequested", {}, d.reason ?? e.note);
    case "suspended":
      return d.self_approved || !d.requested_by || d.requested_by === e.actor
        ? people("hist.suspended", {}, d.reason ?? e.note)
        : people("hist.suspensionApproved", { by: d.requested_by }, d.reason ?? e.note);
    case "suspension_declined": return people("hist.suspensionDeclined", { by: d.requested_by || "–" });
    case "resumed":
      return people("hist.resumed", { duration: duration(d.suspended_seconds || 0) }, "note" in d ? d.note : null);
    case "extension_requested":
      return people("hist.extensionRequested", { limit: d.extend_by ? label("limit", d.extend_by) : "–" }, d.reason ?? e.note);
    case "deadline_extended": {
      const to = d.to ? when(d.to) : "–";
      const note = "reason" in d ? d.reason : null;
      return d.self_approved || !d.requested_by || d.requested_by === e.actor
        ? people("hist.extended", { to }, note)
        : people("hist.extensionApproved", { to, by: d.requested_by }, note);
    }
    case "extension_declined": return people("hist.extensionDeclined", { by: d.requested_by || "–" });
    case "evidence_added":
      if (d.kind === "photo") return people("hist.evidencePhoto", {}, d.with_note === false ? null : e.note);
      return people("hist.evidenceNote");
    case "rated":
      if ("stars" in d) return people("hist.rated", { stars: d.stars }, d.comment);
      break;
    default:
  }
  // A kind of entry this page does not know yet: its name, who, and the hub's note as it stands.
  return { text: [label("event", e.action), " · ", who], note: e.note || null };
}

/** The history list: newest last, each entry with its time as "14:05, 3 min ago". */
export function historyList(c) {
  return h("ol", { class: "history-list" }, c.history.map((e) => {
    const { text, note } = describe(e, c);
    return h("li", { class: [`event-${e.action}`, e.actor === SYSTEM ? "by-hub" : "by-person"], dataset: { action: e.action } },
      timeEl(e.at), " ", h("span", { class: "what" }, text),
      note ? h("p", { class: "note" }, note) : null);
  }));
}
