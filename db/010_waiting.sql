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
