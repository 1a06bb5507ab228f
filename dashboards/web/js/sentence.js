// A translated sentence whose placeholders may be DOM nodes (a link to a case, a <time>), not only text.
import { t } from "./i18n.js";

/** The label `key` with each {name} replaced by vars[name]: strings stay text, nodes stay nodes. */
export function sentence(key, vars = {}) {
  const one = vars.n === 1 ? t(`${key}.one`) : null;
  const template = one && one !== `${key}.one` ? one : t(key);
  return template.split(/\{(\w+)\}/).map((part, i) => (i % 2 === 0 ? part : (part in vars ? vars[part] : `{${part}}`)));
}
