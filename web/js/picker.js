// picker.js — choosing DHIS2 metadata (data sets, data element groups, org units) of the
// source instance from a searchable checkbox list, read through
// GET /api/instances/{id}/metadata/{kind}. Ids that cannot be listed stay chosen and visible.
import { api, qs } from './api.js';
import { h, replace } from './dom.js';
import { button, errorText, message } from './ui.js';

const FIELDS = {
  dataSets: 'id,displayName,periodType',
  dataElementGroups: 'id,displayName',
  organisationUnits: 'id,displayName,level,path',
};

let seq = 0;

// options: {kind, name (the checkboxes' name), label, hint, selected: [ids], tree: bool}
// -> {el, value(): [ids], setSource(id)}
export function picker(options) {
  const selected = new Set(options.selected || []);
  const names = new Map(); // id -> displayName, as far as known
  let items = [];
  let truncated = false;
  let sourceId = null;
  let loadSeq = 0;
  const id = `pk${++seq}`;

  const search = h('input', {
    type: 'search', class: 'picker-search', placeholder: 'Type to filter…',
    'aria-label': `Filter ${options.label.toLowerCase()}`, 'aria-controls': `${id}-list`,
  });
  const list = h('div', { class: 'picker-list', id: `${id}-list`, role: 'group', 'aria-label': options.label });
  const chosen = h('div', { class: 'picker-chosen', 'aria-live': 'polite' });
  const note = h('div', { class: 'small' });
  const manual = h('input', { type: 'text', class: 'picker-manual', placeholder: 'or paste ids, separated by commas', 'aria-label': `${options.label}: add ids by hand` });
  manual.addEventListener('change', () => {
    manual.value.split(/[\s,]+/).filter((x) => /^[A-Za-z][A-Za-z0-9]{10}$/.test(x)).forEach((x) => selected.add(x));
    manual.value = '';
    renderChosen();
    renderList();
  });

  let timer = null;
  search.addEventListener('input', () => {
    renderList();
    if (truncated) {
      clearTimeout(timer);
      timer = setTimeout(() => load(search.value.trim()), 350);
    }
  });

  function renderChosen() {
    if (selected.size === 0) {
      replace(chosen, h('span', { class: 'muted small' }, 'None chosen.'));
      return;
    }
    replace(chosen, h('span', { class: 'small' }, `${selected.size} chosen: `),
      [...selected].map((x) => h('span', { class: 'chip' },
        names.get(x) ?? x,
        h('button', {
          type: 'button', class: 'chip-x', 'aria-label': `Remove ${names.get(x) ?? x}`,
          onclick: () => { selected.delete(x); renderChosen(); renderList(); },
        }, '×'))));
  }

  function ordered() {
    if (!options.tree) return [...items].sort((a, b) => (a.displayName ?? '').localeCompare(b.displayName ?? ''));
    // depth first along the paths, siblings by name
    const byParent = new Map();
    for (const it of items) {
      const parts = (it.path || `/${it.id}`).split('/').filter(Boolean);
      const parent = parts.length > 1 ? parts[parts.length - 2] : '';
      if (!byParent.has(parent)) byParent.set(parent, []);
      byParent.get(parent).push(it);
    }
    const known = new Set(items.map((it) => it.id));
    const roots = [];
    for (const [parent, kids] of byParent) if (!known.has(parent)) roots.push(...kids);
    const out = [];
    const walk = (list2) => {
      list2.sort((a, b) => (a.displayName ?? '').localeCompare(b.displayName ?? ''));
      for (const it of list2) {
        out.push(it);
        walk(byParent.get(it.id) || []);
      }
    };
    walk(roots);
    return out;
  }

  function renderList() {
    if (!sourceId) {
      replace(list, h('p', { class: 'muted small' }, 'Choose a source instance first; its list appears here.'));
      return;
    }
    const q = search.value.trim().toLowerCase();
    let shown = ordered();
    const minLevel = Math.min(...items.map((it) => it.level ?? 1));
    if (q) shown = shown.filter((it) => (it.displayName ?? '').toLowerCase().includes(q) || it.id.toLowerCase() === q);
    else if (options.tree && shown.length > 300) shown = shown.filter((it) => (it.level ?? 1) <= minLevel + 1);
    if (shown.length === 0) {
      replace(list, h('p', { class: 'muted small' }, items.length ? 'Nothing matches the filter.' : 'The source instance has none.'));
      return;
    }
    replace(list, shown.slice(0, 500).map((it) => {
      const cid = `${id}-${it.id}`;
      const box = h('input', {
        type: 'checkbox', id: cid, name: options.name, value: it.id, checked: selected.has(it.id),
        onchange: (ev) => {
          if (ev.target.checked) selected.add(it.id);
          else selected.delete(it.id);
          renderChosen();
        },
      });
      const depth = options.tree && !q ? Math.max(0, (it.level ?? 1) - minLevel) : 0;
      return h('div', { class: `picker-item depth-${Math.min(depth, 6)}` }, box,
        h('label', { for: cid }, it.displayName ?? it.id,
          h('span', { class: 'muted small' }, ' ', it.id, it.periodType ? ` · ${it.periodType}` : '', options.tree && it.level ? ` · level ${it.level}` : '')));
    }));
  }

  async function load(filterText) {
    const mine = ++loadSeq;
    if (!sourceId) {
      items = [];
      renderList();
      return;
    }
    replace(note, h('span', { class: 'muted' }, 'Loading from the source instance…'));
    try {
      const params = { fields: FIELDS[options.kind] };
      if (filterText) params.filter = `displayName:ilike:${filterText}`;
      const r = await api.get(`/api/instances/${sourceId}/metadata/${options.kind}${qs(params)}`);
      if (mine !== loadSeq) return;
      items = r[options.kind] || [];
      truncated = Boolean(r.truncated);
      items.forEach((it) => names.set(it.id, it.displayName ?? it.id));
      replace(note, truncated ? h('span', { class: 'muted' }, 'Only the first part of a long list is shown: type to search the instance.') : null);
    } catch (e) {
      if (mine !== loadSeq) return;
      items = [];
      replace(note, message('error', `Could not list them from the source instance: ${errorText(e)} You can still paste ids below.`));
    }
    renderList();
    renderChosen();
  }

  const el = h('div', { class: 'picker' },
    h('div', { class: 'picker-tools' }, search,
      button('Clear', () => { selected.clear(); renderChosen(); renderList(); }, { class: 'btn btn-small btn-ghost' })),
    note, list, chosen, manual);
  renderChosen();
  renderList();
  return {
    el,
    value: () => [...selected],
    setSource(idOfSource) {
      if (String(idOfSource || '') === String(sourceId || '')) return;
      sourceId = idOfSource || null;
      search.value = '';
      load();
    },
  };
}
