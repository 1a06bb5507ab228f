// A resident's own reports with their progress, and the open incidents in their community.
import "../locales/cases.js";
import { OPEN_STATUSES, api } from "../api.js";
import { ago, badge, clear, h, label, notice } from "../dom.js";
import { t } from "../i18n.js";
import { onCaseEvent } from "../live.js";
import { caseTitle } from "../names.js";
import { progressBar } from "./case_resident.js";

export function mineView(root, { navigate }) {
  let stopped = false;
  let timer = 0;
  clear(root, notice(t("common.loading")));

  async function load() {
    clearTimeout(timer);
    let cases;
    try {
      cases = await api("/cases", { query: { limit: 200 } });
    } catch (err) {
      if (!stopped && err.status !== 401) clear(root, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    const mine = cases.filter((c) => c.source !== "alert");
    const incidents = cases.filter((c) => c.source === "alert" && OPEN_STATUSES.includes(c.status));
    const card = (c, showProgress) => h("li", { class: "card", dataset: { caseId: c.id }, onclick: () => navigate(`#/case/${c.id}`) },
      h("div", { class: "card-head" }, h("a", { href: `#/case/${c.id}` }, `#${c.id}`), " ", badge("status", c.status), " ",
        h("strong", {}, caseTitle(c))),
      h("small", {}, [label("category", c.category), c.building, ago(c.created_at)].filter(Boolean).join(" · ")),
      showProgress ? progressBar(c) : null,
      showProgress && ["resolved", "closed"].includes(c.status) ? h("a", { href: `#/case/${c.id}`, class: "rate-link" }, t("rate.title")) : null);
    clear(root, h("section", { class: "view-mine" },
      h("div", { class: "toolbar" }, h("h2", {}, t("mine.title")), h("a", { href: "#/report", class: "btn btn-primary" }, t("nav.report"))),
      mine.length ? h("ul", { class: "cards", id: "my-reports" }, mine.map((c) => card(c, true))) : notice(t("mine.empty")),
      h("h3", {}, t("mine.community")),
      incidents.length ? h("ul", { class: "cards" }, incidents.map((c) => card(c, false))) : notice(t("mine.noIncidents"))));
    timer = setTimeout(load, 30000);
  }

  const off = onCaseEvent(() => { clearTimeout(timer); timer = setTimeout(load, 300); });
  load();
  return () => { stopped = true; clearTimeout(timer); off(); };
}
