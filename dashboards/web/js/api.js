// The hub's API under /api/v1, with the log-in token kept for this browser tab (sessionStorage).

const BASE = "/api/v1";
const KEY = "hub.session";

export class ApiError extends Error {
  constructor(status, message, details = []) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(value) {
  if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
  else sessionStorage.removeItem(KEY);
}

const unauthorized = new Set();
/** Called when the hub answers 401: the token expired or was never valid. */
export const onUnauthorized = (fn) => unauthorized.add(fn);

/** `body` goes as JSON, or as it is when it is a file (a Blob: a photo, a CSV). */
export async function api(path, { method = "GET", body, query, raw = false } = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = {};
  const token = session()?.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  // A file (Blob) goes as it is, with its own type; anything else as JSON.
  const file = body instanceof Blob;
  if (body !== undefined) headers["Content-Type"] = file ? body.type || "application/octet-stream" : "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined || file ? body : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `network error: ${err.message}`);
  }
  if (response.status === 401 && path !== "/auth/login") {
    for (const fn of unauthorized) fn();
  }
  if (!response.ok) {
    let message = response.statusText;
    let details = [];
    try {
      const error = (await response.json()).error;
      message = error?.message || message;
      details = error?.details || [];
    } catch { /* not JSON */ }
    throw new ApiError(response.status, message, details);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** An attachment as a data: URL (the CSP allows data: images; an <img> cannot send the token). */
export async function imageDataUrl(path) {
  const blob = await (await api(path, { raw: true })).blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

export const OPEN_STATUSES = ["new", "dispatched", "acknowledged", "in_progress", "reopened"];
export const SEVERITY_RANK = { info: 0, minor: 1, major: 2, critical: 3 };
