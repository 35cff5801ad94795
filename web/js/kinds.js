// kinds.js — what each kind of job (PRODUCT.md "Kinds of job") looks like in the admin: its
// name, the word for what its runs count, the job form's own sections for metadata and tracker
// jobs, and a job's selection in words.
import { h, replace } from './dom.js';
import { button, checkbox, field, select } from './ui.js';
import { picker } from './picker.js';

export const KIND_NAMES = { dataValues: 'Data values', metadata: 'Metadata', tracker: 'Events and tracker data' };

const NOUNS = {
  dataValues: ['value', 'values'],
  metadata: ['object', 'objects'],
  tracker: ['event or tracked entity', 'events and tracked entities'],
};

// [one, many]: what a run of this kind reads and sends
export const kindNoun = (kind) => NOUNS[kind] ?? NOUNS.dataValues;
export const kindName = (kind) => KIND_NAMES[kind ?? 'dataValues'] ?? kind;

const META_TYPES = ['dataSets', 'dataElements', 'dataElementGroups', 'categoryCombos', 'categories',
  'categoryOptions', 'categoryOptionCombos', 'optionSets', 'options', 'organisationUnits',
  'organisationUnitGroups', 'indicators', 'programs', 'programStages', 'trackedEntityTypes',
  'trackedEntityAttributes'];
// the types GET /api/instances/{id}/metadata/{kind} lists, hence the picker chooses from
const PICKABLE = new Set(['dataSets', 'dataElementGroups', 'organisationUnits']);

// "categoryOptionCombos" -> "category option combos" (n === 1: "category option combo")
function typeWords(type, n) {
  const words = type.replace(/([A-Z])/g, ' $1').toLowerCase();
  return n === 1 ? words.replace(/ies$/, 'y').replace(/s$/, '') : words;
}

const ids = (text) => text.split(/[\s,]+/).filter(Boolean);
const count = (n, type) => `${n} ${typeWords(type, n)}`;

// One line saying what a job selects, in its kind's terms.
export function selectionWords(job) {
  if (job.kind === 'metadata') {
    const parts = Object.entries(job.objects || {}).map(([type, v]) => (v === 'all' ? `all ${typeWords(type)}`
      : Array.isArray(v) ? count(v.length, type)
        : `${typeWords(type)} filtered by ${(v.filter || []).join(' and ')}`));
    return `${parts.join(', ') || 'nothing'}${job.dependencies === false ? '; without dependencies' : '; with dependencies'}`;
  }
  const under = (ous, children) => `under ${ous.length} org unit${ous.length === 1 ? '' : 's'}${children ? ' with children' : ''}`;
  if (job.kind === 'tracker') {
    const programs = job.programs || [];
    return `Program${programs.length === 1 ? '' : 's'} ${programs.join(', ')} ${under(job.orgUnits || [], job.children)}`
      + `${job.occurredAfter ? `, occurred after ${job.occurredAfter}` : ''}`;
  }
  const what = [[job.dataSets, 'dataSets'], [job.dataElementGroups, 'dataElementGroups']]
    .filter(([l]) => l && l.length).map(([l, t]) => count(l.length, t));
  return `${what.join(' and ') || 'nothing'} ${under(job.orgUnits || [], job.children)}`;
}

// A field wrapper for a control that field() cannot label (a picker, a row of controls).
export const group = (name, label, ...content) => h('div', { class: 'field', dataset: { field: name } },
  h('div', { class: 'label' }, label), ...content, h('div', { class: 'field-error' }));

