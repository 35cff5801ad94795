// / — the dashboard: every job with its schedule, last and next run, live progress of the runs
// in flight, and a chart of the runs over time (one series per job, coloured by outcome). A new
// install gets the three steps to a first run instead.
import { api } from '../api.js';
import { fmtDuration, fmtNumber, h, replace, timeEl } from '../dom.js';
import { busy, button, emptyState, errorText, link, loadScript, message, pageHeader, table, toast } from '../ui.js';
import { ACTIVE, pollRun, refusedWords, runCell } from '../runs-common.js';

export const title = 'Dashboard';

// bars are filled by outcome and outlined by job, so both read at a glance
const OUTCOME_COLOURS = { succeeded: '#2e9e57', partial: '#e0a21b', failed: '#c8372d', interrupted: '#7a1a12' };
const JOB_COLOURS = ['#1d5fa8', '#7b3fa0', '#0f8a8a', '#c0508a', '#6b4f2a', '#3b4654', '#4f7d1f', '#d9731c'];

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
      .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
    const heading = h('h2', { id: 'chart-h' }, 'Runs over time');
    if (done.length === 0) {
      replace(chartBox, heading, h('p', { class: 'muted' }, 'The chart fills in as runs finish.'));
      return;
    }
    const jobs = [...new Map(done.map((r) => [r.jobId ?? r.job, r.job ?? `job ${r.jobId}`])).entries()];
    const jobColour = new Map(jobs.map(([key], i) => [key, JOB_COLOURS[i % JOB_COLOURS.length]]));
    const canvas = h('canvas', { role: 'img', 'aria-label': `Chart of the last ${done.length} runs of ${jobs.length} ${jobs.length === 1 ? 'job' : 'jobs'}: values read per run over time, coloured by outcome; the numbers are in the table below` });
    const swatch = (colour, text, outline) => {
      const box = h('span', { class: ['swatch', outline ? 'swatch-outline' : null] });
      box.style[outline ? 'borderColor' : 'backgroundColor'] = colour; // CSSOM: no inline style under the CSP
      return h('span', { class: 'legend-item' }, box, text);
    };
    const legend = h('div', { class: 'chart-legend small' },
      h('div', {}, h('span', { class: 'muted' }, 'Jobs (bar outline): '), jobs.map(([key, name]) => swatch(jobColour.get(key), name, true))),
      h('div', {}, h('span', { class: 'muted' }, 'Outcome (bar colour): '), Object.entries(OUTCOME_COLOURS).map(([st, colour]) => swatch(colour, st))),
      h('p', { class: 'muted' }, 'Bar height: the values a run read, on a log scale (1, 10, 100, 1,000 …) so one big run does not flatten the others. ',
        'A run that read nothing, as a failed run often does, still shows as a short bar.'));
    const details = h('details', { class: 'chart-data' }, h('summary', {}, 'Show the numbers'),
      table(['Finished', 'Job', 'Status', 'Values read', 'Imported or updated', 'Refused', 'Duration'], done.slice().reverse().map((r) => h('tr', {},
        h('td', {}, timeEl(r.finishedAt, false)), h('td', {}, r.job), h('td', {}, r.status),
        h('td', { class: 'num' }, fmtNumber(r.counts?.fetched ?? 0)),
        h('td', { class: 'num' }, fmtNumber((r.counts?.imported ?? 0) + (r.counts?.updated ?? 0))),
        h('td', { class: 'num' }, fmtNumber(r.counts?.refused ?? r.counts?.conflicts ?? 0)),
        h('td', { class: 'num' }, fmtDuration(r.durationMs))))));
    replace(chartBox, heading, h('div', { class: 'chart' }, canvas), legend, details);
    try {
      await loadScript('/vendor/chart.js/chart.min.js');
    } catch (e) {
      replace(chartBox.querySelector('.chart'), message('warn', `The chart library did not load: ${errorText(e)}`));
      return;
    }
    if (!ctx.alive) return;
    if (chart) chart.destroy();
    // Chart.js 3 has no date adapter here: a linear axis of epoch milliseconds, labelled as dates
    const times = done.map((r) => Date.parse(r.finishedAt));
    const first = Math.min(...times);
    const last = Math.max(...times);
    const pad = Math.max((last - first) * 0.04, 60000);
    const datasets = jobs.map(([key, name]) => {
      const mine = done.filter((r) => (r.jobId ?? r.job) === key);
      return {
        type: 'bar', label: name, grouped: false, barThickness: 12, borderWidth: 2, borderSkipped: false,
        borderColor: jobColour.get(key),
        backgroundColor: mine.map((r) => OUTCOME_COLOURS[r.status] ?? OUTCOME_COLOURS.failed),
        data: mine.map((r) => ({ x: Date.parse(r.finishedAt), y: Math.max(1, r.counts?.fetched ?? 0), run: r })),
      };
    });
    // ticks as fine as the span needs, so that two ticks never read the same
    const span = last - first + 2 * pad;
    const tickFormat = span < 15 * 60000 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
      : span < 3 * 86400000 ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
        : { year: 'numeric', month: 'short', day: 'numeric' };
    const tick = (ms) => new Date(ms).toLocaleString('en-GB', tickFormat);
    const when = (ms) => new Date(ms).toLocaleString('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    chart = new window.Chart(canvas, {
      data: { datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: {
          x: { type: 'linear', min: first - pad, max: last + pad, ticks: { maxTicksLimit: 6, callback: tick }, title: { display: true, text: 'finished' } },
          y: {
            type: 'logarithmic', min: 0.5, title: { display: true, text: 'values read (log scale)' },
            ticks: { callback: (v) => (Math.log10(v) % 1 === 0 ? fmtNumber(v) : null) },
          },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => when(items[0].raw.x),
              label: (item) => {
                const r = item.raw.run;
                const c = r.counts || {};
                return [`${r.job}: ${r.status}${r.dryRun ? ' (dry run)' : ''}, ${fmtDuration(r.durationMs)}`,
                  `${fmtNumber(c.fetched ?? 0)} read, ${fmtNumber((c.imported ?? 0) + (c.updated ?? 0))} imported or updated`,
                  refusedWords(c, r.kind)].filter(Boolean);
              },
            },
          },
        },
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
