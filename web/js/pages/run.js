// /runs/{id} — one run: status and live progress, counts, timings, the mapping version it
// used, its error, and every value the target refused or the mapping skipped, page by page.
import { api, qs } from '../api.js';
import { fmtDuration, fmtNumber, h, progressBar, replace, statusBadge, timeEl } from '../dom.js';
import { busy, button, errorText, link, message, pageHeader, pager, table, toast } from '../ui.js';
import { ACTIVE, pollRun } from '../runs-common.js';

export const title = 'Run';

const COUNT_HELP = {
  fetched: 'read from the source',
  mapped: 'after the mapping',
  skipped: 'dropped on purpose by the mapping',
  errors: 'the mapping raised an error',
  sent: 'posted to the target',
  imported: 'new at the target',
  updated: 'changed at the target',
  ignored: 'the target left unchanged',
  deleted: 'deleted at the target',
  conflicts: 'conflict entries from the target (one can cover many values)',
};

const TRIGGER_WORDS = { manual: 'started by hand', schedule: 'started by the schedule', cli: 'started from the command line', retry: 'a retry' };

const KIND_WORDS = { conflict: 'refused by target', skipped: 'skipped by mapping', error: 'mapping error' };

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

  function renderRun(r) {
    const c = r.counts || {};
    replace(summary,
      h('div', { class: 'run-head' }, statusBadge(r.status), r.dryRun ? h('span', { class: 'tag' }, 'dry run') : null,
        h('span', { class: 'muted' }, ' job '), r.jobId ? link(`/jobs/${r.jobId}`, r.job ?? '') : r.job ?? '',
        h('span', { class: 'muted' }, ` · ${TRIGGER_WORDS[r.trigger] ?? `started by ${r.trigger ?? '?'}`}`)),
      ACTIVE.has(r.status) ? h('div', { class: 'card' }, h('h2', {}, r.status === 'queued' ? 'Waiting for a worker…' : 'Running…'), progressBar(r.progress, r.status)) : null,
      r.error ? message(r.status === 'failed' ? 'error' : 'warn', h('strong', {}, 'Error: '), r.error) : null,
      r.status === 'partial' ? message('warn', 'The run finished, but the target refused some values or the mapping failed on some. They are listed below.') : null,
      h('section', { class: 'card', 'aria-labelledby': 'counts-h' }, h('h2', { id: 'counts-h' }, 'Counts'),
        h('dl', { class: 'counts-grid' }, Object.keys(COUNT_HELP).map((k) => h('div', { class: ['count-box', (k === 'conflicts' || k === 'errors') && c[k] ? 'count-bad' : null], dataset: { count: k } },
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

  async function loadConflicts() {
    const data = await api.get(`/api/runs/${id}/conflicts${qs({ page: conflictPage, pageSize: 50, kind })}`);
    if (!ctx.alive) return;
    const kindSel = h('select', { id: 'conf-kind', name: 'kind' },
      [['', 'All'], ['conflict', 'Refused by the target'], ['skipped', 'Skipped by the mapping'], ['error', 'Mapping errors']]
        .map(([v, t]) => h('option', { value: v, selected: v === kind }, t)));
    kindSel.addEventListener('change', () => { kind = kindSel.value; conflictPage = 1; loadConflicts(); });
    const head = h('div', { class: 'card-head' }, h('h2', { id: 'conf-h' }, 'Conflicts and skipped values'),
      h('span', { class: 'filters' }, h('label', { for: 'conf-kind' }, 'Show'), kindSel));
    if (data.conflicts.length === 0) {
      replace(conflictsBox, head, h('p', { class: 'muted' }, kind ? 'None of this kind.'
        : ACTIVE.has(run.status) ? 'None so far.' : 'None: every value was accepted or dropped on purpose.'));
      return;
    }
    replace(conflictsBox, head,
      table(['Kind', 'Object', 'Value', 'Error code', 'Message', 'Data value'], data.conflicts.map((c) => {
        const dv = c.dataValue || {};
        return h('tr', {},
          h('td', {}, h('span', { class: `tag tag-${c.kind}` }, KIND_WORDS[c.kind] ?? c.kind)),
          h('td', {}, h('code', {}, c.object ?? '')),
          h('td', { class: 'wrap' }, c.value ?? ''),
          h('td', {}, c.errorCode ? h('code', {}, c.errorCode) : h('span', { class: 'muted' }, '—')),
          h('td', { class: 'wrap msg-cell' }, c.message ?? ''),
          h('td', { class: 'dv small' },
            [['de', dv.dataElement], ['pe', dv.period], ['ou', dv.orgUnit], ['coc', dv.categoryOptionCombo], ['aoc', dv.attributeOptionCombo]]
              .filter(([, v]) => v).map(([k, v]) => h('span', { class: 'dv-part' }, h('span', { class: 'muted' }, `${k} `), v, ' ')),
            null));
      }), { class: 'conflicts-table', caption: 'Conflicts' }),
      pager(data.pager, (n) => { conflictPage = n; loadConflicts(); }));
  }

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