// One row of `objects`: a type, then its ids (the picker where the source lists that type),
// "all", or DHIS2 filters. -> {el, type(), value(), setSource(id)}
function objectRow(type, value, onRemove) {
  const typeSel = select('objects.type', META_TYPES.map((t) => [t, typeWords(t)]), type, { 'aria-label': 'Type' });
  const how = select('objects.how', [['ids', 'These ids'], ['all', 'All of them'], ['filter', 'Those matching filters']],
    value === 'all' ? 'all' : Array.isArray(value) || value === undefined ? 'ids' : 'filter', { 'aria-label': 'Which' });
  const filters = h('textarea', {
    class: 'mono', rows: 2, placeholder: 'code:like:ANC', 'aria-label': 'DHIS2 filters, one per line',
  }, value && Array.isArray(value.filter) ? value.filter.join('\n') : '');
  const text = h('input', { type: 'text', class: 'mono', placeholder: 'ids, separated by commas', 'aria-label': 'Ids' });
  let chosen = Array.isArray(value) ? value : [];
  let pick = null;
  let source = '';
  const idsBox = h('div', { class: 'object-ids' });
  const slot = h('div', { class: 'field' }, idsBox, h('div', { class: 'field-error' }));
  const showIds = () => {
    pick = PICKABLE.has(typeSel.value)
      ? picker({ kind: typeSel.value, name: `objects.${typeSel.value}`, label: typeWords(typeSel.value), selected: chosen, tree: typeSel.value === 'organisationUnits' })
      : null;
    text.value = chosen.join(', ');
    if (pick) pick.setSource(source);
    replace(idsBox, how.value === 'ids' ? (pick ? pick.el : text) : how.value === 'filter' ? filters : null);
    slot.dataset.field = `objects.${typeSel.value}`;
  };
  const chosenIds = () => (pick ? pick.value() : ids(text.value));
  typeSel.addEventListener('change', () => { chosen = chosenIds(); showIds(); });
  how.addEventListener('change', () => { chosen = chosenIds(); showIds(); });
  showIds();
  const el = h('div', { class: 'object-row' },
    h('div', { class: 'object-row-head' }, typeSel, how, button('Remove', () => onRemove(el), { class: 'btn btn-small' })),
    slot);
  return {
    el,
    type: () => typeSel.value,
    value: () => (how.value === 'all' ? 'all' : how.value === 'filter'
      ? { filter: filters.value.split('\n').map((s) => s.trim()).filter(Boolean) } : chosenIds()),
    setSource(id) { source = id; if (pick) pick.setSource(id); },
  };
}

const STRIPS = [['sharing', 'Sharing'], ['users', 'User references'], ['organisationUnits', 'Org unit assignments']];
const boxChecked = (el) => el.querySelector('input').checked;

// The metadata job's sections; strategies: [[value, words]] of the import strategy.
export function metadataForm(j, strategies) {
  let rows = [];
  let source = '';
  const rowsBox = h('div', { class: 'object-rows' });
  const remove = (el) => { rows = rows.filter((r) => r.el !== el); el.remove(); };
  const add = (type, value) => {
    const r = objectRow(type, value, remove);
    r.setSource(source);
    rows.push(r);
    rowsBox.append(r.el);
  };
  const objects = Object.entries(j.objects || { dataSets: [] });
  objects.forEach(([t, v]) => add(t, v));
  const addBtn = button('Add a type', () => add(META_TYPES.find((t) => !rows.some((r) => r.type() === t)) ?? 'dataSets', []), { class: 'btn btn-small' });
  const dependencies = checkbox('With dependencies: add what the chosen objects need to be imported', 'dependencies', j.dependencies ?? true,
    'Org units come only when a row names them.');
  const strip = j.strip ?? ['sharing', 'users'];
  const strips = STRIPS.map(([v, label]) => checkbox(label, `strip.${v}`, strip.includes(v)));
  const incremental = checkbox('Incremental: only objects changed since the last successful run', 'incremental', j.incremental ?? false);
  const deletions = checkbox('Send deletions: objects deleted at the source are deleted at the target', 'deletions', j.deletions ?? false);
  const opts = j.importOptions || {};
  const atomic = select('importOptions.atomicMode', [['ALL', 'ALL: all or nothing'], ['NONE', 'NONE: what can be imported']], opts.atomicMode ?? 'ALL');
  const dryRun = checkbox('Dry run by default: the target checks the objects but stores nothing', 'importOptions.dryRun', opts.dryRun ?? false);
  const io = select('importOptions.importStrategy', strategies, opts.importStrategy ?? 'CREATE_AND_UPDATE');
  const sections = [
    h('fieldset', { class: 'card' }, h('legend', {}, 'What to copy'),
      h('p', { class: 'hint' }, 'One row per type of metadata: some ids, all of them, or those matching DHIS2 filters (property:operator:value).'),
      group('objects', 'Objects', rowsBox, addBtn),
      dependencies,
      group('strip', 'Remove before import', ...strips)),
    h('fieldset', { class: 'card' }, h('legend', {}, 'How to send'),
      incremental, deletions, dryRun,
      h('div', { class: 'grid-2' },
        field('Import strategy', io, { name: 'importOptions.importStrategy' }),
        field('Atomic mode', atomic, { name: 'importOptions.atomicMode' }))),
  ];
  return {
    sections,
    setSource(id) { source = id; rows.forEach((r) => r.setSource(id)); },
    body: () => ({
      objects: Object.fromEntries(rows.map((r) => [r.type(), r.value()])),
      dependencies: boxChecked(dependencies),
      strip: STRIPS.map(([v]) => v).filter((_, i) => boxChecked(strips[i])),
      incremental: boxChecked(incremental),
      deletions: boxChecked(deletions),
      importOptions: { importStrategy: io.value, atomicMode: atomic.value, dryRun: boxChecked(dryRun) },
    }),
  };
}

