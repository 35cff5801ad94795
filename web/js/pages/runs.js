// /runs?job=&status=&page= — every run, newest first, filtered by job and status.
import { api, qs } from '../api.js';
import { fmtDuration, fmtNumber, h, replace, statusBadge, timeEl } from '../dom.js';
import { emptyState, link, pageHeader, pager, select, table } from '../ui.js';
import { ACTIVE, STATUSES, pollRun } from '../runs-common.js';

export const title = 'Runs';

export async function render(ctx) {
  const job = ctx.query.get('job') || '';
  const status = ctx.query.get('status') || '';
  const page = Number(ctx.query.get('page')) || 1;
  const [data, jobs] = await Promise.all([
    api.get(`/api/runs${qs({ job, status, page, pageSize: 50 })}`),
    api.get('/api/jobs?pageSize=1000'),
  ]);
  const go = (params) => ctx.navigate(`/runs${qs({ job, status, ...params })}`);

  const jobSel = select('job', [['', 'All jobs'], ...jobs.jobs.map((j) => [String(j.id), j.name])], job);
  if (job && !jobs.jobs.some((j) => String(j.id) === job)) jobSel.append(h('option', { value: job, selected: true }, job));
  const statusSel = select('status', [['', 'Any status'], ...STATUSES.map((s) => [s, s])], status);
  jobSel.addEventListener('change', () => go({ job: jobSel.value, page: null }));
  statusSel.addEventListener('change', () => go({ status: statusSel.value, page: null }));
  const filters = h('form', { class: 'filters', role: 'search', onsubmit: (ev) => ev.preventDefault() },
    h('label', { for: 'runs-job' }, 'Job'), Object.assign(jobSel, { id: 'runs-job' }),
    h('label', { for: 'runs-status' }, 'Status'), Object.assign(statusSel, { id: 'runs-status' }));

  ctx.add(pageHeader('Runs'), filters);
  if (data.runs.length === 0) {
    ctx.add(job || status
      ? emptyState('No runs match', 'Try another job or status.', link('/runs', 'Show all runs', { class: 'btn' }))
      : emptyState('No runs yet', 'Runs appear here when a job runs on its schedule or when you start one.', link('/jobs', 'Go to the jobs', { class: 'btn btn-primary' })));
    return;
  }
  const rows = data.runs.map((run) => {
    const statusCell = h('td', {}, statusBadge(run.status), run.dryRun ? h('span', { class: 'tag' }, 'dry run') : null);
    const c = run.counts || {};
    const nums = ['fetched', 'imported', 'updated', 'ignored', 'conflicts'].map((k) => h('td', { class: ['num', k === 'conflicts' && c[k] ? 'count-bad' : null] }, fmtNumber(c[k])));
    const tr = h('tr', {},
      h('th', { scope: 'row' }, link(`/runs/${run.id}`, `#${run.id}`)),
      h('td', {}, run.jobId ? link(`/jobs/${run.jobId}`, run.job ?? '') : run.job ?? ''),
      statusCell,
      h('td', {}, timeEl(run.createdAt)),
      h('td', { class: 'num' }, fmtDuration(run.durationMs)),
      nums);
    if (ACTIVE.has(run.status)) {
      pollRun(ctx, run.id, (r) => {
        replace(statusCell, statusBadge(r.status), r.dryRun ? h('span', { class: 'tag' }, 'dry run') : null);
      }, () => ctx.later(200, () => go({})));
    }
    return tr;
  });
  ctx.add(table(['Run', 'Job', 'Status', 'Started', 'Duration', 'Fetched', 'Imported', 'Updated', 'Ignored', 'Conflicts'], rows, { caption: 'Runs' }),
    pager(data.pager, (n) => go({ page: n })));
}
