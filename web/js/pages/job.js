// /jobs/new and /jobs/{id} — a job's settings, with pickers filled from the source instance,
// and (for a saved job) run now, dry run, enable/disable, delete and its latest runs.
import { api } from '../api.js';
import { fmtNumber, h, replace, timeEl } from '../dom.js';
import {
  busy, button, checkbox, clearFormErrors, confirmButton, errorText, field, link, message, pageHeader,
  select, showFieldErrors, showFormErrors, table, toast,
} from '../ui.js';
import { jobProblems } from '../checks.js';
import { picker } from '../picker.js';
import { ACTIVE, lastRunLine, pollRun, runCell } from '../runs-common.js';
import { KIND_NAMES, group, kindName, kindNoun, metadataForm, selectionWords, trackerForm } from '../kinds.js';

export const title = 'Job';

const PERIOD_TYPES = ['Daily', 'Weekly', 'Monthly', 'BiMonthly', 'Quarterly', 'SixMonthly', 'Yearly',
  'FinancialApril', 'FinancialJuly', 'FinancialOct'];
const STRATEGIES = [['CREATE_AND_UPDATE', 'Create and update'], ['CREATE', 'Create only'], ['UPDATE', 'Update only'], ['DELETE', 'Delete']];
const SCHEMES = [['UID', 'UID'], ['CODE', 'CODE'], ['NAME', 'NAME']];

