// Health (admins and operators), refreshed every few seconds: messages stored a second and the queue
// depth, dead letters per reason, new alerts and cases per community in 10 minutes, broker, database and read standby state, partition leases and workers, and the runs
// of the scheduled jobs (GET /api/v1/admin/health).
import { api } from "../../api.js";
import { chartFigure } from "../../charts.js";
import { badge, clear, fmtNumber, h, label, notice } from "../../dom.js";
import { t } from "../../i18n.js";
import { dataTable, fmtDateTime } from "./ui.js";

const REFRESH_MS = 3000;
const COUNTERS = ["received", "stored", "duplicates", "dead_lettered", "batches", "alerts_opened", "alerts_cleared", "db_errors", "db_reconnects", "broker_connects"];

export function healthView(root) {
  let stopped = false;
  let timer = 0;
  const updated = h("span", { class: "muted", id: "health-updated" });
  const body = h("div", { class: "health-body" }, notice(t("common.loading")));
  clear(root, h("section", { class: "view-admin view-admin-health", id: "health" },
    h("div", { class: "toolbar" }, h("h2", {}, t("health.title")), updated),
    body));

  async function refresh() {
    try {
      const data = await api("/admin/health");
      if (stopped) return;
      draw(data);
      updated.textContent = t("health.updated", { at: fmtDateTime(data.at), worker: data.worker || "–" });
    } catch (err) {
      if (stopped || err.status === 401) return;
      updated.textContent = t("health.unreachable", { msg: err.message });
      updated.classList.add("overdue");
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  function tile(key, value, state, extra) {
    return h("div", { class: ["tile", state ? `tile-${state}` : null], dataset: { tile: key } },
      h("dt", {}, t(`health.tile.${key}`)), h("dd", {}, value), extra ? h("small", {}, extra) : null);
  }

  /** The read standby (HUB_DATABASE_READ_URL): down means the read routes are on the primary. */
  function standbyTile(s) {
    if (!s.up) return tile("standby", t("health.standbyDown"), "bad", t("health.standbyOnPrimary"));
    const value = s.replay_paused ? t("health.standbyPaused") : t("health.standbyLag", { s: fmtNumber(s.replay_lag_s, 1) });
    return tile("standby", value, s.replay_paused || s.replay_lag_s > 30 ? "warn" : "ok", t("health.standbyBehind", { kb: fmtNumber(s.behind_bytes / 1024, 1) }));
  }

  function draw(d) {
    const latest = d.ingest.rates[d.ingest.rates.length - 1];
    const counters = d.ingest.counters || {};
    const dead24 = d.dead_letters.reduce((n, r) => n + r.count, 0);
    const subscribed = d.ingest.sessions.filter((x) => x.subscribed).length;
    const brokerState = d.ingest.state === "subscribed" ? "ok" : d.ingest.state === "off" ? null : "bad";
    const webhooks = d.notifications.webhook;
    updated.classList.remove("overdue");
    clear(body,
      h("dl", { class: "tiles health-tiles" },
        tile("stored", latest ? fmtNumber(latest.stored_per_s, 1) : "–", null, t("health.perSecond")),
        tile("received", latest ? fmtNumber(latest.received_per_s, 1) : "–", null, t("health.perSecond")),
        tile("queue", fmtNumber(counters.queue_depth ?? null), counters.queue_depth > 1000 ? "bad" : null, t("health.queueHint")),
        tile("deadLetters", fmtNumber(dead24), dead24 ? "warn" : null, t("health.last24h")),
        tile("broker", label("ingestState", d.ingest.state), brokerState, t("health.sessions", { n: subscribed, of: d.ingest.sessions.length })),
        tile("database", `${fmtNumber(d.database.latency_ms, 1)} ms`, d.database.latency_ms > 200 ? "warn" : "ok", t("health.pool", { used: d.database.pool.pool_size - d.database.pool.pool_available, size: d.database.pool.pool_size })),
        tile("notifications", fmtNumber(webhooks.pending + d.notifications.mqtt.pending), webhooks.dead ? "warn" : null, t("health.deadNotifications", { n: webhooks.dead + d.notifications.mqtt.dead })),
        d.database.standby ? standbyTile(d.database.standby) : null),
      h("div", { class: "health-grid" },
        chartFigure(t("health.rateChart"), ["received", "stored", "dead_lettered"].map((k) => ({
          name: t(`health.series.${k}`), points: d.ingest.rates.map((r) => ({ t: Date.parse(r.at), v: r[`${k}_per_s`] })),
        })), { height: 200, counts: true }),
        h("section", { id: "health-counters" }, h("h3", {}, t("health.counters")),
          d.ingest.counters ? h("table", { class: "values" }, h("tbody", {}, COUNTERS.map((k) => h("tr", { dataset: { counter: k, value: counters[k] } },
            h("th", { scope: "row" }, t(`health.counter.${k}`)), h("td", {}, fmtNumber(counters[k])))))) : notice(t("health.noIngest"))),
        h("section", { id: "health-dead-letters" }, h("h3", {}, t("health.deadLetterReasons")),
          dataTable(["reason", "count", "latest"].map((key) => ({ key, label: t(`health.dl.${key}`) })), d.dead_letters, (r, key) => {
            if (key === "reason") return label("deadLetter", r.reason);
            if (key === "count") return [fmtNumber(r.count), h("small", {}, t("health.sinceStart", { n: fmtNumber(counters.dead_letter_reasons?.[r.reason] ?? 0) }))];
            return [fmtDateTime(r.latest_at), h("small", {}, r.latest)];
          }, { id: "dead-letter-table", empty: t("health.noDeadLetters"), rowAttrs: (r) => ({ dataset: { reason: r.reason, count: r.count } }) })),
        h("section", { id: "health-floods" }, h("h3", {}, t("health.floods", { min: Math.round(d.floods.window_s / 60) })),
          h("p", { class: "muted" }, t("health.floodsHint", { n: d.floods.flood_above, min: Math.round(d.floods.window_s / 60) })),
          dataTable(["community", "alerts", "cases"].map((key) => ({ key, label: t(`health.f.${key}`) })), d.floods.communities, (r, key) => {
            if (key === "community") return [r.community, r.flood ? h("small", { class: "overdue" }, t("health.flood")) : null];
            return fmtNumber(r[key]);
          }, { id: "floods-table", empty: t("health.noFloods"), rowAttrs: (r) => ({ dataset: { community: r.community, alerts: r.alerts, cases: r.cases, flood: r.flood } }) }))),
      h("h3", {}, t("health.workers")),
      dataTable(["worker", "alive", "partitions", "rules", "heartbeat"].map((key) => ({ key, label: t(`health.w.${key}`) })), d.workers, (w, key) => {
        if (key === "worker") return [w.worker_id, w.worker_id === d.worker ? h("small", {}, t("health.thisWorker")) : null];
        if (key === "alive") return badge("alive", String(w.alive));
        if (key === "partitions") return w.partitions.length ? w.partitions.map((p) => `#${p}`).join(", ") : "–";
        if (key === "rules") {
          if (!w.rules) return "–";
          const behind = w.rules.behind.length ? t("rules.workerBehind", { files: w.rules.behind.join(", ") }) : t("rules.workerInStep");
          return [t("health.ruleCount", { n: w.rules.rule_count }), h("small", {}, behind)];
        }
        return fmtDateTime(w.heartbeat_at || w.rules?.seen_at);
      }, { id: "workers-table", empty: t("health.noWorkers"), rowAttrs: (w) => ({ dataset: { worker: w.worker_id, alive: w.alive } }) }),
      h("h3", {}, t("health.partitions")),
      dataTable(["partition", "owner", "lease", "taken"].map((key) => ({ key, label: t(`health.p.${key}`) })), d.partitions, (p, key) => {
        if (key === "partition") return `#${p.partition}`;
        if (key === "owner") return p.owner || t("health.unowned");
        if (key === "lease") return [fmtDateTime(p.lease_until), p.expired ? h("small", { class: "overdue" }, t("health.expired")) : null];
        return fmtNumber(p.taken);
      }, { id: "partitions-table", empty: t("health.noPartitions"), rowAttrs: (p) => ({ dataset: { partition: p.partition, expired: p.expired } }) }),
      h("h3", {}, t("health.jobs")),
      dataTable(["job", "last", "outcome", "runs", "next"].map((key) => ({ key, label: t(`health.j.${key}`) })), d.jobs, (j, key) => {
        if (key === "job") return label("job", j.job);
        if (key === "last") return j.last ? [fmtDateTime(j.last.started_at), h("small", {}, t("health.took", { s: duration(j.last), worker: j.last.worker_id }))] : t("health.notRun");
        if (key === "outcome") return j.last ? [badge("runOutcome", j.last.outcome), h("small", {}, runDetail(j.job, j.last))] : "–";
        if (key === "runs") return ["ok", "failed", "skipped"].map((o) => h("small", { dataset: { runs: o } }, `${label("runOutcome", o)} ${fmtNumber(j.runs[o] || 0)}`));
        return fmtDateTime(j.next_run_at);
      }, { id: "jobs-table", empty: t("health.noJobs"), rowAttrs: (j) => ({ dataset: { job: j.job, outcome: j.last?.outcome || "" } }) }),
      h("h3", {}, t("health.recentRuns")),
      dataTable(["job", "started", "outcome", "worker"].map((key) => ({ key, label: t(`health.r.${key}`) })), d.job_runs, (r, key) => {
        if (key === "job") return label("job", r.job);
        if (key === "started") return [fmtDateTime(r.started_at), h("small", {}, t("health.tookShort", { s: duration(r) }))];
        if (key === "outcome") return [badge("runOutcome", r.outcome), h("small", {}, runDetail(r.job, r))];
        return r.worker_id;
      }, { id: "runs-table", empty: t("health.noRuns") }));
  }

  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

/** What a run did, in the reader's language: its counts (only those above zero), or why it failed. */
function runDetail(job, run) {
  if (run.outcome === "failed") return run.error;
  if (run.outcome === "skipped") return t("health.skippedHint");
  if (run.outcome === "running") return "";
  const counts = Object.entries(run.done).filter(([, n]) => n > 0);
  if (!counts.length) return t("health.nothingDone");
  return counts.map(([what, n]) => {
    const key = `jobDone.${job}.${what}`;
    const text = t(key, { n: fmtNumber(n) });
    return text === key ? t(`jobDone.${job}`, { what, n: fmtNumber(n) }) : text;
  }).join(", ");
}

function duration(run) {
  if (!run.finished_at) return "…";
  return fmtNumber((Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000, 2);
}
