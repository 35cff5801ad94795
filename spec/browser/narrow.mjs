// narrow.mjs — every page at 390×844 (a phone): the page never scrolls sideways, tables turn
// into cards, and the buttons that matter are on screen and take a click (the mapping's Save
// among them).
import { check, checkClean, checkNoLeakedValues, emulator, login, newPage, ready, run, screenshot, step } from './lib.mjs';
import { addInstance, addJob, apiCall, runJob } from './seed.mjs';

const SOURCE = process.env.SOURCE_URL;
const TARGET = process.env.TARGET_URL;
const shots = process.env.SCREENSHOTS === '1';

const LUA = `return {
  dataElements = {},
  unmapped = "keep",
}
`;

// No sideways scrolling of the page itself; wide things scroll inside their own box.
async function fitsWidth(page) {
  const w = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth,
    widest: [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1
      && !e.closest('.CodeMirror, .chart')).slice(0, 4).map((e) => `${e.tagName}.${e.className}`),
  }));
  const where = new URL(page.url()).pathname;
  check(w.doc <= w.view && w.body <= w.view, `no sideways scroll on ${where}: page ${w.doc}px, body ${w.body}px, view ${w.view}px, past the edge: ${JSON.stringify(w.widest)}`);
}

// The control is on screen once scrolled to, inside the width, and nothing covers it.
async function reachable(locator, what) {
  await locator.scrollIntoViewIfNeeded();
  check(await locator.isVisible(), `${what} visible`);
  const box = await locator.boundingBox();
  check(box && box.x >= 0 && box.x + box.width <= 390 + 1, `${what} inside the width, saw ${JSON.stringify(box)}`);
  const hit = await locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return Boolean(top && (top === el || el.contains(top)));
  });
  check(hit, `${what} not covered by anything`);
}

run('narrow', async (browser, setPage) => {
  check(SOURCE && TARGET, 'SOURCE_URL and TARGET_URL in the environment');
  const { page, rec, context } = await newPage(browser);
  setPage(page);
  await page.setViewportSize({ width: 390, height: 844 });
  let job;
  let runId;

  async function open(path) {
    await page.goto(path);
    await ready(page, path.split('?')[0]);
    await fitsWidth(page);
  }

  await step('the login page fits', async () => {
    await page.goto('/login');
    await page.waitForSelector('form.login-form');
    await fitsWidth(page);
    await reachable(page.locator('form.login-form button[type=submit]'), 'the login button');
    await login(page);
    await ready(page, '/');
  });

  await step('set up two instances, a job with a refused run, a mapping', async () => {
    await addInstance(page, 'district with a rather long name for a phone', SOURCE);
    await addInstance(page, 'national', TARGET);
    job = await addJob(page, 'district to national, monthly', 'district with a rather long name for a phone', 'national');
    const des = await emulator(SOURCE, 'GET', '/api/dataElements?fields=id&paging=false');
    await emulator(TARGET, 'POST', '/emulator/faults', { conflictIds: [des.dataElements[0].id] });
    runId = (await runJob(page, job, 'partial')).id;
    await emulator(TARGET, 'DELETE', '/emulator/faults');
    await apiCall(page, 'PUT', '/api/mappings/narrow', LUA);
  });

  await step('the dashboard: the menu and "Run now" reachable', async () => {
    await open('/');
    for (const name of ['Instances', 'Jobs', 'Runs', 'Mappings']) {
      await reachable(page.getByRole('link', { name, exact: true }), `the ${name} link`);
    }
    await reachable(page.getByRole('button', { name: /^Run .* now$/ }).first(), '"Run now"');
    const row = page.locator('table.jobs-table tbody tr').first();
    check(await row.evaluate((tr) => getComputedStyle(tr).display) !== 'table-row', 'the jobs table as cards');
    await checkNoLeakedValues(page);
    if (shots) await screenshot(page, 'narrow-dashboard');
  });

  await step('instances and jobs', async () => {
    await open('/instances');
    await reachable(page.getByRole('button', { name: /^Add (the first )?instance$/ }).first(), '"Add instance"');
    await reachable(page.getByRole('button', { name: /Test connection/ }).first(), '"Test connection"');
    await open('/jobs');
    await reachable(page.getByRole('link', { name: 'district to national, monthly' }), 'the job link');
    await open('/jobs/new');
    await reachable(page.getByRole('button', { name: 'Create job' }), '"Create job"');
    await open(`/jobs/${job.id}`);
    await reachable(page.getByRole('button', { name: 'Run now' }), '"Run now"');
    await reachable(page.getByRole('button', { name: 'Save changes' }), '"Save changes"');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#toast', { hasText: 'Saved' }).waitFor();
    if (shots) await screenshot(page, 'narrow-job');
  });

  await step('runs and a run with its conflicts', async () => {
    await open('/runs');
    await reachable(page.locator('main tbody tr').first().getByRole('link').first(), 'the run link');
    await reachable(page.locator('select[name=status]'), 'the status filter');
    await open(`/runs/${runId}`);
    await reachable(page.locator('[data-count=conflicts]'), 'the conflicts count');
    const every = page.getByRole('button', { name: 'Every entry' });
    if (await every.count()) await every.click();
    await page.locator('table.conflicts-table tbody tr').first().waitFor();
    await fitsWidth(page);
    const cell = page.locator('table.conflicts-table tbody tr').first().locator('td').first();
    check(await cell.evaluate((td) => getComputedStyle(td, '::before').content.includes('Kind')), 'each card cell labelled by its column');
    await reachable(page.getByRole('button', { name: 'Next →' }), 'the next page button');
    if (shots) await screenshot(page, 'narrow-run');
  });

  await step('mappings and the editor with its Save', async () => {
    await open('/mappings');
    await reachable(page.getByRole('button', { name: 'Create and edit' }), '"Create and edit"');
    await open('/mappings/narrow');
    await page.locator('.CodeMirror').waitFor();
    await fitsWidth(page);
    const save = page.getByRole('button', { name: 'Save', exact: true });
    await reachable(save, 'the mapping\'s Save');
    await save.click();
    await page.locator('.editor-status .msg-ok').waitFor();
    if (shots) await screenshot(page, 'narrow-mapping');
  });

  await step('no request left the server, no errors, no dialog', async () => {
    checkClean(rec);
    await context.close();
  });
});
