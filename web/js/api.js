// api.js — the one way the pages talk to the server: the JSON API under /api/, with the
// session cookie and, on unsafe methods, the session's CSRF token (X-CSRF-Token).

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail ?? null;
  }

  // the input field the server named, for 400/422 answers ({"detail":{"field":"…"}})
  get field() {
    return this.detail && typeof this.detail === 'object' ? this.detail.field ?? null : null;
  }
}

const session = { user: null, csrfToken: null };
let onUnauthorized = () => {};

export function currentUser() {
  return session.user;
}

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function remember(answer) {
  session.user = answer?.user ?? null;
  session.csrfToken = answer?.csrfToken ?? null;
}

// -> the session ({user, csrfToken}) or null when logged out
export async function loadSession() {
  try {
    const s = await request('GET', '/api/session', { quiet401: true });
    remember(s);
    return s;
  } catch (e) {
    if (e.status === 401) {
      remember(null);
      return null;
    }
    throw e;
  }
}

export async function login(username, password) {
  const s = await request('POST', '/api/session', { body: { username, password }, quiet401: true });
  remember(s);
  return s;
}

export async function logout() {
  try {
    await request('DELETE', '/api/session', { quiet401: true });
  } finally {
    remember(null);
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// request('GET', '/api/jobs') -> parsed JSON (or text, or null for 204); throws ApiError.
// options: body (JSON), text (a text/x-lua body), accept, quiet401 (no redirect to /login),
// headers (more request headers, e.g. If-Match), withHeaders (answer {data, headers})
export async function request(method, path, options = {}) {
  const headers = { ...options.headers, Accept: options.accept || 'application/json' };
  if (UNSAFE.has(method) && session.csrfToken) headers['X-CSRF-Token'] = session.csrfToken;
  let body;
  if (options.text !== undefined) {
    headers['Content-Type'] = 'text/x-lua; charset=utf-8';
    body = options.text;
  } else if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'The dhis2sync server could not be reached. Check that it is running, then try again.');
  }
  if (res.status === 204) return options.withHeaders ? { data: null, headers: res.headers } : null;
  const type = res.headers.get('Content-Type') || '';
  let data = null;
  if (type.includes('json')) data = await res.json().catch(() => null);
  else data = await res.text().catch(() => '');
  if (!res.ok) {
    if (res.status === 401 && !options.quiet401) {
      remember(null);
      onUnauthorized();
    }
    let message = data && typeof data === 'object' && data.error ? data.error : null;
    if (!message) {
      message = res.status === 403 ? 'This action was refused (403). Reload the page and try again.'
        : res.status >= 500 ? `The server failed (HTTP ${res.status}). See its log for details.`
          : `The server answered HTTP ${res.status}.`;
    }
    throw new ApiError(res.status, message, data && typeof data === 'object' ? data.detail : null);
  }
  return options.withHeaders ? { data, headers: res.headers } : data;
}

export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, body, options = {}) => request('POST', path, { ...options, body }),
  put: (path, body, options = {}) => request('PUT', path, { ...options, body }),
  patch: (path, body, options = {}) => request('PATCH', path, { ...options, body }),
  del: (path, options) => request('DELETE', path, options),
};

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}
