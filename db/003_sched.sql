-- Scheduler and workers (host/sched.c, host/worker.c).
-- A scheduled run that falls due while the job's previous run is still queued or running is
-- skipped (coalesced), never stacked; each skip is counted on the job.
ALTER TABLE jobs ADD COLUMN schedule_skipped bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN last_skipped_at timestamptz;
CREATE INDEX jobs_due ON jobs (next_run_at) WHERE enabled AND schedule IS NOT NULL;

-- Every run that becomes queued, whoever queued it (API, scheduler, orphan retry, SQL),
-- wakes the idle workers of every process at once: they LISTEN on dhis2sync_runs.
CREATE FUNCTION runs_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dhis2sync_runs', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER runs_queued AFTER INSERT OR UPDATE OF status ON runs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION runs_notify_queued();
