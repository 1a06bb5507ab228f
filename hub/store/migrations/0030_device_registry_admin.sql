-- The admin console's device registry: decommissioned devices (kept with their history, refused at
-- ingest, without a broker account), the time of the last credential rotation, a version the ingest
-- cache compares to see registry changes within a second, and the dead letters' origin and reason code
-- as columns, so they filter by device, community and reason.

ALTER TABLE devices
    ADD COLUMN decommissioned_at      timestamptz,
    ADD COLUMN credentials_rotated_at timestamptz;

CREATE TABLE registry_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO registry_version (one, version) VALUES (true, 0);

CREATE FUNCTION bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_version SET version = version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version();

-- `code`: the reason's leading word (`rate_limited`, `unregistered` …), as hub.domain.deadletters and the
-- ingest metrics read it. community, kind and device: from the topic
-- (`{prefix}/{community}/{kind}/{device_id}/{channel}`), written by ingest, null when the topic does not
-- have that shape. Old rows get them from the right end of the topic.
ALTER TABLE dead_letters
    ADD COLUMN code         text NOT NULL GENERATED ALWAYS AS (split_part(split_part(reason, ':', 1), ' ', 1)) STORED,
    ADD COLUMN community_id text,
    ADD COLUMN kind         text,
    ADD COLUMN device_id    text;
UPDATE dead_letters SET
    community_id = CASE WHEN cardinality(string_to_array(topic, '/')) >= 5 THEN split_part(topic, '/', -4) END,
    kind = CASE WHEN cardinality(string_to_array(topic, '/')) >= 5 THEN split_part(topic, '/', -3) END,
    device_id = CASE WHEN cardinality(string_to_array(topic, '/')) >= 5 THEN split_part(topic, '/', -2) END;
CREATE INDEX dead_letters_device_idx ON dead_letters (device_id, received_at DESC);
CREATE INDEX dead_letters_community_idx ON dead_letters (community_id, received_at DESC);
CREATE INDEX dead_letters_code_idx ON dead_letters (code, received_at DESC);
