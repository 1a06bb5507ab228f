-- Scale-out: the MQTT stream is split into partitions by community, and each partition is served by
-- the one hub worker holding its lease. Workers announce themselves with a heartbeat so each can take
-- an even share; a worker that stops renewing loses its leases when they expire.
CREATE TABLE ingest_workers (
    worker_id     text PRIMARY KEY,
    heartbeat_at  timestamptz NOT NULL
);

CREATE TABLE ingest_partitions (
    partition    integer PRIMARY KEY CHECK (partition >= 0),
    owner        text,
    lease_until  timestamptz,
    taken        bigint NOT NULL DEFAULT 0
);
