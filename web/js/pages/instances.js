// /instances — the DHIS2 servers jobs read from and write to: add, edit (secrets are
// write-only: blank keeps the stored one), delete, and test the connection.
import { api } from '../api.js';
import { fmtDuration, h, replace, timeEl } from '../dom.js';
import {
  busy, button, clearFormErrors, confirmButton, emptyState, errorText, field, message, pageHeader,
  select, showFieldErrors, showFormErrors, table, toast,
} from '../ui.js';
import { instanceProblems } from '../checks.js';

export const title = 'Instances';

// the stored outcome of the last connection test, in a line
function health(t) {
  if (!t) return h('span', { class: 'muted small' }, 'not tested yet');
  if (t.ok) {
    return h('div', { class: 'health health-ok' }, h('span', { class: 'badge badge-succeeded' }, 'connected'),
      ` DHIS2 ${t.version ?? '?'}`, t.latencyMs !== null && t.latencyMs !== undefined ? ` · ${fmtDuration(t.latencyMs)}` : '',
      h('div', { class: 'small muted' }, 'tested ', timeEl(t.at)));
  }
  return h('div', { class: 'health health-bad' }, h('span', { class: 'badge badge-failed' }, 'failed'),
    h('div', { class: 'small error-text' }, t.error ?? ''),
    h('div', { class: 'small muted' }, 'tested ', timeEl(t.at)));
}

