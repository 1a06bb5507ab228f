// The site plan of a community: buildings as boxes around their devices, devices coloured by state
// (ok, alerting, offline, low battery), a filter by kind, and a click on a device opens its page.
import { api } from "../api.js";
import { ago, badge, clear, h, label, notice, s, toast } from "../dom.js";
import { t } from "../i18n.js";
import { onCaseEvent } from "../live.js";

const KINDS = ["smoke_detector", "access_gate", "lamppost", "manhole"];
const STATES = ["alerting", "offline", "low_battery", "ok"];

export function planView(root, { params, navigate }) {
  let chosen = params[0] ? decodeURIComponent(params[0]) : null;
  let stopped = false;
  let timer = 0;
  let debounce = 0;
  let hidden = new Set(JSON.parse(sessionStorage.getItem("plan.hiddenKinds") || "[]"));
  let sites = [];
  let plan = null;
  clear(root, notice(t("common.loading")));

  async function start() {
    try {
      sites = await api("/sites");
    } catch (err) {
      if (err.status !== 401) clear(root, notice(t("common.error", { msg: err.message }), "error"));
      return;
    }
    if (stopped) return;
    if (!sites.length) { clear(root, notice(t("plan.noSites"))); return; }
    if (!chosen) {
      chosen = sites[0].id;
      history.replaceState(null, "", `#/plan/${encodeURIComponent(chosen)}`);
    }
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      plan = await api(`/sites/${encodeURIComponent(chosen)}`);
    } catch (err) {
      if (stopped) return;
      if (err.status === 404) { clear(root, header(), notice(t("plan.notFound", { id: chosen }), "error")); return; }
      if (err.status !== 401) toast(t("common.error", { msg: err.message }), "error");
    }
    if (stopped) return;
    if (plan) render();
    timer = setTimeout(refresh, 15000);
  }

  function header() {
    const select = h("select", { "aria-label": t("plan.community"), onchange: () => navigate(`#/plan/${encodeURIComponent(select.value)}`) },
      sites.map((site) => h("option", { value: site.id, selected: site.id === chosen }, `${site.name} (${site.id})`)));
    const site = sites.find((x) => x.id === chosen);
    return h("div", { class: "toolbar" }, h("h2", {}, t("plan.title")), select,
      site ? h("a", { href: "#/queue", class: "count" }, t("plan.openCases", { n: site.open_cases })) : null);
  }

  function kindFilter() {
    return h("fieldset", { class: "kind-filter" }, h("legend", {}, t("plan.kinds")),
      KINDS.map((k) => h("label", {},
        h("input", { type: "checkbox", name: "kind", value: k, checked: !hidden.has(k), onchange: (ev) => {
          if (ev.target.checked) hidden.delete(k); else hidden.add(k);
          sessionStorage.setItem("plan.hiddenKinds", JSON.stringify([...hidden]));
          render();
        } }), " ", marker(k, 0, 0, 7, "legend-kind"), " ", label("kind", k))));
  }

  function render() {
    renderPlan();
    if (!document.body.dataset.planReady) {
      document.body.dataset.planReady = "1";
      performance.mark("plan-rendered");
    }
  }

  function renderPlan() {
    const devices = plan.devices.filter((d) => !hidden.has(d.kind));
    const counts = Object.fromEntries(STATES.map((st) => [st, devices.filter((d) => d.state === st).length]));
    const legend = h("ul", { class: "state-legend" }, STATES.map((st) =>
      h("li", { class: `state-${st}` }, h("span", { class: "swatch" }), `${label("state", st)}: ${counts[st]}`)));
    const attention = devices.filter((d) => d.state !== "ok")
      .sort((a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state) || a.id.localeCompare(b.id));
    clear(root, h("section", { class: "view-plan" },
      header(), kindFilter(), legend,
      h("div", { class: "plan-box" }, drawing(devices)),
      plan.unplaced ? notice(t("plan.unplaced", { n: plan.unplaced })) : null,
      h("h3", {}, t("plan.attention")),
      attention.length
        ? h("ul", { class: "attention" }, attention.slice(0, 200).map((d) => h("li", {},
          badge("state", d.state), " ", h("a", { href: `#/device/${encodeURIComponent(d.id)}` }, d.id), " ",
          h("small", {}, [label("kind", d.kind), d.building, d.last_seen ? ago(d.last_seen) : null].filter(Boolean).join(" · ")))))
        : notice(t("plan.allOk"))));
  }

  function drawing(devices) {
    const placed = devices.filter((d) => d.plan_x !== null && d.plan_y !== null);
    const boxes = [...plan.grids, ...plan.buildings];
    const xs = [...placed.map((d) => d.plan_x), ...boxes.flatMap((b) => [b.x0, b.x1])];
    const ys = [...placed.map((d) => d.plan_y), ...boxes.flatMap((b) => [b.y0, b.y1])];
    const minX = Math.max(0, Math.min(...xs, 1000) - 50);
    const minY = Math.max(0, Math.min(...ys, 1000) - 60);
    const maxX = Math.min(1000, Math.max(...xs, minX + 200) + 50);
    const maxY = Math.min(1000, Math.max(...ys, minY + 200) + 40);
    const width = maxX - minX;
    // Markers at least ~5 px on screen (a phone shows the whole plan in 350 px), but not so big that
    // neighbours 25 plan units apart overlap.
    const screen = Math.max(200, root.clientWidth || 800);
    const r = Math.max(5, Math.min(12, Math.max(width / 90, (5 * width) / screen)));
    const svg = s("svg", { viewBox: `${minX} ${minY} ${width} ${maxY - minY}`, class: "plan", role: "img", "aria-label": `${t("plan.title")} ${plan.name}` });
    svg.append(s("rect", { x: minX, y: minY, width, height: maxY - minY, class: "plan-ground" }));
    for (const g of plan.grids) {
      svg.append(s("rect", { x: g.x0 - 35, y: g.y0 - 50, width: g.x1 - g.x0 + 70, height: g.y1 - g.y0 + 75, class: "plan-grid", rx: 6 }),
        s("text", { x: g.x0 - 30, y: g.y0 - 36, class: "plan-grid-label" }, g.grid));
    }
    for (const b of plan.buildings) {
      svg.append(s("rect", { x: b.x0 - 16, y: b.y0 - 24, width: b.x1 - b.x0 + 32, height: b.y1 - b.y0 + 40, class: "plan-building", rx: 3 }),
        s("text", { x: b.x0 - 12, y: b.y0 - 11, class: "plan-building-label" }, b.building));
    }
    for (const d of placed) {
      const link = s("a", { href: `#/device/${encodeURIComponent(d.id)}`, class: ["device", `state-${d.state}`], dataset: { deviceId: d.id, state: d.state, kind: d.kind } },
        s("title", {}, `${d.id} · ${label("kind", d.kind)} · ${label("state", d.state)}${d.battery_pct !== null ? ` · ${Math.round(d.battery_pct)} %` : ""}`),
        marker(d.kind, d.plan_x, d.plan_y, r));
      svg.append(link);
    }
    return svg;
  }

  const offEvent = onCaseEvent(() => { clearTimeout(debounce); debounce = setTimeout(refresh, 1000); });
  start();
  return () => { stopped = true; clearTimeout(timer); clearTimeout(debounce); offEvent(); };
}

