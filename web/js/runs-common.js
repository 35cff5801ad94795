// runs-common.js — how a run is shown wherever it appears: its status, counts, progress, and
// polling of the ones still queued or running.
import { api } from './api.js';
import { fmtNumber, h, progressBar, statusBadge, timeEl } from './dom.js';

export const ACTIVE = new Set(['queued', 'running']);
export const STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled', 'interrupted'];

export function countsLine(counts) {
  if (!counts) return null;
  const parts = [
    ['fetched', counts.fetched], ['imported', counts.imported], ['updated', counts.updated],
    ['ignored', counts.ignored], ['conflicts', counts.conflicts],
  ];
  if (counts.skipped) parts.push(['skipped', counts.skipped]);
  if (counts.errors) parts.push(['mapping errors', counts.errors]);
  return h('span', { class: 'counts small' },
    parts.map(([k, v], i) => h('span', { class: ['count', (k === 'conflicts' || k === 'mapping errors') && v ? 'count-bad' : null] },
      i ? ' · ' : '', fmtNumber(v), ' ', k)));
}

// The cell that describes a run: status, when, counts or live progress.
export function runCell(run) {
  if (!run) return h('span', { class: 'muted' }, 'never run');
  const when = run.finishedAt || run.startedAt || run.createdAt;
  return h('div', { class: 'run-cell' },
    h('div', {}, h('a', { href: `/runs/${run.id}`, 'data-link': '' }, statusBadge(run.status)),
      run.dryRun ? h('span', { class: 'tag' }, 'dry run') : null,
      ' ', timeEl(when)),
    ACTIVE.has(run.status) ? progressBar(run.progress, run.status) : countsLine(run.counts),
    run.error && !ACTIVE.has(run.status) ? h('div', { class: 'small error-text' }, run.error) : null);
}

// Polls GET /api/runs/{id} every second while the run is queued or running; onUpdate(run)
// after each answer, onDone(run) once it has finished. Returns a stop function.
export function pollRun(ctx, id, onUpdate, onDone) {
  let inFlight = false;
  const stop = ctx.every(1000, async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const run = await api.get(`/api/runs/${id}`);
      if (!ctx.alive) return;
      onUpdate(run);
      if (!ACTIVE.has(run.status)) {
        stop();
        if (onDone) onDone(run);
      }
    } catch {
      // a missed beat; the next one tries again
    } finally {
      inFlight = false;
    }
  });
  return stop;
}
