-- Case notifications through a transactional outbox. A trigger on case_events writes the outbox rows in
-- the same transaction as the change itself, so no code path can forget to notify, a rolled-back change
-- notifies nobody, and a receiver that is down only delays its deliveries. Depends on 0001 only.

CREATE TABLE notification_subscriptions (
    id           bigserial PRIMARY KEY,
    url          text NOT NULL CHECK (url ~ '^https?://'),
    -- NULL means "no filter"; an empty list would silently match nothing, so it is refused.
    communities  text[] CHECK (cardinality(communities) > 0),
    teams        text[] CHECK (cardinality(teams) > 0),
    categories   text[] CHECK (cardinality(categories) > 0),
    min_severity text NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'minor', 'major', 'critical')),
    -- Stored as issued: the hub needs the secret itself to compute each HMAC, so a hash would not do.
    -- Whoever can read this table can forge signatures for it; see README "Notifications".
    secret       text NOT NULL,
    max_attempts integer NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 100),
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per (case event, receiver): a webhook subscription, or the case team's MQTT topic.
CREATE TABLE notification_outbox (
    id              bigserial PRIMARY KEY,
    case_event_id   bigint NOT NULL REFERENCES case_events (id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('webhook', 'mqtt')),
    subscription_id bigint REFERENCES notification_subscriptions (id) ON DELETE CASCADE,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    -- While a drainer holds a row this is its lease; afterwards, when the next retry is due.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text,
    CHECK ((channel = 'webhook') = (subscription_id IS NOT NULL)),
    UNIQUE (case_event_id, subscription_id)
);
CREATE UNIQUE INDEX notification_outbox_one_mqtt ON notification_outbox (case_event_id) WHERE channel = 'mqtt';
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_outbox_subscription ON notification_outbox (subscription_id, status, id);

-- The one definition of what a receiver gets, shared by the outbox trigger and the SSE stream.
CREATE FUNCTION notify_case_event_payload(e case_events) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'event_id', e.id,
        'case_id', e.case_id,
        'action', e.action,
        'from_status', e.from_status,
        'to_status', e.to_status,
        'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'community', c.community_id,
        'team', c.team,
        'category', c.category,
        'severity', c.severity,
        'title', c.title)
    FROM cases c
    WHERE c.id = e.case_id
$$;

CREATE FUNCTION notify_case_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb := notify_case_event_payload(NEW);
    ranks   text[] := ARRAY['info', 'minor', 'major', 'critical'];
BEGIN
    INSERT INTO notification_outbox (case_event_id, channel, subscription_id, payload)
    SELECT NEW.id, 'webhook', s.id, payload
    FROM notification_subscriptions s
    WHERE (s.communities IS NULL OR payload ->> 'community' = ANY (s.communities))
      AND (s.teams IS NULL OR payload ->> 'team' = ANY (s.teams))
      AND (s.categories IS NULL OR payload ->> 'category' = ANY (s.categories))
      AND coalesce(array_position(ranks, payload ->> 'severity'), 1) >= array_position(ranks, s.min_severity);
    IF payload ->> 'team' IS NOT NULL THEN
        INSERT INTO notification_outbox (case_event_id, channel, payload) VALUES (NEW.id, 'mqtt', payload);
    END IF;
    -- Delivered at commit only, so a stream never wakes for a change that was rolled back.
    PERFORM pg_notify('case_events', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER case_events_notify AFTER INSERT ON case_events
    FOR EACH ROW EXECUTE FUNCTION notify_case_event();
