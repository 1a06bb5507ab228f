// The Admin section: one entry in the main navigation, and on every admin page a row of tabs with the
// section's pages the user's role may open. Each area lists its pages in a module of its own (ops.js,
// …), and app.js hands them all to `adminRoutes` in one line.
import { clear, h } from "../../dom.js";
import { t } from "../../i18n.js";
import "../../locales/admin.js";

/**
 * Routes for app.js from pages {key, href, pattern, roles, label, view}: each page renders under the
 * section's tabs, and `#/admin` opens the first page the role may see.
 */
export function adminRoutes(pages) {
  const visible = (role) => pages.filter((p) => p.roles.includes(role));
  const routes = pages.map((page) => ({
    pattern: page.pattern,
    roles: page.roles,
    nav: "admin",
    view: (root, ctx) => {
      const body = h("div", { class: "admin-body" });
      clear(root,
        h("nav", { class: "admin-tabs", id: "admin-nav", "aria-label": t("admin.section") },
          visible(ctx.user.role).map((p) => h("a", {
            href: p.href, class: p === page ? "active" : null, "aria-current": p === page ? "page" : null, dataset: { admin: p.key },
          }, t(p.label)))),
        body);
      return page.view(body, ctx);
    },
  }));
  const roles = [...new Set(pages.flatMap((p) => p.roles))];
  routes.push({ pattern: /^#\/admin$/, roles, nav: "admin", view: (_root, { user }) => { location.replace(visible(user.role)[0].href); } });
  return routes;
}
