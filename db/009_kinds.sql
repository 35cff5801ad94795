-- Kinds of job: dataValues (every job stored before this), metadata, tracker.
-- A job's kind and its kind's own fields live in jobs.spec; job_json shows them all, so a new
-- kind's fields need no new column and no new function.
-- A conflict entry names what it concerns in `item`: {"type":"dataElements","id":"…"} for
-- metadata, {"type":"event","id":"…"} for tracker data; for data values it stays NULL and the
-- API shows the value (data_value) as the item.
ALTER TABLE run_conflicts ADD COLUMN item jsonb;

CREATE OR REPLACE FUNCTION job_json(j jobs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT (jsonb_build_object('kind', 'dataValues', 'notify', NULL) || j.spec || jsonb_build_object(
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
        'notification', r.notification)
    FROM jobs j WHERE j.id = r.job_id
$$;