export async function render(ctx) {
  const listBox = h('div');
  const formBox = h('div');
  const status = h('div');
  const addBtn = button('Add instance', () => openForm(null), { class: 'btn btn-primary' });

  async function reload() {
    const data = await api.get('/api/instances?pageSize=1000');
    if (!ctx.alive) return;
    renderList(data.instances);
  }

  function renderList(instances) {
    if (instances.length === 0) {
      replace(listBox, emptyState('No instances yet',
        'Add the DHIS2 server you read data from (the source) and the one you send it to (the target). '
        + 'You need their base URL and a user name and password, or a personal access token.',
        button('Add the first instance', () => openForm(null), { class: 'btn btn-primary' })));
      return;
    }
    replace(listBox, table(['Name', 'URL', 'Authentication', 'Last connection test', ''], instances.map(row), { caption: 'Instances' }));
  }

  function row(inst) {
    const result = h('div', { class: 'test-result', 'aria-live': 'polite' });
    const healthBox = h('div', { class: 'health-cell' }, health(inst.lastTest));
    // the stored outcome replaces the one shown, whatever the test said
    const refreshHealth = async () => {
      try {
        const fresh = await api.get(`/api/instances/${inst.id}`);
        replace(healthBox, health(fresh.lastTest));
      } catch {
        // the answer of the test itself is on screen
      }
    };
    const testBtn = button('Test connection', async (ev) => {
      await busy(ev.currentTarget, 'Testing…', async () => {
        replace(result, h('span', { class: 'muted small' }, 'Calling /api/system/info and /api/me…'));
        try {
          const r = await api.post(`/api/instances/${inst.id}/test`, {});
          const who = r.user ? [r.user.username, r.user.name && r.user.name !== r.user.username ? ` (${r.user.name})` : ''] : [];
          replace(result, message('ok', h('strong', {}, 'Connected: '), `DHIS2 ${r.version}`,
            who.length ? [' as ', ...who] : null,
            r.systemName ? h('span', { class: 'muted' }, ` · ${r.systemName}`) : null));
        } catch (e) {
          replace(result, message('error', h('strong', {}, 'Connection failed: '), errorText(e)));
        }
        await refreshHealth();
      });
    }, { class: 'btn btn-small', 'aria-label': `Test connection to ${inst.name}` });
    const auth = inst.auth?.type === 'basic'
      ? ['user ', h('code', {}, inst.auth.username ?? '')]
      : ['personal access token'];
    return h('tr', {},
      h('th', { scope: 'row' }, h('span', { class: 'inst-name' }, inst.name),
        h('div', { class: 'small muted' }, 'updated ', timeEl(inst.updatedAt))),
      h('td', { class: 'url' }, inst.url),
      h('td', {}, auth),
      h('td', {}, healthBox, testBtn, result),
      h('td', { class: 'actions-cell' },
        button('Edit', () => openForm(inst), { class: 'btn btn-small', 'aria-label': `Edit ${inst.name}` }), ' ',
        confirmButton('Delete', `Delete "${inst.name}"?`, async () => {
          try {
            await api.del(`/api/instances/${inst.id}`);
            toast(`Deleted "${inst.name}"`);
            await reload();
          } catch (e) {
            replace(status, message('error', `Could not delete "${inst.name}": ${errorText(e)}`));
          }
        })));
  }

  async function openForm(inst) {
    if (!(await ctx.mayDiscard())) return;
    const editing = Boolean(inst);
    const name = h('input', { name: 'name', type: 'text', required: true, maxlength: 200, value: inst?.name ?? '' });
    const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://dhis2.example.org', value: inst?.url ?? '' });
    const authType = select('authType', [['basic', 'User name and password'], ['pat', 'Personal access token']], inst?.auth?.type ?? 'basic');
    const username = h('input', { name: 'username', type: 'text', autocomplete: 'off', value: inst?.auth?.username ?? '' });
    const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password' });
    const token = h('input', { name: 'token', type: 'password', autocomplete: 'off', placeholder: 'd2pat_…' });
    const keepHint = editing ? 'Leave blank to keep the stored one. It is never shown again once saved.'
      : 'Stored encrypted; never shown again once saved.';
    const basicFields = h('div', {},
      field('User name', username, { name: 'auth.username', required: true }),
      field('Password', password, { name: 'auth.password', required: !editing, hint: keepHint }));
    const patFields = h('div', {},
      field('Token', token, { name: 'auth.token', required: !editing, hint: `A DHIS2 personal access token (Profile → Personal access tokens). ${keepHint}` }));
    const showAuth = () => {
      basicFields.hidden = authType.value !== 'basic';
      patFields.hidden = authType.value !== 'pat';
    };
    authType.addEventListener('change', showAuth);
    showAuth();
    const formStatus = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save changes' : 'Add instance');
    const typed = () => JSON.stringify([name, url, authType, username, password, token].map((x) => x.value));
    const clean = typed();
    ctx.unsaved(() => typed() !== clean);
    const close = () => {
      ctx.unsaved(() => false);
      replace(formBox);
      addBtn.hidden = false;
    };
    const form = h('form', {
      class: 'form card', novalidate: true, 'aria-labelledby': 'inst-form-h',
      onsubmit: async (ev) => {
        ev.preventDefault();
        clearFormErrors(form);
        // a url sent is a url changed: the server tests the instance again
        const body = { name: name.value.trim() };
        if (!editing || url.value.trim() !== inst.url) body.url = url.value.trim();
        const type = authType.value;
        const secret = type === 'basic' ? password.value : token.value.trim();
        const authChanged = !editing || type !== inst.auth?.type || secret
          || (type === 'basic' && username.value.trim() !== (inst.auth?.username ?? ''));
        if (authChanged) {
          body.auth = { type };
          if (type === 'basic') body.auth.username = username.value.trim();
          if (secret) body.auth[type === 'basic' ? 'password' : 'token'] = secret;
        }
        const problems = instanceProblems(body, inst);
        if (problems.length) {
          showFieldErrors(form, formStatus, problems);
          return;
        }
        await busy(save, 'Saving and testing…', async () => {
          try {
            const saved = editing ? await api.put(`/api/instances/${inst.id}`, body) : await api.post('/api/instances', body);
            toast(`Saved "${saved.name}"`);
            close();
            const t = saved.lastTest;
            replace(status, t && !t.ok && (body.url !== undefined || body.auth)
              ? message('warn', h('strong', {}, `Saved "${saved.name}", but its connection test failed: `), t.error ?? '', ' Check the URL and credentials.')
              : null);
            await reload();
          } catch (e) {
            showFormErrors(form, formStatus, e);
          }
        });
      },
    },
    h('h2', { id: 'inst-form-h' }, editing ? `Edit "${inst.name}"` : 'Add an instance'),
    h('div', { class: 'grid-2' },
      field('Name', name, { name: 'name', required: true, hint: 'Your label for it, e.g. "district" or "national".' }),
      field('Base URL', url, { name: 'url', required: true, hint: 'The address you open DHIS2 at, with any context path, e.g. https://hmis.example.org/dhis' })),
    field('Authentication', authType, { name: 'auth.type' }),
    basicFields, patFields,
    formStatus,
    h('div', { class: 'form-actions' }, save, ' ',
      button('Cancel', () => { close(); addBtn.focus(); })));
    addBtn.hidden = true;
    replace(formBox, form);
    name.focus();
    form.scrollIntoView({ block: 'nearest' });
  }

  const data = await api.get('/api/instances?pageSize=1000');
  ctx.add(pageHeader('Instances', addBtn),
    h('p', { class: 'lead' }, 'DHIS2 servers that jobs read from (source) and write to (target).'),
    status, formBox, listBox);
  renderList(data.instances);
}
