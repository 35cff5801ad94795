// picker.mjs — the org unit picker as a lazy tree over an instance of 20,000 org units: only
// the roots and the opened units are read (GET …/metadata/organisationUnits?parent=ID), the
// tree keys move, open, close and choose, a search shows each match's path, and the chosen
// units are saved with the job.
import { check, checkClean, checkNoLeakedValues, login, newPage, ready, run, screenshot, step } from './lib.mjs';
import { addInstance, apiCall } from './seed.mjs';

const SOURCE = process.env.SOURCE_URL;
const shots = process.env.SCREENSHOTS === '1';

run('picker', async (browser, setPage) => {
  check(SOURCE, 'SOURCE_URL in the environment');
  const { page, rec } = await newPage(browser);
  setPage(page);
  const tree = page.locator('[data-field=orgUnits] [role=tree]');
  const item = (name) => tree.locator('[role=treeitem]', { has: page.locator('label', { hasText: new RegExp(`^${name}\\b`) }) }).first();
  const focused = () => page.evaluate(() => document.activeElement?.querySelector('label')?.firstChild?.textContent ?? '');
  const ouRequests = () => rec.requests.filter((u) => u.includes('/metadata/organisationUnits'));

  await step('log in, add the instance of 20,000 org units, open a new job', async () => {
    await page.goto('/login');
    await login(page);
    await ready(page, '/');
    await addInstance(page, 'big', SOURCE);
    await addInstance(page, 'big twin', SOURCE);
    await page.goto('/jobs/new');
    await ready(page, '/jobs/new');
    await page.selectOption('select[name=source]', { label: 'big' });
  });

  await step('the tree shows the root open on its regions, read level by level', async () => {
    await item('Region 1').waitFor();
    const root = tree.locator('[role=treeitem]').first();
    const rootName = await root.locator('label').innerText();
    check(rootName.startsWith('Emulatia'), `the root first, saw "${rootName}"`);
    check(await root.getAttribute('aria-expanded') === 'true' && await root.getAttribute('aria-level') === '1', 'the root open, at level 1');
    check(await item('Region 1').getAttribute('aria-level') === '2', 'regions at level 2');
    check(await item('Region 1').getAttribute('aria-expanded') === 'false', 'regions closed');
    const rows = await tree.locator('[role=treeitem]').count();
    check(rows === 13, `the root and its 12 regions, saw ${rows} rows`);
    const asked = ouRequests();
    check(asked.every((u) => /[?&](filter=level|parent=)/.test(u)), `every org unit request to ask for one level, saw ${JSON.stringify(asked)}`);
    check(asked.some((u) => /[?&]parent=/.test(u)), 'the children read with ?parent=');
    check(await page.locator('input[name=orgUnits]').count() === 13, 'a checkbox per row');
  });

  await step('arrow keys move, open and close; space chooses', async () => {
    await tree.locator('[role=treeitem]').first().focus();
    await page.keyboard.press('ArrowDown');
    check(await focused() === 'Region 1', `ArrowDown to Region 1, saw "${await focused()}"`);
    await page.keyboard.press('ArrowRight');
    await item('District 1.1').waitFor();
    check(await item('Region 1').getAttribute('aria-expanded') === 'true', 'ArrowRight opens Region 1');
    check(await focused() === 'Region 1', 'the focus stays on Region 1 as it opens');
    await page.keyboard.press('ArrowRight');
    check(await focused() === 'District 1.1', `a second ArrowRight to the first child, saw "${await focused()}"`);
    await page.keyboard.press('ArrowRight');
    await item('Facility 1').waitFor();
    await page.keyboard.press('ArrowRight');
    check(await focused() === 'Facility 1', `down to Facility 1, saw "${await focused()}"`);
    await page.keyboard.press(' ');
    check(await item('Facility 1').getAttribute('aria-selected') === 'true', 'Space chooses the unit');
    check(await item('Facility 1').locator('input[name=orgUnits]').isChecked(), 'its checkbox checked');
    await page.locator('.picker-chosen .chip', { hasText: 'Facility 1' }).waitFor();
    // a facility has nothing below it: opening it finds that out and it becomes a leaf
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => [...document.querySelectorAll('[role=treeitem]')]
      .some((e) => e.querySelector('label')?.firstChild?.textContent === 'Facility 1' && !e.hasAttribute('aria-expanded') && !e.hasAttribute('aria-busy')));
    await page.keyboard.press('ArrowLeft');
    check(await focused() === 'District 1.1', `ArrowLeft from a leaf to its parent, saw "${await focused()}"`);
    await page.keyboard.press('ArrowLeft');
    check(await item('District 1.1').getAttribute('aria-expanded') === 'false', 'ArrowLeft closes the district');
    check(await tree.locator('[role=treeitem]', { hasText: 'Facility 1 ' }).count() === 0, 'its facilities out of view');
    await page.keyboard.press('Enter');
    check(await item('District 1.1').getAttribute('aria-expanded') === 'true', 'Enter opens it again');
    await page.keyboard.press('ArrowUp');
    check(await focused() === 'Region 1', `ArrowUp to Region 1, saw "${await focused()}"`);
    check(await tree.locator('[role=treeitem][tabindex="0"]').count() === 1, 'one row in the tab order');
    if (shots) await screenshot(page, 'picker-tree');
  });

  let searched;
  await step('a search shows every match with its path', async () => {
    await page.getByLabel('Search org unit roots').fill('Facility 1234');
    const hit = tree.locator('[role=treeitem]', { has: page.locator('label', { hasText: /^Facility 1234\b/ }) });
    await hit.first().waitFor();
    const path = await hit.first().locator('.ou-path').innerText();
    check(/^Emulatia \/ Region \d+ \/ District \d+\.\d+ \/ Facility 1234$/.test(path), `the path "Emulatia / Region … / District … / Facility 1234", saw "${path}"`);
    check(await tree.locator('[role=treeitem]').count() === 11, 'Facility 1234 and 12340–12349');
    searched = await hit.first().locator('input').getAttribute('value');
    await hit.first().locator('label').click();
    await page.locator('.picker-chosen .chip', { hasText: 'Facility 1234' }).waitFor();
    await checkNoLeakedValues(page);
    if (shots) await screenshot(page, 'picker-search');
    await page.getByLabel('Search org unit roots').fill('');
    await item('Region 1').waitFor();
  });

  await step('the chosen units are saved with the job', async () => {
    await page.fill('input[name=name]', 'tree');
    await page.selectOption('select[name=target]', { label: 'big twin' });
    await page.getByLabel(/Facility Monthly Report/).check();
    await page.getByRole('button', { name: 'Create job' }).click();
    await page.waitForURL(/\/jobs\/\d+$/);
    const job = await apiCall(page, 'GET', '/api/jobs/tree');
    check(job.orgUnits.length === 2 && job.orgUnits.includes(searched), `two units saved, ${searched} among them, saw ${JSON.stringify(job.orgUnits)}`);
    // on the saved job, the chosen units are named though their branches are closed
    await page.locator('.picker-chosen .chip', { hasText: 'Facility 1234' }).waitFor();
    await page.locator('.picker-chosen .chip', { hasText: /^Facility 1×?$/ }).waitFor();
  });

  await step('no request left the server, no errors, no dialog', async () => {
    check(ouRequests().every((u) => !/organisationUnits\?fields=[^&]*$/.test(u)), 'no request for the whole list');
    checkClean(rec);
  });
});
