// Admin: communities and their sites. The list (with a form for a new community, admins only); a
// community's page to change its names, time zone, working calendar and coordinates, and to name its grids
// and buildings (devices reference them by id; one only devices name is listed as unnamed). Its site plan
// is a link away. Managers change their own communities.
import { api } from "../../api.js";
import { badge, clear, h, notice, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import "../../locales/admin.js";
import { cardTable, confirmButton, createButtons, field, formError, formOpener, notFoundPage, placeName } from "./common.js";

const ZONES = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];

function zoneList() {
  return h("datalist", { id: "time-zones" }, ZONES.map((z) => h("option", { value: z })));
}

function coordinate(name, value, min, max) {
  return h("input", { name, type: "number", step: "any", min, max, value: value ?? "", inputmode: "decimal" });
}

/** The fields of a community's settings; `value(form)` reads them back (an empty one as null). */
function settingsFields(c, calendars) {
  const calendar = calendars === null ? null : h("select", { name: "calendar" },
    h("option", { value: "" }, t("admin.communities.ownCalendar")),
    [...new Set([...calendars, ...(c.calendar ? [c.calendar] : [])])].map((name) => h("option", { value: name, selected: name === c.calendar }, name)));
  return {
    nodes: [
      field(t("admin.communities.name"), h("input", { name: "name", required: true, maxlength: 100, value: c.name || "" })),
      field(t("admin.nameZh"), h("input", { name: "name_zh", maxlength: 100, value: c.name_zh || "", lang: "zh" })),
      field(t("admin.communities.timezone"), h("input", { name: "timezone", maxlength: 64, list: "time-zones", value: c.timezone || "", autocomplete: "off" }), t("admin.communities.timezoneHint")),
      zoneList(),
      calendar ? field(t("admin.communities.calendar"), calendar, t("admin.communities.calendarHint")) : null,
      h("div", { class: "pair" },
        field(t("admin.communities.latitude"), coordinate("latitude", c.latitude, -90, 90)),
        field(t("admin.communities.longitude"), coordinate("longitude", c.longitude, -180, 180))),
    ],
    value: (form) => {
      const text = (name) => form.elements[name].value.trim() || null;
      const number = (name) => (form.elements[name].value === "" ? null : Number(form.elements[name].value));
      return {
        name: text("name"), name_zh: text("name_zh"), timezone: text("timezone"),
        ...(calendar ? { calendar: text("calendar") } : {}),
        latitude: number("latitude"), longitude: number("longitude"),
      };
    },
  };
}

