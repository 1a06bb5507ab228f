// Labels in English and Chinese, and the locale switch. No library: a dictionary per language, with
// {name} placeholders, filled by the files in locales/ (each calls `register` when imported). A key
// missing in Chinese falls back to English, a key missing in both to itself.

const en = {};
const zh = {};
const DICTS = { en, zh };
const listeners = new Set();
let current = pick();

function pick() {
  const saved = localStorage.getItem("locale");
  if (saved in DICTS) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export const locale = () => current;

export function t(key, vars) {
  // English has a singular form for some counts ("1 case"); Chinese needs none.
  const one = vars && vars.n === 1 ? `${key}.one` : null;
  const text = (one && (DICTS[current][one] ?? (current === "en" ? en[one] : undefined))) ?? DICTS[current][key] ?? en[key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : text;
}

export function setLocale(next) {
  if (!(next in DICTS) || next === current) return;
  current = next;
  localStorage.setItem("locale", next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  for (const fn of listeners) fn(next);
}

export function onLocaleChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Add an area's labels; a key defined twice is a mistake the static tests catch. */
export function register(labels) {
  Object.assign(en, labels.en);
  Object.assign(zh, labels.zh);
}
