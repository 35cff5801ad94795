// mapobj.mjs — the mapping editor tries a draft's event function on a sample of events: each
// event shows by its uid, a mapped one as the JSON the function returned, a dropped one with
// the reason and a failed one with its line marked in the editor.
import { check, checkClean, login, newPage, ready, run, step } from './lib.mjs';

const SOURCE = `return {
  event = function(ev, ctx)
    if ev.status == "SCHEDULE" then return nil end
    if ev.status == "SKIPPED" then error("skipped events are not wanted") end
    ev.program = "Xh88p1nyefp"
    return ev
  end,
}
`;

const SAMPLE = JSON.stringify({ events: [
  { event: 'ZwwuwNp6gVd', status: 'ACTIVE', program: 'eBAyeGv0exc', notes: [], dataValues: [{ dataElement: 'qrur9Dvnyt5', value: '22' }] },
  { event: 'a1B2c3D4e5F', status: 'SCHEDULE', program: 'eBAyeGv0exc' },
  { event: 'b2C3d4E5f6G', status: 'SKIPPED', program: 'eBAyeGv0exc' },
] }, null, 2);

run('mapobj', async (browser, setPage) => {
  const { page, rec } = await newPage(browser);
  setPage(page);

  await step('log in and make a mapping', async () => {
    await page.goto('/login');
    await login(page);
    await ready(page, '/');
    await page.goto('/mappings');
    await ready(page, '/mappings');
    await page.getByLabel('New mapping').fill('events_web');
    await page.getByRole('button', { name: 'Create and edit' }).click();
    await page.waitForURL((u) => u.pathname === '/mappings/events_web');
  });

  await step('the draft is tried on a sample of events', async () => {
    await page.waitForFunction(() => document.querySelector('.CodeMirror')?.CodeMirror);
    await page.evaluate((t) => document.querySelector('.CodeMirror').CodeMirror.setValue(t), SOURCE);
    await page.locator('textarea[name=sample]').fill(SAMPLE);
    await page.getByRole('button', { name: 'Try the draft on the sample' }).click();
    const results = page.locator('.check-results');
    await results.locator('table').waitFor();
    const text = await results.innerText();
    check(/3 objects: 1 mapped, 1 skipped, 1 errors/.test(text), `"3 objects: 1 mapped, 1 skipped, 1 errors", saw "${text.slice(0, 300)}"`);
    check(text.includes('event ZwwuwNp6gVd') && text.includes('"program":"Xh88p1nyefp"') && text.includes('"notes":[]'),
      `the event by its uid and the JSON the function returned, saw "${text.slice(0, 600)}"`);
    check(text.includes('event returned nil'), `the dropped event's reason, saw "${text.slice(0, 600)}"`);
    check(text.includes('line 4: skipped events are not wanted'), `the failed event's line, saw "${text.slice(0, 600)}"`);
    const lineNo = await page.locator('.CodeMirror .cm-error-gutter .CodeMirror-linenumber').innerText();
    check(lineNo.trim() === '4', `line 4 marked in the gutter, saw "${lineNo}"`);
  });

  await step('no request left the server, no errors, no dialog', async () => {
    checkClean(rec);
  });
});
