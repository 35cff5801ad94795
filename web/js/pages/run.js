// /runs/{id} — one run: status and live progress, what it selected beyond its window, counts
// in words, timings, the mapping version it used, its error, and what the target refused or
// the mapping skipped: grouped by cause, or every entry page by page (source value beside the
// mapped one), or all of them as CSV.
import { api, qs } from '../api.js';
import { fmtDuration, fmtNumber, h, replace, statusBadge, timeEl } from '../dom.js';
import { busy, button, errorText, link, message, pageHeader, pager, table, toast } from '../ui.js';
import { ACTIVE, pollRun, refusedWords, runProgress, waitingLine } from '../runs-common.js';
import { kindNoun } from '../kinds.js';

export const title = 'Run';

// many: what the run's kind counts ("values", "objects", …)
const countHelp = (many) => ({
  fetched: 'read from the source',
  mapped: 'after the mapping',
  skipped: 'dropped on purpose by the mapping',
  errors: 'the mapping raised an error',
  sent: 'posted to the target',
  imported: 'new at the target',
  updated: 'changed at the target',
  ignored: `the target left unchanged (refused ${many} included)`,
  deleted: 'deleted at the target',
  refused: `${many} the target refused`,
  conflicts: `conflict entries from the target (one can cover many ${many})`,
});

const TRIGGER_WORDS = { manual: 'started by hand', schedule: 'started by the schedule', cli: 'started from the command line', retry: 'a retry' };

const KIND_WORDS = {
  conflict: 'refused by target', skipped: 'skipped by mapping', error: 'mapping error',
  refused: 'refused by target', failed: 'mapping error',
};
const KIND_CLASS = { refused: 'conflict', failed: 'error' };

const ID_WORDS = [['dataElement', 'de'], ['period', 'pe'], ['orgUnit', 'ou'], ['categoryOptionCombo', 'coc'], ['attributeOptionCombo', 'aoc']];

// the ids of a data value (or of a group's source or target), one per line
function idParts(v, withValue) {
  if (!v) return h('span', { class: 'muted' }, '—');
  return [ID_WORDS.filter(([k]) => v[k]).map(([k, w]) => h('span', { class: 'dv-part' }, h('span', { class: 'muted' }, `${w} `), v[k])),
    withValue && v.value !== undefined && v.value !== null ? h('span', { class: 'dv-part' }, h('span', { class: 'muted' }, '= '), String(v.value)) : null];
}

const codeCell = (x) => h('td', {}, x.errorCode ? h('code', {}, x.errorCode) : h('span', { class: 'muted' }, '—'));

const kindTag = (kind) => h('span', { class: `tag tag-${KIND_CLASS[kind] ?? kind}` }, KIND_WORDS[kind] ?? kind);

// "Bo, Badjia and 12 more": a capped list with the count of all distinct ones
function someOf(list, total) {
  const shown = (list || []).slice(0, 3);
  const more = (total ?? (list || []).length) - shown.length;
  return [shown.join(', '), more > 0 ? h('span', { class: 'muted' }, `${shown.length ? ' and ' : ''}${fmtNumber(more)} more`) : null];
}

