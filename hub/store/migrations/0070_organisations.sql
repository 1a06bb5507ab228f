-- Organisations as parties of their own: a department, utility, contractor, property company or NGO
-- that serves some communities, owns teams (cases routed to those teams are its cases) and binds
-- integration accounts (its own systems act on its cases through the API). An organisation is deleted
-- only while nothing names it, so the foreign keys have no ON DELETE.
CREATE TABLE organisations (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    kind        text NOT NULL CHECK (kind IN ('department', 'utility', 'contractor', 'property', 'ngo')),
    name_en     text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    name_zh     text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 100),
    communities text[] NOT NULL CHECK (cardinality(communities) >= 1),
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE teams ADD COLUMN organisation text REFERENCES organisations (id);
ALTER TABLE users ADD COLUMN organisation text REFERENCES organisations (id);
CREATE INDEX teams_organisation_idx ON teams (organisation) WHERE organisation IS NOT NULL;

-- A request sent with an Idempotency-Key: the first answer is kept, and a retry with the same key and
-- the same request gets it back without acting again. `request` fingerprints what was asked, so a key
-- reused for something else is refused.
CREATE TABLE idempotency_keys (
    user_id    bigint NOT NULL REFERENCES users (id),
    key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request    text NOT NULL,
    response   jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
