-- Case dispatch: who handles a case, its deadlines and escalation, the teams that claim cases,
-- residents' reports with their photos, and residents' ratings.

ALTER TABLE cases
    ADD COLUMN description          text,
    ADD COLUMN reporter_id          bigint REFERENCES users (id),
    ADD COLUMN assignee_id          bigint REFERENCES users (id),
    ADD COLUMN ack_due_at           timestamptz,
    ADD COLUMN resolve_due_at       timestamptz,
    ADD COLUMN acknowledged_at      timestamptz,
    ADD COLUMN resolved_at          timestamptz,
    ADD COLUMN cancel_reason        text,
    ADD COLUMN escalation_level     smallint NOT NULL DEFAULT 0 CHECK (escalation_level BETWEEN 0 AND 2),
    ADD COLUMN ack_escalated_at     timestamptz,
    ADD COLUMN resolve_escalated_at timestamptz,
    ADD CONSTRAINT cases_status_known CHECK (status IN ('new', 'dispatched', 'acknowledged', 'in_progress',
                                                         'resolved', 'closed', 'reopened', 'cancelled'));

-- The claim queue: the most urgent unclaimed case of a team.
CREATE INDEX cases_claimable_idx ON cases (team, created_at) WHERE status = 'dispatched' AND assignee_id IS NULL;
-- The escalation job looks only at open cases whose deadline has not been escalated yet.
CREATE INDEX cases_ack_due_idx ON cases (ack_due_at)
    WHERE ack_escalated_at IS NULL AND acknowledged_at IS NULL
      AND status NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX cases_resolve_due_idx ON cases (resolve_due_at)
    WHERE resolve_escalated_at IS NULL AND status NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX cases_reporter_idx ON cases (reporter_id, created_at DESC) WHERE reporter_id IS NOT NULL;

-- Machine-readable facts of an event (escalation level and deadline, old and new team) next to its note.
ALTER TABLE case_events ADD COLUMN detail jsonb;

CREATE TABLE team_members (
    team    text NOT NULL CHECK (team ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE case_attachments (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    data         bytea NOT NULL CHECK (octet_length(data) <= 2097152),
    uploaded_by  bigint REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_attachments_case_idx ON case_attachments (case_id);

CREATE TABLE case_ratings (
    case_id     bigint NOT NULL REFERENCES cases (id),
    resident_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stars       smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, resident_id)
);
