-- Accounts in the admin (/api/users): a user can be disabled (kept, but cannot log in; its
-- sessions end) and shows when it last logged in.
ALTER TABLE users ADD COLUMN disabled_at timestamptz, ADD COLUMN last_login_at timestamptz;

-- A user as /api/users shows it: never the password hash.
CREATE FUNCTION user_json(u users) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', u.id, 'name', u.name, 'enabled', u.disabled_at IS NULL,
        'createdAt', iso_utc(u.created_at), 'disabledAt', iso_utc(u.disabled_at),
        'lastLoginAt', iso_utc(u.last_login_at))
$$;
