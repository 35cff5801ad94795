// kinds.mjs — every kind of job in its own terms: a metadata job made through the form (a row
// per type: picked ids, a DHIS2 filter, "all"), the server's field errors beside the row they
// name, the job page's selection in words; a tracker job likewise (a bad program id named beside
// programs, then the documented body saved); the jobs list's Kind column; a metadata
// run counts objects and lists its conflict entries by item type and id; all of it at 390×844.
//
// Environment (spec/web_kinds_test.c): SOURCE_URL, the emulator both instances point at, and
// META_RUN, a partial run of the job "seeded-meta" with two entries naming metadata items.
import { check, checkClean, checkNoLeakedValues, login, newPage, ready, run, screenshot, step } from './lib.mjs';
import { apiCall } from './seed.mjs';

const META_RUN = process.env.META_RUN;
const shots = process.env.SCREENSHOTS === '1';

run('kinds', async (browser, setPage) => {
  check(META_RUN && process.env.SOURCE_URL, 'META_RUN and SOURCE_URL in the environment');
  const { page, rec } = await newPage(browser);
  setPage(page);
  const fieldError = (name) => page.locator(`form [data-field="${name}"] .field-error`);
  const rows = page.locator('.object-row');

  await step('log in and open a new job', async () => {
    await page.goto('/login');
    await login(page);
    await ready(page, '/');
    await page.goto('/jobs/new');
    await ready(page, '/jobs/new');
  });

  await step('a metadata job: a row per type, with picked ids, a filter and "all"', async () => {
    await page.selectOption('select[name=kind]', 'metadata');
    check(await page.locator('[data-field=periods]').count() === 0, 'no periods for a metadata job');
    await page.fill('input[name=name]', 'national-metadata');
    await page.selectOption('select[name=source]', { label: 'district' });
    await page.selectOption('select[name=target]', { label: 'national' });
    // the first row is data sets, chosen in the picker the source fills
    await rows.nth(0).locator('.picker-item input[type=checkbox]').first().check();
    await page.click('button:has-text("Add a type")');
    await rows.nth(1).locator('select[name="objects.type"]').selectOption('dataElements');
    await rows.nth(1).locator('select[name="objects.how"]').selectOption('filter');
    await rows.nth(1).locator('textarea').fill('code');
    await page.click('button:has-text("Add a type")');
    await rows.nth(2).locator('select[name="objects.type"]').selectOption('optionSets');
    await rows.nth(2).locator('select[name="objects.how"]').selectOption('all');
  });

  await step('the server\'s field error shows beside the row it names', async () => {
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.querySelector('form [data-field="objects.dataElements"] .field-error')?.textContent);
    const text = await fieldError('objects.dataElements').innerText();
    check(/filter/i.test(text), `a filter error beside the data elements row, saw "${text}"`);
    if (shots) await screenshot(page, 'kinds-metadata-form');
    check(new URL(page.url()).pathname === '/jobs/new', 'not saved');
  });

  let metaJob;
  await step('fixed, it saves as the documented body, and the job page says what it selects', async () => {
    await rows.nth(1).locator('textarea').fill('code:like:ANC');
    await page.click('button[type=submit]');
    await page.waitForURL((u) => /^\/jobs\/\d+$/.test(u.pathname));
    await ready(page);
    const id = new URL(page.url()).pathname.split('/').pop();
    metaJob = await apiCall(page, 'GET', `/api/jobs/${id}`);
    check(metaJob.kind === 'metadata', `kind metadata, saw ${metaJob.kind}`);
    const o = metaJob.objects;
    check(Array.isArray(o.dataSets) && o.dataSets.length === 1, `one data set, saw ${JSON.stringify(o.dataSets)}`);
    check(o.optionSets === 'all', `all option sets, saw ${JSON.stringify(o.optionSets)}`);
    check(JSON.stringify(o.dataElements) === '{"filter":["code:like:ANC"]}', `the filter, saw ${JSON.stringify(o.dataElements)}`);
    check(metaJob.dependencies === true && JSON.stringify(metaJob.strip) === '["sharing","users"]',
      `dependencies and strip sharing+users by default, saw ${metaJob.dependencies} ${JSON.stringify(metaJob.strip)}`);
    check(metaJob.retryWindow === 600, `a retry window of 600 s, saw ${metaJob.retryWindow}`);
    const words = await page.locator('.job-selection').innerText();
    for (const want of ['Metadata', '1 data set', 'data elements filtered by code:like:ANC', 'all option sets', 'with dependencies']) {
      check(words.includes(want), `"${want}" on the job page, saw "${words}"`);
    }
    // the saved form shows the rows back
    check(await rows.count() === 3, `three object rows, saw ${await rows.count()}`);
    await checkNoLeakedValues(page);
  });

  await step('"Check saved job" answers for a metadata job', async () => {
    await page.click('button:has-text("Check saved job")');
    await page.locator('form .msg:has-text("Check:")').waitFor();
  });

  await step('a tracker job: the server\'s field error sits beside programs', async () => {
    await page.goto('/jobs/new');
    await ready(page, '/jobs/new');
    await page.selectOption('select[name=kind]', 'tracker');
    await page.fill('input[name=name]', 'case-reports');
    await page.selectOption('select[name=source]', { label: 'district' });
    await page.selectOption('select[name=target]', { label: 'national' });
    await page.fill('input[name=programs]', 'eBAyeGv0exc, not-an-id');
    const manual = page.locator('[data-field=orgUnits] .picker-manual');
    await manual.fill('ImspTQPwCqd');
    await manual.press('Enter');
    await manual.blur();
    await page.check('input[name=children]');
    await page.fill('input[name=occurredAfter]', '2024-01-01');
    await page.selectOption('select[name="importOptions.atomicMode"]', 'ALL');
    await page.fill('input[name="importOptions.batchSize"]', '250');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => document.querySelector('form [data-field="programs"] .field-error')?.textContent);
    const text = await fieldError('programs').innerText();
    check(/not-an-id/.test(text), `the bad id named beside programs, saw "${text}"`);
    check(new URL(page.url()).pathname === '/jobs/new', 'not saved');
    if (shots) await screenshot(page, 'kinds-tracker-form');
  });

  await step('fixed, the tracker job saves as the documented body and says what it selects', async () => {
    await page.fill('input[name=programs]', 'eBAyeGv0exc, IpHINAT79UW');
    await page.click('button[type=submit]');
    await page.waitForURL((u) => /^\/jobs\/\d+$/.test(u.pathname));
    await ready(page);
    const job = await apiCall(page, 'GET', `/api/jobs/${new URL(page.url()).pathname.split('/').pop()}`);
    const want = {
      kind: 'tracker', programs: ['eBAyeGv0exc', 'IpHINAT79UW'], orgUnits: ['ImspTQPwCqd'], children: true,
      occurredAfter: '2024-01-01', retryWindow: 600,
    };
    for (const [k, v] of Object.entries(want)) {
      check(JSON.stringify(job[k]) === JSON.stringify(v), `${k}: ${JSON.stringify(v)}, saw ${JSON.stringify(job[k])}`);
    }
    const io = job.importOptions;
    check(io.atomicMode === 'ALL' && io.batchSize === 250 && io.dryRun === false, `the import options, saw ${JSON.stringify(io)}`);
    const words = await page.locator('.job-selection').innerText();
    const line = 'Programs eBAyeGv0exc, IpHINAT79UW under 1 org unit with children, occurred after 2024-01-01';
    check(words.includes('Events and tracker data') && words.includes(line), `"${line}" on the job page, saw "${words}"`);
    // the preflight answers for tracker jobs too (these programs are not at the source: an error)
    await page.click('button:has-text("Check saved job")');
    await page.locator('form .msg:has-text("Check:")').waitFor();
  });

  await step('the jobs list has a Kind column', async () => {
    await page.goto('/jobs');
    await ready(page, '/jobs');
    const heads = await page.locator('table thead th').allTextContents();
    check(heads.includes('Kind'), `a Kind column, saw ${JSON.stringify(heads)}`);
    for (const [name, want] of [['national-metadata', 'Metadata'], ['seeded-meta', 'Metadata'], ['case-reports', 'Events and tracker data']]) {
      const kind = await page.locator(`tr:has(a:text-is("${name}")) td.job-kind`).innerText();
      check(kind === want, `${name} of kind ${want}, saw "${kind}"`);
    }
  });

  await step('a metadata run counts objects and groups its entries without data value columns', async () => {
    await page.goto(`/runs/${META_RUN}`);
    await ready(page, `/runs/${META_RUN}`);
    const words = await page.locator('.counts-words').innerText();
    check(words.includes('12 objects read') && words.includes('2 objects refused, in 2 conflict entries'),
      `the counts in objects, saw "${words}"`);
    check(/objects the target refused/.test(await page.locator('[data-count=refused]').innerText()), 'the refused card in objects');
    check(/Conflicts and skipped objects/.test(await page.locator('#conf-h').innerText()), 'the conflicts heading in objects');
    await page.locator('table.groups-table tbody tr').first().waitFor();
    const heads = await page.locator('table.groups-table thead th').allTextContents();
    check(!heads.includes('Source → target') && !heads.includes('Periods'), `no data value columns in groups, saw ${JSON.stringify(heads)}`);
    const csv = page.locator('a.csv-link');
    check(await csv.getAttribute('href') === `/api/runs/${META_RUN}/conflicts?format=csv`, 'the CSV link');
    const text = await page.evaluate(async (href) => (await fetch(href)).text(), await csv.getAttribute('href'));
    check(/itemType/.test(text) && /dataElements,fbfJHSPpUQD/.test(text), `the CSV names the items, saw "${text.slice(0, 300)}"`);
  });

  await step('every entry shows its item type and id, code and message', async () => {
    await page.click('button:has-text("Every entry")');
    await page.locator('table.conflicts-table tbody tr').first().waitFor();
    const heads = await page.locator('table.conflicts-table thead th').allTextContents();
    check(JSON.stringify(heads) === JSON.stringify(['Kind', 'Type', 'Id', 'Error code', 'Message']), `type and id columns, saw ${JSON.stringify(heads)}`);
    const row = page.locator('table.conflicts-table tbody tr:has(td.item-id code:text-is("fbfJHSPpUQD"))');
    const cells = await row.locator('td').allInnerTexts();
    check(cells[1] === 'dataElements' && cells[3] === 'E5003' && /already exists/.test(cells[4]), `dataElements, E5003 and its message, saw ${JSON.stringify(cells)}`);
    if (shots) await screenshot(page, 'kinds-metadata-run');
    await checkNoLeakedValues(page);
  });

  await step('at 390×844 the metadata form and the run page fit the width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const fits = async () => {
      const w = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
      check(w.doc <= w.view, `no sideways scroll on ${new URL(page.url()).pathname}: ${w.doc}px in ${w.view}px`);
    };
    await fits();
    await page.goto(`/jobs/${metaJob.id}`);
    await ready(page, `/jobs/${metaJob.id}`);
    await rows.first().waitFor();
    await fits();
    if (shots) await screenshot(page, 'kinds-metadata-job-narrow');
  });

  checkClean(rec);
});
