-- Closed loop beyond the anchors: verified closure and rework, missing data frozen on alerts, working-
-- calendar deadlines with suspensions and extensions, merged cases, and device topology.
-- Depends on 0001-0005 only.

-- Rework: each `reopen` (a verifier rejected the resolution) counts once on the case.
-- Deadline clocks: `calendar` (wall-clock time) or `working` (the working calendar of config/routing.yaml),
-- needed to give a resumed case back the time it had left. `suspended_at` is set while a suspension is
-- in force (the case keeps its status; deadlines do not run and it does not escalate).
ALTER TABLE cases
    ADD COLUMN rework_count  integer NOT NULL DEFAULT 0 CHECK (rework_count >= 0),
    ADD COLUMN ack_clock     text NOT NULL DEFAULT 'calendar' CHECK (ack_clock IN ('calendar', 'working')),
    ADD COLUMN resolve_clock text NOT NULL DEFAULT 'calendar' CHECK (resolve_clock IN ('calendar', 'working')),
    ADD COLUMN suspended_at  timestamptz;

-- Missing data: an open alert whose device stopped sending is frozen (`no_data`), never cleared by the
-- silence. `last_reading_at` is hub time, refreshed by ingest at most every few seconds per alert.
-- `suppressed_by`: the down parent device whose case took this alert in (topology).
ALTER TABLE alerts
    ADD COLUMN data_state       text NOT NULL DEFAULT 'live' CHECK (data_state IN ('live', 'no_data')),
    ADD COLUMN data_state_since timestamptz,
    ADD COLUMN last_reading_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN suppressed_by    text REFERENCES devices (id) ON DELETE SET NULL;
CREATE INDEX alerts_open_device_idx ON alerts (device_id) WHERE status = 'open';

-- Evidence: photos a handler attaches to show the finished work, next to the photos of residents' reports.
ALTER TABLE case_attachments
    ADD COLUMN purpose text NOT NULL DEFAULT 'report' CHECK (purpose IN ('report', 'evidence'));

-- Suspension and extension requests: made by a handler, decided by an admin or operator other than the
-- requester (an admin's own request is approved in the same step, and says so). One pending request per
-- case and kind.
CREATE TABLE case_requests (
    id              bigserial PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES cases (id),
    kind            text NOT NULL CHECK (kind IN ('suspension', 'extension')),
    reason          text NOT NULL CHECK (length(reason) > 0),
    extend_by       text,
    requested_by    text NOT NULL,
    requested_by_id bigint REFERENCES users (id) ON DELETE SET NULL,
    requested_at    timestamptz NOT NULL,
    decision        text CHECK (decision IN ('approved', 'declined')),
    decided_by      text,
    decided_at      timestamptz,
    decision_note   text,
    CHECK ((kind = 'extension') = (extend_by IS NOT NULL)),
    CHECK ((decision IS NULL) = (decided_at IS NULL))
);
CREATE UNIQUE INDEX case_requests_one_pending ON case_requests (case_id, kind) WHERE decision IS NULL;

-- Suspensions in force and past ones: suspended time does not count against a case's deadlines.
CREATE TABLE case_suspensions (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    request_id  bigint REFERENCES case_requests (id),
    reason      text NOT NULL,
    approved_by text NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    ended_by    text,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX case_suspensions_one_open ON case_suspensions (case_id) WHERE ended_at IS NULL;

-- One case per problem: a merged case is cancelled ("merged into #N") and points at the surviving case
-- here; a split undoes the record (split_at) and restores the merged case's status. `moved_alerts` are
-- the alert links the merge added to the surviving case, removed again by a split.
CREATE TABLE case_merges (
    id                 bigserial PRIMARY KEY,
    merged_case_id     bigint NOT NULL REFERENCES cases (id),
    surviving_case_id  bigint NOT NULL REFERENCES cases (id),
    merged_from_status text NOT NULL,
    merged_by          text NOT NULL,
    merged_by_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    merged_at          timestamptz NOT NULL,
    note               text,
    moved_alerts       bigint[] NOT NULL DEFAULT '{}',
    split_by           text,
    split_at           timestamptz,
    CHECK (merged_case_id <> surviving_case_id),
    CHECK ((split_by IS NULL) = (split_at IS NULL))
);
CREATE UNIQUE INDEX case_merges_one_active ON case_merges (merged_case_id) WHERE split_at IS NULL;
CREATE INDEX case_merges_surviving_idx ON case_merges (surviving_case_id) WHERE split_at IS NULL;

-- Topology: a device may hang under a parent (a gateway, a lamp feeder cabinet).
ALTER TABLE devices
    ADD COLUMN parent_id text REFERENCES devices (id) ON DELETE SET NULL,
    ADD CONSTRAINT devices_not_own_parent CHECK (parent_id <> id);
CREATE INDEX devices_parent_idx ON devices (parent_id) WHERE parent_id IS NOT NULL;

-- Rework per team and category reads reopened events by time.
CREATE INDEX case_events_action_at_idx ON case_events (action, at) WHERE action IN ('reopened', 'resolved');
