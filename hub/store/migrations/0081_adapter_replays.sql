-- Replaying an adapter's dead letters once it is fixed: a request (from the API or `hub adapters replay`)
-- is taken by the worker serving ingest partition 0, which feeds the refused vendor messages through the
-- adapter again; each dead letter is marked in the transaction that stores what it became.
CREATE TABLE adapter_replays (
    id           bigserial PRIMARY KEY,
    adapter      text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    done_at      timestamptz,
    replayed     integer,
    error        text
);
CREATE INDEX adapter_replays_pending_idx ON adapter_replays (id) WHERE started_at IS NULL;
ALTER TABLE dead_letters ADD COLUMN replayed_at timestamptz;
