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

-- How the API shows rows. Kept beside the tables so that every reader (API, CLI, backup
-- checks) shows the same thing, and so that no secret column can slip into an answer.
CREATE FUNCTION iso_utc(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION instance_json(i instances) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', i.id, 'name', i.name, 'url', i.url,
        'auth', CASE WHEN i.auth_type = 'basic'
                     THEN json_build_object('type', 'basic', 'username', i.username)
                     ELSE json_build_object('type', 'pat') END,
        'caFile', i.ca_file,
        'createdAt', iso_utc(i.created_at), 'updatedAt', iso_utc(i.updated_at))
$$;

CREATE FUNCTION run_counts(c jsonb) RETURNS json LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'fetched', coalesce((c->>'fetched')::bigint, 0), 'mapped', coalesce((c->>'mapped')::bigint, 0),
        'skipped', coalesce((c->>'skipped')::bigint, 0), 'errors', coalesce((c->>'errors')::bigint, 0),
        'sent', coalesce((c->>'sent')::bigint, 0), 'imported', coalesce((c->>'imported')::bigint, 0),
        'updated', coalesce((c->>'updated')::bigint, 0), 'ignored', coalesce((c->>'ignored')::bigint, 0),
        'deleted', coalesce((c->>'deleted')::bigint, 0), 'conflicts', coalesce((c->>'conflicts')::bigint, 0))
$$;

CREATE FUNCTION run_json(r runs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'job', j.name, 'jobId', r.job_id, 'status', r.status,
        'dryRun', r.dry_run, 'full', r.full_run, 'trigger', r.trigger,
        'createdAt', iso_utc(r.created_at), 'startedAt', iso_utc(r.started_at),
        'finishedAt', iso_utc(r.finished_at),
        'durationMs', CASE WHEN r.started_at IS NOT NULL
                           THEN (extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at) * 1000)::bigint END,
        'progress', json_build_object('done', r.progress_done, 'total', r.progress_total),
        'counts', run_counts(r.counts),
        'mappingVersion', r.mapping_version, 'error', r.error,
        'since', r.watermark_from, 'sourceTime', r.watermark_to,
        'cancelRequested', r.cancel_requested, 'worker', r.worker,
        'notification', r.notification)
    FROM jobs j WHERE j.id = r.job_id
$$;

CREATE FUNCTION job_json(j jobs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', j.id, 'name', j.name,
        'source', (SELECT name FROM instances WHERE id = j.source_id), 'sourceId', j.source_id,
        'target', (SELECT name FROM instances WHERE id = j.target_id), 'targetId', j.target_id,
        'mapping', j.mapping,
        'dataSets', j.spec->'dataSets', 'dataElementGroups', j.spec->'dataElementGroups',
        'orgUnits', j.spec->'orgUnits', 'children', j.spec->'children',
        'periods', j.spec->'periods', 'incremental', j.spec->'incremental',
        'deletions', j.spec->'deletions', 'importOptions', j.spec->'importOptions',
        'notify', j.spec->'notify',
        'schedule', j.schedule, 'enabled', j.enabled, 'nextRunAt', iso_utc(j.next_run_at),
        'watermark', (SELECT last_updated FROM watermarks WHERE job_id = j.id),
        'lastRun', (SELECT run_json(r) FROM runs r WHERE r.job_id = j.id
                    ORDER BY r.created_at DESC, r.id DESC LIMIT 1),
        'createdAt', iso_utc(j.created_at), 'updatedAt', iso_utc(j.updated_at))
$$;
