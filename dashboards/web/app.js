"use strict";
// The first control-room page: log in, then a case queue refreshed every two seconds.
const api = (path, opts = {}) => {
  const token = sessionStorage.getItem("token");
  const headers = { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  return fetch(`/api/v1${path}`, { ...opts, headers });
};

const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};

async function refresh() {
  const r = await api("/cases?limit=200");
  if (r.status === 401) return showLogin();
  const cases = await r.json();
  const body = document.getElementById("cases");
  body.replaceChildren(...cases.map((c) => {
    const tr = el("tr", null, c.severity);
    tr.dataset.caseId = c.id;
    for (const v of [c.id, c.severity, c.status, c.title, c.community_id, c.building, c.device_id, c.team,
                     new Date(c.created_at).toLocaleString()]) tr.append(el("td", v));
    tr.children[1].className = "sev";
    return tr;
  }));
}

function showLogin() {
  document.getElementById("queue").hidden = true;
  document.getElementById("login").hidden = false;
}

async function start() {
  const me = await api("/auth/me");
  if (!me.ok) return showLogin();
  const user = await me.json();
  document.getElementById("who").textContent = `${user.username} (${user.role})`;
  document.getElementById("login").hidden = true;
  document.getElementById("queue").hidden = false;
  await refresh();
  setInterval(refresh, 2000);
}

document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const r = await api("/auth/login", { method: "POST", body: JSON.stringify(Object.fromEntries(form)) });
  if (!r.ok) {
    document.getElementById("login-error").textContent = (await r.json()).error.message;
    return;
  }
  sessionStorage.setItem("token", (await r.json()).access_token);
  start();
});

start();
