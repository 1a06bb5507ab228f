// The site plan of a community: devices coloured by state (alerting — an open alert or an open case about
// the device —, offline, low battery, ok) and labelled, a filter by kind. A device in a case links to that
// case, the others to their page. Devices sit on the community's plan image when it has one (uploaded here
// by its admins and managers), else on boxes around their buildings by plan position, else by latitude
// and longitude.
import { api, imageDataUrl } from "../api.js";
import { ago, badge, clear, h, label, notice, s, toast } from "../dom.js";
import { t } from "../i18n.js";
import { onCaseEvent } from "../live.js";
import "../locales/wall.js";

const KINDS = ["smoke_detector", "access_gate", "lamppost", "manhole"];
const STATES = ["alerting", "offline", "low_battery", "ok"];

const IMAGE_TYPES = ["image/png", "image/jpeg"];
const MAX_IMAGE_MB = 5;

/** Where each device is drawn, in plan units (x 0–1000 across): its plan position, or — when no device
 * of the community has one — its latitude and longitude, projected flat (fine within a community). */
export function positions(devices) {
  const byPlan = devices.filter((d) => d.plan_x !== null && d.plan_y !== null);
  if (byPlan.length) return { mode: "plan", at: new Map(byPlan.map((d) => [d.id, [d.plan_x, d.plan_y]])) };
  const geo = devices.filter((d) => d.latitude !== null && d.longitude !== null);
  if (!geo.length) return { mode: "none", at: new Map() };
  const lats = geo.map((d) => d.latitude);
  const lons = geo.map((d) => d.longitude);
  const squeeze = Math.cos((((Math.min(...lats) + Math.max(...lats)) / 2) * Math.PI) / 180);
  const span = Math.max((Math.max(...lons) - Math.min(...lons)) * squeeze, Math.max(...lats) - Math.min(...lats), 1e-6);
  const scale = 800 / span;
  return { mode: "geo", at: new Map(geo.map((d) => [d.id, [100 + (d.longitude - Math.min(...lons)) * squeeze * scale, 100 + (Math.max(...lats) - d.latitude) * scale]])) };
}

/** A device's short name on the plan: its id without the community's prefix. */
export const shortName = (id, community) => (id.startsWith(`${community}-`) ? id.slice(community.length + 1) : id);

