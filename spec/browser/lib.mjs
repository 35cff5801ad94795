// lib.mjs — what the browser tests share: Debian's Chromium driven by playwright-core (no
// browser download), a page that records every request, console error, page error and
// dialog, small steps that print what they do, and screenshots of failures.
//
// Environment (set by spec/web_test.c):
//   DHIS2SYNC_URL       the server, e.g. http://127.0.0.1:PORT
//   DHIS2SYNC_USER, DHIS2SYNC_PASSWORD   the admin's login
//   SOURCE_URL, TARGET_URL               DHIS2 emulators (admin:district), when a test needs them
//   WEB_ARTIFACTS       a directory for screenshots (failures, and SCREENSHOTS=1)
//   CHROMIUM            the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const BASE = process.env.DHIS2SYNC_URL || 'http://127.0.0.1:4999';
export const ORIGIN = new URL(BASE).origin;
export const USER = process.env.DHIS2SYNC_USER || 'admin';
export const PASSWORD = process.env.DHIS2SYNC_PASSWORD || 'spec-admin-password';
export const ARTIFACTS = process.env.WEB_ARTIFACTS || '/tmp/dhis2sync-web-artifacts';
mkdirSync(ARTIFACTS, { recursive: true });

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

export async function launch() {
  // playwright gives the browser a fresh --user-data-dir of its own and removes it at close
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
}

// A fresh context (its own cookies) and page that records what the page does.
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: BASE });
  context.setDefaultTimeout(30000); // generous: CI runs the suite in parallel, ASan builds too
  const page = await context.newPage();
  const rec = { requests: [], consoleErrors: [], pageErrors: [], dialogs: [] };
  context.on('request', (r) => rec.requests.push(r.url()));
  page.on('console', (m) => {
    // a 4xx answer to fetch is logged as "Failed to load resource": expected (401 logged out, 422...)
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) rec.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => rec.pageErrors.push(String(e)));
  page.on('dialog', async (d) => {
    rec.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  return { context, page, rec };
}

let current = 'start';
export async function step(name, fn) {
  current = name;
  process.stdout.write(`[${elapsed()}] ${name}\n`);
  return fn();
}

export function check(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}

export async function screenshot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true }).catch(() => {});
  return path;
}

// Waits for the app to have rendered a page (main.js fires page-ready after each one).
export async function ready(page, path) {
  if (path) await page.waitForURL((u) => u.pathname === path);
  await page.waitForSelector('main .page h1, main .login-card h1');
}

// Logs in on the login page in view (kept, with its ?next=), or opens /login first.
// No JavaScript value leaked onto the page as words.
export async function checkNoLeakedValues(page) {
  const text = await page.locator('main').innerText();
  const m = /\b(null|undefined|NaN)\b|\[object \w+\]/.exec(text);
  check(!m, `no "${m && m[0]}" on ${new URL(page.url()).pathname}, saw "…${m ? text.slice(Math.max(0, m.index - 60), m.index + 40) : ''}…"`);
}

export async function login(page, user = USER, password = PASSWORD) {
  if (new URL(page.url()).pathname !== '/login') await page.goto('/login');
  await page.waitForSelector('form.login-form');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('form.login-form button[type=submit]');
}

// The checks every test ends with: nothing left the server, no script errors or CSP
// violations, no dialog.
export function checkClean(rec, { dialogs = true } = {}) {
  const outside = rec.requests.filter((u) => !u.startsWith(`${ORIGIN}/`) && !/^(data|blob|about):/.test(u));
  check(outside.length === 0, `every request to go to ${ORIGIN}, saw ${JSON.stringify(outside.slice(0, 5))}`);
  check(rec.pageErrors.length === 0, `no script errors, saw ${JSON.stringify(rec.pageErrors.slice(0, 5))}`);
  check(rec.consoleErrors.length === 0, `no console errors (CSP violations...), saw ${JSON.stringify(rec.consoleErrors.slice(0, 5))}`);
  if (dialogs) check(rec.dialogs.length === 0, `no dialog, saw ${JSON.stringify(rec.dialogs)}`);
}

// Runs a test's body with a browser; on failure prints the step, saves a screenshot and the
// page's text, and exits 1.
export async function run(name, body) {
  let browser;
  let pageForShot = null;
  const setPage = (p) => { pageForShot = p; };
  try {
    browser = await launch();
    await body(browser, setPage);
    process.stdout.write(`[${elapsed()}] ${name}: ok\n`);
    await browser.close();
    process.exit(0);
  } catch (e) {
    process.stdout.write(`[${elapsed()}] ${name}: FAILED at step "${current}"\n${e && e.stack ? e.stack : e}\n`);
    if (pageForShot) {
      const shot = await screenshot(pageForShot, `${name}-failure`);
      process.stdout.write(`screenshot: ${shot}\nURL: ${pageForShot.url()}\n`);
      const text = await pageForShot.locator('body').innerText({ timeout: 2000 }).catch(() => '');
      process.stdout.write(`page text:\n${text.slice(0, 3000)}\n`);
    }
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  }
}

// HTTP to the emulators (Basic admin:district) from the test itself.
export async function emulator(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Basic ${Buffer.from('admin:district').toString('base64')}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${base}${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}
