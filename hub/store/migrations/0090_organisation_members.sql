-- Organisation members: people of a department or contractor who log in to the dashboard and handle
-- their organisation's cases. A member exists only for its organisation, so it is always bound to one
-- (integration accounts may be bound or not).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'operator', 'manager', 'resident', 'integration', 'member'));
ALTER TABLE users ADD CONSTRAINT users_member_organisation_check
    CHECK (role <> 'member' OR organisation IS NOT NULL);
