// ui.js — the app's small set of building blocks: page headings, messages, form fields with
// labels, hints and errors, tables, and an inline "are you sure" for destructive buttons.
import { h, replace } from './dom.js';

export function pageHeader(title, ...actions) {
  actions = actions.filter(Boolean);
  return h('div', { class: 'page-header' },
    h('h1', { tabindex: '-1', class: 'page-title' }, title),
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

// kind: 'error' | 'ok' | 'info' | 'warn'
export function message(kind, ...content) {
  return h('div', { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, content);
}

export function errorText(e) {
  return e && e.message ? e.message : String(e);
}

// text: a sentence, or nodes (a list of steps...)
export function emptyState(title, text, ...actions) {
  return h('div', { class: 'empty' },
    h('h2', {}, title),
    typeof text === 'string' ? h('p', {}, text) : text,
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

export function link(href, text, attrs = {}) {
  return h('a', { href, 'data-link': '', ...attrs }, text);
}

export function button(text, onclick, attrs = {}) {
  return h('button', { type: 'button', class: 'btn', onclick, ...attrs }, text);
}

// Runs an async action with the button disabled and its label swapped while it works.
export async function busy(btn, workingText, fn) {
  const label = btn.textContent;
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  if (workingText) btn.textContent = workingText;
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
    btn.textContent = label;
  }
}

let fieldSeq = 0;
// A labelled control with an optional hint and a slot for its error.
// field('Name', input, {hint, name}) -> wrapper; the error slot is wrapper.error
export function field(label, control, options = {}) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const describedBy = [options.hint ? hintId : null, errId].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', describedBy);
  const err = h('div', { class: 'field-error', id: errId, 'aria-live': 'polite' });
  const wrap = h('div', { class: ['field', options.class] },
    h('label', { for: id }, label, options.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control,
    options.hint ? h('div', { class: 'hint', id: hintId }, options.hint) : null,
    err);
  if (options.name) wrap.dataset.field = options.name;
  wrap.error = err;
  return wrap;
}

export function checkbox(label, name, checked, hint) {
  const id = `f${++fieldSeq}`;
  const input = h('input', { type: 'checkbox', id, name, checked });
  return h('div', { class: 'field field-check', dataset: { field: name } },
    input, h('label', { for: id }, label),
    hint ? h('div', { class: 'hint' }, hint) : null);
}

export function select(name, options, value, attrs = {}) {
  const sel = h('select', { name, ...attrs },
    options.map(([v, text]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, text)));
  return sel;
}

// Shows an API error next to the field it names (detail.field), else in box.
export function showFormError(form, box, e) {
  clearFormErrors(form);
  const name = e && e.field;
  let target = null;
  if (name) {
    const candidates = [name, name.split('.')[0]];
    for (const c of candidates) {
      target = form.querySelector(`[data-field="${CSS.escape(c)}"]`);
      if (target) break;
    }
  }
  if (target) {
    const slot = target.querySelector('.field-error') || target.appendChild(h('div', { class: 'field-error' }));
    slot.textContent = errorText(e);
    const control = target.querySelector('input, select, textarea');
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      control.focus({ preventScroll: true });
    }
    target.scrollIntoView({ block: 'center' });
    replace(box, message('error', 'Not saved: ', errorText(e)));
  } else {
    replace(box, message('error', errorText(e)));
  }
}

export function clearFormErrors(form) {
  form.querySelectorAll('.field-error').forEach((el) => { el.textContent = ''; el.classList.remove('field-warning'); });
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
}

// A destructive button that asks once more in place (no browser dialog).
export function confirmButton(text, question, onConfirm, attrs = {}) {
  const wrap = h('span', { class: 'confirm' });
  const first = button(text, () => {
    replace(wrap,
      h('span', { class: 'confirm-q' }, question, ' '),
      button(`Yes, ${text.toLowerCase()}`, async (ev) => {
        await busy(ev.currentTarget, null, onConfirm);
      }, { class: 'btn btn-small btn-danger' }),
      ' ',
      button('Cancel', () => replace(wrap, first), { class: 'btn btn-small' }));
    wrap.querySelector('button').focus();
  }, { class: 'btn btn-small btn-danger-ghost', ...attrs });
  wrap.append(first);
  return wrap;
}

// On a narrow screen each row shows as a card and each cell names its column (data-label).
function labelCells(headers, rows) {
  for (const tr of rows.flat(Infinity)) {
    if (!(tr instanceof Element)) continue;
    [...tr.children].forEach((cell, i) => {
      if (headers[i] && !cell.dataset.label) cell.dataset.label = headers[i];
    });
  }
  return rows;
}

export function table(headers, rows, options = {}) {
  labelCells(headers, rows);
  return h('div', { class: 'table-wrap' },
    h('table', { class: ['table', options.class] },
      options.caption ? h('caption', { class: 'sr-only' }, options.caption) : null,
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}

export function pager(p, onPage) {
  if (!p || p.total <= p.pageSize) return null;
  const pages = Math.max(1, Math.ceil(p.total / p.pageSize));
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    button('← Previous', () => onPage(p.page - 1), { class: 'btn btn-small', disabled: p.page <= 1 }),
    h('span', { class: 'muted' }, `Page ${p.page} of ${pages} · ${p.total} in all`),
    button('Next →', () => onPage(p.page + 1), { class: 'btn btn-small', disabled: p.page >= pages }));
}

let toastTimer = null;
export function toast(text) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 3500);
}

// Loads a classic script (a vendored library) once; same origin only.
const scripts = new Map();
export function loadScript(src) {
  if (!scripts.has(src)) {
    scripts.set(src, new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = () => resolve();
      s.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.append(s);
    }));
  }
  return scripts.get(src);
}

