// checks.js — the job and instance forms' checks in the browser: the same rules, fields and
// words as the server's (host/api_instances.c, host/jobs.c), so that every problem shows at
// once before anything is sent. The server checks again; its 422 lists problems the same way.

const between = (s, min, max) => s.length >= min && s.length <= max;

// the server's check_url, in the same words
function urlProblem(url) {
  const m = /^https?:\/\/(.*)$/.exec(url);
  if (!m) return 'Base URL must start with https:// (or http://)';
  const rest = m[1];
  const authority = rest.split(/[/?#]/)[0];
  if (!authority) return 'Base URL has no host name';
  if (authority.includes('@')) return 'Base URL must not hold a user name or password: use Authentication';
  if (/[\s<>"]/.test(url) || /[?#]/.test(rest)) return 'Base URL must be the address only, without spaces, query or fragment';
  return null;
}

// body as the instance form posts it; editing: the stored instance (null when creating)
export function instanceProblems(body, editing) {
  const out = [];
  const add = (field, message) => out.push({ field, message });
  if (!body.name) add('name', 'Name is required');
  else if (!between(body.name, 1, 200)) add('name', 'Name must be 1 to 200 characters long');
  const urlSent = !editing || body.url !== undefined; // an edit sends the url only when changed
  const urlBad = urlSent && (body.url ? urlProblem(body.url) : 'Base URL is required');
  if (urlBad) add('url', urlBad);
  const a = body.auth;
  if (a) {
    const typeChanged = editing && editing.auth?.type !== a.type;
    const secretNeeded = !editing || typeChanged;
    const when = typeChanged ? ' when the authentication type changes' : '';
    if (a.type === 'basic') {
      if (!a.username) add('auth.username', 'User name is required');
      if (!a.password && secretNeeded) add('auth.password', `Password is required${when}`);
    } else if (!a.token && secretNeeded) {
      add('auth.token', `Token is required${when}`);
    }
  }
  return out;
}

const wholeIn = (v, min, max) => Number.isInteger(v) && v >= min && v <= max;

// body as the job form posts it
export function jobProblems(b) {
  const out = [];
  const add = (field, message) => out.push({ field, message });
  if (!b.name) add('name', 'Job name is required');
  else if (!between(b.name, 1, 200)) add('name', 'Job name must be 1 to 200 characters long');
  if (!b.source) add('source', 'Choose the source instance');
  if (!b.target) add('target', 'Choose the target instance');
  if (b.retryWindow === null || !wholeIn(b.retryWindow, 0, 86400)) add('retryWindow', 'Retry window must be 0 to 1,440 minutes');
  // the other kinds' own fields are the server's to check: its 422 names them the same way
  if (b.kind === 'metadata') {
    if (!Object.keys(b.objects).length) add('objects', 'Add at least one type of metadata');
    return out;
  }
  if (b.kind === 'tracker') {
    if (!b.programs.length) add('programs', 'Name at least one program');
    if (!b.orgUnits.length) add('orgUnits', 'Choose at least one org unit');
    return out;
  }
  if (!b.dataSets.length && !b.dataElementGroups.length) add('dataSets', 'Choose at least one data set or data element group');
  if (!b.orgUnits.length) add('orgUnits', 'Choose at least one org unit');
  const p = b.periods;
  if ('last' in p) {
    if (!wholeIn(p.last, 1, 1000)) add('periods.last', 'How many periods must be a whole number from 1 to 1,000');
  } else if ('fixed' in p) {
    if (!between(p.fixed, 1, 1000)) add('periods.fixed', 'List 1 to 1,000 DHIS2 periods');
  } else {
    if (!p.start) add('periods.start', 'From is required');
    if (!p.end) add('periods.end', 'To is required');
    if (p.start && p.end && p.end < p.start) add('periods.end', 'To must not be before From');
  }
  const batch = b.importOptions.batchSize;
  if (batch === null) add('importOptions.batchSize', 'Batch size is required');
  else if (!wholeIn(batch, 1, 50000)) add('importOptions.batchSize', 'Batch size must be a whole number from 1 to 50,000');
  return out;
}
