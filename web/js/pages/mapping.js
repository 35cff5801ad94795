// /mappings/{name} — the Lua editor (CodeMirror 5, Lua mode): try the draft on sample values
// (POST …/check with "source"), save it (PUT, validated before it is written), and see a
// compile or runtime error at its line. The editor holds the file on disk (which may be newer
// than, and broken unlike, the version in use), and saves only over the file it read (If-Match).
import { api, request } from '../api.js';
import { h, replace } from '../dom.js';
import { busy, button, errorText, field, link, loadScript, loadStyle, message, pageHeader, table, toast } from '../ui.js';

export const title = 'Mapping';

const SAMPLE = JSON.stringify({
  dataValues: [
    { dataElement: 'fbfJHSPpUQD', period: '202401', orgUnit: 'DiszpKrYNg8', categoryOptionCombo: 'HllvX50cXC0', attributeOptionCombo: 'HllvX50cXC0', value: '12' },
    { dataElement: 'cYeuwXTCPkU', period: '202401', orgUnit: 'DiszpKrYNg8', categoryOptionCombo: 'HllvX50cXC0', attributeOptionCombo: 'HllvX50cXC0', value: '3' },
  ],
}, null, 2);

function template(name) {
  return `-- ${name}: how ids and values change on the way from the source to the target.
-- Each table maps a source id to a target id; a kind of id you leave out passes unchanged,
-- so \`return {}\` sends everything as it is.
return {
  dataElements = {
    -- fbfJHSPpUQD = "Jtf34kNZhzP",
  },
  orgUnits = {
    -- DiszpKrYNg8 = "ImspTQPwCqd",
  },
  unmapped = "keep",   -- ids missing from a table above: "skip", "keep" or "error"

  -- transform = function(dv, ctx)   -- optional, per value; return nil to drop it
  --   return dv
  -- end,
}
`;
}

async function loadCodeMirror() {
  loadStyle('/vendor/codemirror/codemirror.css');
  await loadScript('/vendor/codemirror/codemirror.js');
  await Promise.all([
    loadScript('/vendor/codemirror/mode/lua/lua.js'),
    loadScript('/vendor/codemirror/addon/edit/matchbrackets.js'),
  ]);
  return window.CodeMirror;
}