const styles = new Set();
export function loadStyle(href) {
  if (styles.has(href)) return;
  styles.add(href);
  document.head.append(h('link', { rel: 'stylesheet', href }));
}

let askSeq = 0;
// A modal question in the page (not a browser dialog, which tests and screen readers handle
// badly): choices are [value, label, class]; resolves to the value chosen, or null when
// dismissed with Escape.
export function ask(title, text, choices) {
  return new Promise((resolve) => {
    const id = `ask-${++askSeq}`;
    const dlg = h('dialog', { class: 'ask', 'aria-labelledby': `${id}-h`, 'aria-describedby': `${id}-p` },
      h('h2', { id: `${id}-h` }, title),
      h('p', { id: `${id}-p` }, text),
      h('div', { class: 'actions' }, choices.map(([value, label, cls]) => button(label, () => dlg.close(value), { class: cls || 'btn' }))));
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(dlg.returnValue || null);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// Shows every problem next to its field at once — problems: [{field, message, level}], as
// the browser's own checks, 422 answers (detail.errors) and job checks list them — with a
// summary in box ("Not saved: …" unless options.summary gives one).
export function showFieldErrors(form, box, problems, options = {}) {
  clearFormErrors(form);
  const unplaced = [];
  let first = null;
  for (const p of problems) {
    const name = p.field || '';
    const target = [name, name.split('.')[0]].map((c) => c && form.querySelector(`[data-field="${CSS.escape(c)}"]`)).find(Boolean);
    const text = p.level === 'warning' ? `Warning: ${p.message}` : p.message;
    if (!target) {
      unplaced.push(text);
      continue;
    }
    const slot = target.querySelector('.field-error') || target.appendChild(h('div', { class: 'field-error' }));
    slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    if (p.level === 'warning') {
      slot.classList.add('field-warning');
      continue;
    }
    const control = target.querySelector('input, select, textarea');
    if (control) control.setAttribute('aria-invalid', 'true');
    first = first || control || target;
  }
  const n = problems.length;
  const list = unplaced.length ? h('ul', {}, unplaced.map((m) => h('li', {}, m))) : null;
  replace(box, options.summary ? [options.summary, list]
    : message('error', h('strong', {}, `Not saved: ${n === 1 ? '1 problem' : `${n} problems`} to fix.`), list));
  if (first) {
    first.focus?.({ preventScroll: true });
    first.scrollIntoView?.({ block: 'center' });
  }
}

// An API error on a form: every field error of a 422 (detail.errors), else as showFormError.
export function showFormErrors(form, box, e) {
  const list = e && e.detail && Array.isArray(e.detail.errors) ? e.detail.errors : null;
  if (list && list.length) showFieldErrors(form, box, list);
  else showFormError(form, box, e);
}
