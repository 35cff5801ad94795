-- Instances keep their health: the last connection test (POST /api/instances/{id}/test, or
-- the test a create or a change of url/credentials runs), shown in the instances list.
ALTER TABLE instances
    ADD COLUMN last_test_at timestamptz,
    ADD COLUMN last_test_ok boolean,
    ADD COLUMN last_test_version text,
    ADD COLUMN last_test_latency_ms integer,
    ADD COLUMN last_test_error text;

CREATE OR REPLACE FUNCTION instance_json(i instances) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', i.id, 'name', i.name, 'url', i.url,
        'auth', CASE WHEN i.auth_type = 'basic'
                     THEN json_build_object('type', 'basic', 'username', i.username)
                     ELSE json_build_object('type', 'pat') END,
        'caFile', i.ca_file,
        'createdAt', iso_utc(i.created_at), 'updatedAt', iso_utc(i.updated_at),
        'lastTest', CASE WHEN i.last_test_at IS NULL THEN NULL
                         ELSE json_build_object('at', iso_utc(i.last_test_at), 'ok', i.last_test_ok,
                                                'version', i.last_test_version,
                                                'latencyMs', i.last_test_latency_ms,
                                                'error', i.last_test_error) END)
$$;
