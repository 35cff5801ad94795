// main.js — the single-page app's shell: routing in the browser (the server answers index.html
// for every page route), the session check that sends logged-out visitors to /login and back,
// the top bar, and the lifetime of each page (its timers stop when you leave it).
import { currentUser, loadSession, logout, setUnauthorizedHandler } from './api.js';
import { append, h, replace } from './dom.js';
import { ask, errorText, message, pageHeader, link } from './ui.js';
import * as loginPage from './pages/login.js';
import * as dashboardPage from './pages/dashboard.js';
import * as instancesPage from './pages/instances.js';
import * as jobsPage from './pages/jobs.js';
import * as jobPage from './pages/job.js';
import * as runsPage from './pages/runs.js';
import * as runPage from './pages/run.js';
import * as mappingsPage from './pages/mappings.js';
import * as mappingPage from './pages/mapping.js';
import * as usersPage from './pages/users.js';
import * as tokensPage from './pages/tokens.js';

const routes = [
  { re: /^\/login$/, page: loginPage, public: true },
  { re: /^\/(?:admin\/?|auto-sync\/dashboard\/?)?$/, page: dashboardPage, nav: 'dashboard' },
  { re: /^\/instances$/, page: instancesPage, nav: 'instances' },
  { re: /^\/jobs$/, page: jobsPage, nav: 'jobs' },
  { re: /^\/jobs\/([^/]+)$/, page: jobPage, nav: 'jobs' },
  { re: /^\/runs$/, page: runsPage, nav: 'runs' },
  { re: /^\/runs\/(\d+)$/, page: runPage, nav: 'runs' },
  { re: /^\/mappings$/, page: mappingsPage, nav: 'mappings' },
  { re: /^\/mappings\/([A-Za-z0-9_-]+)$/, page: mappingPage, nav: 'mappings' },
  { re: /^\/users$/, page: usersPage, nav: 'users' },
  { re: /^\/tokens$/, page: tokensPage, nav: 'tokens' },
];

const notFound = {
  title: 'Not found',
  render(ctx) {
    ctx.add(pageHeader('Page not found'),
      message('info', 'There is no page at this address. ', link('/', 'Go to the dashboard'), '.'));
  },
};

let current = null; // the page context in force: its timers and its abort signal
let sessionChecked = false;
let shownPath = null; // the address of the page in view, to put back when a Back is refused
let backConfirmed = false;

function here() {
  return location.pathname + location.search;
}

// Pages with a form or an editor tell ctx.unsaved(() => bool); leaving them with changes
// asks first, in the app and (beforeunload) when the tab is closed or reloaded.
function hasUnsaved() {
  return Boolean(current && current.alive && current.hasUnsaved());
}

async function mayLeave() {
  if (!hasUnsaved()) return true;
  const choice = await ask('Leave this page?', 'You have unsaved changes on this page. If you leave now, they are lost.', [
    ['stay', 'Stay on this page', 'btn btn-primary'],
    ['leave', 'Discard changes and leave', 'btn btn-danger'],
  ]);
  return choice === 'leave';
}