export async function render(ctx) {
  const id = ctx.params[0];
  const run = await api.get(`/api/runs/${id}`);
  ctx.setTitle(`Run #${run.id} of ${run.job ?? 'a job'}`);
  const summary = h('div');
  const headActions = h('div', { class: 'actions' });
  const conflictsBox = h('section', { class: 'card', 'aria-labelledby': 'conf-h' });
  const status = h('div');
  let conflictPage = 1;
  let kind = '';
  let view = 'groups'; // or 'entries'; 'entries' alone when the server has no groups
  const [one, many] = kindNoun(run.kind);
  const COUNT_HELP = countHelp(many);
  // entries of the other kinds name an item (type and id), not a data value
  const values = (run.kind ?? 'dataValues') === 'dataValues';

  function countsWords(c) {
    const words = [`${fmtNumber(c.fetched ?? 0)} ${many} read`];
    if (c.sent !== undefined) words.push(`${fmtNumber(c.sent)} sent`);
    words.push(`${fmtNumber((c.imported ?? 0) + (c.updated ?? 0))} imported or updated`);
    const refused = refusedWords(c, run.kind);
    if (refused) words.push(refused);
    if (c.skipped) words.push(`${fmtNumber(c.skipped)} skipped by the mapping`);
    if (c.errors) words.push(`${fmtNumber(c.errors)} failed in the mapping`);
    return h('p', { class: ['counts-words', refused || c.errors ? 'has-bad' : null] }, `${words.join('; ')}.`);
  }

  function renderRun(r) {
    const c = r.counts || {};
    const keys = Object.keys(COUNT_HELP).filter((k) => k !== 'refused' || c.refused !== undefined);
    const warnings = Array.isArray(r.warnings) ? r.warnings : [];
    replace(summary,
      h('div', { class: 'run-head' }, statusBadge(r.status), r.dryRun ? h('span', { class: 'tag' }, 'dry run') : null,
        h('span', { class: 'muted' }, ' job '), r.jobId ? link(`/jobs/${r.jobId}`, r.job ?? '') : r.job ?? '',
        h('span', { class: 'muted' }, ` · ${TRIGGER_WORDS[r.trigger] ?? `started by ${r.trigger ?? '?'}`}`)),
      warnings.length ? h('div', { class: 'msg msg-warn run-warnings', role: 'status' },
        h('strong', {}, warnings.length === 1 ? 'Note on this run' : 'Notes on this run'),
        h('ul', {}, warnings.map((w) => h('li', {}, w)))) : null,
      ACTIVE.has(r.status) ? h('div', { class: 'card' }, h('h2', {}, r.status === 'queued' ? 'Waiting for a worker…' : 'Running…'), waitingLine(r), runProgress(r.progress, r.status, run.kind)) : null,
      r.error ? message(r.status === 'failed' ? 'error' : 'warn', h('strong', {}, 'Error: '), r.error) : null,
      r.status === 'partial' ? message('warn', `The run finished, but the target refused some ${many} or the mapping failed on some. They are listed below.`) : null,
      h('section', { class: 'card', 'aria-labelledby': 'counts-h' }, h('h2', { id: 'counts-h' }, 'Counts'),
        countsWords(c),
        h('dl', { class: 'counts-grid' }, keys.map((k) => h('div', { class: ['count-box', (k === 'conflicts' || k === 'errors' || k === 'refused') && c[k] ? 'count-bad' : null], dataset: { count: k } },
          h('dt', {}, k), h('dd', {}, fmtNumber(c[k] ?? 0)), h('div', { class: 'small muted' }, COUNT_HELP[k]))))),
      h('section', { class: 'card', 'aria-labelledby': 'details-h' }, h('h2', { id: 'details-h' }, 'Timings and details'),
        h('dl', { class: 'details' },
          h('dt', {}, 'Queued'), h('dd', {}, timeEl(r.createdAt)),
          h('dt', {}, 'Started'), h('dd', {}, timeEl(r.startedAt)),
          h('dt', {}, 'Finished'), h('dd', {}, timeEl(r.finishedAt)),
          h('dt', {}, 'Duration'), h('dd', {}, fmtDuration(r.durationMs)),
          h('dt', {}, 'Mapping version'), h('dd', {}, r.mappingVersion ? h('code', {}, r.mappingVersion) : h('span', { class: 'muted' }, 'none (ids unchanged)')),
          h('dt', {}, 'Full run'), h('dd', {}, r.full ? 'yes (ignored the incremental watermark)' : 'no'),
          r.worker ? [h('dt', {}, 'Worker'), h('dd', {}, r.worker)] : null)));
    replace(headActions, ACTIVE.has(r.status) && !r.cancelRequested
      ? button('Cancel run', async (ev) => {
        await busy(ev.currentTarget, 'Cancelling…', async () => {
          try {
            await api.post(`/api/runs/${r.id}/cancel`, {});
            toast('Cancel requested');
          } catch (e) {
            replace(status, message('error', errorText(e)));
          }
        });
      }, { class: 'btn btn-danger-ghost' })
      : r.cancelRequested && ACTIVE.has(r.status) ? h('span', { class: 'muted' }, 'Cancelling…') : null);
  }

  function head(total) {
    const tools = [];
    if (view !== 'only-entries') {
      const sw = (v, text) => h('button', {
        type: 'button', class: ['btn', 'btn-small', view === v ? 'btn-primary' : null], 'aria-pressed': String(view === v),
        onclick: () => { view = v; conflictPage = 1; loadConflicts(); },
      }, text);
      tools.push(h('span', { class: 'view-switch', role: 'group', 'aria-label': 'Show' }, sw('groups', 'Grouped by cause'), sw('entries', 'Every entry')));
    }
    if (view !== 'groups') {
      const kindSel = h('select', { id: 'conf-kind', name: 'kind' },
        [['', 'All'], ['conflict', 'Refused by the target'], ['skipped', 'Skipped by the mapping'], ['error', 'Mapping errors']]
          .map(([v, t]) => h('option', { value: v, selected: v === kind }, t)));
      kindSel.addEventListener('change', () => { kind = kindSel.value; conflictPage = 1; loadConflicts(); });
      tools.push(h('label', { for: 'conf-kind' }, 'Kind'), kindSel);
    }
    if (total) {
      tools.push(h('a', { class: 'btn btn-small csv-link', href: `/api/runs/${id}/conflicts?format=csv`, download: `run-${id}-conflicts.csv` },
        `Download all ${fmtNumber(total)} as CSV`));
    }
    return h('div', { class: 'card-head' }, h('h2', { id: 'conf-h' }, `Conflicts and skipped ${many}`),
      h('span', { class: 'filters' }, tools));
  }

  function none() {
    return h('p', { class: 'muted' }, kind && view !== 'groups' ? 'None of this kind.'
      : ACTIVE.has(run.status) ? 'None so far.' : `None: every ${one} was accepted or dropped on purpose.`);
  }

  async function loadGroups() {
    let data;
    try {
      data = await api.get(`/api/runs/${id}/conflicts/groups`);
    } catch (e) {
      if (e.status !== 404) throw e;
      view = 'only-entries'; // a server without groups: the entries, page by page
      return loadEntries();
    }
    if (!ctx.alive) return;
    const groups = data.groups || [];
    const total = groups.reduce((n, g) => n + (g.count ?? 0), 0);
    if (groups.length === 0) {
      replace(conflictsBox, head(0), none());
      return;
    }
    replace(conflictsBox, head(total),
      h('p', { class: 'small muted' }, `${fmtNumber(total)} entries in ${fmtNumber(groups.length)} ${groups.length === 1 ? 'group' : 'groups'}: one per kind, error code${values ? ' and source → target ids' : ''}.`),
      table(values ? ['Kind', 'Count', 'Source → target', 'Error code', 'Message', 'Org units', 'Periods', 'Seen'] : ['Kind', 'Count', 'Error code', 'Message', 'Seen'], groups.map((g) => h('tr', {},
        h('td', {}, kindTag(g.kind)),
        h('td', { class: 'num count-cell' }, fmtNumber(g.count)),
        values ? h('td', { class: 'dv small' }, h('div', { class: 'dv-src' }, idParts(g.source)), h('div', { class: 'dv-arrow muted', 'aria-label': 'mapped to' }, '↓'), h('div', { class: 'dv-tgt' }, idParts(g.target))) : null,
        codeCell(g),
        h('td', { class: 'wrap msg-cell' }, g.message ?? ''),
        values ? [h('td', { class: 'wrap small' }, someOf(g.orgUnits, g.orgUnitCount)),
          h('td', { class: 'wrap small' }, someOf(g.periods, g.periodCount))] : null,
        h('td', { class: 'small' }, timeEl(g.firstSeen, false), g.lastSeen && g.lastSeen !== g.firstSeen ? [h('br'), '→ ', timeEl(g.lastSeen, false)] : null))),
      { class: 'groups-table', caption: 'Conflicts grouped by cause' }));
  }

  async function loadEntries() {
    const data = await api.get(`/api/runs/${id}/conflicts${qs({ page: conflictPage, pageSize: 50, kind })}`);
    if (!ctx.alive) return;
    if (data.conflicts.length === 0) {
      replace(conflictsBox, head(0), none());
      return;
    }
    const rows = values
      ? data.conflicts.map((c) => h('tr', {},
        h('td', {}, kindTag(c.kind)),
        h('td', {}, h('code', {}, c.object ?? '')),
        codeCell(c),
        h('td', { class: 'wrap msg-cell' }, c.message ?? ''),
        h('td', { class: 'dv dv-src small' }, idParts(c.source, true)),
        h('td', { class: 'dv dv-tgt small' }, idParts(c.dataValue || (c.value !== undefined ? { value: c.value } : null), true))))
      : data.conflicts.map((c) => h('tr', {},
        h('td', {}, kindTag(c.kind)),
        h('td', { class: 'item-type' }, c.item?.type ?? h('span', { class: 'muted' }, '—')),
        h('td', { class: 'item-id' }, c.item?.id ? h('code', {}, c.item.id) : h('span', { class: 'muted' }, '—')),
        codeCell(c),
        h('td', { class: 'wrap msg-cell' }, c.message ?? '')));
    replace(conflictsBox, head(kind ? null : data.pager?.total),
      table(values ? ['Kind', 'Object', 'Error code', 'Message', 'Source value', 'Sent (after the mapping)'] : ['Kind', 'Type', 'Id', 'Error code', 'Message'], rows,
      { class: 'conflicts-table', caption: 'Conflicts' }),
      pager(data.pager, (n) => { conflictPage = n; loadConflicts(); }));
  }

  const loadConflicts = () => (view === 'groups' ? loadGroups() : loadEntries());

  ctx.add(
    h('p', { class: 'crumbs' }, link('/runs', '← All runs')),
    pageHeader(`Run #${run.id}`, headActions), status, summary, conflictsBox);
  renderRun(run);
  await loadConflicts();
  if (ACTIVE.has(run.status)) {
    let beats = 0;
    pollRun(ctx, run.id, (r) => {
      renderRun(r);
      if (++beats % 5 === 0) loadConflicts();
    }, (r) => {
      Object.assign(run, r);
      loadConflicts();
    });
  }
}
