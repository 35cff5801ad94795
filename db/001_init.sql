-- dhis2sync schema, first version. Names of instances, jobs and users are free text (UTF-8,
-- up to 200 characters, unique per kind). Secrets are stored encrypted (instances) or hashed
-- (tokens, passwords, session ids); nothing here can give one back.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 200),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id_hash     bytea PRIMARY KEY,              -- SHA-256 of the cookie value
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    token_hash   bytea NOT NULL UNIQUE,          -- SHA-256 of the token
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);

CREATE TABLE instances (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 200),
    url        text NOT NULL,
    auth_type  text NOT NULL CHECK (auth_type IN ('basic', 'pat')),
    username   text,
    secret     text NOT NULL,                    -- AES-256-GCM sealed password or token (crypto.h)
    ca_file    text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 200),
    source_id   bigint NOT NULL REFERENCES instances(id) ON DELETE RESTRICT,
    target_id   bigint NOT NULL REFERENCES instances(id) ON DELETE RESTRICT,
    mapping     text CHECK (mapping ~ '^[A-Za-z0-9_-]+$'),
    spec        jsonb NOT NULL,                  -- selection and import options as posted
    schedule    text,
    enabled     boolean NOT NULL DEFAULT true,
    next_run_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE runs (
    id              bigserial PRIMARY KEY,
    job_id          bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN
                    ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled', 'interrupted')),
    dry_run         boolean NOT NULL DEFAULT false,
    full_run        boolean NOT NULL DEFAULT false,
    trigger         text NOT NULL DEFAULT 'manual',  -- manual | schedule | retry | cli
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    heartbeat_at    timestamptz,
    worker          text,                         -- host:pid of the process running it
    progress_done   bigint NOT NULL DEFAULT 0,
    progress_total  bigint,
    counts          jsonb NOT NULL DEFAULT '{}',
    mapping_version text,
    watermark_from  text,                         -- lastUpdated the run fetched from
    watermark_to    text,                         -- source serverDate at the run's start
    error           text,
    notification    jsonb,
    retry_of        bigint REFERENCES runs(id) ON DELETE SET NULL
);
CREATE INDEX runs_job_created ON runs (job_id, created_at DESC);
CREATE INDEX runs_status ON runs (status) WHERE status IN ('queued', 'running');
-- a job never has two runs going at once
CREATE UNIQUE INDEX runs_one_active_per_job ON runs (job_id) WHERE status IN ('queued', 'running');

CREATE TABLE run_conflicts (
    id          bigserial PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('conflict', 'skipped', 'error')),
    object      text,
    value       text,
    error_code  text,
    message     text,
    data_value  jsonb
);
CREATE INDEX run_conflicts_run ON run_conflicts (run_id, id);

CREATE TABLE watermarks (
    job_id       bigint PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    last_updated text NOT NULL,                   -- the source's serverDate, as it wrote it
    run_id       bigint REFERENCES runs(id) ON DELETE SET NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
