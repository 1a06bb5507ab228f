// The dashboard: log-in, role-based navigation and a hash router over the views in js/views/. Plain ES
// modules, no framework and no build step; the hub serves these files as they are.
import "./js/locales/base.js";
import { alarmTitle, render as renderAlarms, startAlarms, stopAlarms } from "./js/alarm.js";
import { ApiError, api, onUnauthorized, saveSession, session } from "./js/api.js";
import { clear, h, notice } from "./js/dom.js";
import { locale, onLocaleChange, setLocale, t } from "./js/i18n.js";
import { connect, disconnect, liveState, onLiveState } from "./js/live.js";
import { setSound, soundOn, unlock } from "./js/sound.js";
import { caseView } from "./js/views/case.js";
import { deviceView } from "./js/views/device.js";
import { kpisView } from "./js/views/kpis.js";
import { mineView } from "./js/views/mine.js";
import { planView } from "./js/views/plan.js";
import { publicView, recentCommunities } from "./js/views/public.js";
import { queueView } from "./js/views/queue.js";
import { reportView } from "./js/views/report.js";
// ADMIN-BEGIN: the Admin section (js/views/admin/section.js); each area adds its pages here in one line
import { adminRoutes } from "./js/views/admin/section.js";
import { devicePages } from "./js/views/admin/device-routes.js";
import { opsPages } from "./js/views/admin/ops.js";
import { peoplePages } from "./js/views/admin/people.js";
const ADMIN = adminRoutes([...peoplePages, ...devicePages, ...opsPages]);
// ADMIN-END

