-- A run that waits out an outage says so: what it waits for ("source", "target" or
-- "database") and since when (the first failure of the outage). Shown while it runs only: a
-- run that ended waits for nothing, whatever its last write said.
ALTER TABLE runs
    ADD COLUMN waiting_for text CHECK (waiting_for IN ('source', 'target', 'database')),
    ADD COLUMN waiting_since timestamptz;

CREATE OR REPLACE FUNCTION run_json(r runs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'job', j.name, 'jobId', r.job_id, 'kind', coalesce(j.spec->>'kind', 'dataValues'),
        'status', r.status,
        'dryRun', r.dry_run, 'full', r.full_run, 'trigger', r.trigger,
        'createdAt', iso_utc(r.created_at), 'startedAt', iso_utc(r.started_at),
        'finishedAt', iso_utc(r.finished_at),
        'durationMs', CASE WHEN r.started_at IS NOT NULL
                           THEN (extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at) * 1000)::bigint END,
        'progress', run_progress_json(r),
        'counts', run_counts(r.counts),
        'warnings', r.warnings,
        'mappingVersion', r.mapping_version, 'error', r.error,
        'since', r.watermark_from, 'sourceTime', r.watermark_to,
        'cancelRequested', r.cancel_requested, 'worker', r.worker,
        'waitingFor', CASE WHEN r.status = 'running' THEN r.waiting_for END,
        'waitingSince', CASE WHEN r.status = 'running' THEN iso_utc(r.waiting_since) END,
        'notification', r.notification)
    FROM jobs j WHERE j.id = r.job_id
$$;

-- A job's retryWindow (seconds) is in its spec; jobs saved before it show the default.
CREATE OR REPLACE FUNCTION job_json(j jobs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT (jsonb_build_object('kind', 'dataValues', 'notify', NULL, 'retryWindow', 600) || j.spec || jsonb_build_object(
        'id', j.id, 'name', j.name,
        'source', (SELECT name FROM instances WHERE id = j.source_id), 'sourceId', j.source_id,
        'target', (SELECT name FROM instances WHERE id = j.target_id), 'targetId', j.target_id,
        'mapping', j.mapping,
        'schedule', j.schedule, 'enabled', j.enabled, 'nextRunAt', iso_utc(j.next_run_at),
        'watermark', (SELECT last_updated FROM watermarks WHERE job_id = j.id),
        'lastRun', (SELECT run_json(r) FROM runs r WHERE r.job_id = j.id
                    ORDER BY r.created_at DESC, r.id DESC LIMIT 1),
        'createdAt', iso_utc(j.created_at), 'updatedAt', iso_utc(j.updated_at)))::json
$$;
