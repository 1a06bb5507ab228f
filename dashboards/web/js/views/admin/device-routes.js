// The admin console's device area: its routes and its entries in the "Admin" navigation section, in one
// block so the other admin areas sit beside it. Admins manage every device; managers see their
// communities' devices, refused data and open alerts.
import { alertsView } from "./alerts.js";
import { deadLettersView } from "./deadletters.js";
import { registryView } from "./devices.js";

const ROLES = ["admin", "manager"];

export const DEVICE_ADMIN_ROUTES = [
  { pattern: /^#\/admin\/devices(?:\?(.*))?$/, view: registryView, roles: ROLES, nav: "admin-devices" },
  { pattern: /^#\/admin\/dead-letters(?:\?(.*))?$/, view: deadLettersView, roles: ROLES, nav: "admin-dead-letters" },
  { pattern: /^#\/admin\/alerts$/, view: alertsView, roles: ROLES, nav: "admin-alerts" },
];

export const DEVICE_ADMIN_NAV = [
  { nav: "admin-devices", href: "#/admin/devices", label: "nav.adminDevices", roles: ROLES },
  { nav: "admin-dead-letters", href: "#/admin/dead-letters", label: "nav.adminDeadLetters", roles: ROLES },
  { nav: "admin-alerts", href: "#/admin/alerts", label: "nav.adminAlerts", roles: ROLES },
];
