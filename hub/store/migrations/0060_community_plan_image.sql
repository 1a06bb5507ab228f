-- A community's site-plan background: one PNG or JPEG image per community, uploaded by its admins or
-- managers and drawn under the device markers. Kept in the database so a backup holds it too.
ALTER TABLE communities
    ADD COLUMN plan_image      bytea,
    ADD COLUMN plan_image_type text CHECK (plan_image_type IN ('image/png', 'image/jpeg')),
    ADD COLUMN plan_image_at   timestamptz,
    ADD CONSTRAINT communities_plan_image_whole
        CHECK ((plan_image IS NULL) = (plan_image_type IS NULL) AND (plan_image IS NULL) = (plan_image_at IS NULL));