// The tracker job's sections. orgUnits: the org unit picker's field, shared with data values.
export function trackerForm(j, orgUnits) {
  const programs = h('input', { name: 'programs', type: 'text', class: 'mono', value: (j.programs || []).join(', '), placeholder: 'eBAyeGv0exc, …' });
  const occurredAfter = h('input', { name: 'occurredAfter', type: 'date', value: j.occurredAfter ?? '' });
  const incremental = checkbox('Incremental: only events and tracked entities changed since the last successful run', 'incremental', j.incremental ?? true);
  const deletions = checkbox('Send deletions: what is deleted at the source is deleted at the target', 'deletions', j.deletions ?? false);
  const opts = j.importOptions || {};
  const atomic = select('importOptions.atomicMode', [['OBJECT', 'OBJECT: each object on its own'], ['ALL', 'ALL: all or nothing']], opts.atomicMode ?? 'OBJECT');
  const batch = h('input', { name: 'importOptions.batchSize', type: 'number', min: 1, value: opts.batchSize ?? 500, class: 'narrow' });
  const dryRun = checkbox('Dry run by default: the target checks the data but stores nothing', 'importOptions.dryRun', opts.dryRun ?? false);
  const what = h('fieldset', { class: 'card' }, h('legend', {}, 'What to copy'),
    field('Programs', programs, { name: 'programs', hint: 'Ids of event or tracker programs of the source, separated by commas.' }),
    field('Occurred after', occurredAfter, { name: 'occurredAfter', hint: 'Optional: leave blank for every date.' }));
  return {
    sections: [what,
      h('fieldset', { class: 'card' }, h('legend', {}, 'How to send'),
        incremental, deletions, dryRun,
        h('div', { class: 'grid-2' },
          field('Atomic mode', atomic, { name: 'importOptions.atomicMode' }),
          field('Batch size', batch, { name: 'importOptions.batchSize', hint: 'Objects per POST.' })))],
    // the org unit picker (and its children checkbox) is shared: it moves into this form
    attach() { what.append(...orgUnits); },
    body: () => ({
      programs: ids(programs.value),
      ...(occurredAfter.value ? { occurredAfter: occurredAfter.value } : {}),
      incremental: boxChecked(incremental),
      deletions: boxChecked(deletions),
      importOptions: {
        atomicMode: atomic.value, batchSize: batch.value.trim() === '' ? null : Number(batch.value), dryRun: boxChecked(dryRun),
      },
    }),
  };
}
