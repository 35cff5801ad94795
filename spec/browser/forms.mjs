// forms.mjs — the instance and job forms: every problem shown at once in words before anything
// is sent (a batch size of 0 is refused, not replaced), the instances list shows each one's
// last connection test (saving tests it; a failing test is shown, not refused), a job's
// "Check", and unsaved forms asking before they are left.
import { check, checkClean, login, newPage, ready, run, step } from './lib.mjs';

const SOURCE = process.env.SOURCE_URL;

run('forms', async (browser, setPage) => {
  const { page, rec } = await newPage(browser);
  setPage(page);
  const form = page.locator('form.form');
  const fieldError = (name) => form.locator(`[data-field="${name}"] .field-error`);
  const apiCalls = () => rec.requests.filter((u) => /\/api\/(instances|jobs)(\?|$)/.test(new URL(u).pathname + new URL(u).search)).length;

  await step('log in; an empty instance form lists every problem at once and sends nothing', async () => {
    await page.goto('/instances');
    await page.waitForURL((u) => u.pathname === '/login');
    await login(page);
    await ready(page, '/instances');
    await page.getByRole('button', { name: 'Add the first instance' }).click();
    const before = apiCalls();
    await form.locator('input[name=url]').fill('ftp://dhis2.example.org');
    await form.locator('button[type=submit]').click();
    await fieldError('name').filter({ hasText: 'Name is required' }).waitFor();
    check(await fieldError('url').innerText() === 'Base URL must start with https:// (or http://)', `the url's problem, saw "${await fieldError('url').innerText()}"`);
    check(await fieldError('auth.username').innerText() === 'User name is required', 'the user name');
    check(await fieldError('auth.password').innerText() === 'Password is required', 'the password');
    check(/4 problems/.test(await page.locator('form.form .msg-error').innerText()), 'a summary of 4 problems');
    check(apiCalls() === before, 'nothing sent');
  });

  await step('leaving the filled form asks first; "Stay" keeps it', async () => {
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Leave this page?' });
    await dialog.getByRole('button', { name: 'Stay on this page' }).click();
    check(new URL(page.url()).pathname === '/instances', 'still on the instances');
    check(await form.locator('input[name=url]').inputValue() === 'ftp://dhis2.example.org', 'the url as typed');
  });

  await step('saving tests the instance: the list shows the DHIS2 version', async () => {
    await form.locator('input[name=name]').fill('district');
    await form.locator('input[name=url]').fill(SOURCE);
    await form.locator('input[name=username]').fill('admin');
    await form.locator('input[name=password]').fill('district');
    await form.locator('button[type=submit]').click();
    await form.waitFor({ state: 'detached' });
    const row = page.locator('tbody tr', { hasText: 'district' });
    const health = await row.locator('.health-ok').innerText();
    check(/connected/.test(health) && /DHIS2 2\.\d+/.test(health) && /tested/.test(health), `version and time of the test, saw "${health}"`);
  });

  await step('a server that does not answer is saved, its failing test shown', async () => {
    await page.getByRole('button', { name: 'Add instance' }).click();
    await form.locator('input[name=name]').fill('national');
    await form.locator('input[name=url]').fill('http://127.0.0.1:9');
    await form.locator('input[name=username]').fill('admin');
    await form.locator('input[name=password]').fill('district');
    await form.locator('button[type=submit]').click();
    await form.waitFor({ state: 'detached' });
    await page.locator('main .msg-warn', { hasText: 'connection test failed' }).waitFor();
    const row = page.locator('tbody tr', { hasText: 'national' });
    await row.locator('.health-bad').waitFor();
    // after a reload, still there: it is stored
    await page.reload();
    await ready(page, '/instances');
    await page.locator('tbody tr', { hasText: 'national' }).locator('.health-bad .badge-failed').waitFor();
    await page.locator('tbody tr', { hasText: 'district' }).locator('.health-ok').waitFor();
  });

  await step('the job form: a batch size of 0 and the other problems at once; nothing saved', async () => {
    await page.goto('/jobs/new');
    await ready(page, '/jobs/new');
    await page.selectOption('select[name=source]', { label: 'district' });
    await page.selectOption('select[name=target]', { label: 'national' });
    await page.fill('input[name="importOptions.batchSize"]', '0');
    await page.getByRole('button', { name: 'Create job' }).click();
    await fieldError('importOptions.batchSize').filter({ hasText: 'Batch size must be a whole number from 1 to 50,000' }).waitFor();
    check(await fieldError('name').innerText() === 'Job name is required', 'the name');
    check(/at least one data set/.test(await fieldError('dataSets').innerText()), 'the data sets');
    check(/at least one org unit/.test(await fieldError('orgUnits').innerText()), 'the org units');
    const jobs = await page.evaluate(async () => (await (await fetch('/api/jobs')).json()).jobs.length);
    check(jobs === 0, 'no job saved');
  });

  await step('"Check" before saving: the browser\'s problems first, then the server\'s answer', async () => {
    await page.getByRole('button', { name: 'Check', exact: true }).click();
    await page.locator('form.form .msg-error', { hasText: 'Check: fix these first' }).waitFor();
    await page.fill('input[name=name]', 'checked job');
    await page.fill('input[name="importOptions.batchSize"]', '1000');
    await page.getByLabel(/Facility Monthly Report/).check();
    const root = page.locator('[data-field=orgUnits] .picker-item input[type=checkbox]').first();
    await root.check();
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/jobs/check');
    await page.getByRole('button', { name: 'Check', exact: true }).click();
    const res = await answer;
    if (res.status() === 404 || res.status() === 405) {
      // the preflight route comes with the backend branch of issue 16
      await page.locator('form.form .msg-error', { hasText: 'Could not check' }).waitFor();
      process.stdout.write('  (POST /api/jobs/check is not in this build: the answer\'s rendering is not checked)\n');
    } else {
      const summary = await page.locator('form.form .msg', { hasText: 'Check:' }).innerText();
      check(/A run would read/.test(summary), `the estimate, saw "${summary}"`);
    }
  });

  await step('the schedule in words, with its next times', async () => {
    await page.fill('input[name=schedule]', '0 2 * * *');
    await page.locator('.schedule-words strong', { hasText: 'At 02:00 UTC, every day.' }).waitFor();
    check(await page.locator('.schedule-words time').count() === 5, 'the next five times');
    await page.fill('input[name=schedule]', '99 * * * *');
    await page.locator('.schedule-words .error-text', { hasText: 'minute' }).waitFor();
  });

  await step('leaving the job form with changes asks; "Discard" leaves', async () => {
    await page.getByRole('link', { name: 'Instances', exact: true }).click();
    await page.getByRole('button', { name: 'Discard changes and leave' }).click();
    await ready(page, '/instances');
    const jobs = await page.evaluate(async () => (await (await fetch('/api/jobs')).json()).jobs.length);
    check(jobs === 0, 'still no job');
  });

  await step('no request left the server, no errors, no browser dialog', async () => {
    checkClean(rec);
  });
});
