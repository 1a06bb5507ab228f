// One server-sent-event stream per tab (/api/v1/events/stream?access_token=…): views subscribe to case
// events and refresh. If the stream fails, the state says so and views fall back to polling faster.
import { session } from "./api.js";

const subscribers = new Set();
const stateListeners = new Set();
let source = null;
let retryTimer = 0;
let state = "down"; // "sse" | "down"

function setState(next) {
  if (next === state) return;
  state = next;
  for (const fn of stateListeners) fn(state);
}

export const liveState = () => state;
export function onLiveState(fn) {
  stateListeners.add(fn);
  return () => stateListeners.delete(fn);
}

export function onCaseEvent(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

export function connect() {
  disconnect();
  const token = session()?.token;
  if (!token || typeof EventSource === "undefined") return;
  source = new EventSource(`/api/v1/events/stream?access_token=${encodeURIComponent(token)}`);
  source.onopen = () => setState("sse");
  source.addEventListener("case_event", (ev) => {
    let payload;
    try {
      payload = JSON.parse(ev.data);
    } catch {
      return;
    }
    for (const fn of subscribers) fn(payload);
  });
  source.onerror = () => {
    // EventSource retries by itself while the stream is merely interrupted; a refused stream is closed.
    if (source && source.readyState === EventSource.CLOSED) {
      setState("down");
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, 10000);
    } else {
      setState("down");
    }
  };
}

export function disconnect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  setState("down");
}