/** One shape per kind, so kinds stay apart without colour: circle, square, diamond, hexagon. */
export function marker(kind, x, y, r, cls = "marker") {
  if (cls === "legend-kind") {
    const svg = s("svg", { viewBox: "-9 -9 18 18", class: "legend-kind", "aria-hidden": "true" });
    svg.append(marker(kind, 0, 0, 7));
    return svg;
  }
  const f = (n) => n.toFixed(1);
  switch (kind) {
    case "access_gate":
      return s("rect", { x: f(x - r), y: f(y - r), width: f(2 * r), height: f(2 * r), class: cls });
    case "lamppost":
      return s("polygon", { points: [[x, y - r * 1.25], [x + r * 1.25, y], [x, y + r * 1.25], [x - r * 1.25, y]].map((p) => p.map(f).join(",")).join(" "), class: cls });
    case "manhole": {
      const pts = [];
      for (let i = 0; i < 6; i++) pts.push([x + r * 1.1 * Math.cos((Math.PI / 3) * i), y + r * 1.1 * Math.sin((Math.PI / 3) * i)]);
      return s("polygon", { points: pts.map((p) => p.map(f).join(",")).join(" "), class: cls });
    }
    default:
      return s("circle", { cx: f(x), cy: f(y), r: f(r), class: cls });
  }
}