export async function render(ctx) {
  const name = ctx.params[0];
  const wantNew = ctx.query.get('new') === '1';
  const url = `/api/mappings/${encodeURIComponent(name)}`;
  let info = null;
  let etag = null; // of the file on disk the editor was filled from
  try {
    const got = await api.get(url, { withHeaders: true });
    info = got.data;
    etag = got.headers.get('ETag');
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const isNew = !info;
  const fileSource = (i) => (i.disk ? i.disk.source : i.source);
  ctx.setTitle(`${name}.lua`);
  if (isNew && !wantNew) {
    ctx.add(pageHeader(`Mapping "${name}"`),
      message('info', 'There is no mapping of this name. ', link(`/mappings/${encodeURIComponent(name)}?new=1`, 'Create it'), ' or go back to ', link('/mappings', 'the mappings'), '.'));
    return;
  }
  let savedSource = info ? fileSource(info) : '';
  const stateBox = h('div', { class: 'mapping-state', 'aria-live': 'polite' });
  const editorStatus = h('div', { class: 'editor-status', 'aria-live': 'polite' });
  const dirtyTag = h('span', { class: 'tag tag-warn', hidden: true }, 'unsaved changes');
  const textarea = h('textarea', { name: 'source', id: 'mapping-source', rows: 24, spellcheck: 'false', class: 'mono' });
  textarea.value = info ? fileSource(info) : template(name);
  const initialSource = textarea.value;
  const sample = h('textarea', { name: 'sample', rows: 10, spellcheck: 'false', class: 'mono' });
  sample.value = SAMPLE;
  const results = h('div', { class: 'check-results', 'aria-live': 'polite' });
  // real values for the sample: a few of the selection of a job that uses this mapping
  const sampleJob = h('select', { name: 'sampleJob' }, h('option', { value: '' }, 'no job uses this mapping'));
  sampleJob.disabled = true;
  const sampleStatus = h('div', { class: 'small', 'aria-live': 'polite' });
  const pullBtn = button('Pull 20 values from its source', async (ev) => {
    await busy(ev.currentTarget, 'Reading…', async () => {
      try {
        const r = await api.get(`/api/jobs/${encodeURIComponent(sampleJob.value)}/sample?n=20`);
        sample.value = JSON.stringify({ dataValues: r.dataValues }, null, 2);
        replace(sampleStatus, h('span', { class: 'muted' }, `${r.dataValues.length === 1 ? '1 value' : `${r.dataValues.length} values`} from ${r.source}, as job "${r.job}" selects them.`));
      } catch (e) {
        replace(sampleStatus, message('error', `Could not read values: ${errorText(e)}`));
      }
    });
  }, { class: 'btn btn-small', disabled: true });
  api.get('/api/jobs?pageSize=1000').then((data) => {
    const users = data.jobs.filter((j) => j.mapping === name);
    if (!ctx.alive || !users.length) return;
    replace(sampleJob, users.map((j) => h('option', { value: String(j.id) }, j.name)));
    sampleJob.disabled = false;
    pullBtn.disabled = false;
  }).catch(() => {});
  let cm = null;
  let marked = [];

  const getSource = () => (cm ? cm.getValue() : textarea.value);

  function renderState(i) {
    if (!i) {
      replace(stateBox, message('info', 'New mapping: not saved yet. Save it to create ', h('code', {}, `${name}.lua`), '.'));
      return;
    }
    const shown = i.disk && i.version ? ' The editor shows the file on disk, not the version in use.' : '';
    if (i.state === 'loaded' && !i.disk) {
      replace(stateBox, h('p', {}, h('span', { class: 'badge badge-succeeded' }, 'loaded'), ' In use: version ', h('code', {}, i.version ?? '?'), '. New runs use it.'));
    } else if (i.state === 'loaded') {
      replace(stateBox, message('warn', h('strong', {}, 'The file on disk differs from the version in use '), h('code', {}, i.version ?? '?'),
        ' (it has not been loaded yet).', shown));
    } else {
      const err = i.error || {};
      replace(stateBox, message('error', h('strong', {}, `The file on disk has an error at line ${err.line ?? '?'}: `), err.message ?? '',
        i.version ? [' — runs keep using the last good version ', h('code', {}, i.version), '.'] : ' — it is not in use.', shown));
    }
  }

  function clearMarks() {
    if (!cm) return;
    marked.forEach((ln) => {
      cm.removeLineClass(ln, 'background', 'cm-error-line');
      cm.removeLineClass(ln, 'gutter', 'cm-error-gutter');
    });
    marked = [];
  }

  function markLine(line) {
    if (!cm || !line || line < 1) return;
    const ln = Math.min(line, cm.lineCount()) - 1;
    cm.addLineClass(ln, 'background', 'cm-error-line');
    cm.addLineClass(ln, 'gutter', 'cm-error-gutter');
    marked.push(ln);
  }

  function goTo(line) {
    if (!cm) return;
    cm.focus();
    cm.setCursor({ line: Math.max(0, line - 1), ch: 0 });
    cm.scrollIntoView(null, 80);
  }

  // a compile error {file,line,message}: shown in words and at its line
  function showScriptError(prefix, e) {
    clearMarks();
    const d = e.detail && typeof e.detail === 'object' ? e.detail : {};
    const line = d.line || 0;
    if (line) markLine(line);
    replace(editorStatus, message('error', h('strong', {}, prefix),
      line ? [h('span', { class: 'error-line' }, `Line ${line}: `), d.message || errorText(e)] : errorText(e),
      line ? [' ', button(`Go to line ${line}`, () => goTo(line), { class: 'btn btn-small' })] : null));
  }

  function updateDirty() {
    dirtyTag.hidden = getSource() === savedSource && !isNew;
  }

  // fills the editor from the server again (the visitor chose to drop their edits)
  async function reloadFromDisk() {
    const got = await api.get(url, { withHeaders: true });
    info = got.data;
    etag = got.headers.get('ETag');
    savedSource = fileSource(info);
    if (cm) cm.setValue(savedSource);
    else textarea.value = savedSource;
    clearMarks();
    if (info.state === 'error' && info.error?.line) markLine(info.error.line);
    renderState(info);
    replace(editorStatus, message('ok', `Reloaded ${name}.lua from disk.`));
    updateDirty();
  }

  function offerReloadOrOverwrite(e) {
    replace(editorStatus, message('warn', h('strong', {}, 'Not saved: '), `${name}.lua changed on disk since you opened it (${errorText(e)}). `,
      'Reload it to see the other change (your edits here are dropped), or overwrite it with your version.',
      h('div', { class: 'actions' },
        button('Reload the file on disk', (ev) => busy(ev.currentTarget, 'Reloading…', () => reloadFromDisk().catch((x) => replace(editorStatus, message('error', errorText(x))))), { class: 'btn btn-small' }),
        button('Overwrite it with my version', (ev) => save(ev.currentTarget, { overwrite: true }), { class: 'btn btn-small btn-danger' }))));
  }

  const save = async (btn, { overwrite = false } = {}) => {
    await busy(btn, 'Saving…', async () => {
      try {
        const sent = getSource();
        const headers = etag && !overwrite ? { 'If-Match': etag } : {};
        const { data: i, headers: got } = await request('PUT', url, { text: sent, headers, withHeaders: true });
        etag = got.get('ETag');
        savedSource = sent;
        clearMarks();
        replace(editorStatus, message('ok', `Saved. Version ${i.version ?? ''} is in use for new runs.`));
        info = { ...i, source: savedSource, disk: null };
        renderState(info);
        toast(`Saved ${name}.lua`);
        if (isNew) ctx.navigate(`/mappings/${encodeURIComponent(name)}`, { replace: true, force: true });
        updateDirty();
      } catch (e) {
        if (e.status === 422 && e.detail && e.detail.line !== undefined) showScriptError('Not saved — the mapping does not compile. ', e);
        else if (e.status === 412) offerReloadOrOverwrite(e);
        else replace(editorStatus, message('error', h('strong', {}, 'Not saved: '), errorText(e)));
      }
    });
  };

  const saveBtn = h('button', { type: 'button', class: 'btn btn-primary' }, isNew ? 'Create mapping' : 'Save');
  saveBtn.addEventListener('click', () => save(saveBtn));
  const checkBtn = button('Try the draft on the sample', async (ev) => {
    let body;
    try {
      body = JSON.parse(sample.value);
    } catch (e) {
      replace(results, message('error', `The sample is not valid JSON: ${e.message}`));
      return;
    }
    if (Array.isArray(body)) body = { dataValues: body };
    body.source = getSource();
    await busy(ev.currentTarget, 'Trying…', async () => {
      try {
        const r = await api.post(`/api/mappings/${encodeURIComponent(name)}/check`, body);
        clearMarks();
        replace(editorStatus);
        renderResults(r);
      } catch (e) {
        replace(results);
        if (e.status === 422 && e.detail && e.detail.line !== undefined) showScriptError('The draft does not compile. ', e);
        else replace(results, message('error', errorText(e)));
      }
    });
  }, { class: 'btn' });

  function renderResults(r) {
    const c = r.counts || {};
    const compact = (dv) => (dv ? [dv.dataElement, dv.period, dv.orgUnit, dv.categoryOptionCombo, dv.attributeOptionCombo].filter(Boolean).join(' · ') + (dv.value !== undefined ? ` = ${dv.value}` : '') : '');
    // a sample of events, tracked entities or metadata: each object by its type and uid, and
    // what the mapping's function made of it as JSON
    const objects = c.objects !== undefined;
    const label = (x) => `${x.type} ${x.input?.id ?? x.input?.event ?? x.input?.trackedEntity ?? ''}`;
    const errLines = new Set();
    const rows = (r.results || []).map((x) => {
      let outcome;
      if (x.status === 'mapped') outcome = h('span', {}, objects ? JSON.stringify(x.output) : compact(x.output));
      else if (x.status === 'skipped') outcome = h('span', { class: 'muted' }, x.reason ?? 'skipped');
      else {
        if (x.error?.line) errLines.add(x.error.line);
        outcome = h('span', { class: 'error-text' }, x.error?.line ? `line ${x.error.line}: ` : '', x.error?.message ?? x.message ?? 'error');
      }
      return h('tr', {}, h('td', { class: 'num' }, String((x.index ?? 0) + 1)),
        h('td', {}, h('span', { class: `badge badge-${x.status === 'mapped' ? 'succeeded' : x.status === 'skipped' ? 'cancelled' : 'failed'}` }, x.status)),
        h('td', { class: 'mono small wrap' }, objects ? label(x) : compact(x.input)),
        h('td', { class: 'mono small wrap' }, outcome));
    });
    errLines.forEach(markLine);
    replace(results,
      h('p', {}, `${objects ? `${c.objects} objects` : `${c.values ?? rows.length} values`}: ${c.mapped ?? 0} mapped, ${c.skipped ?? 0} skipped, ${c.errors ?? 0} errors.`,
        r.note ? h('span', { class: 'muted' }, ` ${r.note}`) : null),
      table(['#', 'Result', 'Input', 'Output'], rows, { caption: 'What the draft does to each sample value' }),
      r.aggregated && r.aggregated.length ? h('details', {}, h('summary', {}, `Sent after aggregation (${r.aggregated.length})`),
        h('pre', { class: 'mono small' }, r.aggregated.map((dv) => compact(dv)).join('\n'))) : null);
  }

  const revertBtn = button('Revert to saved', () => {
    if (cm) cm.setValue(savedSource);
    else textarea.value = savedSource;
    clearMarks();
    replace(editorStatus);
    updateDirty();
  }, { class: 'btn btn-ghost', disabled: isNew });

  ctx.add(
    h('p', { class: 'crumbs' }, link('/mappings', '← All mappings')),
    pageHeader(`Mapping "${name}"`, dirtyTag),
    stateBox,
    h('div', { class: 'editor-layout' },
      h('section', { class: 'card editor-card', 'aria-labelledby': 'src-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'src-h' }, h('label', { for: 'mapping-source' }, `${name}.lua`)),
          h('div', { class: 'actions' }, revertBtn, saveBtn)),
        textarea,
        h('p', { class: 'hint' }, 'Ctrl+S saves. The server compiles the mapping before it writes the file; a mapping that does not compile is not saved. ',
          'Reference: ', h('a', { href: '/docs/mappings.md', target: '_blank', rel: 'noopener' }, 'how mappings work (docs/mappings.md)'),
          ', and the mappings/*.lua examples.'),
        editorStatus),
      h('section', { class: 'card', 'aria-labelledby': 'sample-h' },
        h('h2', { id: 'sample-h' }, 'Try it on sample values'),
        h('div', { class: 'inline-fields' }, field('Job', sampleJob, { hint: 'Values of its selection, read from its source (nothing is written).' }), pullBtn),
        sampleStatus,
        field('Sample data values (DHIS2 JSON)', sample, { hint: 'Or paste values from /api/dataValueSets of the source, or {"events":[…]}, {"trackedEntities":[…]} or {"metadata":{"dataElements":[…]}} to try the functions event, trackedEntity and metadata. Nothing is sent anywhere.' }),
        h('div', { class: 'form-actions' }, checkBtn),
        results)));
  renderState(info);

  ctx.later(0, async () => {
    try {
      const CodeMirror = await loadCodeMirror();
      if (!ctx.alive) return;
      cm = CodeMirror.fromTextArea(textarea, {
        mode: 'lua', lineNumbers: true, indentUnit: 2, tabSize: 2, indentWithTabs: false,
        matchBrackets: true, lineWrapping: false, viewportMargin: Infinity,
        extraKeys: { 'Ctrl-S': () => save(saveBtn), 'Cmd-S': () => save(saveBtn), Tab: (c) => c.execCommand('insertSoftTab') },
        gutters: ['CodeMirror-linenumbers'],
      });
      cm.on('change', () => { updateDirty(); });
      if (info && info.state === 'error' && info.error?.line) markLine(info.error.line);
      cm.getWrapperElement().setAttribute('aria-label', `${name}.lua source`);
      updateDirty();
    } catch (e) {
      replace(editorStatus, message('warn', `The code editor did not load (${errorText(e)}); editing as plain text.`));
    }
  });
  textarea.addEventListener('input', updateDirty);
  updateDirty();
  ctx.unsaved(() => getSource() !== (isNew ? initialSource : savedSource));
}