// -> false when the visitor chose to stay on a page with unsaved changes
export async function navigate(path, { replace: replaceState = false, force = false } = {}) {
  if (!force && !(await mayLeave())) return false;
  if (path !== here()) {
    if (replaceState) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  route();
  return true;
}

function safeNext(next) {
  // only paths of this server: "/x", never "//host" or "http://…"
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login')
    ? next : '/';
}

function goToLogin() {
  const next = here();
  const target = next === '/' || next.startsWith('/login') ? '/login' : `/login?next=${encodeURIComponent(next)}`;
  navigate(target, { replace: true });
}

function makeContext(params, query) {
  const timers = new Set();
  const controller = new AbortController();
  let unsaved = () => false;
  const ctx = {
    main: document.getElementById('main'),
    params,
    query,
    signal: controller.signal,
    navigate,
    get alive() { return !controller.signal.aborted; },
    every(ms, fn) {
      const id = setInterval(() => { if (ctx.alive) fn(); }, ms);
      timers.add(id);
      return () => { clearInterval(id); timers.delete(id); };
    },
    later(ms, fn) {
      const id = setTimeout(() => { timers.delete(id); if (ctx.alive) fn(); }, ms);
      timers.add(id);
    },
    unsaved(fn) { unsaved = fn; },
    hasUnsaved() { return unsaved(); },
    // asks, like leaving would, before a page drops its own unsaved edits (another form...)
    mayDiscard: () => mayLeave(),
    afterLogin() { navigate(safeNext(query.get('next')), { replace: true }); },
    // appends to the page, skipping null/false (no "null" text)
    add(...kids) { return append(ctx.main, kids); },
    setTitle(text) { if (!controller.signal.aborted) document.title = `${text} · dhis2sync`; },
    dispose() {
      controller.abort();
      timers.forEach((id) => { clearInterval(id); clearTimeout(id); });
      timers.clear();
    },
  };
  return ctx;
}

function updateChrome(match) {
  const top = document.getElementById('topbar');
  const user = currentUser();
  top.hidden = !user || match.public;
  document.getElementById('username').textContent = user ? user.name || user.username || '' : '';
  document.querySelectorAll('#mainnav a').forEach((a) => {
    if (a.dataset.nav === match.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

async function route() {
  if (current) current.dispose();
  const path = location.pathname;
  let match = null;
  let params = [];
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      match = r;
      params = m.slice(1).map(decodeURIComponent);
      break;
    }
  }
  if (!match) match = { page: notFound, nav: null };

  if (!sessionChecked || (!currentUser() && !match.public)) {
    try {
      await loadSession();
    } catch (e) {
      replace(document.getElementById('main'), message('error', errorText(e)));
      return;
    }
    sessionChecked = true;
  }
  if (!currentUser() && !match.public) {
    goToLogin();
    return;
  }
  if (currentUser() && match.public) {
    // already logged in: /login goes straight on
    navigate(safeNext(new URLSearchParams(location.search).get('next')), { replace: true });
    return;
  }

  const ctx = makeContext(params, new URLSearchParams(location.search));
  current = ctx;
  shownPath = here();
  updateChrome(match);
  const main = document.getElementById('main');
  replace(main, h('p', { class: 'muted loading' }, 'Loading…'));
  document.title = `${match.page.title || 'dhis2sync'} · dhis2sync`;
  try {
    // the page builds into its own root, shown once its first data is in
    const root = h('div', { class: 'page' });
    ctx.main = root;
    const done = match.page.render(ctx);
    if (done && typeof done.then === 'function') await done;
    if (!ctx.alive) return;
    replace(main, root);
  } catch (e) {
    if (!ctx.alive) return;
    if (e && e.status === 401) return; // on its way to /login
    replace(main, pageHeader('Something went wrong'), message('error', errorText(e)));
  }
  if (!ctx.alive) return;
  const title = main.querySelector('h1');
  if (title && document.activeElement === document.body) title.focus({ preventScroll: true });
  document.dispatchEvent(new CustomEvent('page-ready', { detail: { path } }));
}

// In-app links: <a href="/x" data-link> change the page without a reload.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[data-link]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});

// Back/Forward has already changed the address: put the page's back while asking, then go
// back for real if the visitor chooses to leave.
window.addEventListener('popstate', async () => {
  if (backConfirmed || !hasUnsaved()) {
    backConfirmed = false;
    route();
    return;
  }
  history.pushState(null, '', shownPath);
  if (!(await mayLeave())) return;
  backConfirmed = true;
  history.back();
});

window.addEventListener('beforeunload', (ev) => {
  if (!hasUnsaved()) return;
  ev.preventDefault();
  ev.returnValue = '';
});

setUnauthorizedHandler(() => {
  if (!location.pathname.startsWith('/login')) goToLogin();
});

document.getElementById('logout').addEventListener('click', async () => {
  if (!(await mayLeave())) return;
  try {
    await logout();
  } catch {
    // the session is gone either way
  }
  navigate('/login', { replace: true, force: true });
});

route();
