// What the hub's records are called in the reader's language: case and alert titles (the hub's Chinese
// title where there is one; people's own titles as they wrote them) and places. Team names: teams.js.
import { locale, t } from "./i18n.js";

const zh = () => locale() === "zh";

/** A case's title: `title_zh` in Chinese where the hub wrote one. */
export const caseTitle = (c) => (zh() && c.title_zh) || c.title;

/** An alert's title, else its rule's id. */
export const alertTitle = (a) => (zh() && a.title_zh) || a.title || a.rule_id;

/** "building b1 · grid g2" */
export function place(x) {
  return [x.building && t("place.building", { id: x.building }), x.grid && t("place.grid", { id: x.grid })]
    .filter(Boolean).join(" · ");
}

/** Where an alert is: its device and place, or for a group alert (a building's, say) the group. */
export function alertWhere(a) {
  if (a.device_id && a.subject === a.device_id) return [a.device_id, place(a)].filter(Boolean).join(" · ");
  const [kind, scope] = String(a.subject).split(":", 2);
  const id = scope && scope.includes("/") ? scope.split("/").pop() : scope;
  return kind in PLACES ? t(PLACES[kind], { id }) : a.subject;
}
const PLACES = { building: "place.building", grid: "place.grid", community: "place.community" };

/** An alert as a history line names it: “Smoke alarm” on dash-a-b1-sd01. */
export function alertName(a) {
  return t("alert.named", { title: alertTitle(a), where: alertWhere(a) });
}
