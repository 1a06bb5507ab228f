// Admin: user accounts. The list with search and a form for a new account (a generated password is shown
// once); an account's page to change its role, communities and display name, disable or enable it, reset
// its password and end its sessions. Managers see the accounts of their communities and manage residents.
import { api } from "../../api.js";
import { badge, clear, fmtTime, h, label, notice, toast } from "../../dom.js";
import { locale, t } from "../../i18n.js";
import { loadTeamNames, teamName } from "../../teams.js";
import "../../locales/admin.js";
import { ALL_COMMUNITIES, ROLES, cardTable, checkedValues, communityChecks, communityNames, confirmButton, createButtons, field, formError, formOpener, listed, notFoundPage, secretNotice } from "./common.js";

const PAGE = 100;

/** An organisation's name in the reader's language. */
const orgName = (o) => (locale() === "zh" ? o.name_zh : o.name_en);

/** Role, community and organisation fields that follow each other: roles that see every community have
 * none; a member has its organisation's, so it names the organisation instead — chosen when the account
 * is created and kept for good (an existing member stays a member, no other account becomes one). */
function accountFields(user, communities, current, organisations = Promise.resolve([])) {
  const existing = Boolean(current.username);
  let roles = user.role === "admin" ? ROLES : ["resident"];
  if (existing) roles = current.role === "member" ? ["member"] : roles.filter((r) => r !== "member");
  const role = h("select", { name: "role", onchange: () => sync() },
    roles.map((r) => h("option", { value: r, selected: r === current.role }, label("role", r))));
  const checks = communityChecks(communities, current.communities);
  const org = h("select", { name: "organisation", disabled: existing });
  if (existing) org.append(h("option", { value: current.organisation, selected: true }, current.organisation));
  else organisations.then((rows) => org.append(...rows.map((o) => h("option", { value: o.id }, orgName(o)))));
  const organisation = field(t("admin.organisation"), org, existing ? null : t("admin.organisationHint"));
  organisation.classList.add("member-organisation");
  const sync = () => {
    checks.hidden = ALL_COMMUNITIES.has(role.value) || role.value === "member";
    organisation.hidden = role.value !== "member";
  };
  sync();
  const value = (form) => {
    if (role.value !== "member") return { role: role.value, communities: ALL_COMMUNITIES.has(role.value) ? [] : checkedValues(form, "communities") };
    return { role: "member", communities: [], ...(existing ? {} : { organisation: org.value || null }) };
  };
  return { role, checks, organisation, value };
}

/** Where an account works: every community, its communities, or its organisation's (a member). */
function whereOf(u, where) {
  if (u.role === "member") return t("admin.memberOf", { org: u.organisation || "–" });
  return ALL_COMMUNITIES.has(u.role) ? t("admin.everyCommunity") : where(u.communities);
}

