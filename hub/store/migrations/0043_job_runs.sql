-- One row per run of a scheduled job on a worker: written when it starts ('running') and completed when
-- it ends: 'ok' with what it did as counts (`done`, e.g. {"escalated": 2}), 'failed' with the error, or
-- 'skipped' (another worker held the job's lock). Times are the database's clock, shared by every
-- worker. Retention deletes rows by age.
CREATE TABLE job_runs (
    id          bigserial PRIMARY KEY,
    job         text NOT NULL,
    worker_id   text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    outcome     text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'ok', 'failed', 'skipped')),
    done        jsonb NOT NULL DEFAULT '{}'::jsonb,
    error       text,
    CHECK ((outcome = 'running') = (finished_at IS NULL)),
    CHECK ((outcome = 'failed') = (error IS NOT NULL))
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at DESC);
CREATE INDEX job_runs_started ON job_runs (started_at);
