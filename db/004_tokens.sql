-- API tokens (host/auth.c) may expire; an expired token is refused like an unknown one.
-- `dhis2sync token revoke` deletes the row, so a revoked token is refused at its next request.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;

-- A token as `dhis2sync token list` (and a later /api/tokens) shows it: never its hash.
CREATE FUNCTION token_json(t api_tokens) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', t.id, 'name', t.name, 'createdAt', iso_utc(t.created_at),
        'lastUsedAt', iso_utc(t.last_used_at), 'expiresAt', iso_utc(t.expires_at),
        'expired', coalesce(t.expires_at <= now(), false))
$$;
