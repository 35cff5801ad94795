-- Failed logins are counted per (user name, client address), not per name alone: five wrong
-- passwords for admin from anywhere must not lock admin out from everywhere (host/session.h).
-- A login attempt adds its row before the password is checked (so concurrent attempts cannot
-- pass the count together) and a successful one deletes its pair's rows again. The old rows
-- are at most 15 minutes of failures, not worth converting.
DROP TABLE login_failures;
CREATE TABLE login_failures (
    id       bigserial PRIMARY KEY,
    -- SHA-256 hex of the submitted name (people type passwords into the name field, so the
    -- name itself is not kept)
    user_key text NOT NULL,
    address  text NOT NULL,     -- the client's IP address
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_pair ON login_failures (user_key, address, at);
CREATE INDEX login_failures_address ON login_failures (address, at);
CREATE INDEX login_failures_at ON login_failures (at);
