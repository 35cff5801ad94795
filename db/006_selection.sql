-- Issue 16: what a run selected beyond or apart from its job's window (warnings), the source
-- value behind each refused or skipped value, the count of refused values, and progress in
-- values (read, sent, per second, time left) besides chunks.
ALTER TABLE runs ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]';
ALTER TABLE run_conflicts ADD COLUMN source jsonb;
ALTER TABLE run_conflicts ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

CREATE OR REPLACE FUNCTION run_counts(c jsonb) RETURNS json LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'fetched', coalesce((c->>'fetched')::bigint, 0), 'mapped', coalesce((c->>'mapped')::bigint, 0),
        'skipped', coalesce((c->>'skipped')::bigint, 0), 'errors', coalesce((c->>'errors')::bigint, 0),
        'sent', coalesce((c->>'sent')::bigint, 0), 'imported', coalesce((c->>'imported')::bigint, 0),
        'updated', coalesce((c->>'updated')::bigint, 0), 'ignored', coalesce((c->>'ignored')::bigint, 0),
        'deleted', coalesce((c->>'deleted')::bigint, 0), 'conflicts', coalesce((c->>'conflicts')::bigint, 0),
        'refused', coalesce((c->>'refused')::bigint, 0))
$$;

-- What the job's last complete read of its whole selection before run `before` read: the
-- values a run of it should read in all (an incremental run's size cannot be told in advance).
CREATE FUNCTION job_last_read(job bigint, before bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT (p.counts->>'fetched')::bigint FROM runs p
     WHERE p.job_id = job AND p.id < before
       AND p.status IN ('succeeded', 'partial') AND p.watermark_from IS NULL
     ORDER BY p.id DESC LIMIT 1
$$;

CREATE FUNCTION run_progress_json(r runs) RETURNS json LANGUAGE sql STABLE AS $$
    WITH t AS (
        SELECT coalesce((r.counts->>'fetched')::bigint, 0) AS read,
               coalesce((r.counts->>'sent')::bigint, 0) AS sent,
               extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at)::float8 AS secs,
               CASE WHEN r.status = 'running' AND r.watermark_from IS NULL THEN job_last_read(r.job_id, r.id) END AS expected),
    rate AS (SELECT *, CASE WHEN secs > 0 AND read > 0 THEN read / secs END AS per_s FROM t)
    SELECT json_build_object(
        'done', r.progress_done, 'total', r.progress_total,
        'valuesRead', read, 'valuesSent', sent,
        'valuesPerSecond', round(per_s::numeric, 1),
        'etaSeconds', CASE
            WHEN r.status <> 'running' THEN NULL
            WHEN expected > read AND per_s > 0 THEN ceil((expected - read) / per_s)::bigint
            WHEN r.progress_done > 0 AND r.progress_total > r.progress_done
                 THEN ceil(secs * (r.progress_total - r.progress_done) / r.progress_done)::bigint
            END)
    FROM rate
$$;

CREATE OR REPLACE FUNCTION run_json(r runs) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'job', j.name, 'jobId', r.job_id, 'status', r.status,
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