export async function render(ctx) {
  const ref = ctx.params[0];
  const isNew = ref === 'new';
  const [job, instances, mappings] = await Promise.all([
    isNew ? null : api.get(`/api/jobs/${encodeURIComponent(ref)}`),
    api.get('/api/instances?pageSize=1000'),
    api.get('/api/mappings?pageSize=1000').catch(() => ({ mappings: [] })),
  ]);
  const insts = instances.instances;

  if (isNew && insts.length === 0) {
    ctx.add(pageHeader('New job'),
      message('info', 'A job reads from a source instance and writes to a target instance. ',
        link('/instances', 'Add the instances'), ' first.'));
    return;
  }

  // ---- the form ----
  const j = job || {
    name: '', dataSets: [], dataElementGroups: [], orgUnits: [], children: true,
    periods: { last: 12, type: 'Monthly' }, incremental: true, deletions: false,
    importOptions: { importStrategy: 'CREATE_AND_UPDATE', idScheme: 'UID', dryRun: false, batchSize: 5000 },
    schedule: null, enabled: true, retryWindow: 600,
  };
  const kindSel = select('kind', Object.entries(KIND_NAMES), j.kind ?? 'dataValues');
  const instOptions = [['', '— choose —'], ...insts.map((i) => [String(i.id), i.name])];
  const name = h('input', { name: 'name', type: 'text', required: true, maxlength: 200, value: j.name });
  const source = select('source', instOptions, j.sourceId ?? '', { required: true });
  const target = select('target', instOptions, j.targetId ?? '', { required: true });
  const mappingSel = select('mapping', [['', 'None — ids pass unchanged'],
    ...mappings.mappings.map((m) => [m.name, m.state === 'error' ? `${m.name} (has an error)` : m.name])], j.mapping ?? '');
  if (j.mapping && !mappings.mappings.some((m) => m.name === j.mapping)) {
    mappingSel.append(h('option', { value: j.mapping, selected: true }, `${j.mapping} (missing)`));
  }

  const dataSets = picker({ kind: 'dataSets', name: 'dataSets', label: 'Data sets', selected: j.dataSets });
  const groups = picker({ kind: 'dataElementGroups', name: 'dataElementGroups', label: 'Data element groups', selected: j.dataElementGroups });
  const orgUnits = picker({ kind: 'organisationUnits', name: 'orgUnits', label: 'Org unit roots', selected: j.orgUnits, tree: true });
  const meta = metadataForm(j, STRATEGIES);
  const syncSource = () => [dataSets, groups, orgUnits, meta].forEach((p) => p.setSource(source.value));
  source.addEventListener('change', syncSource);

  // periods
  const p = j.periods || {};
  const pForm = p.fixed ? 'fixed' : p.start ? 'range' : 'last';
  const radio = (value, label) => {
    const rid = `period-${value}`;
    return h('span', { class: 'radio' }, h('input', { type: 'radio', name: 'periodForm', id: rid, value, checked: pForm === value }), h('label', { for: rid }, label));
  };
  const lastN = h('input', { name: 'periods.last', type: 'number', min: 1, max: 1000, value: p.last ?? 12, class: 'narrow' });
  const lastType = select('periods.type', PERIOD_TYPES.map((t) => [t, t]), p.type ?? 'Monthly');
  const fixed = h('input', { name: 'periods.fixed', type: 'text', value: (p.fixed || []).join(', '), placeholder: '202401, 202402, 2024Q1' });
  const start = h('input', { name: 'periods.start', type: 'date', value: p.start ?? '' });
  const end = h('input', { name: 'periods.end', type: 'date', value: p.end ?? '' });
  const periodPanels = {
    last: h('div', { class: 'inline-fields' }, field('How many', lastN, { name: 'periods.last' }), field('Period type', lastType, { name: 'periods.type' })),
    fixed: field('Periods', fixed, { name: 'periods.fixed', hint: 'DHIS2 periods separated by commas: 202401, 2024Q1, 2024W5, 2024…' }),
    range: h('div', { class: 'inline-fields' }, field('From', start, { name: 'periods.start' }), field('To', end, { name: 'periods.end' }),
      h('p', { class: 'hint' }, 'Every period wholly inside the dates. A wide window costs no more than a narrow one.')),
  };
  const periodRadios = h('div', { class: 'radios', role: 'radiogroup', 'aria-label': 'Kind of period selection' },
    radio('last', 'The last N periods'), radio('fixed', 'A fixed list'), radio('range', 'A date range'));
  const showPeriods = () => {
    const v = periodRadios.querySelector('input:checked')?.value ?? 'last';
    for (const [k, el] of Object.entries(periodPanels)) el.hidden = k !== v;
  };
  periodRadios.addEventListener('change', showPeriods);
  showPeriods();

  const io = j.importOptions || {};
  const strategy = select('importOptions.importStrategy', STRATEGIES, io.importStrategy ?? 'CREATE_AND_UPDATE');
  const idScheme = select('importOptions.idScheme', SCHEMES, io.idScheme ?? 'UID');
  const batchSize = h('input', { name: 'importOptions.batchSize', type: 'number', min: 1, max: 50000, value: io.batchSize ?? 5000, class: 'narrow' });
  const children = checkbox('Include every org unit below the chosen roots', 'children', j.children ?? true);
  const incremental = checkbox('Incremental: only values changed since the last successful run', 'incremental', j.incremental ?? true,
    'Uses DHIS2\'s lastUpdated. A run that does not succeed never moves this watermark.');
  const deletions = checkbox('Send deletions: values deleted at the source are deleted at the target', 'deletions', j.deletions ?? false);
  const dryRun = checkbox('Dry run by default: the target checks the values but stores nothing', 'importOptions.dryRun', io.dryRun ?? false);
  const schedule = h('input', { name: 'schedule', type: 'text', value: j.schedule ?? '', placeholder: '0 2 * * *', class: 'mono' });
  const enabled = checkbox('Enabled: the schedule starts runs', 'enabled', j.enabled ?? true);
  const retryMinutes = h('input', { name: 'retryWindow', type: 'number', min: 0, max: 1440, step: 'any', class: 'narrow', value: (j.retryWindow ?? 600) / 60 });
  // the schedule in words and its next times, from the server's own cron code
  const scheduleWords = h('div', { class: 'schedule-words small', 'aria-live': 'polite' });
  let scheduleTimer = null;
  const describeSchedule = () => {
    clearTimeout(scheduleTimer);
    scheduleTimer = setTimeout(async () => {
      if (!ctx.alive) return;
      const expr = schedule.value.trim();
      if (!expr) {
        replace(scheduleWords, h('span', { class: 'muted' }, 'Runs by hand only.'));
        return;
      }
      try {
        const r = await api.get(`/api/schedule?cron=${encodeURIComponent(expr)}`);
        if (!ctx.alive || expr !== schedule.value.trim()) return;
        replace(scheduleWords, h('strong', {}, r.description),
          r.next.length ? h('div', { class: 'muted' }, 'Next, in your local time: ', r.next.map((t, i) => [i ? ', ' : '', timeEl(t, false)])) : h('div', { class: 'muted' }, 'Never due.'));
      } catch (e) {
        if (ctx.alive && expr === schedule.value.trim()) replace(scheduleWords, h('span', { class: 'error-text' }, errorText(e)));
      }
    }, 300);
  };
  schedule.addEventListener('input', describeSchedule);
  describeSchedule();

  const formStatus = h('div');
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, isNew ? 'Create job' : 'Save changes');

  // A preflight (POST …/check): problems next to their fields, and what a run would move.
  function showCheck(r) {
    const problems = r.problems || [];
    const errors = problems.filter((p) => p.level === 'error').length;
    const warnings = problems.length - errors;
    const est = r.estimate || {};
    const plural = (n, one) => `${fmtNumber(n)} ${one}${n === 1 ? '' : 's'}`;
    const [one, many] = kindNoun(kindSel.value);
    const n = kindSel.value === 'dataValues' ? est.values : est.objects;
    const chunks = est.chunks === undefined ? '' : plural(est.chunks ?? 0, 'chunk');
    const estimate = n === null || n === undefined
      ? (chunks ? `A run would read ${chunks}; how many ${many} is not known.` : `How many ${many} a run would read is not known.`)
      : `A run would read about ${fmtNumber(n)} ${n === 1 ? one : many}${chunks ? ` in ${chunks}` : ''}.`;
    const kind = errors ? 'error' : warnings ? 'warn' : 'ok';
    const head = errors || warnings
      ? `Check: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}. `
      : 'Check: no problems found. ';
    showFieldErrors(form, formStatus, problems, { summary: message(kind, h('strong', {}, head), estimate) });
  }

  async function runCheck(btn, path, b) {
    await busy(btn, 'Checking…', async () => {
      try {
        showCheck(await api.post(path, b));
      } catch (e) {
        if (e.status === 422) showFormErrors(form, formStatus, e);
        else replace(formStatus, message('error', `Could not check: ${errorText(e)}`));
      }
    });
  }

  const checkDraft = button('Check', (ev) => {
    clearFormErrors(form);
    const b = body();
    const problems = jobProblems(b);
    if (problems.length) showFieldErrors(form, formStatus, problems, { summary: message('error', h('strong', {}, 'Check: fix these first.')) });
    else runCheck(ev.currentTarget, '/api/jobs/check', b);
  }, { class: 'btn', title: 'Check these settings against the source, target and mapping before saving' });

  function body() {
    const common = {
      name: name.value.trim(),
      kind: kindSel.value,
      source: source.value ? Number(source.value) : null,
      target: target.value ? Number(target.value) : null,
      mapping: mappingSel.value || null,
      schedule: schedule.value.trim() || null,
      enabled: enabled.querySelector('input').checked,
      retryWindow: retryMinutes.value.trim() === '' ? null : Math.round(Number(retryMinutes.value) * 60),
    };
    if (kindSel.value === 'metadata') return { ...common, ...meta.body() };
    if (kindSel.value === 'tracker') {
      return { ...common, ...tracker.body(), orgUnits: orgUnits.value(), children: children.querySelector('input').checked };
    }
    const b = {
      ...common,
      dataSets: dataSets.value(),
      dataElementGroups: groups.value(),
      orgUnits: orgUnits.value(),
      children: children.querySelector('input').checked,
      incremental: incremental.querySelector('input').checked,
      deletions: deletions.querySelector('input').checked,
      importOptions: {
        importStrategy: strategy.value, idScheme: idScheme.value,
        // as typed: a 0 or a blank is refused, never replaced by a default
        dryRun: dryRun.querySelector('input').checked, batchSize: batchSize.value.trim() === '' ? null : Number(batchSize.value),
      },
    };
    const form2 = periodRadios.querySelector('input:checked')?.value ?? 'last';
    if (form2 === 'last') b.periods = { last: lastN.value.trim() === '' ? null : Number(lastN.value), type: lastType.value };
    else if (form2 === 'fixed') b.periods = { fixed: fixed.value.split(/[\s,]+/).filter(Boolean) };
    else b.periods = { start: start.value, end: end.value };
    return b;
  }

  // the data values job's sections; the org unit roots (and children) serve tracker jobs too
  const orgUnitsField = group('orgUnits', 'Org unit roots', orgUnits.el);
  const dvWhat = h('fieldset', { class: 'card' }, h('legend', {}, 'What to copy'),
    h('p', { class: 'hint' }, 'Choose at least one data set or data element group, and at least one org unit. The lists come from the source instance.'),
    h('div', { class: 'grid-2' },
      group('dataSets', 'Data sets', dataSets.el),
      group('dataElementGroups', 'Data element groups', groups.el)),
    orgUnitsField,
    children);
  const dvSections = [dvWhat,
    h('fieldset', { class: 'card', dataset: { field: 'periods' } }, h('legend', {}, 'Which periods'),
      periodRadios, periodPanels.last, periodPanels.fixed, periodPanels.range, h('div', { class: 'field-error' })),
    h('fieldset', { class: 'card' }, h('legend', {}, 'How to send'),
      incremental, deletions, dryRun,
      h('div', { class: 'grid-3' },
        field('Import strategy', strategy, { name: 'importOptions.importStrategy' }),
        field('Id scheme', idScheme, { name: 'importOptions.idScheme', hint: 'How ids are matched at the target.' }),
        field('Batch size', batchSize, { name: 'importOptions.batchSize', hint: 'Values per POST (1–50,000).' })))];
  const tracker = trackerForm(j, [orgUnitsField, children]);
  // only the chosen kind's sections are in the form, so a field error finds its one field
  const kindBox = h('div', { class: 'kind-sections' });
  const showKind = () => {
    if (kindSel.value === 'metadata') replace(kindBox, meta.sections);
    else if (kindSel.value === 'tracker') {
      replace(kindBox, tracker.sections);
      tracker.attach();
    } else {
      dvWhat.append(orgUnitsField, children);
      replace(kindBox, dvSections);
    }
  };

  const form = h('form', {
    class: 'form', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFormErrors(form);
      const b = body();
      const problems = jobProblems(b);
      if (problems.length) {
        showFieldErrors(form, formStatus, problems);
        return;
      }
      await busy(save, 'Saving…', async () => {
        try {
          const saved = isNew ? await api.post('/api/jobs', b) : await api.put(`/api/jobs/${job.id}`, b);
          clean = JSON.stringify(b);
          toast(`Saved "${saved.name}"`);
          if (isNew) ctx.navigate(`/jobs/${saved.id}`, { replace: true });
          else ctx.navigate(`/jobs/${saved.id}`, { replace: true });
        } catch (e) {
          showFormErrors(form, formStatus, e);
        }
      });
    },
  },
  h('fieldset', { class: 'card' }, h('legend', {}, 'From where to where'),
    field('Kind of job', kindSel, { name: 'kind', hint: 'What the job copies: data values, metadata, or events and tracked entities.' }),
    field('Job name', name, { name: 'name', required: true, hint: 'e.g. "district to national, monthly"' }),
    h('div', { class: 'grid-2' },
      field('Source instance (read from)', source, { name: 'source', required: true }),
      field('Target instance (write to)', target, { name: 'target', required: true })),
    field('Mapping', mappingSel, { name: 'mapping', hint: h('span', {}, 'A Lua file that rewrites ids and values between the two servers. ', link('/mappings', 'Manage mappings'), '.') })),
  kindBox,
  h('fieldset', { class: 'card' }, h('legend', {}, 'When'),
    field('Schedule (cron, UTC)', schedule, { name: 'schedule', hint: 'Five fields: minute hour day month weekday. "0 2 * * *" = every night at 02:00 UTC; "0 * * * *" = every hour. Leave blank to run by hand only.' }),
    scheduleWords,
    enabled,
    field('Retry window (minutes)', retryMinutes, { name: 'retryWindow', hint: 'How long a run rides out an outage of either server before it fails.' })),
  formStatus,
  h('div', { class: 'form-actions sticky-actions' }, save, ' ', checkDraft, ' ', link('/jobs', 'Cancel', { class: 'btn' })));

  showKind();
  kindSel.addEventListener('change', showKind);

  // what the form held when it was filled (or saved): anything else is unsaved
  let clean = JSON.stringify(body());
  ctx.unsaved(() => JSON.stringify(body()) !== clean);

  if (isNew) {
    ctx.add(pageHeader('New job'), form);
    ctx.later(0, syncSource);
    return;
  }

  // ---- a saved job: actions and runs ----
  ctx.setTitle(job.name);
  const runsBox = h('div');
  const actStatus = h('div');
  const stateTag = h('span', { class: ['tag', job.enabled ? 'tag-on' : 'tag-off'] }, job.enabled ? 'enabled' : 'disabled');
  let isEnabled = job.enabled;
  const toggle = button(job.enabled ? 'Disable' : 'Enable', async (ev) => {
    await busy(ev.currentTarget, null, async () => {
      try {
        const saved = await api.patch(`/api/jobs/${job.id}`, { enabled: !isEnabled });
        isEnabled = saved.enabled;
        enabled.querySelector('input').checked = isEnabled;
        clean = JSON.stringify({ ...JSON.parse(clean), enabled: isEnabled });
        toast(isEnabled ? 'Enabled' : 'Disabled');
      } catch (e) {
        replace(actStatus, message('error', errorText(e)));
      }
    });
    toggle.textContent = isEnabled ? 'Disable' : 'Enable';
    stateTag.className = `tag ${isEnabled ? 'tag-on' : 'tag-off'}`;
    stateTag.textContent = isEnabled ? 'enabled' : 'disabled';
  }, { class: 'btn' });

  const startRun = (kind) => async (ev) => {
    const query = kind === 'dry' ? '?dryRun=true' : kind === 'full' ? '?full=true' : '';
    const what = kind === 'dry' ? 'Dry run queued: ' : kind === 'full' ? 'Full run queued: ' : 'Run queued: ';
    await busy(ev.currentTarget, 'Starting…', async () => {
      try {
        const run = await api.post(`/api/jobs/${job.id}/run${query}`, {});
        replace(actStatus, message('ok', what, link(`/runs/${run.id}`, `run ${run.id}`), '. Progress shows below.'));
        await loadRuns();
      } catch (e) {
        replace(actStatus, message('error', `Could not start a run: ${errorText(e)}`));
      }
    });
  };

  const polled = new Set();
  async function loadRuns() {
    const r = await api.get(`/api/runs?job=${job.id}&pageSize=5`);
    if (!ctx.alive) return;
    if (r.runs.length === 0) {
      replace(runsBox, h('p', { class: 'muted' }, 'No runs yet. "Run now" copies the data; "Dry run" lets the target check it without storing anything.'));
      return;
    }
    replace(runsBox, table(['Run', 'Started by', 'Outcome'], r.runs.map((run) => {
      const cell = h('td', {}, runCell(run));
      if (ACTIVE.has(run.status) && !polled.has(run.id)) {
        polled.add(run.id);
        pollRun(ctx, run.id, (x) => replace(cell, runCell(x)), () => { polled.delete(run.id); loadRuns(); });
      }
      return h('tr', { dataset: { run: run.id } },
        h('th', { scope: 'row' }, link(`/runs/${run.id}`, `#${run.id}`)),
        h('td', {}, { manual: 'by hand', schedule: 'schedule', cli: 'command line', retry: 'retry' }[run.trigger] ?? run.trigger), cell);
    }), { class: 'runs-mini', caption: 'Latest runs of this job' }),
    h('p', {}, link(`/runs?job=${encodeURIComponent(job.id)}`, 'All runs of this job →')));
  }

  ctx.add(
    pageHeader(job.name,
      button('Run now', startRun('run'), { class: 'btn btn-primary' }),
      button('Dry run', startRun('dry'), { class: 'btn', title: 'The target checks the values but stores nothing' }),
      job.incremental ? button('Full run', startRun('full'), { class: 'btn', title: 'Send everything selected, ignoring the incremental watermark' }) : null,
      button('Check saved job', (ev) => {
        runCheck(ev.currentTarget, `/api/jobs/${job.id}/check`, {});
        form.scrollIntoView({ block: 'start' });
      }, { class: 'btn', title: 'Check the saved job against its source, target and mapping' }),
      toggle),
    h('p', { class: 'lead' }, stateTag, ' ', job.source ?? '?', ' → ', job.target ?? '?',
      lastRunLine(ctx, job)),
    h('p', { class: 'job-selection' }, h('span', { class: 'tag' }, kindName(job.kind)), ' ', selectionWords(job)),
    actStatus,
    h('section', { class: 'card', 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Latest runs'), runsBox),
    h('h2', {}, 'Settings'),
    form,
    h('section', { class: 'card danger-zone', 'aria-labelledby': 'del-h' }, h('h2', { id: 'del-h' }, 'Delete this job'),
      h('p', { class: 'hint' }, 'Its runs and their conflicts are deleted with it.'),
      confirmButton('Delete job', `Delete "${job.name}" and its runs?`, async () => {
        try {
          await api.del(`/api/jobs/${job.id}`);
          toast(`Deleted "${job.name}"`);
          ctx.navigate('/jobs');
        } catch (e) {
          replace(actStatus, message('error', `Could not delete: ${errorText(e)}`));
        }
      })));
  await loadRuns();
  ctx.later(0, syncSource);
}
