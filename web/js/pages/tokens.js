// /tokens — API tokens for scripts and monitoring (Authorization: Bearer …): the list with
// label, created, last used and expiry; make one (shown once, with a copy button); revoke.
import { api } from '../api.js';
import { h, replace, timeEl } from '../dom.js';
import {
  busy, button, clearFormErrors, confirmButton, emptyState, errorText, field, message, pageHeader,
  showFieldErrors, showFormErrors, table, toast,
} from '../ui.js';

export const title = 'API tokens';

export async function render(ctx) {
  const listBox = h('div');
  const formBox = h('div');
  const status = h('div');
  const addBtn = button('Create token', () => openForm(), { class: 'btn btn-primary' });

  async function reload() {
    const data = await api.get('/api/tokens?pageSize=1000');
    if (ctx.alive) renderList(data.tokens);
  }

  function renderList(tokens) {
    if (tokens.length === 0) {
      replace(listBox, emptyState('No API tokens',
        'A token lets a script or a monitor call the API without a password: send it as "Authorization: Bearer TOKEN".',
        button('Create the first token', () => openForm(), { class: 'btn btn-primary' })));
      return;
    }
    replace(listBox, table(['Label', 'Created', 'Last used', 'Expires', ''], tokens.map(row), { caption: 'API tokens' }));
  }

  function row(t) {
    return h('tr', {},
      h('th', { scope: 'row' }, t.name),
      h('td', {}, timeEl(t.createdAt)),
      h('td', {}, t.lastUsedAt ? timeEl(t.lastUsedAt) : h('span', { class: 'muted' }, 'never')),
      h('td', {}, t.expiresAt ? timeEl(t.expiresAt) : h('span', { class: 'muted' }, 'never'),
        t.expired ? [' ', h('span', { class: 'badge badge-failed' }, 'expired')] : null),
      h('td', { class: 'actions-cell' },
        confirmButton('Revoke', `Revoke "${t.name}"? Scripts using it stop working at once.`, async () => {
          try {
            await api.del(`/api/tokens/${t.id}`);
            toast(`Revoked "${t.name}"`);
            await reload();
          } catch (e) {
            replace(status, message('error', `Could not revoke "${t.name}": ${errorText(e)}`));
          }
        }, { 'aria-label': `Revoke ${t.name}` })));
  }

  // the new token, in view until dismissed: it is never shown again
  function showToken(made) {
    const value = h('input', { type: 'text', readonly: true, class: 'token-value', value: made.token, 'aria-label': 'The new token', size: 60 });
    const copied = h('span', { class: 'small', 'aria-live': 'polite' });
    const copy = button('Copy', async () => {
      value.select();
      try {
        await navigator.clipboard.writeText(made.token);
        copied.textContent = ' Copied.';
      } catch {
        copied.textContent = ' Selected: press Ctrl+C (⌘C) to copy.';
      }
    }, { class: 'btn btn-small' });
    replace(status, h('div', { class: 'msg msg-warn new-token', role: 'status' },
      h('strong', {}, `Token "${made.name}" created. Copy it now: it will not be shown again.`),
      h('div', {}, value, ' ', copy, copied),
      button('Done', () => replace(status), { class: 'btn btn-small' })));
    value.focus();
    value.select();
  }

  async function openForm() {
    if (!(await ctx.mayDiscard())) return;
    const name = h('input', { name: 'name', type: 'text', required: true, maxlength: 200 });
    const expires = h('input', { name: 'expires', type: 'text', placeholder: '90d, 12h or 2027-01-31' });
    const formStatus = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create token');
    ctx.unsaved(() => Boolean(name.value || expires.value));
    const close = () => {
      ctx.unsaved(() => false);
      replace(formBox);
      addBtn.hidden = false;
    };
    const form = h('form', {
      class: 'form card', novalidate: true, 'aria-labelledby': 'token-form-h',
      onsubmit: async (ev) => {
        ev.preventDefault();
        clearFormErrors(form);
        const body = { name: name.value.trim() };
        if (expires.value.trim()) body.expires = expires.value.trim();
        if (!body.name) {
          showFieldErrors(form, formStatus, [{ field: 'name', message: 'Give the token a label, e.g. the script that uses it.' }]);
          return;
        }
        await busy(save, 'Creating…', async () => {
          try {
            const made = await api.post('/api/tokens', body);
            close();
            showToken(made);
            await reload();
          } catch (e) {
            showFormErrors(form, formStatus, e);
          }
        });
      },
    },
    h('h2', { id: 'token-form-h' }, 'Create an API token'),
    h('div', { class: 'grid-2' },
      field('Label', name, { name: 'name', required: true, hint: 'What uses it, e.g. "backup script" or "monitoring".' }),
      field('Expires', expires, { name: 'expires', hint: 'Optional: a duration (90d, 12h, 30m) or a date (2027-01-31). Blank: never.' })),
    formStatus,
    h('div', { class: 'form-actions' }, save, ' ', button('Cancel', () => { close(); addBtn.focus(); })));
    addBtn.hidden = true;
    replace(formBox, form);
    name.focus();
  }

  const data = await api.get('/api/tokens?pageSize=1000');
  ctx.add(pageHeader('API tokens', addBtn),
    h('p', { class: 'lead' }, 'Tokens let scripts and monitors use the API (Authorization: Bearer TOKEN). Only a hash is stored: a token is shown once, when it is made.'),
    status, formBox, listBox);
  renderList(data.tokens);
}
