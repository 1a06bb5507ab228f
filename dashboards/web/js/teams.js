// Team display names in the reader's language, for every page that shows a team (queue, case, KPIs,
// admin pages): `await loadTeamNames()` once, then `teamName(id)`. A team without a record shows its id.
import { api } from "./api.js";
import { locale } from "./i18n.js";

let names = new Map();
let loading = null;

/** The names from GET /teams/names, fetched once per page load; `fresh` after an admin changed them. */
export function loadTeamNames({ fresh = false } = {}) {
  if (!loading || fresh) {
    loading = api("/teams/names")
      .then((rows) => { names = new Map(rows.map((r) => [r.team, r])); })
      .catch(() => { loading = null; }); // shown as ids; asked again next time
  }
  return loading || Promise.resolve();
}

export function teamName(id) {
  if (!id) return "–";
  const found = names.get(id);
  if (!found) return id;
  return locale() === "zh" ? found.name_zh : found.name_en;
}
