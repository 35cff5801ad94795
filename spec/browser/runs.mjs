// runs.mjs — runs a user can act on: a one-chunk date window shows values read and sent, a
// rate and the time left while it runs, and the job's header follows its latest run; refused
// values come grouped by cause with counts, org units and periods, every entry shows its
// source value beside the mapped one, and all of them download as CSV; the counts say in words
// how many values were refused in how many entries; a run says what it selected beyond its
// window; the dashboard chart has one series per job on a time axis, coloured by outcome.
import { check, checkClean, checkNoLeakedValues, emulator, login, newPage, ready, run, screenshot, step } from './lib.mjs';
import { addInstance, addJob, apiCall, runEnds, runJob } from './seed.mjs';

const SOURCE = process.env.SOURCE_URL;
const TARGET = process.env.TARGET_URL;
const shots = process.env.SCREENSHOTS === '1';

run('runs', async (browser, setPage) => {
  check(SOURCE && TARGET, 'SOURCE_URL and TARGET_URL in the environment');
  const { page, rec } = await newPage(browser);
  setPage(page);
  let job;

  await step('log in, add the instances and a date-window job', async () => {
    await page.goto('/login');
    await login(page);
    await ready(page, '/');
    await addInstance(page, 'district', SOURCE);
    await addInstance(page, 'national', TARGET);
    // 2,000 values in posts of 100, each held 300 ms by the target: a run long enough to watch
    job = await addJob(page, 'window', 'district', 'national', { importOptions: { batchSize: 100 } });
  });

  await step('a running one-chunk run shows values read and sent, a rate and the time left', async () => {
    // a first run tells how many values the window holds, hence the time left of the next
    await runJob(page, job, 'succeeded');
    await emulator(TARGET, 'POST', '/emulator/faults', { delayMs: 300, importOnly: true });
    await page.goto(`/jobs/${job.id}`);
    await ready(page, `/jobs/${job.id}`);
    const started = await apiCall(page, 'POST', `/api/jobs/${job.id}/run`, {});
    // the job's header follows its newest run while it goes
    await page.locator('.lead .last-run .badge-running').waitFor();
    await page.goto(`/runs/${started.id}`);
    await ready(page, `/runs/${started.id}`);
    const line = page.locator('.run-progress .values-line');
    await page.waitForFunction(() => /values\/s/.test(document.querySelector('.run-progress .values-line')?.textContent ?? ''));
    const text = await line.innerText();
    check(/^[\d,]+ values? read · [\d,]+ sent · [\d,]+ values\/s/.test(text), `"N values read · N sent · N values/s", saw "${text}"`);
    check(!/0 of 1 chunks/.test(await page.locator('main').innerText()), 'no "0 of 1 chunks"');
    await page.waitForFunction(() => /left$/.test(document.querySelector('.run-progress .values-line')?.textContent ?? ''), null, { timeout: 20000 });
    if (shots) await screenshot(page, 'run-progress');
    await emulator(TARGET, 'DELETE', '/emulator/faults');
    await runEnds(page, started, 'succeeded');
    await page.locator('.run-head .badge-succeeded').waitFor();
    await page.goto(`/jobs/${job.id}`);
    await ready(page, `/jobs/${job.id}`);
    const head = await page.locator('.lead .last-run').innerText();
    check(/succeeded/.test(head) && /2,000 values read/.test(head), `the header to say succeeded and "2,000 values read", saw "${head}"`);
  });

  let conflictId;
  let refusedRun;
  await step('refused values are grouped by cause, and the counts say it in words', async () => {
    const des = await emulator(SOURCE, 'GET', '/api/dataElements?fields=id&paging=false');
    conflictId = des.dataElements[0].id;
    await emulator(TARGET, 'POST', '/emulator/faults', { conflictIds: [conflictId] });
    refusedRun = await runJob(page, job, 'partial');
    await emulator(TARGET, 'DELETE', '/emulator/faults');
    const c = refusedRun.counts;
    check(c.refused > c.conflicts, `more values refused than conflict entries, saw ${c.refused} and ${c.conflicts}`);
    await page.goto(`/runs/${refusedRun.id}`);
    await ready(page, `/runs/${refusedRun.id}`);
    const words = await page.locator('.counts-words').innerText();
    const want = `${c.refused.toLocaleString('en')} values refused, in ${c.conflicts.toLocaleString('en')} conflict ${c.conflicts === 1 ? 'entry' : 'entries'}`;
    check(words.includes(want), `"${want}" in the counts, saw "${words}"`);
    check(await page.locator('[data-count=refused] dd').innerText() === c.refused.toLocaleString('en'), 'a "refused" card');

    const groups = page.locator('table.groups-table tbody tr');
    await groups.first().waitFor();
    const entries = await apiCall(page, 'GET', `/api/runs/${refusedRun.id}/conflicts?pageSize=1`);
    const n = await groups.count();
    check(n >= 1 && n < entries.pager.total, `fewer groups than the ${entries.pager.total} entries, saw ${n}`);
    const counts = await page.locator('table.groups-table tbody .count-cell').allInnerTexts();
    const sum = counts.reduce((a, t) => a + Number(t.replace(/,/g, '')), 0);
    check(sum === entries.pager.total, `group counts adding up to ${entries.pager.total}, saw ${sum}`);
    const first = await groups.first().innerText();
    check(first.includes(conflictId) && /E76\d\d/.test(first), `the first group to name ${conflictId} and an E76xx code, saw "${first}"`);
    check(/\d/.test(await groups.first().locator('td').nth(5).innerText()), 'its org units');
    check(await groups.first().locator('time').count() >= 1, 'when it was seen');
    await checkNoLeakedValues(page);
    if (shots) await screenshot(page, 'run-groups');
  });

  await step('every entry shows the source value beside the mapped one', async () => {
    await page.getByRole('button', { name: 'Every entry' }).click();
    const rows = page.locator('table.conflicts-table tbody tr');
    await rows.first().waitFor();
    const heads = await page.locator('table.conflicts-table thead th').allInnerTexts();
    check(heads.some((t) => /source value/i.test(t)) && heads.some((t) => /after the mapping/i.test(t)), `source and mapped columns, saw ${JSON.stringify(heads)}`);
    const src = await rows.first().locator('td.dv-src').innerText();
    const sent = await rows.first().locator('td.dv-tgt').innerText();
    check(src.includes(conflictId) && /= \S/.test(src), `the source value with its id and value, saw "${src}"`);
    check(sent.includes(conflictId), `the value sent, saw "${sent}"`);
    await checkNoLeakedValues(page);
  });

  await step('all entries download as CSV', async () => {
    const link = page.locator('a.csv-link');
    const href = await link.getAttribute('href');
    check(href === `/api/runs/${refusedRun.id}/conflicts?format=csv`, `the link to ?format=csv, saw ${href}`);
    check(await link.getAttribute('download') !== null, 'a download link');
    const csv = await page.evaluate(async (u) => {
      const r = await fetch(u);
      return { type: r.headers.get('Content-Type'), text: await r.text() };
    }, href);
    const lines = csv.text.trim().split(/\r?\n/);
    const total = (await apiCall(page, 'GET', `/api/runs/${refusedRun.id}/conflicts?pageSize=1`)).pager.total;
    check(/csv/.test(csv.type), `a CSV answer, saw ${csv.type}`);
    check(lines.length === total + 1, `a header and ${total} rows, saw ${lines.length} lines`);
  });

  let failedJob;
  await step('a run says what it selected beyond its window', async () => {
    const relative = await addJob(page, 'relative', 'district', 'national', { periods: { last: 12, type: 'Monthly' } });
    const r = await runJob(page, relative, null);
    check(Array.isArray(r.warnings) && r.warnings.length > 0, `warnings on a relative window over a quarterly data set, saw ${JSON.stringify(r.warnings)}`);
    await page.goto(`/runs/${r.id}`);
    await ready(page, `/runs/${r.id}`);
    const shown = await page.locator('.run-warnings li').allInnerTexts();
    check(shown.length === r.warnings.length && shown[0] === r.warnings[0], `the warnings listed, saw ${JSON.stringify(shown)}`);
    // a third job, whose target is not there, fails (at once: no retry window)
    await addInstance(page, 'gone', 'http://127.0.0.1:9');
    failedJob = await addJob(page, 'to nowhere', 'district', 'gone', { retryWindow: 0 });
    await runJob(page, failedJob, 'failed');
  });

  await step('the dashboard chart: a series per job over time, coloured by outcome, log scale', async () => {
    await page.goto('/');
    await ready(page, '/');
    await page.waitForFunction(() => window.Chart && Object.keys(window.Chart.instances || {}).length > 0);
    const chart = await page.evaluate(() => {
      const c = Object.values(window.Chart.instances)[0];
      return {
        x: c.scales.x.type, y: c.scales.y.type,
        sets: c.data.datasets.map((d) => ({ label: d.label, xs: d.data.map((p) => p.x), ys: d.data.map((p) => p.y), colours: d.backgroundColor })),
      };
    });
    check(chart.x === 'linear' && chart.y === 'logarithmic', `a linear time axis and a log scale, saw ${chart.x} and ${chart.y}`);
    check(chart.sets.map((s) => s.label).sort().join('|') === 'relative|to nowhere|window', `a series per job, saw ${JSON.stringify(chart.sets.map((s) => s.label))}`);
    const win = chart.sets.find((s) => s.label === 'window');
    check(win.xs.length === 3 && win.xs.every((x) => x > Date.parse('2020-01-01')), `three runs of "window" at their times, saw ${JSON.stringify(win.xs)}`);
    check(new Set(win.colours).size === 2, `succeeded and partial in two colours, saw ${JSON.stringify(win.colours)}`);
    const failed = chart.sets.find((s) => s.label === 'to nowhere');
    check(failed.ys[0] >= 1 && failed.colours[0] !== win.colours[0], `the failed run visible in its own colour, saw ${JSON.stringify(failed)}`);
    const legend = await page.locator('.chart-legend').innerText();
    check(/log scale/.test(legend) && /failed/.test(legend) && /to nowhere/.test(legend), `a legend naming jobs, outcomes and the log scale, saw "${legend}"`);
    await checkNoLeakedValues(page);
    if (shots) await screenshot(page, 'dashboard-chart');
  });

  await step('no request left the server, no errors, no dialog', async () => {
    checkClean(rec);
  });
});
