// login.mjs — logged out, every page leads to /login; a wrong password shows an error; the
// right one goes back to the page asked for (or the dashboard); the session's CSRF token is
// required for unsafe cookie requests; logging out ends the session.
import { ORIGIN, PASSWORD, USER, check, checkClean, checkNoLeakedValues, login, newPage, ready, run, screenshot, step } from './lib.mjs';

const shots = process.env.SCREENSHOTS === '1';

run('login', async (browser, setPage) => {
  const { page, rec } = await newPage(browser);
  setPage(page);

  await step('logged out, every page leads to /login', async () => {
    for (const path of ['/', '/instances', '/jobs', '/jobs/new', '/jobs/7', '/runs', '/runs/12', '/mappings', '/mappings/district', '/admin/', '/auto-sync/dashboard/']) {
      await page.goto(path);
      await page.waitForURL((u) => u.pathname === '/login');
      await page.locator('input[name=username]').waitFor();
      const next = new URL(page.url()).searchParams.get('next');
      check(path === '/' ? next === null : next === path, `/login?next=${path} after ${path}, saw ${page.url()}`);
    }
    check(await page.locator('#topbar').isHidden(), 'no navigation bar when logged out');
  });

  await step('a wrong password shows an error and stays on /login', async () => {
    await page.goto('/login');
    await login(page, USER, 'not-the-password');
    const error = page.locator('.login-status .msg-error');
    await error.waitFor();
    const text = await error.innerText();
    check(/Wrong user name or password/.test(text), `"Wrong user name or password", saw "${text}"`);
    check(new URL(page.url()).pathname === '/login', 'still on /login');
    check(await page.locator('input[name=password]').inputValue() === '', 'the password field emptied');
    if (shots) await screenshot(page, 'login-error');
  });

  await step('the right password lands on the dashboard', async () => {
    await login(page, USER, PASSWORD);
    await ready(page, '/');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    check((await page.locator('#username').innerText()).trim() === USER, 'the user name in the top bar');
    await page.getByText('Welcome to dhis2sync').waitFor();
    await checkNoLeakedValues(page);
  });

  await step('after logging in, the page that was asked for', async () => {
    const { page: other, rec: rec2 } = await newPage(browser);
    await other.goto('/runs?status=failed');
    await other.waitForURL((u) => u.pathname === '/login');
    await login(other);
    await other.waitForURL((u) => u.pathname === '/runs' && u.searchParams.get('status') === 'failed');
    await ready(other, '/runs');
    checkClean(rec2);
    await other.context().close();
  });

  await step('a cookie request without X-CSRF-Token is refused with 403', async () => {
    const r = await page.evaluate(async () => {
      const body = JSON.stringify({ name: 'csrf probe', url: 'https://example.org', auth: { type: 'pat', token: 'd2pat_x' } });
      const bare = await fetch('/api/instances', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      const s = await (await fetch('/api/session')).json();
      const withToken = await fetch('/api/instances', {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrfToken }, body,
      });
      const made = withToken.ok ? await withToken.json() : null;
      if (made) {
        await fetch(`/api/instances/${made.id}`, { method: 'DELETE', headers: { 'X-CSRF-Token': s.csrfToken } });
      }
      return { bare: bare.status, withToken: withToken.status, list: (await fetch('/api/instances')).status };
    });
    check(r.bare === 403, `403 without the token, saw ${r.bare}`);
    check(r.withToken === 201, `201 with the token, saw ${r.withToken}`);
    check(r.list === 200, `GET needs no token (200), saw ${r.list}`);
  });

  await step('log out ends the session', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL((u) => u.pathname === '/login');
    const status = await page.evaluate(async () => (await fetch('/api/session')).status);
    check(status === 401, `GET /api/session 401 after logging out, saw ${status}`);
    await page.goto('/jobs');
    await page.waitForURL((u) => u.pathname === '/login');
  });

  await step('no request left the server, no errors, no dialog', async () => {
    checkClean(rec);
    check(rec.requests.every((u) => u.startsWith(ORIGIN)), 'same origin');
  });
});