export function communitiesView(root, { user }) {
  let stopped = false;
  const list = h("div", { id: "community-list" });
  const opener = formOpener("new-community", t("admin.communities.new"), createForm);
  clear(root, h("section", { class: "view-admin view-communities" },
    h("div", { class: "toolbar" }, h("h2", {}, t("admin.communities.title")), user.role === "admin" ? opener.button : null),
    user.role === "manager" ? h("p", { class: "muted" }, t("admin.communities.managerNote")) : null,
    opener.box, list));

  function createForm(close) {
    const settings = settingsFields({}, null);
    const error = formError();
    const form = h("form", { class: "admin-form", id: "community-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const id = form.elements.id.value.trim();
      try {
        await api("/communities", { method: "POST", body: { id, ...settings.value(form) } });
        location.hash = `#/admin/communities/${encodeURIComponent(id)}`;
      } catch (err) { error.textContent = err.message; }
    } },
    h("h3", {}, t("admin.communities.new")),
    field(t("admin.communities.id"), h("input", { name: "id", required: true, maxlength: 64, pattern: "[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}", autocomplete: "off", autocapitalize: "none" }), t("admin.communities.idHint")),
    settings.nodes,
    createButtons(close),
    error);
    return form;
  }

  async function load() {
    let rows;
    try {
      rows = await api("/communities");
    } catch (err) {
      if (!stopped && err.status !== 401) clear(list, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    const columns = [["community", t("admin.community")], ["timezone", t("admin.communities.timezone")], ["calendar", t("admin.communities.calendar")],
      ["where", t("admin.communities.coordinates")], ["devices", t("admin.communities.devices")], ["places", t("admin.communities.places")]];
    clear(list, rows.length ? cardTable(columns, rows, (c) => ({
      community: [h("a", { href: `#/admin/communities/${encodeURIComponent(c.id)}` }, placeName(c)), h("small", {}, c.id)],
      timezone: c.timezone || "–",
      calendar: c.calendar || t("admin.communities.ownCalendarShort"),
      where: c.latitude === null ? "–" : `${c.latitude}, ${c.longitude}`,
      devices: String(c.devices),
      places: t("admin.communities.placeCounts", { grids: c.grids, buildings: c.buildings }),
    }), { rowAttrs: (c) => ({ dataset: { community: c.id } }) }) : notice(t("admin.communities.none")));
  }

  load();
  return () => { stopped = true; };
}

export function communityView(root, { params }) {
  const id = decodeURIComponent(params[0]);
  const path = `/communities/${encodeURIComponent(id)}`;
  const back = h("a", { href: "#/admin/communities", class: "back" }, `← ${t("admin.communities.title")}`);
  clear(root, notice(t("common.loading")));

  async function load() {
    let c;
    try {
      c = await api(path);
    } catch (err) {
      if (err.status === 404) notFoundPage(root, back, t("admin.communities.notFound", { id }));
      else if (err.status !== 401) clear(root, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    render(c);
  }

  function render(c) {
    clear(root, h("section", { class: "view-admin view-community", dataset: { community: c.id } },
      back,
      h("div", { class: "toolbar" }, h("h2", {}, placeName(c)), h("span", { class: "count" }, c.id),
        h("a", { href: `#/plan/${encodeURIComponent(c.id)}`, class: "btn", id: "plan-link" }, t("admin.communities.plan"))),
      c.calendar_known ? null : notice(t("admin.communities.calendarGone", { name: c.calendar }), "error"),
      settingsForm(c),
      places(c, "grid", c.grids),
      places(c, "building", c.buildings)));
  }

  function settingsForm(c) {
    const settings = settingsFields(c, c.calendars);
    const error = formError();
    const form = h("form", { class: "admin-form", id: "community-settings", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        render(await api(path, { method: "PATCH", body: settings.value(form) }));
        toast(t("admin.saved"), "ok");
      } catch (err) { error.textContent = err.message; }
    } },
    h("h3", {}, t("admin.communities.settings")), settings.nodes,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("admin.save"))), error);
    return form;
  }

  /** Grids or buildings: a row each with its names to edit, and a row to name a new one. */
  function places(c, kind, rows) {
    const plural = kind === "grid" ? "grids" : "buildings";
    const named = c.grids.filter((g) => g.named);
    const error = formError();
    const save = async (place, form) => {
      const body = { name_en: form.elements.name_en.value.trim(), name_zh: form.elements.name_zh.value.trim() };
      if (kind === "building") body.grid = form.elements.grid.value || null;
      try {
        render(await api(`${path}/${plural}/${encodeURIComponent(place)}`, { method: "PUT", body }));
        toast(t("admin.saved"), "ok");
      } catch (err) { error.textContent = err.message; }
    };
    // a building's grid from its devices may have no name yet: listed, and saving asks to name it first
    const gridSelect = (value) => h("select", { name: "grid", "aria-label": t("admin.communities.grid") },
      h("option", { value: "" }, "–"), named.map((g) => h("option", { value: g.id, selected: g.id === value }, `${placeName(g)} (${g.id})`)),
      value && !named.some((g) => g.id === value) ? h("option", { value, selected: true }, `${value} (${t("record.unnamed")})`) : null);
    const names = (p) => [
      h("input", { name: "name_en", required: true, maxlength: 100, value: p.name_en || "", "aria-label": t("admin.nameEn"), placeholder: t("admin.nameEn") }),
      h("input", { name: "name_zh", required: true, maxlength: 100, value: p.name_zh || "", lang: "zh", "aria-label": t("admin.nameZh"), placeholder: t("admin.nameZh") }),
    ];
    const editor = (p) => {
      const form = h("form", { class: "place-form", onsubmit: (ev) => { ev.preventDefault(); save(p.id, form); } },
        names(p), kind === "building" ? gridSelect(p.grid) : null,
        h("button", { type: "submit", class: "btn" }, t(p.named ? "admin.save" : "admin.communities.giveName")));
      return form;
    };
    const columns = [["id", t("admin.communities.placeId")], ["names", t("admin.communities.names")], ["devices", t("admin.communities.devices")], ["remove", ""]];
    const table = rows.length ? cardTable(columns, rows, (p) => ({
      id: [p.id, p.named ? null : h("small", {}, badge("record", "unnamed"))],
      names: editor(p),
      devices: String(p.devices),
      remove: p.named ? confirmButton(t("admin.remove"), t("admin.confirm"), { class: "btn btn-plain", dataset: { act: "delete" } }, async () => {
        try {
          await api(`${path}/${plural}/${encodeURIComponent(p.id)}`, { method: "DELETE" });
          load();
        } catch (err) { error.textContent = err.message; }
      }) : "",
    }), { rowAttrs: (p) => ({ dataset: { place: p.id, named: String(p.named) } }) }) : notice(t(`admin.communities.no.${plural}`));
    const adder = h("form", { class: "place-form add-place", dataset: { kind }, onsubmit: (ev) => { ev.preventDefault(); save(adder.elements.id.value.trim(), adder); } },
      h("input", { name: "id", required: true, maxlength: 64, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", autocomplete: "off", autocapitalize: "none", "aria-label": t("admin.communities.placeId"), placeholder: t("admin.communities.placeId") }),
      names({}), kind === "building" ? gridSelect(null) : null,
      h("button", { type: "submit", class: "btn btn-primary" }, t(`admin.communities.add.${kind}`)));
    return h("section", { class: `places places-${plural}` }, h("h3", {}, t(`admin.communities.${plural}`)),
      h("p", { class: "muted" }, t(`admin.communities.${plural}Hint`)), table, adder, error);
  }

  load();
}
