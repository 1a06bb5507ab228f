-- The street office calls on departments: one row per organisation called on for a case's joint
-- response, with its own response deadline (computed on the community's working calendar when the call
-- is made) and the department's answer. A call is open until it is declined or reported done; the case
-- cannot close while one is, and an unanswered call past its deadline is escalated once.
CREATE TABLE case_calls (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id),
    organisation text NOT NULL REFERENCES organisations (id),
    request      text NOT NULL CHECK (length(request) BETWEEN 1 AND 2000),
    called_by    text NOT NULL,
    called_at    timestamptz NOT NULL,
    respond_by   timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'accepted', 'declined', 'done')),
    answered_by  text,
    answered_at  timestamptz,
    answer_note  text CHECK (length(answer_note) <= 2000),
    escalated_at timestamptz
);
CREATE UNIQUE INDEX case_calls_one_open_idx ON case_calls (case_id, organisation)
    WHERE state IN ('open', 'accepted');
CREATE INDEX case_calls_unanswered_idx ON case_calls (respond_by) WHERE state = 'open' AND escalated_at IS NULL;
