-- Telemetry rollups per device and metric, built by the hub's own jobs with time_bucket (Apache edition),
-- not continuous aggregates, so they work on every TimescaleDB edition. One long format serves every
-- kind: a metric is a telemetry column name; booleans are rolled up as 0/1, so avg is the fraction of
-- readings that were true.
DO $$
DECLARE
    t text;
    chunk interval;
BEGIN
    FOR t, chunk IN VALUES ('telemetry_1m', INTERVAL '1 day'), ('telemetry_1h', INTERVAL '30 days') LOOP
        EXECUTE format(
            'CREATE TABLE %I ('
            ' bucket       timestamptz NOT NULL,'
            ' device_id    text NOT NULL,'
            ' community_id text NOT NULL,'
            ' metric       text NOT NULL,'
            ' n            integer NOT NULL,'
            ' avg          double precision NOT NULL,'
            ' min          double precision NOT NULL,'
            ' max          double precision NOT NULL,'
            ' last         double precision NOT NULL,'
            ' CONSTRAINT %I UNIQUE (device_id, metric, bucket))',
            t, t || '_key');
        PERFORM create_hypertable(t, by_range('bucket', chunk));
        EXECUTE format('CREATE INDEX %I ON %I (device_id, bucket DESC)', t || '_device_recent', t);
    END LOOP;
END $$;

-- How far each incremental job has got: everything before done_until is processed. Kept in the
-- database, in the same transaction as the job's writes, so a restart or another worker resumes exactly.
CREATE TABLE job_watermarks (
    job        text PRIMARY KEY,
    done_until timestamptz NOT NULL
);
