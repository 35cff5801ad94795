// accounts.mjs — the "API tokens" and "Users" pages: a token is made with an expiry, shown
// once with a copy button and works; revoking it (after a confirmation) stops it. Users are
// added (the repeat must match), disabled (their login fails), enabled and removed; one's own
// row has no such buttons; "Change my password" checks the old one, and this session goes on.
import { BASE, PASSWORD, USER, check, checkClean, checkNoLeakedValues, login, newPage, ready, run, step } from './lib.mjs';

const apiStatus = async (path, init = {}) => (await fetch(BASE + path, init)).status;
const loginStatus = (username, password) => apiStatus('/api/session', {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }),
});

run('accounts', async (browser, setPage) => {
  const { page, rec, context } = await newPage(browser);
  setPage(page);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(BASE).origin });
  await login(page);
  await ready(page, '/');

  let token = '';
  await step('the nav leads to API tokens; a new token is shown once, with a warning', async () => {
    await page.locator('#mainnav').getByRole('link', { name: 'API tokens' }).click();
    await ready(page, '/tokens');
    await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.fill('input[name=expires]', 'soon');
    await page.fill('input[name=name]', 'browser token');
    await page.locator('form button[type=submit]').click();
    const err = page.locator('[data-field=expires] .field-error');
    await err.waitFor();
    check(/duration|date/.test(await err.innerText()), `the expiry's error next to it, saw "${await err.innerText()}"`);
    await page.fill('input[name=expires]', '30d');
    await page.locator('form button[type=submit]').click();
    const shown = page.locator('.new-token');
    await shown.waitFor();
    check(/will not be shown again/.test(await shown.innerText()), 'the warning that it is shown once');
    token = await page.locator('.token-value').inputValue();
    check(token.length >= 20, `a token in view, saw "${token}"`);
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.getByText('Copied.').waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    check(clip === token, 'the token on the clipboard');
    check(await apiStatus('/api/jobs', { headers: { Authorization: `Bearer ${token}` } }) === 200, 'the new token works');
  });

  await step('the list shows label, created, last used and expiry; the token is not shown again', async () => {
    const row = page.locator('tr', { hasText: 'browser token' });
    await row.waitFor();
    const text = await row.innerText();
    check(/\d{4}-\d\d-\d\d/.test(text) && /in (29|30) days/.test(text), `created and expiry dates, saw "${text}"`);
    await page.reload();
    await ready(page, '/tokens');
    await page.locator('tr', { hasText: 'browser token' }).waitFor();
    check(!(await page.locator('main').innerText()).includes(token), 'the token nowhere on the page after a reload');
    await checkNoLeakedValues(page);
  });

  await step('revoking asks first, then the token stops working', async () => {
    const row = page.locator('tr', { hasText: 'browser token' });
    await row.getByRole('button', { name: 'Revoke browser token' }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await page.locator('tr', { hasText: 'browser token' }).waitFor({ state: 'detached' });
    check(await apiStatus('/api/jobs', { headers: { Authorization: `Bearer ${token}` } }) === 401, 'a revoked token is refused');
  });

  await step('Users: the list has me, without buttons to disable or remove myself', async () => {
    await page.locator('#mainnav').getByRole('link', { name: 'Users' }).click();
    await ready(page, '/users');
    const me = page.locator('tbody tr', { hasText: USER });
    await me.waitFor();
    check(/enabled/.test(await me.innerText()), 'I am enabled');
    check(await me.getByRole('button').count() === 0, 'no buttons on my own row');
  });

  await step('adding a user: the repeat must match, then the user is listed and can log in', async () => {
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.fill('input[name=name]', 'erin');
    await page.fill('input[name=password]', 'erin-password');
    await page.fill('input[name=repeat]', 'erin-passw0rd');
    await page.locator('form', { hasText: 'Add a user' }).locator('button[type=submit]').click();
    const err = page.locator('[data-field=repeat] .field-error');
    await err.waitFor();
    check(/differ/.test(await err.innerText()), 'the mismatch next to the repeat field');
    await page.fill('input[name=repeat]', 'erin-password');
    await page.locator('form', { hasText: 'Add a user' }).locator('button[type=submit]').click();
    await page.locator('tbody tr', { hasText: 'erin' }).waitFor();
    check(await loginStatus('erin', 'erin-password') === 200, 'erin can log in');
  });

  await step('disable (after asking), enable and remove a user', async () => {
    const row = () => page.locator('tbody tr', { hasText: 'erin' });
    await row().getByRole('button', { name: 'Disable erin' }).click();
    await row().getByRole('button', { name: 'Yes, disable' }).click();
    await page.locator('tbody tr', { hasText: 'erin' }).filter({ hasText: 'disabled' }).waitFor();
    check(await loginStatus('erin', 'erin-password') === 401, 'a disabled user cannot log in');
    await row().getByRole('button', { name: 'Enable erin' }).click();
    await row().getByRole('button', { name: 'Disable erin' }).waitFor();
    check(await loginStatus('erin', 'erin-password') === 200, 'enabled again, erin can log in');
    await row().getByRole('button', { name: 'Remove erin' }).click();
    await row().getByRole('button', { name: 'Yes, remove' }).click();
    await page.locator('tbody tr', { hasText: 'erin' }).waitFor({ state: 'detached' });
  });

  await step('change my password: a wrong current one is shown at its field; then this session goes on', async () => {
    const form = page.locator('form.password-form');
    await form.locator('input[name=oldPassword]').fill('not-my-password');
    await form.locator('input[name=newPassword]').fill('browser-new-password');
    await form.locator('input[name=repeatPassword]').fill('browser-new-password');
    await form.locator('button[type=submit]').click();
    const err = form.locator('[data-field=oldPassword] .field-error');
    await err.waitFor();
    check(/current password/.test(await err.innerText()), `the wrong password at its field, saw "${await err.innerText()}"`);
    await form.locator('input[name=oldPassword]').fill(PASSWORD);
    await form.locator('button[type=submit]').click();
    await form.locator('.msg-ok').waitFor();
    check(await page.evaluate(async () => (await fetch('/api/session')).status) === 200, 'this session goes on');
    check(await loginStatus(USER, PASSWORD) === 401, 'the old password no longer logs in');
    check(await loginStatus(USER, 'browser-new-password') === 200, 'the new one does');
    await checkNoLeakedValues(page);
  });

  await step('no request left the server, no errors, no dialog', async () => {
    checkClean(rec);
  });
});