export function planView(root, { user, params, navigate }) {
  let chosen = params[0] ? decodeURIComponent(params[0]) : null;
  let stopped = false;
  let timer = 0;
  let debounce = 0;
  let hidden = new Set(JSON.parse(sessionStorage.getItem("plan.hiddenKinds") || "[]"));
  let sites = [];
  let plan = null;
  let showLabels = localStorage.getItem("plan.labels") !== "off";
  let image = null; // {key, url, width, height} of the plan image shown
  const canUpload = ["admin", "manager"].includes(user.role);
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
    if (plan) {
      await loadImage();
      if (stopped) return;
      render();
    }
    timer = setTimeout(refresh, 15000);
  }

  /** The plan image, fetched again only when another one was uploaded. */
  async function loadImage() {
    const key = plan.image ? `${plan.id}@${plan.image.updated_at}` : null;
    if (key === (image && image.key)) return;
    if (!key) { image = null; return; }
    try {
      const url = await imageDataUrl(`/communities/${encodeURIComponent(plan.id)}/plan-image`);
      const img = new Image();
      img.src = url;
      await img.decode();
      image = { key, url, width: img.naturalWidth, height: img.naturalHeight };
    } catch (err) {
      image = null;
      if (err.status !== 401) toast(t("common.error", { msg: err.message }), "error");
    }
  }

  async function upload(file) {
    if (!IMAGE_TYPES.includes(file.type)) { toast(t("plan.imageType"), "error"); return; }
    if (file.size > MAX_IMAGE_MB * 1024 * 1024) { toast(t("plan.imageSize", { mb: MAX_IMAGE_MB }), "error"); return; }
    try {
      await api(`/communities/${encodeURIComponent(chosen)}/plan-image`, { method: "PUT", body: file });
      toast(t("plan.imageSaved"), "ok");
    } catch (err) {
      toast(t("common.error", { msg: err.message }), "error");
    }
    refresh();
  }

  async function removeImage() {
    try {
      await api(`/communities/${encodeURIComponent(chosen)}/plan-image`, { method: "DELETE" });
      toast(t("plan.imageRemoved"), "ok");
    } catch (err) {
      toast(t("common.error", { msg: err.message }), "error");
    }
    refresh();
  }

  function imageForm() {
    if (!canUpload) return null;
    const input = h("input", { type: "file", name: "plan-image", accept: IMAGE_TYPES.join(","), onchange: () => { if (input.files[0]) upload(input.files[0]); } });
    return h("div", { class: "plan-image-form toolbar", id: "plan-image-form" },
      h("label", { class: "inline-field" }, plan.image ? t("plan.imageReplace") : t("plan.imageUpload"), " ", input),
      h("span", { class: "muted" }, t("plan.imageHint", { mb: MAX_IMAGE_MB })),
      plan.image ? h("button", { type: "button", class: "btn btn-plain", id: "plan-image-remove", onclick: removeImage }, t("plan.imageRemove")) : null);
  }

  function header() {
    const select = h("select", { "aria-label": t("plan.community"), onchange: () => navigate(`#/plan/${encodeURIComponent(select.value)}`) },
      sites.map((site) => h("option", { value: site.id, selected: site.id === chosen }, `${site.name} (${site.id})`)));
    const site = sites.find((x) => x.id === chosen);
    return h("div", { class: "toolbar" }, h("h2", {}, t("plan.title")), select,
      site ? h("a", { href: "#/queue", class: "count" }, t("plan.openCases", { n: site.open_cases })) : null);
  }

  function kindFilter() {
    const labels = h("label", { class: "labels-toggle" }, h("input", { type: "checkbox", name: "labels", checked: showLabels, onchange: (ev) => {
      showLabels = ev.target.checked;
      localStorage.setItem("plan.labels", showLabels ? "on" : "off");
      render();
    } }), " ", t("plan.labels"));
    return h("fieldset", { class: "kind-filter" }, h("legend", {}, t("plan.kinds")), labels,
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
    const where = positions(plan.devices);
    const unplaced = plan.devices.length - where.at.size;
    clear(root, h("section", { class: "view-plan", dataset: { layout: image ? "image" : where.mode } },
      header(), kindFilter(), legend,
      h("p", { class: "muted plan-note" }, t("plan.alertingMeans"), where.mode === "geo" && !image ? [" ", t("plan.byGeo")] : null),
      h("div", { class: "plan-box" }, drawing(devices, where)),
      unplaced ? notice(t("plan.unplaced", { n: unplaced })) : null,
      imageForm(),
      h("h3", {}, t("plan.attention")),
      attention.length
        ? h("ul", { class: "attention" }, attention.slice(0, 200).map((d) => h("li", { dataset: { deviceId: d.id } },
          badge("state", d.state), " ", h("a", { href: `#/device/${encodeURIComponent(d.id)}` }, d.id), " ",
          d.open_case_id ? [h("a", { href: `#/case/${d.open_case_id}`, class: "case-link" }, t("plan.openCase", { id: d.open_case_id })), " "] : null,
          h("small", {}, [label("kind", d.kind), d.building, d.last_seen ? ago(d.last_seen) : null].filter(Boolean).join(" · ")))))
        : notice(t("plan.allOk"))));
  }

  function drawing(devices, where) {
    const placed = devices.filter((d) => where.at.has(d.id));
    // With an image, plan units span its width (0–1000) and its height in proportion.
    const tall = image ? (1000 * image.height) / image.width : 1000;
    const at = (d) => {
      const [x, y] = where.at.get(d.id);
      return image ? [x, (y * tall) / 1000] : [x, y];
    };
    const boxes = image || where.mode !== "plan" ? { grids: [], buildings: [] } : plan;
    const xs = [...placed.map((d) => at(d)[0]), ...[...boxes.grids, ...boxes.buildings].flatMap((b) => [b.x0, b.x1])];
    const ys = [...placed.map((d) => at(d)[1]), ...[...boxes.grids, ...boxes.buildings].flatMap((b) => [b.y0, b.y1])];
    // Nothing placed (every kind filtered out, say): the whole plan, not a box with a negative size.
    const [minX, minY, maxX, maxY] = image ? [0, 0, 1000, tall] : !xs.length ? [0, 0, 1000, 1000] : [
      Math.max(0, Math.min(...xs, 1000) - 50), Math.max(0, Math.min(...ys, 1000) - 60),
      Math.min(1000, Math.max(...xs, 200) + 50), Math.min(1000, Math.max(...ys, 200) + 40)];
    const width = maxX - minX;
    // Markers at least ~5 px on screen (a phone shows the whole plan in 350 px), but not so big that
    // neighbours 25 plan units apart overlap.
    const screen = Math.max(200, root.clientWidth || 800);
    const r = Math.max(5, Math.min(12, Math.max(width / 90, (5 * width) / screen)));
    const svg = s("svg", { viewBox: `${minX} ${minY} ${width} ${maxY - minY}`, class: "plan", role: "img", "aria-label": `${t("plan.title")} ${plan.name}` });
    svg.append(image
      ? s("image", { href: image.url, x: 0, y: 0, width: 1000, height: tall, class: "plan-image", preserveAspectRatio: "none" })
      : s("rect", { x: minX, y: minY, width, height: maxY - minY, class: "plan-ground" }));
    for (const g of boxes.grids) {
      svg.append(s("rect", { x: g.x0 - 35, y: g.y0 - 50, width: g.x1 - g.x0 + 70, height: g.y1 - g.y0 + 75, class: "plan-grid", rx: 6 }),
        s("text", { x: g.x0 - 30, y: g.y0 - 36, class: "plan-grid-label" }, g.grid));
    }
    for (const b of boxes.buildings) {
      svg.append(s("rect", { x: b.x0 - 16, y: b.y0 - 24, width: b.x1 - b.x0 + 32, height: b.y1 - b.y0 + 40, class: "plan-building", rx: 3 }),
        s("text", { x: b.x0 - 12, y: b.y0 - 11, class: "plan-building-label" }, b.building));
    }
    // Alerting devices last, so they are drawn over their neighbours.
    const order = [...placed].sort((a, b) => Number(a.state === "alerting") - Number(b.state === "alerting"));
    for (const d of order) {
      const [x, y] = at(d);
      const target = d.open_case_id ? `#/case/${d.open_case_id}` : `#/device/${encodeURIComponent(d.id)}`;
      const facts = [d.id, label("kind", d.kind), label("state", d.state), d.battery_pct !== null ? `${Math.round(d.battery_pct)} %` : null,
        d.open_case_id ? t("plan.openCase", { id: d.open_case_id }) : null].filter(Boolean).join(" · ");
      svg.append(s("a", { href: target, class: ["device", `state-${d.state}`], dataset: { deviceId: d.id, state: d.state, kind: d.kind, caseId: d.open_case_id ?? "" } },
        s("title", {}, facts),
        marker(d.kind, x, y, r),
        showLabels ? s("text", { x: (x + r * 1.5).toFixed(1), y: (y + r * 0.45).toFixed(1), class: "device-label", "font-size": (r * 1.25).toFixed(1) }, shortName(d.id, plan.id)) : null));
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