const STAFF = ["admin", "operator", "manager"];
// An organisation's member: its own cases' queue and case pages, nothing else (the hub refuses the rest).
const MEMBER = "member";
const ROUTES = [
  { pattern: /^#\/queue$/, view: queueView, roles: [...STAFF, MEMBER], nav: "queue" },
  { pattern: /^#\/case\/(\d+|[^/]+)$/, view: caseView, roles: [...STAFF, "resident", MEMBER], nav: "queue" },
  { pattern: /^#\/plan(?:\/([^/]+))?$/, view: planView, roles: STAFF, nav: "plan" },
  { pattern: /^#\/device\/([^/]+)$/, view: deviceView, roles: [...STAFF, "resident"], nav: "plan" },
  { pattern: /^#\/report$/, view: reportView, roles: ["resident", "admin", "operator"], nav: "report" },
  { pattern: /^#\/mine$/, view: mineView, roles: ["resident"], nav: "mine" },
  { pattern: /^#\/kpis$/, view: kpisView, roles: STAFF, nav: "kpis" },
  ...ADMIN,
];
// Open to everyone, logged in or not.
const PUBLIC = /^#\/public\/([^/]+)$/;
const NAV = {
  admin: ["queue", "plan", "kpis"],
  operator: ["queue", "plan", "kpis", "report"],
  manager: ["queue", "plan", "kpis"],
  resident: ["mine", "report"],
  integration: [],
  member: ["queue"],
};
const HOME = { resident: "#/mine", integration: "#/integration" };
const navOf = (role) => [...(NAV[role] || []), ...(ADMIN.some((r) => r.roles.includes(role)) ? ["admin"] : [])];

const main = document.getElementById("view");
const alarmBar = document.getElementById("alarms");
const nav = document.getElementById("nav");
const tools = document.getElementById("tools");
let cleanup = () => {};
let loginMessage = null;

/** The critical-case alarm runs for staff while they are logged in, whatever page they are on. */
function startShell(user) {
  connect();
  if (STAFF.includes(user.role)) startAlarms(alarmBar, user);
}

const navigate = (hash) => {
  if (location.hash === hash) route();
  else location.hash = hash;
};

function renderHeader() {
  const s = session();
  document.title = alarmTitle(t("app.title"));
  document.getElementById("app-title").textContent = t("app.title");
  const current = ROUTES.find((r) => r.pattern.test(location.hash))?.nav;
  clear(nav, s ? navOf(s.user.role).map((n) =>
    h("a", { href: `#/${n}`, class: n === current ? "active" : null, "aria-current": n === current ? "page" : null, dataset: { nav: n } }, t(`nav.${n}`))) : null);
  const live = h("span", { id: "live", class: `live live-${liveState()}`, role: "status" }, liveState() === "sse" ? t("live.sse") : t("live.poll"));
  const sound = s && STAFF.includes(s.user.role)
    ? h("button", { type: "button", id: "sound", class: "btn btn-plain", "aria-pressed": String(soundOn()), onclick: () => { setSound(!soundOn()); renderHeader(); } },
      soundOn() ? t("sound.on") : t("sound.off"))
    : null;
  const lang = h("button", { type: "button", id: "locale", class: "btn btn-plain", lang: locale() === "zh" ? "en" : "zh", "aria-label": t("locale.switchLabel"),
    onclick: () => setLocale(locale() === "zh" ? "en" : "zh") }, t("locale.switch"));
  const login = !s && PUBLIC.test(location.hash) ? h("a", { href: "#/login", id: "login-link", class: "btn btn-plain" }, t("login.title")) : null;
  clear(tools, s ? live : null, sound, lang, login,
    s ? h("span", { id: "who" }, `${s.user.username} (${s.user.role})`) : null,
    s ? h("button", { type: "button", id: "logout", class: "btn btn-plain", onclick: logout }, t("nav.logout")) : null);
}

function showLogin() {
  cleanup();
  cleanup = () => {};
  renderHeader();
  const error = h("p", { id: "login-error", role: "alert" }, loginMessage || "");
  const form = h("form", { id: "login", class: "login", onsubmit: async (ev) => {
    ev.preventDefault();
    unlock();
    const data = Object.fromEntries(new FormData(form));
    try {
      const tok = await api("/auth/login", { method: "POST", body: { username: data.username, password: data.password } });
      saveSession({ token: tok.access_token, expires_at: tok.expires_at, user: { username: data.username, role: tok.role, communities: [] } });
      const me = await api("/auth/me");
      saveSession({ token: tok.access_token, expires_at: tok.expires_at, user: me });
      loginMessage = null;
      startShell(me);
      const wanted = ROUTES.find((r) => r.pattern.test(location.hash) && r.roles.includes(me.role));
      navigate(wanted ? location.hash : HOME[me.role] || "#/queue");
    } catch (err) {
      saveSession(null);
      error.textContent = t("login.failed", { msg: err instanceof ApiError ? err.message : String(err) });
    }
  } },
  h("h2", {}, t("login.title")),
  h("label", { class: "field" }, h("span", {}, t("login.user")), h("input", { name: "username", autocomplete: "username", required: true })),
  h("label", { class: "field" }, h("span", {}, t("login.password")), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  h("button", { type: "submit", class: "btn btn-primary" }, t("login.submit")),
  error);
  clear(main, form, publicEntry());
  form.elements.username.focus();
}

/** The way to a community's public figures, which need no log-in. */
function publicEntry() {
  const input = h("input", { name: "community", required: true, maxlength: 100, autocomplete: "off", "aria-label": t("public.community"), placeholder: t("public.community") });
  const recent = recentCommunities();
  return h("section", { class: "public-entry", id: "public-entry" },
    h("h2", {}, t("public.entry")),
    h("p", { class: "muted" }, t("public.entryHint")),
    recent.length ? h("ul", { class: "recent" }, recent.map((c) => h("li", {}, h("a", { href: `#/public/${encodeURIComponent(c)}` }, c)))) : null,
    h("form", { class: "inline-form", onsubmit: (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      if (value) navigate(`#/public/${encodeURIComponent(value)}`);
    } }, input, h("button", { type: "submit", class: "btn" }, t("public.show"))));
}

function showPublic(match) {
  cleanup();
  renderHeader();
  main.replaceChildren();
  cleanup = publicView(main, { params: match.slice(1), navigate }) || (() => {});
}

function logout() {
  const s = session();
  saveSession(null);
  disconnect();
  stopAlarms();
  if (s) sessionStorage.clear();
  location.hash = "#/login";
  showLogin();
}

function route() {
  const publicPage = (location.hash || "").match(PUBLIC);
  if (publicPage) { showPublic(publicPage); return; }
  const s = session();
  if (!s) { showLogin(); return; }
  cleanup();
  cleanup = () => {};
  const hash = location.hash || "";
  if (hash === "#/integration" || s.user.role === "integration") {
    renderHeader();
    clear(main, notice(t("integration.note")));
    return;
  }
  const found = ROUTES.map((r) => ({ r, m: hash.match(r.pattern) })).find((x) => x.m);
  if (!found || !found.r.roles.includes(s.user.role)) {
    location.replace(HOME[s.user.role] || "#/queue");
    return;
  }
  renderHeader();
  main.replaceChildren();
  cleanup = found.r.view(main, { user: s.user, params: found.m.slice(1), navigate }) || (() => {});
  main.focus({ preventScroll: true });
}

onUnauthorized(() => {
  if (!session()) return;
  saveSession(null);
  disconnect();
  stopAlarms();
  loginMessage = t("login.expired");
  showLogin();
});
onLiveState(() => { if (session()) renderHeader(); });
onLocaleChange(() => { renderAlarms(); route(); });
window.addEventListener("hashchange", route);
document.documentElement.lang = locale() === "zh" ? "zh-CN" : "en";

if (session()) startShell(session().user);
route();
