-- Foundation schema: registry, live state, typed telemetry hypertables, events, dead letters,
-- users and sessions, alerts and cases.

CREATE TABLE communities (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    street_office text
);

CREATE TABLE devices (
    id                 text PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('smoke_detector', 'lamppost', 'manhole', 'access_gate')),
    community_id       text NOT NULL REFERENCES communities (id),
    building           text,
    grid               text,
    plan_x             double precision,
    plan_y             double precision,
    latitude           double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude          double precision CHECK (longitude BETWEEN -180 AND 180),
    installed_on       date,
    metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    mqtt_password_hash text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_community_idx ON devices (community_id, kind);

CREATE TABLE device_state (
    device_id         text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    last_seen         timestamptz,
    last_seq          bigint,
    online            boolean NOT NULL DEFAULT false,
    online_changed_at timestamptz,
    battery_pct       real,
    rssi_dbm          smallint,
    last_values       jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE device_status_history (
    time      timestamptz NOT NULL,
    device_id text NOT NULL,
    online    boolean NOT NULL,
    reason    text NOT NULL
);
SELECT create_hypertable('device_status_history', by_range('time', INTERVAL '7 days'));
CREATE INDEX ON device_status_history (device_id, time DESC);

-- Telemetry: one hypertable per kind with typed columns. `time` is the device time; the unique key on
-- (device_id, time, seq) makes redelivered and duplicated messages land once.
CREATE TABLE telemetry_smoke (
    time                        timestamptz NOT NULL,
    device_id                   text NOT NULL,
    seq                         bigint NOT NULL,
    received_at                 timestamptz NOT NULL,
    community_id                text NOT NULL,
    smoke_obscuration_pct_per_m real NOT NULL,
    temperature_c               real NOT NULL,
    battery_pct                 real NOT NULL,
    alarm                       boolean NOT NULL,
    fault                       boolean NOT NULL,
    tamper                      boolean NOT NULL,
    test_button                 boolean NOT NULL,
    rssi_dbm                    smallint
);

CREATE TABLE telemetry_lamppost (
    time              timestamptz NOT NULL,
    device_id         text NOT NULL,
    seq               bigint NOT NULL,
    received_at       timestamptz NOT NULL,
    community_id      text NOT NULL,
    lamp_on           boolean NOT NULL,
    dim_level_pct     real NOT NULL,
    power_w           real NOT NULL,
    voltage_v         real NOT NULL,
    current_a         real NOT NULL,
    pole_tilt_deg     real NOT NULL,
    cabinet_door_open boolean NOT NULL,
    pm25_ug_m3        real,
    noise_db          real,
    emergency_call    boolean NOT NULL,
    rssi_dbm          smallint
);

CREATE TABLE telemetry_manhole (
    time           timestamptz NOT NULL,
    device_id      text NOT NULL,
    seq            bigint NOT NULL,
    received_at    timestamptz NOT NULL,
    community_id   text NOT NULL,
    tilt_deg       real NOT NULL,
    cover_open     boolean NOT NULL,
    water_level_cm real NOT NULL,
    ch4_pct_lel    real NOT NULL,
    h2s_ppm        real NOT NULL,
    battery_pct    real NOT NULL,
    rssi_dbm       smallint
);

CREATE TABLE telemetry_gate (
    time         timestamptz NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    received_at  timestamptz NOT NULL,
    community_id text NOT NULL,
    door_open    boolean NOT NULL,
    uptime_s     bigint,
    rssi_dbm     smallint
);

CREATE TABLE device_events (
    time         timestamptz NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    received_at  timestamptz NOT NULL,
    community_id text NOT NULL,
    event        text NOT NULL,
    held_s       real,
    count        integer
);

-- Access events hold personal data (a keyed pseudonym, never the raw identity) and have their own,
-- short retention.
CREATE TABLE access_events (
    time             timestamptz NOT NULL,
    device_id        text NOT NULL,
    seq              bigint NOT NULL,
    received_at      timestamptz NOT NULL,
    community_id     text NOT NULL,
    result           text NOT NULL CHECK (result IN ('granted', 'denied')),
    method           text NOT NULL CHECK (method IN ('card', 'face', 'qr', 'pin')),
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    person_pseudonym text
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['telemetry_smoke', 'telemetry_lamppost', 'telemetry_manhole', 'telemetry_gate',
                             'device_events', 'access_events'] LOOP
        PERFORM create_hypertable(t, by_range('time', INTERVAL '1 day'));
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (device_id, time, seq)', t || '_dedup', t);
        EXECUTE format('CREATE INDEX %I ON %I (device_id, time DESC)', t || '_device_recent', t);
        EXECUTE format('CREATE INDEX %I ON %I (community_id, time DESC)', t || '_community_time', t);
    END LOOP;
END $$;

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text NOT NULL,
    client_id    text,
    reason       text NOT NULL,
    payload_head bytea NOT NULL,
    payload_size integer NOT NULL
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'manager', 'resident', 'integration')),
    communities   text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE TABLE alerts (
    id            bigserial PRIMARY KEY,
    rule_id       text NOT NULL,
    rule_version  text NOT NULL,
    subject       text NOT NULL,
    device_id     text REFERENCES devices (id),
    community_id  text NOT NULL REFERENCES communities (id),
    building      text,
    grid          text,
    severity      text NOT NULL,
    category      text NOT NULL,
    title         text NOT NULL,
    status        text NOT NULL CHECK (status IN ('open', 'cleared')),
    started_at    timestamptz NOT NULL,
    opened_at     timestamptz NOT NULL,
    cleared_at    timestamptz,
    explanation   jsonb NOT NULL,
    clear_reason  text
);
-- One open alert per (rule, subject), enforced by the database, not only in memory.
CREATE UNIQUE INDEX alerts_one_open ON alerts (rule_id, subject) WHERE status = 'open';
CREATE INDEX alerts_community_idx ON alerts (community_id, opened_at DESC);

CREATE TABLE cases (
    id           bigserial PRIMARY KEY,
    title        text NOT NULL,
    category     text NOT NULL,
    severity     text NOT NULL,
    status       text NOT NULL,
    source       text NOT NULL CHECK (source IN ('alert', 'resident', 'operator')),
    subject      text NOT NULL,
    community_id text NOT NULL REFERENCES communities (id),
    building     text,
    grid         text,
    device_id    text REFERENCES devices (id),
    team         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_queue_idx ON cases (status, created_at);
CREATE INDEX cases_community_idx ON cases (community_id, created_at DESC);
-- An alert joins the open case for the same subject and category instead of opening another.
CREATE UNIQUE INDEX cases_one_open_per_subject ON cases (subject, category)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');

CREATE TABLE case_alerts (
    case_id  bigint NOT NULL REFERENCES cases (id),
    alert_id bigint NOT NULL REFERENCES alerts (id),
    PRIMARY KEY (case_id, alert_id)
);

CREATE TABLE case_events (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    from_status text,
    to_status   text,
    note        text
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);
