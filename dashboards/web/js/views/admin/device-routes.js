// The Admin section's device pages: the registry, refused data and open alerts. Admins manage every
// device; managers see their communities' devices, refused data and open alerts.
import { alertsView } from "./alerts.js";
import { deadLettersView } from "./deadletters.js";
import { registryView } from "./devices.js";

const ROLES = ["admin", "manager"];

export const devicePages = [
  { key: "devices", href: "#/admin/devices", pattern: /^#\/admin\/devices(?:\?(.*))?$/, roles: ROLES, label: "nav.adminDevices", view: registryView },
  { key: "dead-letters", href: "#/admin/dead-letters", pattern: /^#\/admin\/dead-letters(?:\?(.*))?$/, roles: ROLES, label: "nav.adminDeadLetters", view: deadLettersView },
  { key: "alerts", href: "#/admin/alerts", pattern: /^#\/admin\/alerts$/, roles: ROLES, label: "nav.adminAlerts", view: alertsView },
];
