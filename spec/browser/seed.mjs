// seed.mjs — setting up what a page test looks at through the JSON API, from the logged-in
// page itself (its session cookie and CSRF token), so the test spends its steps on the page.
import { check } from './lib.mjs';

// -> the answer's JSON; throws with the server's error on a non-2xx answer. A string body is
// sent as a Lua source, anything else as JSON.
export async function apiCall(page, method, path, body) {
  const r = await page.evaluate(async ({ method: m, path: p, body: b }) => {
    const s = await (await fetch('/api/session')).json();
    const lua = typeof b === 'string';
    const res = await fetch(p, {
      method: m,
      headers: { 'Content-Type': lua ? 'text/x-lua' : 'application/json', Accept: 'application/json', 'X-CSRF-Token': s.csrfToken },
      body: b === undefined || lua ? b : JSON.stringify(b),
    });
    return { status: res.status, text: await res.text() };
  }, { method, path, body });
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.text ? JSON.parse(r.text) : null;
}

export function addInstance(page, name, url) {
  return apiCall(page, 'POST', '/api/instances', { name, url, auth: { type: 'basic', username: 'admin', password: 'district' } });
}

// a job over every data set and the whole org unit tree of the source, for a date window
export async function addJob(page, name, source, target, extra = {}) {
  const sets = await apiCall(page, 'GET', `/api/instances/${encodeURIComponent(source)}/metadata/dataSets`);
  const roots = await apiCall(page, 'GET', `/api/instances/${encodeURIComponent(source)}/metadata/organisationUnits?filter=level:eq:1`);
  return apiCall(page, 'POST', '/api/jobs', {
    name, source, target, dataSets: sets.dataSets.map((d) => d.id), orgUnits: roots.organisationUnits.map((o) => o.id),
    children: true, periods: { start: '2000-01-01', end: '2099-12-31' }, incremental: false, ...extra,
  });
}

// Waits for the run to end; -> the run, whose status must be `expected` (any when null)
export async function runEnds(page, run, expected) {
  let r = run;
  for (let i = 0; i < 600 && ['queued', 'running'].includes(r.status); i++) {
    await page.waitForTimeout(200);
    r = await apiCall(page, 'GET', `/api/runs/${run.id}`);
  }
  check(expected ? r.status === expected : !['queued', 'running'].includes(r.status),
    `run ${run.id} of "${run.job}" to end ${expected ?? ''}, saw ${r.status} (${r.error ?? ''})`);
  return r;
}

export async function runJob(page, job, expected) {
  return runEnds(page, await apiCall(page, 'POST', `/api/jobs/${job.id}/run`, {}), expected);
}
