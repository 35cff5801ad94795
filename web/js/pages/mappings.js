// /mappings — the Lua mappings under the mappings folder with their load state, and a new one.
import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { emptyState, field, link, message, pageHeader, table } from '../ui.js';

export const title = 'Mappings';

export async function render(ctx) {
  const data = await api.get('/api/mappings?pageSize=1000');
  const nameInput = h('input', { name: 'newMapping', type: 'text', pattern: '[A-Za-z0-9_-]+', placeholder: 'district_to_national', maxlength: 100 });
  const newStatus = h('div');
  const newForm = h('form', {
    class: 'inline-form card', novalidate: true,
    onsubmit: (ev) => {
      ev.preventDefault();
      const n = nameInput.value.trim();
      if (!/^[A-Za-z0-9_-]{1,100}$/.test(n)) {
        replace(newStatus, message('error', 'A mapping name is a file name: letters, digits, _ and - only.'));
        nameInput.setAttribute('aria-invalid', 'true');
        nameInput.focus();
        return;
      }
      if (data.mappings.some((m) => m.name === n)) {
        ctx.navigate(`/mappings/${n}`);
        return;
      }
      ctx.navigate(`/mappings/${n}?new=1`);
    },
  },
  field('New mapping', nameInput, { hint: 'Saved as mappings/NAME.lua. Letters, digits, _ and -.' }),
  h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create and edit'),
  newStatus);

  ctx.add(pageHeader('Mappings'),
    h('p', { class: 'lead' }, 'A mapping is a Lua file that rewrites data element, category option combo, org unit and other ids (and values) on the way from source to target. Changes apply to new runs at once; a mapping that fails to compile keeps its last good version.'));
  if (data.mappings.length === 0) {
    ctx.add(emptyState('No mappings yet', 'A job without a mapping sends ids unchanged. Create one when the two servers use different ids.'));
  } else {
    ctx.add(table(['Name', 'State', 'Version', 'Problem'], data.mappings.map((m) => h('tr', {},
      h('th', { scope: 'row' }, link(`/mappings/${encodeURIComponent(m.name)}`, m.name)),
      h('td', {}, m.state === 'loaded' ? h('span', { class: 'badge badge-succeeded' }, 'loaded') : h('span', { class: 'badge badge-failed' }, 'error')),
      h('td', {}, m.version ? h('code', {}, m.version) : h('span', { class: 'muted' }, '—')),
      h('td', { class: 'wrap' }, m.error ? [h('code', {}, `${m.error.file || `${m.name}.lua`}:${m.error.line}`), ' ', m.error.message] : h('span', { class: 'muted' }, '—')))),
    { caption: 'Mappings' }));
  }
  ctx.add(newForm);
}
