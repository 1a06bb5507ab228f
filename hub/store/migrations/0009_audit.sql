-- The audit log: every read of personal data (access events) and every case action through the API,
-- accepted or refused, with who, from where and the HTTP status it ended with.
--
-- A plain table, not a hypertable: it grows by people's requests, not device traffic, and a bigserial
-- id gives a stable keyset for "recent first" pages. Rows are never changed (the trigger below refuses
-- UPDATE); retention removes whole rows older than HUB_RETENTION_AUDIT_DAYS (400) by DELETE, like
-- dead_letters. actor_id has no foreign key on purpose: an audit row must outlive the user account, so
-- the username and role at the time are copied in. details never holds passwords, tokens, photos or
-- free-text notes.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    time         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id     bigint,
    actor        text NOT NULL,
    role         text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text,
    community_id text,
    outcome      smallint NOT NULL CHECK (outcome BETWEEN 100 AND 599),
    client_addr  text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_recent ON audit_log (time DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, time DESC, id DESC);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, time DESC, id DESC);
CREATE INDEX audit_log_community ON audit_log (community_id, time DESC, id DESC);

CREATE FUNCTION audit_log_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: a row is never changed, only deleted by retention';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_update();
