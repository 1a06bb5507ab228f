// The Admin section's pages about people and places: accounts, teams and communities, each a list and
// one item's page under the same tab.
import { communitiesView, communityView } from "./communities.js";
import { teamView, teamsView } from "./teams.js";
import { userView, usersView } from "./users.js";

// Admins manage everyone; managers the residents and teams of their own communities.
const STEWARDS = ["admin", "manager"];
const listOrItem = (list, item) => (root, ctx) => (ctx.params[0] ? item(root, ctx) : list(root, ctx));

export const peoplePages = [
  { key: "users", href: "#/admin/users", pattern: /^#\/admin\/users(?:\/([^/]+))?$/, roles: STEWARDS, label: "admin.tab.users", view: listOrItem(usersView, userView) },
  { key: "teams", href: "#/admin/teams", pattern: /^#\/admin\/teams(?:\/([^/]+))?$/, roles: STEWARDS, label: "admin.tab.teams", view: listOrItem(teamsView, teamView) },
  { key: "communities", href: "#/admin/communities", pattern: /^#\/admin\/communities(?:\/([^/]+))?$/, roles: STEWARDS, label: "admin.tab.communities", view: listOrItem(communitiesView, communityView) },
];
