-- Rule files edited through the API. Every saved version of a file is kept with who saved it, when, and
-- what its check found; the latest version of a file is the source of truth, written into each hub
-- worker's rules directory (a file never saved here stays as shipped in the directory). A file's first
-- save records the shipped content before it as the version to go back to. Rows are never changed:
-- going back to an old version saves its content again as a new version ('restored').
CREATE TABLE rule_file_versions (
    id            bigserial PRIMARY KEY,
    file_name     text NOT NULL CHECK (file_name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.ya?ml$'),
    content       text NOT NULL,
    content_hash  text NOT NULL,
    source        text NOT NULL CHECK (source IN ('shipped', 'saved', 'restored')),
    restored_from bigint REFERENCES rule_file_versions (id),
    saved_by      text NOT NULL,
    saved_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    check_result  jsonb NOT NULL,
    CHECK ((source = 'restored') = (restored_from IS NOT NULL))
);
CREATE INDEX rule_file_versions_latest ON rule_file_versions (file_name, id DESC);

-- What each hub worker has in force: the content hash of every file it loaded, and the errors of its
-- last reload (a refused reload keeps the rules before it). `seen_at` moves while the worker runs.
CREATE TABLE rule_loads (
    worker_id  text PRIMARY KEY,
    files      jsonb NOT NULL,
    rule_count integer NOT NULL,
    errors     jsonb NOT NULL DEFAULT '[]'::jsonb,
    loaded_at  timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL
);
