// The Admin section's own labels: its entry in the main navigation and its row of tabs. Each area of
// the section keeps its pages' labels in a file of its own next to this one.
import { register } from "../i18n.js";

register({
  en: {
    "nav.admin": "Admin",
    "admin.section": "Admin pages",
  },
  zh: {
    "nav.admin": "系统管理",
    "admin.section": "系统管理页面",
  },
});