export function usersView(root, { user }) {
  let stopped = false;
  let debounce = 0;
  let limit = PAGE;
  let communities = [];
  // Only admins create members, so only they read the organisations (once, when the form first opens).
  let organisations = null;
  const count = h("span", { class: "count" });
  const list = h("div", { id: "user-list" });
  const result = h("div", { class: "result" });
  const q = h("input", { type: "search", name: "q", maxlength: 100, placeholder: t("admin.users.search"), "aria-label": t("admin.users.search"),
    oninput: () => { clearTimeout(debounce); debounce = setTimeout(() => { limit = PAGE; load(); }, 250); } });
  const role = h("select", { name: "role", "aria-label": t("admin.role"), onchange: () => load() },
    h("option", { value: "" }, t("admin.users.anyRole")), ROLES.map((r) => h("option", { value: r }, label("role", r))));
  const state = h("select", { name: "state", "aria-label": t("admin.users.state"), onchange: () => load() },
    ["", "active", "disabled"].map((s) => h("option", { value: s }, t(`admin.users.state.${s || "any"}`))));
  const opener = formOpener("new-user", t("admin.users.new"), createForm);

  clear(root, h("section", { class: "view-admin view-users" },
    h("div", { class: "toolbar" }, h("h2", {}, t("admin.users.title")), count, opener.button),
    user.role === "manager" ? h("p", { class: "muted" }, t("admin.users.managerNote")) : null,
    opener.box, result,
    h("form", { class: "filters", role: "search", onsubmit: (ev) => { ev.preventDefault(); load(); } }, q, role, state),
    list));

  function orgs() {
    if (user.role !== "admin") return Promise.resolve([]);
    organisations ??= api("/organisations").catch(() => { organisations = null; return []; });
    return organisations;
  }

  function createForm(close) {
    const fields = accountFields(user, communities, { role: user.role === "admin" ? "operator" : "resident", communities: communities.length === 1 ? [communities[0].id] : [] }, orgs());
    const password = h("input", { type: "password", name: "password", minlength: 10, maxlength: 200, autocomplete: "new-password", hidden: true, "aria-label": t("admin.password") });
    const mode = h("select", { name: "mode", "aria-label": t("admin.password"), onchange: () => { password.hidden = mode.value !== "set"; password.required = !password.hidden; } },
      h("option", { value: "generate" }, t("admin.password.generate")), h("option", { value: "set" }, t("admin.password.set")));
    const error = formError();
    const form = h("form", { class: "admin-form", id: "user-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      const body = {
        username: String(data.get("username")).trim(),
        display_name: String(data.get("display_name")).trim() || null,
        ...fields.value(form),
        ...(mode.value === "set" ? { password: password.value } : {}),
      };
      try {
        const made = await api("/users", { method: "POST", body });
        close();
        clear(result, made.password ? secretNotice(made.user.username, made.password) : notice(t("admin.users.created", { user: made.user.username }), "ok"),
          h("p", {}, h("a", { href: `#/admin/users/${encodeURIComponent(made.user.username)}` }, t("admin.users.openNew", { user: made.user.username }))));
        load();
      } catch (err) {
        error.textContent = err.message;
      }
    } },
    h("h3", {}, t("admin.users.new")),
    field(t("admin.username"), h("input", { name: "username", required: true, maxlength: 64, pattern: "[a-z0-9][a-z0-9_.@\\-]{0,63}", autocomplete: "off", autocapitalize: "none" }), t("admin.usernameHint")),
    field(t("admin.displayName"), h("input", { name: "display_name", maxlength: 100, autocomplete: "off" })),
    field(t("admin.role"), fields.role),
    fields.checks,
    fields.organisation,
    field(t("admin.password"), mode), password,
    createButtons(close),
    error);
    return form;
  }

  async function load() {
    let rows;
    let total;
    try {
      const query = { q: q.value.trim(), role: role.value, state: state.value, limit };
      const response = await api("/users", { query, raw: true });
      [rows, communities] = await Promise.all([response.json(), communities.length ? communities : api("/communities"), loadTeamNames()]);
      total = Number(response.headers.get("X-Total-Count") || rows.length);
    } catch (err) {
      if (!stopped && err.status !== 401) clear(list, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    count.textContent = t("admin.users.count", { n: total });
    const where = communityNames(communities);
    const columns = [["user", t("admin.user")], ["role", t("admin.role")], ["communities", t("admin.communities")], ["teams", t("admin.teams")], ["state", t("admin.users.state")], ["sessions", t("admin.sessions")]];
    clear(list, rows.length ? cardTable(columns, rows, (u) => ({
      user: [h("a", { href: `#/admin/users/${encodeURIComponent(u.username)}` }, u.username), u.display_name ? h("small", {}, u.display_name) : null],
      role: badge("role", u.role),
      communities: whereOf(u, where),
      teams: listed(u.teams.map(teamName)),
      state: u.disabled ? badge("account", "disabled") : badge("account", "active"),
      sessions: String(u.sessions),
    }), { rowAttrs: (u) => ({ dataset: { username: u.username }, class: u.disabled ? "disabled-row" : null }) }) : notice(t("admin.users.none")),
    rows.length < total ? h("button", { type: "button", class: "btn", onclick: () => { limit += PAGE; load(); } }, t("admin.more")) : null);
  }

  load();
  return () => { stopped = true; clearTimeout(debounce); };
}

export function userView(root, { user, params }) {
  const username = decodeURIComponent(params[0]);
  const path = `/users/${encodeURIComponent(username)}`;
  let communities = [];
  const result = h("div", { class: "result" });
  const back = h("a", { href: "#/admin/users", class: "back" }, `← ${t("admin.users.title")}`);
  clear(root, notice(t("common.loading")));

  async function load() {
    let found;
    try {
      [found, communities] = await Promise.all([api(path), api("/communities"), loadTeamNames()]);
    } catch (err) {
      if (err.status === 404) notFoundPage(root, back, t("admin.users.notFound", { user: username }));
      else if (err.status !== 401) clear(root, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    render(found);
  }

  function render(u) {
    const where = communityNames(communities);
    const facts = [
      [t("admin.username"), u.username],
      [t("admin.displayName"), u.display_name || "–"],
      [t("admin.role"), badge("role", u.role)],
      [t("admin.communities"), whereOf(u, where)],
      [t("admin.teams"), u.teams.length ? u.teams.map((id) => h("a", { href: `#/admin/teams/${encodeURIComponent(id)}`, class: "chip" }, teamName(id))) : "–"],
      [t("admin.users.state"), u.disabled ? [badge("account", "disabled"), " ", t("admin.users.since", { at: fmtTime(u.disabled_at) })] : badge("account", "active")],
      [t("admin.users.createdAt"), fmtTime(u.created_at)],
      [t("admin.sessions"), String(u.sessions)],
      [t("admin.users.openCases"), String(u.open_cases)],
    ];
    clear(root, h("section", { class: "view-admin view-user", dataset: { username: u.username, disabled: String(u.disabled) } },
      back,
      h("div", { class: "toolbar" }, h("h2", {}, u.display_name ? `${u.display_name} (${u.username})` : u.username)),
      result,
      u.disabled && u.open_cases ? notice(t("admin.users.stillAssigned", { n: u.open_cases }), "error") : null,
      h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      u.manageable ? [editForm(u), accountActions(u)] : u.own ? [notice(t("admin.users.own")), nameForm(u)] : notice(t("admin.users.readOnly"))));
  }

  async function change(body) {
    const updated = await api(path, { method: "PATCH", body });
    toast(t("admin.saved"), "ok");
    render(updated);
  }

  function nameForm(u) {
    const error = formError();
    const form = h("form", { class: "admin-form", onsubmit: async (ev) => {
      ev.preventDefault();
      try { await change({ display_name: form.elements.display_name.value.trim() || null }); } catch (err) { error.textContent = err.message; }
    } },
    field(t("admin.displayName"), h("input", { name: "display_name", maxlength: 100, value: u.display_name || "" })),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("admin.save"))), error);
    return form;
  }

  function editForm(u) {
    const fields = accountFields(user, communities, u);
    const error = formError();
    const form = h("form", { class: "admin-form", id: "account-form", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await change({ display_name: form.elements.display_name.value.trim() || null, ...fields.value(form) });
      } catch (err) { error.textContent = err.message; }
    } },
    h("h3", {}, t("admin.users.change")),
    field(t("admin.displayName"), h("input", { name: "display_name", maxlength: 100, value: u.display_name || "" })),
    field(t("admin.role"), fields.role),
    fields.checks,
    fields.organisation,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("admin.save"))), error);
    return form;
  }

  function accountActions(u) {
    const act = (fn) => async () => {
      try { await fn(); } catch (err) { toast(err.message, "error"); }
    };
    const toggle = u.disabled
      ? confirmButton(t("admin.users.enable"), t("admin.users.confirmEnable"), { dataset: { act: "enable" } }, act(async () => {
        render(await api(`${path}/enable`, { method: "POST" }));
        toast(t("admin.users.enabled"), "ok");
      }))
      : confirmButton(t("admin.users.disable"), t("admin.users.confirmDisable"), { class: "btn btn-danger", dataset: { act: "disable" } }, act(async () => {
        render(await api(`${path}/disable`, { method: "POST" }));
        toast(t("admin.users.disabled"), "ok");
      }));
    const reset = confirmButton(t("admin.users.reset"), t("admin.users.confirmReset"), { dataset: { act: "reset" } }, act(async () => {
      const answer = await api(`${path}/password`, { method: "POST", body: {} });
      render(await api(path));
      clear(result, secretNotice(u.username, answer.password));
    }));
    const end = confirmButton(t("admin.users.endSessions"), t("admin.users.confirmEnd"), { dataset: { act: "end-sessions" } }, act(async () => {
      const answer = await api(`${path}/sessions`, { method: "DELETE" });
      render(await api(path));
      toast(t("admin.users.ended", { n: answer.ended }), "ok");
    }));
    return h("section", { class: "account-actions" }, h("h3", {}, t("admin.users.account")),
      h("div", { class: "actions" }, toggle, reset, end),
      h("p", { class: "muted" }, t("admin.users.actionsHint")));
  }

  load();
}
