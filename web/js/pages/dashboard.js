// / — the dashboard: every job with its schedule, last and next run, live progress of the runs
// in flight, and a chart of values synced and run durations over time. A new install gets the
// three steps to a first run instead.
import { api } from '../api.js';
import { fmtDuration, fmtNumber, h, replace, timeEl } from '../dom.js';
import { busy, button, emptyState, errorText, link, loadScript, message, pageHeader, table, toast } from '../ui.js';
import { ACTIVE, pollRun, runCell } from '../runs-common.js';

export const title = 'Dashboard';

export async function render(ctx) {
  const jobsBox = h('section', { class: 'card', 'aria-labelledby': 'jobs-h' });
  const chartBox = h('section', { class: 'card', 'aria-labelledby': 'chart-h' });
  const status = h('div');
  const polled = new Map(); // run id -> stop
  let chart = null;

  async function load() {
    const [jobs, instances, runs] = await Promise.all([
      api.get('/api/jobs?pageSize=200'),
      api.get('/api/instances?pageSize=1'),
      api.get('/api/runs?pageSize=100'),
    ]);
    return { jobs: jobs.jobs, nInstances: instances.pager.total, runs: runs.runs };
  }

  function renderJobs(data) {
    if (data.jobs.length === 0) {
      const haveInstances = data.nInstances >= 2;
      jobsBox.className = '';
      chartBox.hidden = true;
      replace(jobsBox, emptyState('Welcome to dhis2sync',
        [h('p', {}, 'Three steps to your first sync:'), h('ol', { class: 'steps' },
          h('li', { class: data.nInstances >= 2 ? 'done' : null },
            h('strong', {}, 'Add your DHIS2 instances'), ' — the source you read from and the target you write to. ',
            'Use "Test connection" to check each one.'),
          h('li', {}, h('strong', {}, 'Create a job'), ' — pick the data sets and org units to copy, and optionally a mapping to rewrite ids.'),
          h('li', {}, h('strong', {}, 'Run it'), ' — try a dry run first; the run page shows what the target accepted and refused.'))],
        haveInstances ? link('/jobs/new', 'Create a job', { class: 'btn btn-primary' })
          : link('/instances', 'Add instances', { class: 'btn btn-primary' })));
      return;
    }
    jobsBox.className = 'card';
    chartBox.hidden = false;
    const rows = data.jobs.map((job) => {
      const lastCell = h('td', {}, runCell(job.lastRun));
      const runBtn = button('Run now', async (ev) => {
        await busy(ev.currentTarget, 'Starting…', async () => {
          try {
            const run = await api.post(`/api/jobs/${job.id}/run`, {});
            toast(`Run ${run.id} of "${job.name}" queued`);
            replace(lastCell, runCell(run));
            watch(run, lastCell);
          } catch (e) {
            replace(status, message('error', `Could not start "${job.name}": ${errorText(e)}`));
          }
        });
      }, { class: 'btn btn-small', 'aria-label': `Run ${job.name} now` });
      if (job.lastRun && ACTIVE.has(job.lastRun.status)) watch(job.lastRun, lastCell);
      return h('tr', {},
        h('th', { scope: 'row' }, link(`/jobs/${job.id}`, job.name),
          h('div', { class: 'small muted' }, job.source ?? '?', ' → ', job.target ?? '?')),
        h('td', {}, job.schedule ? h('code', {}, job.schedule) : h('span', { class: 'muted' }, 'manual only'),
          job.schedule ? h('div', { class: 'small muted' }, 'UTC') : null),
        h('td', {}, job.enabled ? h('span', { class: 'tag tag-on' }, 'enabled') : h('span', { class: 'tag tag-off' }, 'disabled')),
        lastCell,
        h('td', {}, job.enabled && job.schedule ? timeEl(job.nextRunAt) : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'actions-cell' }, runBtn));
    });
    replace(jobsBox,
      h('div', { class: 'card-head' }, h('h2', { id: 'jobs-h' }, 'Jobs'),
        link('/jobs/new', 'New job', { class: 'btn btn-small' })),
      table(['Job', 'Schedule', 'State', 'Last run', 'Next run', ''], rows, { class: 'jobs-table', caption: 'Jobs' }));
  }

  function watch(run, cell) {
    if (polled.has(run.id)) return;
    polled.set(run.id, pollRun(ctx, run.id, (r) => replace(cell, runCell(r)), () => {
      polled.delete(run.id);
      refresh();
    }));
  }

  async function renderChart(runs) {
    const done = runs.filter((r) => r.finishedAt && !ACTIVE.has(r.status) && r.status !== 'cancelled')
      .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt)).slice(-50);
    if (done.length === 0) {
      replace(chartBox, h('h2', { id: 'chart-h' }, 'Values synced and run durations'),
        h('p', { class: 'muted' }, 'The chart fills in as runs finish.'));
      return;
    }
    const labels = done.map((r) => new Date(r.finishedAt).toLocaleString('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }));
    const synced = done.map((r) => (r.counts?.imported ?? 0) + (r.counts?.updated ?? 0));
    const seconds = done.map((r) => Math.round((r.durationMs ?? 0) / 100) / 10);
    const canvas = h('canvas', { role: 'img', 'aria-label': `Chart of the last ${done.length} runs: values synced and duration in seconds` });
    const details = h('details', { class: 'chart-data' }, h('summary', {}, 'Show the numbers'),
      table(['Finished', 'Job', 'Status', 'Values synced', 'Duration'], done.slice().reverse().map((r) => h('tr', {},
        h('td', {}, timeEl(r.finishedAt, false)), h('td', {}, r.job), h('td', {}, r.status),
        h('td', { class: 'num' }, fmtNumber((r.counts?.imported ?? 0) + (r.counts?.updated ?? 0))),
        h('td', { class: 'num' }, fmtDuration(r.durationMs))))));
    replace(chartBox, h('h2', { id: 'chart-h' }, 'Values synced and run durations'),
      h('div', { class: 'chart' }, canvas), details);
    try {
      await loadScript('/vendor/chart.js/chart.min.js');
    } catch (e) {
      replace(chartBox.querySelector('.chart'), message('warn', `The chart library did not load: ${errorText(e)}`));
      return;
    }
    if (!ctx.alive) return;
    if (chart) chart.destroy();
    const css = getComputedStyle(document.documentElement);
    const blue = css.getPropertyValue('--accent').trim() || '#1d5fa8';
    const orange = css.getPropertyValue('--chart-2').trim() || '#d9731c';
    chart = new window.Chart(canvas, {
      data: {
        labels,
        datasets: [
          { type: 'bar', label: 'Values synced (imported + updated)', data: synced, backgroundColor: blue, yAxisID: 'values', order: 2 },
          { type: 'line', label: 'Duration (s)', data: seconds, borderColor: orange, backgroundColor: orange, yAxisID: 'seconds', tension: 0.2, order: 1 },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: 'index', intersect: false },
        scales: {
          values: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'values' } },
          seconds: { type: 'linear', position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: 'seconds' } },
        },
        plugins: { legend: { position: 'bottom' } },
      },
    });
  }

  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const data = await load();
      if (!ctx.alive) return;
      replace(status);
      renderJobs(data);
      renderChart(data.runs);
    } catch (e) {
      if (ctx.alive) replace(status, message('error', `Could not refresh: ${errorText(e)}`));
    } finally {
      refreshing = false;
    }
  }

  const data = await load();
  ctx.add(pageHeader('Dashboard'), status, jobsBox, chartBox);
  renderJobs(data);
  ctx.later(0, () => renderChart(data.runs));
  // scheduled runs start on their own: look again now and then
  ctx.every(15000, refresh);
}
