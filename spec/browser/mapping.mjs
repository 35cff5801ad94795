// mapping.mjs — the mapping editor: a new mapping saved from the template, tried on sample
// values before saving, then an edit with a syntax error that shows the error at its line and
// is not saved (the file in use keeps its source).
import { check, checkClean, checkNoLeakedValues, login, newPage, ready, run, screenshot, step } from './lib.mjs';

const shots = process.env.SCREENSHOTS === '1';

const GOOD = `return {
  dataElements = { fbfJHSPpUQD = "Jtf34kNZhzP" },
  unmapped = "keep",
  transform = function(dv, ctx)
    dv.value = tostring(tonumber(dv.value) * 10)
    return dv
  end,
}
`;

// line 3 lacks the comma before it: "unmapped" starts a syntax error there
const BAD = `return {
  dataElements = { fbfJHSPpUQD = "Jtf34kNZhzP" }
  unmapped = "keep",
}
`;

async function setSource(page, text) {
  await page.waitForFunction(() => document.querySelector('.CodeMirror')?.CodeMirror);
  await page.evaluate((t) => document.querySelector('.CodeMirror').CodeMirror.setValue(t), text);
}

async function sourceOnServer(page, name) {
  return page.evaluate(async (n) => {
    const r = await fetch(`/api/mappings/${n}`, { headers: { Accept: 'application/json' } });
    return (await r.json()).source;
  }, name);
}

run('mapping', async (browser, setPage) => {
  const { page, rec } = await newPage(browser);
  setPage(page);

  await step('log in and open the mappings', async () => {
    await page.goto('/mappings');
    await page.waitForURL((u) => u.pathname === '/login');
    await login(page);
    await ready(page, '/mappings');
    await page.getByText('No mappings yet').waitFor();
  });

  await step('a new mapping opens the editor with a template and saves', async () => {
    await page.getByLabel('New mapping').fill('web_test');
    await page.getByRole('button', { name: 'Create and edit' }).click();
    await page.waitForURL((u) => u.pathname === '/mappings/web_test');
    await page.locator('.CodeMirror').waitFor();
    check(await page.locator('.CodeMirror .cm-keyword').count() > 0, 'Lua highlighting (keywords marked)');
    await page.getByRole('button', { name: 'Create mapping' }).click();
    await page.locator('.mapping-state .badge-succeeded').waitFor();
  });

  await step('the draft is tried on sample values before saving', async () => {
    await setSource(page, GOOD);
    await page.locator('.tag-warn', { hasText: 'unsaved changes' }).waitFor();
    await page.getByRole('button', { name: 'Try the draft on the sample' }).click();
    const results = page.locator('.check-results');
    await results.locator('table').waitFor();
    const text = await results.innerText();
    check(/2 values: 2 mapped, 0 skipped, 0 errors/.test(text), `"2 values: 2 mapped", saw "${text.slice(0, 200)}"`);
    check(text.includes('Jtf34kNZhzP') && text.includes('= 120'), `the mapped id and value (12 * 10), saw "${text.slice(0, 400)}"`);
    check(!(await sourceOnServer(page, 'web_test')).includes('tonumber'), 'trying does not save');
    await checkNoLeakedValues(page);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('.editor-status .msg-ok').waitFor();
    check((await sourceOnServer(page, 'web_test')) === GOOD, 'Save writes the draft');
  });

  await step('a syntax error shows at its line and is not saved', async () => {
    await setSource(page, BAD);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const error = page.locator('.editor-status .msg-error');
    await error.waitFor();
    const text = await error.innerText();
    check(/Not saved/.test(text) && /Line 3:/.test(text), `"Not saved … Line 3: …", saw "${text}"`);
    const marked = page.locator('.CodeMirror .cm-error-line');
    check(await marked.count() === 1, 'one line marked');
    const lineNo = await page.locator('.CodeMirror .cm-error-gutter .CodeMirror-linenumber').innerText();
    check(lineNo.trim() === '3', `line 3 marked in the gutter, saw "${lineNo}"`);
    check((await sourceOnServer(page, 'web_test')) === GOOD, 'the saved mapping unchanged');
    if (shots) await screenshot(page, 'mapping-error');
    // trying the broken draft says the same
    await page.getByRole('button', { name: 'Try the draft on the sample' }).click();
    await page.locator('.editor-status .msg-error', { hasText: 'does not compile' }).waitFor();
  });

  await step('the mappings list shows it loaded', async () => {
    await page.getByRole('link', { name: '← All mappings' }).click();
    // the broken draft is still in the editor, unsaved
    await page.getByRole('button', { name: 'Discard changes and leave' }).click();
    await ready(page, '/mappings');
    const row = page.locator('tbody tr', { hasText: 'web_test' });
    await row.locator('.badge-succeeded').waitFor();
    await checkNoLeakedValues(page);
  });

  await step('no request left the server, no errors, no dialog', async () => {
    checkClean(rec);
  });
});
