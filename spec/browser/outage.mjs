// outage.mjs — a run that waits out an outage shows it: while the target is down the run page
// says "Waiting for the target since HH:MM:SS (retrying)", and once the run has ridden it out it
// succeeds and keeps a note of how long it waited.
import { check, checkClean, emulator, login, newPage, ready, run, screenshot, step } from './lib.mjs';
import { addInstance, addJob, apiCall, runEnds } from './seed.mjs';

const SOURCE = process.env.SOURCE_URL;
const TARGET = process.env.TARGET_URL;
const shots = process.env.SCREENSHOTS === '1';

run('outage', async (browser, setPage) => {
  check(SOURCE && TARGET, 'SOURCE_URL and TARGET_URL in the environment');
  const { page, rec } = await newPage(browser);
  setPage(page);
  let job;

  await step('log in, add the instances and a job posting in small batches', async () => {
    await page.goto('/login');
    await login(page);
    await ready(page, '/');
    await addInstance(page, 'district', SOURCE);
    await addInstance(page, 'national', TARGET);
    job = await addJob(page, 'nightly', 'district', 'national', { importOptions: { batchSize: 100 }, retryWindow: 120 });
    check(job.retryWindow === 120, `retryWindow read back as given, saw ${job.retryWindow}`);
  });

  await step('while the target is down, the run page says what the run waits for and since when', async () => {
    await emulator(TARGET, 'POST', '/emulator/faults', { delayMs: 200, importOnly: true });
    const started = await apiCall(page, 'POST', `/api/jobs/${job.id}/run`, {});
    await page.goto(`/runs/${started.id}`);
    await ready(page, `/runs/${started.id}`);
    for (let i = 0; i < 100; i++) {
      const r = await apiCall(page, 'GET', `/api/runs/${started.id}`);
      if (r.counts?.sent > 0 || r.status !== 'running') break;
      await page.waitForTimeout(100);
    }
    await emulator(TARGET, 'POST', '/emulator/faults', { downFor: 8 });
    const line = page.locator('.run-waiting');
    await line.waitFor({ timeout: 8000 });
    const text = await line.innerText();
    check(/^Waiting for the target since \d\d:\d\d:\d\d \(retrying\)$/.test(text),
      `"Waiting for the target since HH:MM:SS (retrying)", saw "${text}"`);
    if (shots) await screenshot(page, 'run-waiting');
    const ended = await runEnds(page, started, 'succeeded');
    check(ended.waitingFor === null, `no waitingFor once ended, saw ${ended.waitingFor}`);
    await page.locator('.run-head .badge-succeeded').waitFor();
    check(await line.count() === 0, 'the waiting line gone once the run ended');
    const notes = await page.locator('.run-warnings li').allInnerTexts();
    check(notes.some((n) => /^waited .* for the target from \d\d:\d\d:\d\d UTC, retrying$/.test(n)),
      `a note saying how long the run waited, saw ${JSON.stringify(notes)}`);
  });

  checkClean(rec);
});
