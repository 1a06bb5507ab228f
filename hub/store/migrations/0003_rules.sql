-- Rule engine: silences (maintenance windows) and the link from an alert to the silence that kept it
-- from being dispatched.

CREATE TABLE silences (
    id           bigserial PRIMARY KEY,
    rule_id      text,
    device_id    text REFERENCES devices (id),
    community_id text REFERENCES communities (id),
    building     text,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    reason       text NOT NULL CHECK (length(reason) > 0),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (rule_id IS NOT NULL OR device_id IS NOT NULL OR community_id IS NOT NULL),
    CHECK (building IS NULL OR community_id IS NOT NULL)
);
CREATE INDEX silences_active_idx ON silences (ends_at);

ALTER TABLE alerts ADD COLUMN silence_id bigint REFERENCES silences (id);
