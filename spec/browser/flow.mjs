// flow.mjs — from an empty install to finished runs, the way an implementer would do it:
// add two instances and test them, see an XSS payload in a name stay text, create a job with
// the pickers, run it and watch it finish, then a run with conflicts and its conflicts table,
// the runs list filtered, and the dashboard with its chart. Every request stays on the server.
import {
  BASE, check, checkClean, checkNoLeakedValues, emulator, login, newPage, ready, run, screenshot, step,
} from './lib.mjs';

const SOURCE = process.env.SOURCE_URL;
const TARGET = process.env.TARGET_URL;
const XSS = '<img src=x onerror=alert(1)>';
const shots = process.env.SCREENSHOTS === '1';

run('flow', async (browser, setPage) => {
  check(SOURCE && TARGET, 'SOURCE_URL and TARGET_URL in the environment');
  const { page, rec } = await newPage(browser);
  setPage(page);

  await step('log in from the dashboard address', async () => {
    await page.goto('/');
    await page.waitForURL((u) => u.pathname === '/login');
    await login(page);
    await ready(page, '/');
    await page.getByText('Welcome to dhis2sync').waitFor();
  });

  const instanceRow = (name) => page.locator('tbody tr').filter({ has: page.locator('.inst-name', { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\<>]/g, '\\$&')}$`) }) });

  async function addInstance(name, url) {
    await page.getByRole('button', { name: /^Add (the first )?instance$/ }).first().click();
    const form = page.locator('form.form');
    await form.locator('input[name=name]').fill(name);
    await form.locator('input[name=url]').fill(url);
    await form.locator('input[name=username]').fill('admin');
    await form.locator('input[name=password]').fill('district');
    await form.locator('button[type=submit]').click();
    await instanceRow(name).waitFor();
  }

  await step('add the source and target instances', async () => {
    await page.getByRole('link', { name: 'Add instances' }).click();
    await ready(page, '/instances');
    await page.getByText('No instances yet').waitFor();
    await addInstance('district', SOURCE);
    await addInstance('national', TARGET);
  });

  await step('test connection shows the DHIS2 version and user', async () => {
    for (const name of ['district', 'national']) {
      const row = instanceRow(name);
      await row.getByRole('button', { name: /Test connection/ }).click();
      await row.locator('.msg-ok').waitFor();
      const text = await row.locator('.msg-ok').innerText();
      check(/Connected: DHIS2 2\.\d+/.test(text) && text.includes('admin'), `"Connected: DHIS2 <version> as admin", saw "${text}"`);
    }
  });

  await step('editing with blank secrets keeps them', async () => {
    const row = instanceRow('national');
    await row.getByRole('button', { name: /^Edit/ }).click();
    const form = page.locator('form.form');
    check(await form.locator('input[name=password]').inputValue() === '', 'the password field to start blank');
    await form.locator('button[type=submit]').click();
    await form.waitFor({ state: 'detached' });
    await instanceRow('national').getByRole('button', { name: /Test connection/ }).click();
    await instanceRow('national').locator('.msg-ok').waitFor();
  });

  await step('a wrong password is reported in words', async () => {
    await addInstance('wrong password', TARGET);
    await page.getByRole('button', { name: /^Edit wrong password/ }).click();
    await page.locator('form.form input[name=password]').fill('not-the-password');
    await page.locator('form.form button[type=submit]').click();
    await page.locator('form.form').waitFor({ state: 'detached' });
    const row = instanceRow('wrong password');
    await row.getByRole('button', { name: /Test connection/ }).click();
    await row.locator('.msg-error').waitFor();
    const text = await row.locator('.msg-error').innerText();
    check(/401|credentials|password/i.test(text), `an error naming the credentials, saw "${text}"`);
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await row.waitFor({ state: 'detached' });
  });

  await step('an XSS payload as an instance name shows as text', async () => {
    await addInstance(XSS, TARGET);
    const cell = page.locator('.inst-name', { hasText: XSS });
    check(await cell.innerText() === XSS, 'the name shown as typed');
    check(await page.locator('main img').count() === 0, 'no <img> made from the name');
    await page.reload();
    await ready(page, '/instances');
    await page.locator('.inst-name', { hasText: XSS }).waitFor();
    check(await page.locator('main img').count() === 0, 'no <img> after a reload either');
    await checkNoLeakedValues(page);
    if (shots) await screenshot(page, 'instances');
  });

  let jobUrl;
  await step('create a job with the pickers', async () => {
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await ready(page, '/jobs');
    await page.getByRole('link', { name: 'Create a job' }).click();
    await ready(page, '/jobs/new');
    await page.fill('input[name=name]', 'district to national');
    await page.selectOption('select[name=source]', { label: 'district' });
    await page.selectOption('select[name=target]', { label: 'national' });
    check(await page.locator(`select[name=source] option`, { hasText: XSS }).count() === 1, 'the XSS name listed as text in the instance pickers');
    check(await page.locator('main img').count() === 0, 'no <img> made from the name on the job page');
    // the pickers fill from the source instance
    await page.getByLabel(/Facility Monthly Report/).check();
    await page.getByLabel(/Quarterly Programme Report/).check();
    const root = page.locator('input[name=orgUnits]').first();
    await root.waitFor();
    const rootLabel = await page.locator('[data-field=orgUnits] .picker-item label').first().innerText();
    check(/level 1/.test(rootLabel), `the first org unit to be the root (level 1), saw "${rootLabel}"`);
    await root.check();
    check(await page.getByLabel('Include every org unit below the chosen roots').isChecked(), 'children on by default');
    await page.getByLabel('A date range').check();
    await page.fill('input[name="periods.start"]', '2000-01-01');
    await page.fill('input[name="periods.end"]', '2099-12-31');
    // every run sends everything, so the second run meets the conflicts
    await page.getByLabel(/^Incremental/).uncheck();
    if (shots) await screenshot(page, 'job-new');
    await page.getByRole('button', { name: 'Create job' }).click();
    await page.waitForURL(/\/jobs\/\d+$/);
    await ready(page);
    jobUrl = new URL(page.url()).pathname;
    await page.getByRole('heading', { level: 1, name: 'district to national' }).waitFor();
    await page.locator('input[name=orgUnits]').first().waitFor();
    await checkNoLeakedValues(page);
  });

  async function runAndWait(expected) {
    await page.getByRole('button', { name: 'Run now' }).click();
    await page.locator('.msg-ok', { hasText: 'Run queued' }).waitFor();
    const latest = page.locator('table.runs-mini tbody tr').first();
    await latest.locator(`.badge-${expected}`).waitFor({ timeout: 60000 });
    return latest;
  }

  let firstRun;
  await step('run it and watch it finish', async () => {
    const row = await runAndWait('succeeded');
    const counts = await row.locator('.counts').innerText();
    check(/2,000 fetched/.test(counts) && /2,000 imported/.test(counts), `2,000 fetched and imported, saw "${counts}"`);
    firstRun = await row.getAttribute('data-run');
  });

  await step('the run page shows counts, timings and no conflicts', async () => {
    await page.locator(`a[href="/runs/${firstRun}"]`).first().click();
    await ready(page, `/runs/${firstRun}`);
    const fetched = await page.locator('[data-count=fetched] dd').innerText();
    const imported = await page.locator('[data-count=imported] dd').innerText();
    check(fetched === '2,000' && imported === '2,000', `fetched and imported 2,000, saw ${fetched} and ${imported}`);
    await page.getByText('None: every value was accepted or dropped on purpose.').waitFor();
    await checkNoLeakedValues(page);
    check(await page.locator('.details').innerText().then((t) => /Duration/.test(t)), 'the timings');
    if (shots) await screenshot(page, 'run-succeeded');
  });

  let conflictId;
  await step('a run with conflicts shows the conflicts table', async () => {
    const des = await emulator(SOURCE, 'GET', '/api/dataElements?fields=id,displayName&paging=false');
    conflictId = des.dataElements[0].id;
    await emulator(TARGET, 'POST', '/emulator/faults', { conflictIds: [conflictId] });
    await page.goto(jobUrl);
    await ready(page, jobUrl);
    const row = await runAndWait('partial');
    const id = await row.getAttribute('data-run');
    await page.locator(`a[href="/runs/${id}"]`).first().click();
    await ready(page, `/runs/${id}`);
    // the page opens on the conflicts grouped by cause (runs.mjs); this looks at every entry
    const everyEntry = page.getByRole('button', { name: 'Every entry' });
    if (await everyEntry.count()) await everyEntry.click();
    const conflicts = page.locator('table.conflicts-table tbody tr');
    await conflicts.first().waitFor();
    const n = Number((await page.locator('[data-count=conflicts] dd').innerText()).replace(/,/g, ''));
    check(n > 0, `a conflicts count above 0, saw ${n}`);
    const first = await conflicts.first().innerText();
    check(first.includes(conflictId), `the conflict row to name ${conflictId}, saw "${first}"`);
    check(/E76\d\d/.test(first), `an E76xx error code, saw "${first}"`);
    await checkNoLeakedValues(page);
    // every value of that data element is listed, 50 to a page
    check(await conflicts.count() === 50, 'a first page of 50 refused values');
    await page.getByText(/Page 1 of \d+/).waitFor();
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText(/Page 2 of \d+/).waitFor();
    check((await conflicts.first().innerText()).includes(conflictId), 'the second page lists refused values too');
    if (shots) await screenshot(page, 'run-conflicts');
    await emulator(TARGET, 'DELETE', '/emulator/faults');
  });

  await step('the runs list filters by status and job', async () => {
    await page.getByRole('link', { name: 'Runs', exact: true }).click();
    await ready(page, '/runs');
    check(await page.locator('main tbody tr').count() === 2, 'two runs listed');
    await checkNoLeakedValues(page);
    await page.selectOption('select[name=status]', 'partial');
    await page.waitForURL((u) => u.searchParams.get('status') === 'partial');
    await page.locator('main tbody tr').first().waitFor();
    check(await page.locator('main tbody tr').count() === 1, 'one partial run');
    await page.selectOption('select[name=status]', 'failed');
    await page.getByText('No runs match').waitFor();
  });

  await step('job settings: a bad schedule is refused at its field, a good one saved; disable and enable', async () => {
    await page.goto(jobUrl);
    await ready(page, jobUrl);
    await page.fill('input[name=schedule]', '99 * * * *');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const fieldError = page.locator('[data-field=schedule] .field-error');
    await fieldError.waitFor();
    check((await fieldError.innerText()).length > 0, 'an error under the schedule field');
    check(await page.locator('input[name=schedule]').getAttribute('aria-invalid') === 'true', 'the field marked invalid');
    await page.fill('input[name=schedule]', '0 2 * * *');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#toast', { hasText: 'Saved' }).waitFor();
    await page.getByRole('button', { name: 'Disable', exact: true }).click();
    await page.locator('.lead .tag-off', { hasText: 'disabled' }).waitFor();
    const job = await page.evaluate(async (p) => (await fetch(`/api${p}`)).json(), jobUrl);
    check(job.enabled === false && job.schedule === '0 2 * * *', `disabled with schedule "0 2 * * *", saw ${job.enabled} "${job.schedule}"`);
    await page.getByRole('button', { name: 'Enable', exact: true }).click();
    await page.locator('.lead .tag-on', { hasText: 'enabled' }).waitFor();
  });

  await step('the dashboard shows the job, its last run and the chart', async () => {
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await ready(page, '/');
    const row = page.locator('table.jobs-table tbody tr').first();
    await row.locator('.badge-partial').waitFor();
    check((await row.innerText()).includes('0 2 * * *'), 'the schedule');
    check(await row.locator('td').nth(3).locator('time').count() === 1, 'a next run time');
    await page.locator('.chart canvas').waitFor();
    await page.waitForFunction(() => window.Chart && Object.keys(window.Chart.instances || {}).length > 0);
    await checkNoLeakedValues(page);
    if (shots) await screenshot(page, 'dashboard');
  });

  await step('live progress while a run is going', async () => {
    // slow the target down so that the run is seen running from the dashboard
    await emulator(TARGET, 'POST', '/emulator/faults', { delayMs: 400, importOnly: true });
    await page.getByRole('button', { name: /^Run district to national now$/ }).click();
    const row = page.locator('table.jobs-table tbody tr').first();
    await row.locator('.badge-running, .badge-queued').first().waitFor();
    await row.locator('.badge-succeeded').waitFor({ timeout: 60000 });
    await emulator(TARGET, 'DELETE', '/emulator/faults');
  });

  await step('no request left the server, no errors, no dialog', async () => {
    checkClean(rec);
    check(rec.requests.some((u) => u.startsWith(`${BASE}/api/instances/`) && u.includes('/metadata/dataSets')), 'the pickers to use the metadata route');
  });
});
