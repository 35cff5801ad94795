// editor.mjs — the mapping editor never hides nor overwrites a file changed on disk (it shows
// the file on disk with its error; a save over a newer file asks to reload or overwrite), and
// unsaved edits are not lost by leaving the page (in-app links, Back, closing the tab).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, login, newPage, ready, run, step } from './lib.mjs';

const DIR = process.env.MAPPINGS_DIR;
const file = join(DIR, 'ondisk.lua');
const onDisk = () => readFileSync(file, 'utf8');

const GOOD = 'return {\n  unmapped = "keep",\n}\n';
// line 2 lacks its comma: the error is at line 3
const BROKEN = 'return {\n  dataElements = {}\n  unmapped = "keep",\n}\n';
const FIXED = 'return {\n  dataElements = {},\n  unmapped = "keep",\n}\n';
const OTHER = 'return {\n  unmapped = "skip",\n}\n';

const editorText = (page) => page.evaluate(() => document.querySelector('.CodeMirror').CodeMirror.getValue());
async function setSource(page, text) {
  await page.waitForFunction(() => document.querySelector('.CodeMirror')?.CodeMirror);
  await page.evaluate((t) => document.querySelector('.CodeMirror').CodeMirror.setValue(t), text);
}

// waits until the server has compiled the file on disk (state as asked)
async function serverState(page, state) {
  for (let i = 0; i < 150; i++) {
    const now = await page.evaluate(async () => {
      const r = await fetch('/api/mappings/ondisk', { headers: { Accept: 'application/json' } });
      return r.ok ? (await r.json()).state : null;
    });
    if (now === state) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  check(false, `the server to have compiled ondisk.lua (${state})`);
}

async function open(page) {
  await page.goto('/mappings/ondisk');
  await ready(page, '/mappings/ondisk');
  await page.waitForFunction(() => document.querySelector('.CodeMirror')?.CodeMirror);
}

run('editor', async (browser, setPage) => {
  const { page, rec } = await newPage(browser);
  setPage(page);

  await step('log in; a mapping on disk opens in the editor', async () => {
    writeFileSync(file, GOOD);
    await page.goto('/login');
    await login(page);
    await ready(page, '/');
    await serverState(page, 'loaded');
    await open(page);
    check(await editorText(page) === GOOD, 'the editor to show the file');
  });

  await step('a save over a file changed on disk meanwhile is refused and offers a choice', async () => {
    writeFileSync(file, BROKEN);
    await serverState(page, 'error');
    await setSource(page, 'return {}\n');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const warn = page.locator('.editor-status .msg-warn');
    await warn.waitFor();
    check(/changed on disk/.test(await warn.innerText()), 'the reason in words');
    check(onDisk() === BROKEN, 'the file on disk untouched');
    await warn.getByRole('button', { name: 'Reload the file on disk' }).click();
    await page.locator('.editor-status .msg-ok', { hasText: 'Reloaded' }).waitFor();
    check(await editorText(page) === BROKEN, 'the editor to show the broken file on disk');
    const state = await page.locator('.mapping-state').innerText();
    const marks = await page.locator('.CodeMirror .cm-error-line').count();
    check(marks === 1, `its error line marked, saw ${marks} marks and "${state}"`);
  });

  await step('opening the editor shows the broken file on disk, not the last good version', async () => {
    await open(page);
    check(await editorText(page) === BROKEN, `the file on disk in the editor, saw ${JSON.stringify(await editorText(page))}`);
    const state = await page.locator('.mapping-state').innerText();
    check(/error at line 3/.test(state) && /shows the file on disk/.test(state), `the state to say so, saw "${state}"`);
    const lineNo = await page.locator('.CodeMirror .cm-error-gutter .CodeMirror-linenumber').innerText();
    check(lineNo.trim() === '3', `line 3 marked, saw "${lineNo}"`);
    await setSource(page, FIXED);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('.editor-status .msg-ok', { hasText: 'Saved' }).waitFor();
    check(onDisk() === FIXED, 'the fix saved over the file the editor showed');
  });

  await step('"Overwrite" replaces a file changed on disk, knowingly', async () => {
    writeFileSync(file, OTHER);
    await setSource(page, GOOD);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('button', { name: 'Overwrite it with my version' }).click();
    await page.locator('.editor-status .msg-ok', { hasText: 'Saved' }).waitFor();
    check(onDisk() === GOOD, 'my version on disk');
  });

  await step('leaving with unsaved edits by a link asks; "Stay" keeps them', async () => {
    // in-app there and back (no edits, no question), so that Back stays in the app
    await page.getByRole('link', { name: '← All mappings' }).click();
    await ready(page, '/mappings');
    await page.getByRole('link', { name: 'ondisk' }).click();
    await ready(page, '/mappings/ondisk');
    await setSource(page, OTHER);
    await page.getByRole('link', { name: '← All mappings' }).click();
    const dialog = page.getByRole('dialog', { name: 'Leave this page?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Stay on this page' }).click();
    await dialog.waitFor({ state: 'detached' });
    check(new URL(page.url()).pathname === '/mappings/ondisk', 'still on the editor');
    check(await editorText(page) === OTHER, 'the edit kept');
  });

  await step('Back with unsaved edits asks too', async () => {
    await page.evaluate(() => history.back());
    const dialog = page.getByRole('dialog', { name: 'Leave this page?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Stay on this page' }).click();
    await page.waitForURL((u) => u.pathname === '/mappings/ondisk');
    check(await editorText(page) === OTHER, 'the edit kept after a refused Back');
  });

  await step('"Discard changes and leave" leaves', async () => {
    await page.getByRole('link', { name: '← All mappings' }).click();
    await page.getByRole('button', { name: 'Discard changes and leave' }).click();
    await ready(page, '/mappings');
    check(onDisk() === GOOD, 'nothing saved');
  });

  await step('the help links to the mapping reference, served by the admin', async () => {
    await open(page);
    const help = page.getByRole('link', { name: /how mappings work/ });
    check(await help.getAttribute('href') === '/docs/mappings.md', 'the link to docs/mappings.md');
    const text = await page.evaluate(async () => { const r = await fetch('/docs/mappings.md'); return r.ok ? r.text() : ''; });
    check(text.includes('transform'), 'the reference served');
  });

  await step('closing the tab with unsaved edits asks (beforeunload)', async () => {
    await open(page);
    await page.locator('.CodeMirror').click();
    await page.keyboard.type('-- typed\n');
    await page.close({ runBeforeUnload: true });
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 50 && !rec.dialogs.length; i++) await new Promise((r) => setTimeout(r, 100));
    check(rec.dialogs.length === 1 && rec.dialogs[0].startsWith('beforeunload'), `one beforeunload dialog, saw ${JSON.stringify(rec.dialogs)}`);
    check(rec.pageErrors.length === 0 && rec.consoleErrors.length === 0, `no script errors, saw ${JSON.stringify([...rec.pageErrors, ...rec.consoleErrors])}`);
  });
});
