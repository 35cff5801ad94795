// dom.js — building the page without HTML strings. Every piece of data reaches the page as a
// text node or an attribute value, never as markup, so a name like <img onerror=…> shows as
// text. Nothing in the app uses innerHTML.

// h('a', {href: '/x', class: 'btn', onclick: fn}, 'text', child, [more]) -> element
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'hidden') {
      el[k] = Boolean(v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === '') continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// ---- formatting ---------------------------------------------------------------------------

export function fmtNumber(n) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString('en');
}

export function fmtDateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtRelative(iso) {
  if (!iso) return '';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((t - Date.now()) / 1000);
  const abs = Math.abs(s);
  let text;
  if (abs < 45) return s <= 0 ? 'just now' : 'in a moment';
  if (abs < 90 * 60) text = `${Math.round(abs / 60)} min`;
  else if (abs < 36 * 3600) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} days`;
  return s < 0 ? `${text} ago` : `in ${text}`;
}

// <time> with the local time as text and the exact instant as a tooltip
export function timeEl(iso, relative = true) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const rel = relative ? fmtRelative(iso) : '';
  return h('time', { datetime: iso, title: new Date(iso).toISOString() },
    fmtDateTime(iso), rel ? h('span', { class: 'muted small' }, ` (${rel})`) : null);
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const STATUS_WORDS = {
  queued: 'queued', running: 'running', succeeded: 'succeeded', partial: 'partial',
  failed: 'failed', cancelled: 'cancelled', interrupted: 'interrupted',
};
export function statusBadge(status) {
  const s = STATUS_WORDS[status] ? status : 'unknown';
  return h('span', { class: `badge badge-${s}` }, status || 'never run');
}

export function progressBar(progress, status) {
  const done = progress?.done ?? 0;
  const total = progress?.total ?? null;
  const pct = total ? Math.min(100, Math.round((done / total) * 100)) : null;
  const label = total ? `${done} of ${total} chunks (${pct}%)` : status === 'queued' ? 'waiting for a worker' : `${done} chunks done`;
  const bar = h('progress', { max: total || 100, class: 'progress', 'aria-label': `Progress: ${label}` });
  if (total) bar.value = done;
  else bar.removeAttribute('value'); // indeterminate
  return h('div', { class: 'progress-wrap' }, bar, h('span', { class: 'small muted' }, label));
}
