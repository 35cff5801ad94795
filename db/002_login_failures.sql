-- Failed logins, for the rate limit of POST /api/session (host/session.h). Kept in PostgreSQL
-- so that every process serving the same database counts the same failures. A failure adds
-- one row per kind; rows older than the window are deleted as new failures come in.
CREATE TABLE login_failures (
    id   bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('user', 'address')),
    -- 'user': SHA-256 hex of the submitted name (people type passwords into the name field,
    -- so the name itself is not kept); 'address': the client's IP address
    key  text NOT NULL,
    at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (kind, key, at);
CREATE INDEX login_failures_at ON login_failures (at);
