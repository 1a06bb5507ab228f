// The Admin section's operations pages: rules, silences, webhooks, audit log and health.
import { auditView } from "./audit.js";
import { healthView } from "./health.js";
import { rulesView } from "./rules.js";
import { silencesView } from "./silences.js";
import { webhooksView } from "./webhooks.js";
import "../../locales/admin_ops.js";

export const opsPages = [
  { key: "rules", href: "#/admin/rules", pattern: /^#\/admin\/rules(?:\/([^/]+))?$/, roles: ["admin", "operator"], label: "admin.nav.rules", view: rulesView },
  { key: "silences", href: "#/admin/silences", pattern: /^#\/admin\/silences$/, roles: ["admin", "operator"], label: "admin.nav.silences", view: silencesView },
  { key: "webhooks", href: "#/admin/webhooks", pattern: /^#\/admin\/webhooks$/, roles: ["admin"], label: "admin.nav.webhooks", view: webhooksView },
  { key: "audit", href: "#/admin/audit", pattern: /^#\/admin\/audit$/, roles: ["admin"], label: "admin.nav.audit", view: auditView },
  { key: "health", href: "#/admin/health", pattern: /^#\/admin\/health$/, roles: ["admin", "operator"], label: "admin.nav.health", view: healthView },
];
