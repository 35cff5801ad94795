// picker.js — choosing DHIS2 metadata (data sets, data element groups, org units) of the
// source instance, read through GET /api/instances/{id}/metadata/{kind}. Data sets and groups
// are a searchable checkbox list; org units a lazy tree (children read when a node opens, so
// 20,000 units cost a few short lists) with tree keys, whose search asks the instance and
// shows each match's path. Ids that cannot be listed stay chosen and visible.
import { api, qs } from './api.js';
import { h, replace } from './dom.js';
import { button, errorText, message } from './ui.js';

const FIELDS = {
  dataSets: 'id,displayName,periodType',
  dataElementGroups: 'id,displayName',
  organisationUnits: 'id,displayName,level,path',
};
const UID = /^[A-Za-z][A-Za-z0-9]{10}$/;
const SHOWN_MAX = 200; // rows of a search; more asks for a longer search text

let seq = 0;

const byName = (a, b) => (a.displayName ?? '').localeCompare(b.displayName ?? '', 'en', { numeric: true });

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
    type: 'search', class: 'picker-search', placeholder: options.tree ? 'Search by name…' : 'Type to filter…',
    'aria-label': `${options.tree ? 'Search' : 'Filter'} ${options.label.toLowerCase()}`, 'aria-controls': `${id}-list`,
  });
  const list = h('div', options.tree
    ? { class: 'picker-list picker-tree', id: `${id}-list`, role: 'tree', 'aria-multiselectable': 'true', 'aria-label': options.label }
    : { class: 'picker-list', id: `${id}-list`, role: 'group', 'aria-label': options.label });
  const chosen = h('div', { class: 'picker-chosen', 'aria-live': 'polite' });
  const note = h('div', { class: 'small' });
  const tree = options.tree ? orgUnitTree() : null;
  const manual = h('input', { type: 'text', class: 'picker-manual', placeholder: 'or paste ids, separated by commas', 'aria-label': `${options.label}: add ids by hand` });
  manual.addEventListener('change', () => {
    manual.value.split(/[\s,]+/).filter((x) => UID.test(x)).forEach((x) => selected.add(x));
    manual.value = '';
    changed();
    if (tree) tree.nameUnknown();
  });

  let timer = null;
  search.addEventListener('input', () => {
    if (tree) {
      clearTimeout(timer);
      timer = setTimeout(() => tree.search(search.value.trim()), 300);
      return;
    }
    renderList();
    if (truncated) {
      clearTimeout(timer);
      timer = setTimeout(() => load(search.value.trim()), 350);
    }
  });

  function toggle(itemId, on) {
    if (on) selected.add(itemId);
    else selected.delete(itemId);
    renderChosen();
  }

  function changed() {
    renderChosen();
    if (tree) tree.render();
    else renderList();
  }

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
          onclick: () => { selected.delete(x); changed(); },
        }, '×'))));
  }

  const noSource = () => h('p', { class: 'muted small' }, 'Choose a source instance first; its list appears here.');

  function checkboxFor(it, cid, attrs = {}) {
    return h('input', {
      type: 'checkbox', id: cid, name: options.name, value: it.id, checked: selected.has(it.id), ...attrs,
      onchange: (ev) => {
        toggle(it.id, ev.target.checked);
        if (tree) tree.render();
      },
    });
  }

  function renderList() {
    if (!sourceId) {
      replace(list, noSource());
      return;
    }
    const q = search.value.trim().toLowerCase();
    let shown = [...items].sort(byName);
    if (q) shown = shown.filter((it) => (it.displayName ?? '').toLowerCase().includes(q) || it.id.toLowerCase() === q);
    if (shown.length === 0) {
      replace(list, h('p', { class: 'muted small' }, items.length ? 'Nothing matches the filter.' : 'The source instance has none.'));
      return;
    }
    replace(list, shown.slice(0, 500).map((it) => {
      const cid = `${id}-${it.id}`;
      return h('div', { class: 'picker-item' }, checkboxFor(it, cid),
        h('label', { for: cid }, it.displayName ?? it.id,
          h('span', { class: 'muted small' }, ' ', it.id, it.periodType ? ` · ${it.periodType}` : '')));
    }));
  }

  // params -> the list asked for, remembering every name seen
  async function fetchList(params) {
    const r = await api.get(`/api/instances/${sourceId}/metadata/${options.kind}${qs({ fields: FIELDS[options.kind], ...params })}`);
    const got = r[options.kind] || [];
    got.forEach((it) => names.set(it.id, it.displayName ?? it.id));
    return { list: got, truncated: Boolean(r.truncated) };
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
      const r = await fetchList(filterText ? { filter: `displayName:ilike:${filterText}` } : {});
      if (mine !== loadSeq) return;
      items = r.list;
      truncated = r.truncated;
      replace(note, truncated ? h('span', { class: 'muted' }, 'Only the first part of a long list is shown: type to search the instance.') : null);
    } catch (e) {
      if (mine !== loadSeq) return;
      items = [];
      replace(note, message('error', `Could not list them from the source instance: ${errorText(e)} You can still paste ids below.`));
    }
    renderList();
    renderChosen();
  }

  // ---- the org unit tree -------------------------------------------------------------------
  function orgUnitTree() {
    const nodes = new Map(); // id -> {it, kids: [ids] | null (not read yet), open, loading}
    let roots = null;
    let found = null; // search results, or null when not searching
    let foundMore = false;
    let focusId = null;
    let treeSeq = 0;

    const node = (it) => {
      const n = nodes.get(it.id);
      if (n) {
        n.it = it;
        return n;
      }
      const made = { it, kids: null, open: false, loading: false };
      nodes.set(it.id, made);
      return made;
    };
    const parentOf = (it) => {
      const parts = (it.path || '').split('/').filter(Boolean);
      return parts.length > 1 ? parts[parts.length - 2] : null;
    };
    const pathText = (it) => (it.path || '').split('/').filter(Boolean)
      .map((x) => names.get(x) ?? x).join(' / ');

    // the rows in view, depth first along the open nodes
    function visible() {
      if (found) return found.map((x) => ({ n: nodes.get(x), depth: 0 }));
      const out = [];
      const walk = (ids, depth) => {
        for (const x of ids) {
          const n = nodes.get(x);
          out.push({ n, depth });
          if (n.open && n.kids) walk(n.kids, depth + 1);
        }
      };
      walk(roots || [], 0);
      return out;
    }

    async function readChildren(n) {
      if (n.kids || n.loading) return;
      n.loading = true;
      render();
      try {
        const r = await fetchList({ parent: n.it.id });
        n.kids = r.list.sort(byName).map((it) => node(it).it.id);
        if (r.truncated) replace(note, h('span', { class: 'muted' }, `${names.get(n.it.id)} has more units below it than shown: search by name to find the others.`));
      } catch (e) {
        replace(note, message('error', `Could not read the units below ${n.it.displayName}: ${errorText(e)}`));
      } finally {
        n.loading = false;
      }
    }

    async function setOpen(n, open) {
      n.open = open;
      if (open) await readChildren(n);
      render();
    }

    function row({ n, depth }, pos, size) {
      const it = n.it;
      const cid = `${id}-${it.id}`;
      const leaf = n.kids && n.kids.length === 0;
      const attrs = {
        class: `picker-item tree-item depth-${Math.min(depth, 6)}`, role: 'treeitem', id: `${cid}-item`,
        'aria-level': found ? 1 : depth + 1, 'aria-setsize': size, 'aria-posinset': pos,
        'aria-selected': String(selected.has(it.id)), tabindex: it.id === focusId ? '0' : '-1',
        'aria-labelledby': `${cid}-label`, dataset: { id: it.id },
      };
      if (!found && !leaf) attrs['aria-expanded'] = String(n.open);
      if (n.loading) attrs['aria-busy'] = 'true';
      const twist = found || leaf ? h('span', { class: 'twist' })
        : h('span', { class: 'twist', 'aria-hidden': 'true', onclick: () => { focusId = it.id; setOpen(n, !n.open); } }, n.open ? '▾' : '▸');
      return h('div', attrs, twist, checkboxFor(it, cid, { tabindex: '-1' }),
        h('label', { for: cid, id: `${cid}-label` }, it.displayName ?? it.id,
          h('span', { class: 'muted small' }, ' ', it.id, it.level ? ` · level ${it.level}` : ''),
          found ? h('span', { class: 'ou-path small muted' }, pathText(it)) : null),
        n.loading ? h('span', { class: 'muted small' }, ' loading…') : null);
    }

    function render() {
      if (!sourceId) {
        replace(list, noSource());
        return;
      }
      const rows = visible();
      if (rows.length === 0) {
        replace(list, h('p', { class: 'muted small' }, found ? 'No org unit of that name.' : roots ? 'The source instance has none.' : 'Loading…'));
        return;
      }
      if (!rows.some((r) => r.n.it.id === focusId)) focusId = rows[0].n.it.id;
      const hadFocus = list.contains(document.activeElement) && document.activeElement !== list;
      replace(list, rows.map((r, i) => {
        const siblings = found ? rows : rows.filter((x) => x.depth === r.depth && parentOf(x.n.it) === parentOf(r.n.it));
        return row(r, found ? i + 1 : siblings.indexOf(r) + 1, siblings.length);
      }), found && foundMore ? h('p', { class: 'muted small' }, `Only the first ${SHOWN_MAX} matches are shown: type more of the name.`) : null);
      if (hadFocus) list.querySelector(`[data-id="${CSS.escape(focusId)}"]`)?.focus();
    }

    function focusRow(x) {
      focusId = x;
      list.querySelectorAll('[role=treeitem]').forEach((el) => el.setAttribute('tabindex', el.dataset.id === x ? '0' : '-1'));
      list.querySelector(`[data-id="${CSS.escape(x)}"]`)?.focus();
    }

    list.addEventListener('focusin', (ev) => {
      const item = ev.target.closest && ev.target.closest('[role=treeitem]');
      if (item && item.dataset.id !== focusId) focusRow(item.dataset.id);
    });

    list.addEventListener('keydown', (ev) => {
      const item = ev.target.closest && ev.target.closest('[role=treeitem]');
      if (!item || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const rows = visible();
      const i = rows.findIndex((r) => r.n.it.id === item.dataset.id);
      if (i < 0) return;
      const { n } = rows[i];
      const canOpen = !found && !(n.kids && n.kids.length === 0);
      const choose = () => {
        toggle(n.it.id, !selected.has(n.it.id));
        render();
      };
      const moves = {
        ArrowDown: () => i + 1 < rows.length && focusRow(rows[i + 1].n.it.id),
        ArrowUp: () => i > 0 && focusRow(rows[i - 1].n.it.id),
        Home: () => focusRow(rows[0].n.it.id),
        End: () => focusRow(rows[rows.length - 1].n.it.id),
        ArrowRight: () => {
          if (canOpen && !n.open) setOpen(n, true);
          else if (n.open && n.kids && n.kids.length) focusRow(n.kids[0]);
        },
        ArrowLeft: () => {
          const up = parentOf(n.it);
          if (canOpen && n.open) setOpen(n, false);
          else if (!found && up && nodes.has(up) && rows.some((r) => r.n.it.id === up)) focusRow(up);
        },
        Enter: () => (canOpen ? setOpen(n, !n.open) : choose()),
        ' ': choose,
      };
      if (!moves[ev.key]) return;
      ev.preventDefault();
      moves[ev.key]();
    });

    // names for ids seen only in paths or chosen earlier: asked for by id, a few dozen at a time
    async function nameUnknown(extra = []) {
      const unknown = [...new Set([...selected, ...extra])].filter((x) => UID.test(x) && !names.has(x));
      const chunks = [];
      for (let i = 0; i < unknown.length; i += 24) chunks.push(unknown.slice(i, i + 24));
      await Promise.all(chunks.map((c) => fetchList({ filter: `id:in:[${c.join(',')}]` }).catch(() => null)));
      renderChosen();
    }

    async function start() {
      const mine = ++treeSeq;
      nodes.clear();
      roots = null;
      found = null;
      focusId = null;
      render();
      if (!sourceId) return;
      replace(note, h('span', { class: 'muted' }, 'Loading from the source instance…'));
      try {
        const r = await fetchList({ filter: 'level:eq:1' });
        if (mine !== treeSeq) return;
        roots = r.list.sort(byName).map((it) => node(it).it.id);
        replace(note, null);
        // one root (the country) opens by itself: its children are where a choice starts
        if (roots.length === 1) await setOpen(nodes.get(roots[0]), true);
      } catch (e) {
        if (mine !== treeSeq) return;
        roots = [];
        replace(note, message('error', `Could not list them from the source instance: ${errorText(e)} You can still paste ids below.`));
      }
      render();
      nameUnknown();
    }

    async function searchFor(text) {
      const mine = ++treeSeq;
      if (!text) {
        found = null;
        render();
        return;
      }
      replace(note, h('span', { class: 'muted' }, 'Searching the source instance…'));
      try {
        const r = await fetchList({ filter: `displayName:ilike:${text}` });
        if (mine !== treeSeq) return;
        const sorted = r.list.sort(byName);
        foundMore = r.truncated || sorted.length > SHOWN_MAX;
        found = sorted.slice(0, SHOWN_MAX).map((it) => node(it).it.id);
        await nameUnknown(found.flatMap((x) => (nodes.get(x).it.path || '').split('/').filter(Boolean)));
        if (mine !== treeSeq) return;
        replace(note, null);
      } catch (e) {
        if (mine !== treeSeq) return;
        found = [];
        replace(note, message('error', `Could not search the source instance: ${errorText(e)}`));
      }
      render();
    }

    return { render, start, search: searchFor, nameUnknown };
  }

  const el = h('div', { class: 'picker' },
    h('div', { class: 'picker-tools' }, search,
      button('Clear', () => { selected.clear(); changed(); }, { class: 'btn btn-small btn-ghost' })),
    tree ? h('div', { class: 'hint', id: `${id}-keys` }, 'Arrow keys move and open (→) or close (←) a unit; Space chooses it; Enter opens it.') : null,
    note, list, chosen, manual);
  if (tree) list.setAttribute('aria-describedby', `${id}-keys`);
  renderChosen();
  if (tree) tree.render();
  else renderList();
  return {
    el,
    value: () => [...selected],
    setSource(idOfSource) {
      if (String(idOfSource || '') === String(sourceId || '')) return;
      sourceId = idOfSource || null;
      search.value = '';
      if (tree) tree.start();
      else load();
    },
  };
}
