-- People run from the browser: an account has a display name and is disabled rather than deleted (the
-- history of cases and the audit log keep its name), and a team is a record of its own with names in
-- English and Chinese and the communities it serves. team_members keeps naming teams by id without a
-- foreign key: a team the routing file or a rule names works before anyone gives it a record.
ALTER TABLE users
    ADD COLUMN display_name text CHECK (length(display_name) <= 100),
    ADD COLUMN disabled_at timestamptz;

CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE teams (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    name_en     text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    name_zh     text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 100),
    communities text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN teams.communities IS 'the communities it serves; empty: every community';
