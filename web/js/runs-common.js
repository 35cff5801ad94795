// runs-common.js — how a run is shown wherever it appears: its status, counts, progress, and
// polling of the ones still queued or running.
import { api } from './api.js';
import { fmtDuration, fmtNumber, h, progressBar, replace, statusBadge, timeEl } from './dom.js';
import { kindNoun } from './kinds.js';

export const ACTIVE = new Set(['queued', 'running']);
export const STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled', 'interrupted'];

const plural = (n, one, many) => `${fmtNumber(n)} ${n === 1 ? one : many}`;

// "1,832 values refused, in 9 conflict entries": what the target refused, in words, since the
// refused values are also inside the target's "ignored" count and one entry can cover many.
// kind: the run's, whose word ("values", "objects", …) the count takes.
export function refusedWords(counts, kind) {
  if (!counts || !(counts.refused || counts.conflicts)) return null;
  const entries = plural(counts.conflicts ?? 0, 'conflict entry', 'conflict entries');
  return counts.refused === undefined || counts.refused === null ? entries
    : `${plural(counts.refused, ...kindNoun(kind))} refused, in ${entries}`;
}

export function countsLine(counts, kind) {
  if (!counts) return null;
  const parts = [
    [fmtNumber(counts.fetched), 'fetched'], [fmtNumber(counts.imported), 'imported'],
    [fmtNumber(counts.updated), 'updated'], [fmtNumber(counts.ignored), 'ignored'],
  ];
  const refused = refusedWords(counts, kind);
  if (refused) parts.push(['', refused, true]);
  if (counts.skipped) parts.push([fmtNumber(counts.skipped), 'skipped']);
  if (counts.errors) parts.push([fmtNumber(counts.errors), 'mapping errors', true]);
  return h('span', { class: 'counts small' },
    parts.map(([n, k, bad], i) => h('span', { class: ['count', bad ? 'count-bad' : null, n ? null : 'count-words'] },
      i ? ' · ' : '', n ? `${n} ${k}` : k)));
}

// "12,400 values read · 12,000 sent · 3,100 values/s · about 4 s left", from what the run
// reports while it reads a window that may be one single chunk (objects for other kinds).
export function valuesLine(progress, kind) {
  if (!progress || progress.valuesRead === undefined || progress.valuesRead === null) return null;
  const [one, many] = kindNoun(kind);
  const parts = [`${plural(progress.valuesRead, one, many)} read`, `${fmtNumber(progress.valuesSent ?? 0)} sent`];
  if (progress.valuesPerSecond !== null && progress.valuesPerSecond !== undefined) {
    parts.push(`${fmtNumber(Math.round(progress.valuesPerSecond))} ${many}/s`);
  }
  if (progress.etaSeconds !== null && progress.etaSeconds !== undefined) {
    parts.push(`about ${fmtDuration(progress.etaSeconds * 1000)} left`);
  }
  return h('div', { class: 'values-line small' }, parts.join(' · '));
}

export function runProgress(progress, status, kind) {
  const values = valuesLine(progress, kind);
  if (!values || progress.total > 1) return h('div', { class: 'run-progress' }, progressBar(progress, status), values);
  // a single chunk (a date window) would read "0 of 1" until its end: the values left, as far
  // as the rate and the ETA tell them, measure it instead
  const { valuesRead: read, valuesPerSecond: rate, etaSeconds: eta } = progress;
  const bar = h('progress', { max: 100, class: 'progress', 'aria-label': `Progress: ${values.textContent}` });
  if (rate && eta !== null && eta !== undefined) bar.value = Math.min(100, Math.round((100 * read) / (read + rate * eta)));
  else bar.removeAttribute('value');
  return h('div', { class: 'run-progress' }, h('div', { class: 'progress-wrap' }, bar), values);
}

// "Waiting for the target since 10:42:05 (retrying)": a running run riding out an outage.
export function waitingLine(run) {
  if (!run || !run.waitingFor || !run.waitingSince) return null;
  const since = new Date(run.waitingSince);
  const pad = (x) => String(x).padStart(2, '0');
  const at = Number.isNaN(since.getTime()) ? run.waitingSince
    : `${pad(since.getHours())}:${pad(since.getMinutes())}:${pad(since.getSeconds())}`;
  return h('div', { class: 'msg msg-warn run-waiting', role: 'status' },
    `Waiting for the ${run.waitingFor} since ${at} (retrying)`);
}

// One line for the latest run of a job: its status and what came of it.
export function outcome(run) {
  if (!run) return h('span', { class: 'muted' }, 'never run');
  const c = run.counts || {};
  const refused = refusedWords(c, run.kind);
  let words;
  if (ACTIVE.has(run.status)) words = valuesLine(run.progress, run.kind);
  else if (run.status === 'failed' || run.status === 'interrupted') words = run.error;
  else if (refused) words = refused;
  else words = `${plural(c.fetched ?? 0, ...kindNoun(run.kind))} read, ${fmtNumber((c.imported ?? 0) + (c.updated ?? 0))} imported or updated`;
  return h('span', { class: 'run-outcome' }, h('a', { href: `/runs/${run.id}`, 'data-link': '' }, statusBadge(run.status)),
    run.dryRun ? h('span', { class: 'tag' }, 'dry run') : null, ' ',
    words ? h('span', { class: ['outcome-words', run.status === 'failed' || refused ? 'error-text' : null] }, words) : null,
    ' ', timeEl(run.finishedAt || run.startedAt || run.createdAt));
}

// The job page's "last run" line: kept current by asking for the job's newest run now and then,
// so a run started from the page (or by the schedule) shows there as it goes and as it ends.
export function lastRunLine(ctx, job) {
  const el = h('span', { class: 'last-run' }, ' · last run ', outcome(job.lastRun));
  if (!job.id) return el;
  let inFlight = false;
  ctx.every(2000, async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const r = await api.get(`/api/runs?job=${encodeURIComponent(job.id)}&pageSize=1`);
      if (ctx.alive && r.runs.length) replace(el, ' · last run ', outcome(r.runs[0]));
    } catch {
      // shown again at the next beat
    } finally {
      inFlight = false;
    }
  });
  return el;
}

// The cell that describes a run: status, when, counts or live progress.
export function runCell(run) {
  if (!run) return h('span', { class: 'muted' }, 'never run');
  const when = run.finishedAt || run.startedAt || run.createdAt;
  return h('div', { class: 'run-cell' },
    h('div', {}, h('a', { href: `/runs/${run.id}`, 'data-link': '' }, statusBadge(run.status)),
      run.dryRun ? h('span', { class: 'tag' }, 'dry run') : null,
      ' ', timeEl(when)),
    ACTIVE.has(run.status) ? runProgress(run.progress, run.status, run.kind) : countsLine(run.counts, run.kind),
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
