// The critical-case alarm, part of the shell (app.js) so it reaches a staff member on every page: a bar
// under the header lists each critical case nobody has acknowledged yet, and its sound repeats until the
// case is acknowledged — by anyone, anywhere — or this operator silences that alarm. Fed by the live
// event stream (js/live.js), and by a look at the queue on a timer (faster while the stream is down), so
// a missed event or a closed laptop lid never leaves an alarm standing or missing.
import { actionBar } from "./actions.js";
import { api } from "./api.js";
import { ago, clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { liveState, onCaseEvent, onLiveState } from "./live.js";
import "./locales/wall.js";
import { caseTitle } from "./names.js";
import { beep } from "./sound.js";

const UNACKNOWLEDGED = ["new", "dispatched"];
export const REPEAT_MS = 4000;
const SHOWN = 3;
const SILENCED = "alarm.silenced";

const alarms = new Map(); // case id → case
const listeners = new Set();
let bar = null;
let user = null;
let ringTimer = 0;
let pollTimer = 0;
let stop = () => {};

/** The cases alarming now, oldest first. */
/** Newest first: a new fire must show even when older alarms fill the bar. */
export const activeAlarms = () => [...alarms.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
export function onAlarms(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function silencedIds() {
  try {
    const ids = JSON.parse(localStorage.getItem(SILENCED) || "[]");
    return new Set(Array.isArray(ids) ? ids : []);
  } catch {
    return new Set();
  }
}
export const isSilenced = (id) => silencedIds().has(id);

/** Mute one alarm's sound in this browser; the bar keeps showing it until it is acknowledged. */
export function silence(id) {
  const ids = silencedIds();
  ids.add(id);
  // Only ids still alarming are kept, so the list never grows.
  localStorage.setItem(SILENCED, JSON.stringify([...ids].filter((x) => alarms.has(x))));
  changed(false);
}

/** The page title, with the number of alarms in front while there are any (seen on a background tab). */
export const alarmTitle = (title) => (alarms.size ? `(${alarms.size}) ${title}` : title);

const alarming = (c) => c.severity === "critical" && UNACKNOWLEDGED.includes(c.status);

function changed(fresh) {
  render();
  document.title = alarmTitle(t("app.title"));
  for (const fn of listeners) fn();
  if (fresh) ring();
}

function upsert(c) {
  const had = alarms.has(c.id);
  if (alarming(c)) alarms.set(c.id, c);
  else alarms.delete(c.id);
  changed(!had && alarms.has(c.id));
}

async function poll() {
  clearTimeout(pollTimer);
  try {
    const pages = await Promise.all(UNACKNOWLEDGED.map((status) => api("/cases", { query: { status, limit: 500 } })));
    if (!user) return;
    const rows = pages.flat().filter(alarming);
    const ids = new Set(rows.map((c) => c.id));
    const fresh = rows.some((c) => !alarms.has(c.id));
    for (const id of [...alarms.keys()]) if (!ids.has(id)) alarms.delete(id);
    for (const c of rows) alarms.set(c.id, c);
    changed(fresh);
  } catch { /* the next look tries again */ }
  if (user) pollTimer = setTimeout(poll, liveState() === "sse" ? 30000 : 5000);
}

async function onEvent(ev) {
  if (ev.severity !== "critical" && !alarms.has(ev.case_id)) return;
  if (ev.to_status && !UNACKNOWLEDGED.includes(ev.to_status)) {
    if (alarms.delete(ev.case_id)) changed(false);
    return;
  }
  try {
    upsert(await api(`/cases/${ev.case_id}`));
  } catch (err) {
    if (err.status === 404 && alarms.delete(ev.case_id)) changed(false);
  }
}

/** Sound now, then every REPEAT_MS while an alarm is not silenced. */
function ring() {
  clearTimeout(ringTimer);
  if (!user) return;
  const silenced = silencedIds();
  if (activeAlarms().some((c) => !silenced.has(c.id))) {
    beep();
    ringTimer = setTimeout(ring, REPEAT_MS);
  }
}

export function render() {
  if (!bar) return;
  const list = activeAlarms();
  const silenced = silencedIds();
  bar.hidden = list.length === 0;
  bar.classList.toggle("alarms-silenced", list.every((c) => silenced.has(c.id)));
  clear(bar, list.length ? [
    h("ul", {}, list.slice(0, SHOWN).map((c) => h("li", { class: ["alarm", silenced.has(c.id) && "silenced"], dataset: { caseId: c.id } },
      h("strong", {}, t("alarm.critical")), " ",
      h("a", { href: `#/case/${c.id}` }, `#${c.id} ${caseTitle(c)}`), " ",
      h("span", { class: "alarm-where" }, [c.community_id, c.building, c.device_id].filter(Boolean).join(" · "), " · ", ago(c.created_at)),
      h("span", { class: "alarm-actions" },
        actionBar(c, user.role, upsert, { only: ["acknowledge"] }),
        silenced.has(c.id) ? h("span", { class: "alarm-muted" }, t("alarm.muted"))
          : h("button", { type: "button", class: "btn btn-plain alarm-silence", onclick: () => silence(c.id) }, t("alarm.silence")))))),
    list.length > SHOWN ? h("p", {}, h("a", { href: "#/queue" }, t("alarm.more", { n: list.length - SHOWN }))) : null,
  ] : null);
}

/** Start for a logged-in staff member; `container` is the shell's alarm bar. */
export function startAlarms(container, who) {
  stopAlarms();
  bar = container;
  user = who;
  const offEvent = onCaseEvent(onEvent);
  const offState = onLiveState((state) => { if (state === "sse") poll(); });
  stop = () => { offEvent(); offState(); };
  poll();
}

export function stopAlarms() {
  stop();
  stop = () => {};
  user = null;
  clearTimeout(ringTimer);
  clearTimeout(pollTimer);
  alarms.clear();
  render();
}
