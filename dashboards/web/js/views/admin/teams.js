// Admin: teams. The list (names in both languages, communities served, members, open cases, whether the
// routing file or a rule sends cases to it, and teams that work by their id alone) with a form for a new
// team; a team's page to change its names and communities, add and remove members, or delete it when
// unused. Managers see the teams of their communities and change those serving only their own.
import { api } from "../../api.js";
import { badge, clear, h, notice, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { loadTeamNames, teamName } from "../../teams.js";
import "../../locales/admin.js";
import { cardTable, checkedValues, communityChecks, communityNames, confirmButton, createButtons, field, formError, formOpener, listed, notFoundPage } from "./common.js";

const HANDLERS = new Set(["admin", "operator", "manager"]);

function namesFields(team = {}) {
  return [
    field(t("admin.nameEn"), h("input", { name: "name_en", required: true, maxlength: 100, value: team.name_en || "", lang: "en" })),
    field(t("admin.nameZh"), h("input", { name: "name_zh", required: true, maxlength: 100, value: team.name_zh || "", lang: "zh" })),
  ];
}

function namesOf(form) {
  return { name_en: form.elements.name_en.value.trim(), name_zh: form.elements.name_zh.value.trim() };
}

function configuredBadges(team) {
  return [
    team.named_by.map((where) => badge("namedBy", where)),
    team.in_table ? null : badge("record", "none"),
  ];
}

export function teamsView(root, { user }) {
  let stopped = false;
  let communities = [];
  const list = h("div", { id: "team-list" });
  const count = h("span", { class: "count" });
  const opener = formOpener("new-team", t("admin.teams.new"), createForm);
  clear(root, h("section", { class: "view-admin view-teams" },
    h("div", { class: "toolbar" }, h("h2", {}, t("admin.teams.title")), count, opener.button),
    h("p", { class: "muted" }, t(user.role === "manager" ? "admin.teams.managerNote" : "admin.teams.note")),
    opener.box, list));

  function createForm(close) {
    const error = formError();
    const form = h("form", { class: "admin-form", id: "team-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { id: form.elements.id.value.trim(), ...namesOf(form), communities: checkedValues(form, "communities") };
      try {
        const made = await api("/teams", { method: "POST", body });
        await loadTeamNames({ fresh: true });
        toast(t("admin.teams.created", { team: teamName(made.team) }), "ok");
        close();
        load();
      } catch (err) { error.textContent = err.message; }
    } },
    h("h3", {}, t("admin.teams.new")),
    field(t("admin.teams.id"), h("input", { name: "id", required: true, maxlength: 64, pattern: "[a-z0-9][a-z0-9_.\\-]{0,63}", autocomplete: "off", autocapitalize: "none" }), t("admin.teams.idHint")),
    namesFields(),
    communityChecks(communities, user.role === "manager" && communities.length === 1 ? [communities[0].id] : []),
    h("p", { class: "muted" }, t(user.role === "manager" ? "admin.teams.communitiesManager" : "admin.teams.communitiesHint")),
    createButtons(close),
    error);
    return form;
  }

  async function load() {
    let teams;
    try {
      [teams, communities] = await Promise.all([api("/teams"), api("/communities"), loadTeamNames()]);
    } catch (err) {
      if (!stopped && err.status !== 401) clear(list, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    count.textContent = t("admin.teams.count", { n: teams.length });
    const where = communityNames(communities);
    const columns = [["team", t("admin.team")], ["communities", t("admin.teams.serves")], ["members", t("admin.teams.members")], ["open", t("admin.teams.openCases")], ["config", t("admin.teams.sentBy")]];
    clear(list, cardTable(columns, teams, (tm) => ({
      team: [h("a", { href: `#/admin/teams/${encodeURIComponent(tm.team)}` }, teamName(tm.team)),
        h("small", {}, [tm.team, tm.in_table ? (tm.name_en === teamName(tm.team) ? tm.name_zh : tm.name_en) : null, tm.editable ? null : t("admin.readOnly")].filter(Boolean).join(" · "))],
      communities: where(tm.communities),
      members: listed(tm.members),
      open: String(tm.open_cases),
      config: configuredBadges(tm),
    }), { rowAttrs: (tm) => ({ dataset: { team: tm.team, inTable: String(tm.in_table), editable: String(tm.editable) } }) }));
  }

  load();
  return () => { stopped = true; };
}

export function teamView(root, { user, params }) {
  const team = decodeURIComponent(params[0]);
  const path = `/teams/${encodeURIComponent(team)}`;
  const back = h("a", { href: "#/admin/teams", class: "back" }, `← ${t("admin.teams.title")}`);
  let communities = [];
  let people = [];
  clear(root, notice(t("common.loading")));

  async function load() {
    let teams;
    try {
      [teams, communities, people] = await Promise.all([
        api("/teams"), api("/communities"), api("/users", { query: { state: "active", limit: 500 } }), loadTeamNames({ fresh: true }),
      ]);
    } catch (err) {
      if (err.status !== 401) clear(root, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    const found = teams.find((x) => x.team === team);
    if (!found) {
      notFoundPage(root, back, t("admin.teams.notFound", { team }));
      return;
    }
    render(found);
  }

  function render(tm) {
    const where = communityNames(communities);
    const facts = [
      [t("admin.teams.id"), tm.team],
      [t("admin.nameEn"), tm.name_en || "–"],
      [t("admin.nameZh"), tm.name_zh || "–"],
      [t("admin.teams.serves"), where(tm.communities)],
      [t("admin.teams.openCases"), String(tm.open_cases)],
      [t("admin.teams.sentBy"), tm.named_by.length || !tm.in_table ? configuredBadges(tm) : "–"],
    ];
    clear(root, h("section", { class: "view-admin view-team", dataset: { team: tm.team } },
      back,
      h("div", { class: "toolbar" }, h("h2", {}, teamName(tm.team))),
      tm.in_table ? null : notice(t("admin.teams.noRecord")),
      h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      tm.editable ? recordForm(tm) : notice(t("admin.teams.readOnly")),
      members(tm),
      tm.editable && tm.in_table && !tm.members.length && !tm.named_by.length ? h("section", { class: "danger-zone" }, h("h3", {}, t("admin.teams.delete")),
        h("p", { class: "muted" }, t("admin.teams.deleteHint")),
        confirmButton(t("admin.teams.delete"), t("admin.teams.confirmDelete"), { class: "btn btn-danger", dataset: { act: "delete" } }, async () => {
          try {
            await api(path, { method: "DELETE" });
            await loadTeamNames({ fresh: true });
            toast(t("admin.teams.deleted", { team: tm.team }), "ok");
            location.hash = "#/admin/teams";
          } catch (err) { toast(err.message, "error"); }
        })) : null));
  }

  function recordForm(tm) {
    const error = formError();
    const form = h("form", { class: "admin-form", id: "team-record", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { ...namesOf(form), communities: checkedValues(form, "communities") };
      try {
        if (tm.in_table) await api(path, { method: "PATCH", body });
        else await api("/teams", { method: "POST", body: { id: tm.team, ...body } });
        toast(t("admin.saved"), "ok");
        load();
      } catch (err) { error.textContent = err.message; }
    } },
    h("h3", {}, t(tm.in_table ? "admin.teams.change" : "admin.teams.giveNames")),
    namesFields(tm),
    communityChecks(communities, tm.communities),
    h("p", { class: "muted" }, t(user.role === "manager" ? "admin.teams.communitiesManager" : "admin.teams.communitiesHint")),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("admin.save"))), error);
    return form;
  }

  function members(tm) {
    const rows = tm.members.map((name) => h("li", { dataset: { member: name } }, h("span", {}, name),
      tm.editable ? h("button", { type: "button", class: "btn btn-plain", "aria-label": t("admin.teams.removeMember", { user: name }), onclick: async () => {
        try {
          await api(`${path}/members/${encodeURIComponent(name)}`, { method: "DELETE" });
          toast(t("admin.teams.removed", { user: name }), "ok");
          load();
        } catch (err) { toast(err.message, "error"); }
      } }, t("admin.remove")) : null));
    const candidates = people.filter((p) => HANDLERS.has(p.role) && !tm.members.includes(p.username));
    const error = formError();
    const input = h("input", { name: "username", required: true, list: "member-candidates", maxlength: 100, autocomplete: "off", autocapitalize: "none", "aria-label": t("admin.username"), placeholder: t("admin.username") });
    const add = tm.editable ? h("form", { class: "inline-form", id: "add-member", onsubmit: async (ev) => {
      ev.preventDefault();
      const name = input.value.trim();
      try {
        await api(`${path}/members/${encodeURIComponent(name)}`, { method: "PUT" });
        toast(t("admin.teams.added", { user: name }), "ok");
        load();
      } catch (err) { error.textContent = err.message; }
    } }, input,
    h("datalist", { id: "member-candidates" }, candidates.map((p) => h("option", { value: p.username, label: p.display_name ? `${p.display_name} (${p.role})` : p.role }))),
    h("button", { type: "submit", class: "btn" }, t("admin.teams.addMember"))) : null;
    return h("section", { class: "members" }, h("h3", {}, t("admin.teams.members")),
      rows.length ? h("ul", { class: "item-list", id: "members" }, rows) : notice(t("admin.teams.noMembers")),
      add, tm.editable ? h("p", { class: "muted" }, t("admin.teams.membersHint")) : null, error);
  }

  load();
}
