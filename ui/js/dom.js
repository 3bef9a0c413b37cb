// Small DOM helpers: element builder, dialogs, toasts, copy buttons, form fields, empty states.

import { pageInfo } from './format.js';

/**
 * Builds an element. Attributes starting with "on" become listeners; `class`, `dataset`,
 * boolean and string attributes are set as expected; children may be strings, nodes, arrays
 * or null (skipped).
 * @param {string} tag
 * @param {Record<string, any>|null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) /** @type {any} */ (el).value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') /** @type {any} */ (el)[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** @param {Node} el @param {any[]} children */
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** SVG element builder. @param {string} tag @param {Record<string, any>} [attrs] @param {...any} children */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Removes every child. @param {Element} el */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/**
 * Replaces an element's children; like `h`, skips null/false and flattens arrays (the DOM's
 * own replaceChildren would print them as "null" or "[object HTMLElement]").
 * @param {Element} el @param {...any} children
 */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

/** Brief notice in the corner. @param {string} message @param {'ok'|'error'} [kind] */
export function toast(message, kind = 'ok') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(box);
  }
  const t = h('div', { class: ['toast', kind === 'error' && 'toast-error'] }, message);
  box.appendChild(t);
  while (box.children.length > 3) box.firstChild?.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 7000 : 3500);
}

/** A red box with the error in plain words. @param {any} err */
export function errorBox(err) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', { class: 'alert alert-error', role: 'alert' }, msg);
}

/**
 * "Nothing here yet" panel that says what to do next.
 * @param {string} title @param {string|Node} hint @param {Node|null} [action]
 */
export function emptyState(title, hint, action = null) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), h('p', { class: 'muted' }, hint), action);
}

/** Copies text, with a fallback for browsers that block the async clipboard. @param {string} text */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { class: 'offscreen', readonly: true });
    /** @type {HTMLTextAreaElement} */ (ta).value = text;
    document.body.appendChild(ta);
    /** @type {HTMLTextAreaElement} */ (ta).select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

/** A "Copy" button that copies `text()` (or a string). @param {string|(() => string)} text @param {string} [label] */
export function copyButton(text, label = 'Copy') {
  const btn = h('button', {
    type: 'button',
    class: 'btn btn-small',
    onclick: async () => {
      const ok = await copyText(typeof text === 'function' ? text() : text);
      btn.textContent = ok ? 'Copied' : 'Press Ctrl+C';
      setTimeout(() => { btn.textContent = label; }, 1500);
    },
  }, label);
  return btn;
}

/** Read-only monospace value with a copy button. @param {string} value @param {string} [testid] */
export function copyField(value, testid) {
  return h('div', { class: 'copy-field' }, h('code', { 'data-testid': testid }, value), copyButton(value));
}

/**
 * A labelled form field; `error(msg)` shows or clears its message.
 * @param {string} label
 * @param {HTMLElement} input
 * @param {string} [help]
 */
export function field(label, input, help) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const msg = h('div', { class: 'field-error', id: `${id}-err`, hidden: true });
  input.setAttribute('aria-describedby', `${id}-err`);
  // a message about the old value goes away as soon as the user changes it
  const clearError = () => { if (!msg.hidden) wrap.error(null); };
  input.addEventListener('input', clearError);
  input.addEventListener('change', clearError);
  const box = h('div', { class: 'field' }, h('label', { for: id }, label), input, help ? h('div', { class: 'help' }, help) : null, msg);
  const wrap = Object.assign(box, {
    input,
    /** @param {string|null|undefined} m */
    error(m) {
      msg.textContent = m || '';
      msg.hidden = !m;
      input.classList.toggle('invalid', !!m);
      if (m) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    },
  });
  return wrap;
}

/**
 * Shows per-field errors on `fields` ({name: field}); returns true when there were none.
 * @param {Record<string, any>} fields @param {Record<string, string>} errors
 */
export function showErrors(fields, errors) {
  for (const [k, f] of Object.entries(fields)) f.error(errors[k]);
  const first = Object.keys(errors).find((k) => fields[k]);
  if (first) fields[first].input.focus();
  return Object.keys(errors).length === 0;
}

/**
 * A modal dialog. `body` is built by the caller; buttons resolve the returned promise.
 * `onSubmit` (for the primary action) may throw to keep the dialog open; its error is shown.
 * @param {{title: string, body: Node|Node[], submitLabel?: string, cancelLabel?: string,
 *   danger?: boolean, onSubmit?: () => Promise<any>|any, wide?: boolean, hideCancel?: boolean}} opts
 * @returns {Promise<any>} resolves with onSubmit's result, or undefined when cancelled
 */
export function dialog(opts) {
  return new Promise((resolve) => {
    const errorSlot = h('div');
    const submit = h('button', { type: 'submit', class: ['btn', opts.danger ? 'btn-danger' : 'btn-primary'] }, opts.submitLabel || 'Save');
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, opts.cancelLabel || 'Cancel');
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', null, opts.title),
      h('div', { class: 'dialog-body' }, opts.body),
      errorSlot,
      h('div', { class: 'dialog-actions' }, opts.hideCancel ? null : cancel, submit));
    const dlg = /** @type {HTMLDialogElement} */ (h('dialog', { class: ['dialog', opts.wide && 'dialog-wide'] }, form));
    let done = false;
    const close = (value) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(errorSlot);
      submit.disabled = true;
      try {
        const result = opts.onSubmit ? await opts.onSubmit() : true;
        if (result !== KEEP_OPEN) close(result === undefined ? true : result);
      } catch (err) {
        errorSlot.appendChild(errorBox(err));
      } finally {
        submit.disabled = false;
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    const first = form.querySelector('input:not([type=hidden]):not([disabled]), select, textarea');
    if (first) /** @type {HTMLElement} */ (first).focus();
  });
}

/** Returned from a dialog's onSubmit to keep it open (e.g. after showing field errors). */
export const KEEP_OPEN = Symbol('keep-open');

/** Yes/no question. @param {string} title @param {string} message @param {string} [yes] */
export function confirmDialog(title, message, yes = 'Delete') {
  return dialog({ title, body: h('p', null, message), submitLabel: yes, danger: true }).then((v) => !!v);
}

/**
 * Previous/next pager.
 * @param {{total: number, offset: number, limit: number, onPage: (offset: number) => void}} p
 */
export function pager(p) {
  const info = pageInfo(p.total, p.offset, p.limit);
  return h('div', { class: 'pager' },
    h('span', { class: 'muted', 'data-testid': 'pager-label' }, info.label),
    h('button', { type: 'button', class: 'btn btn-small', disabled: !info.hasPrev, onclick: () => p.onPage(info.prevOffset) }, '← Previous'),
    h('button', { type: 'button', class: 'btn btn-small', disabled: !info.hasNext, onclick: () => p.onPage(info.nextOffset) }, 'Next →'));
}

/** A small coloured label. @param {string} text @param {string} [kind] ok|warn|error|muted|accent */
export function badge(text, kind = 'muted') {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/** Section card with a heading and optional actions on the right. */
export function card(title, actions, ...children) {
  return h('section', { class: 'card' },
    title || actions ? h('div', { class: 'card-head' }, title ? h('h2', null, title) : h('span'), actions ? h('div', { class: 'actions' }, actions) : null) : null,
    ...children);
}

/** Page title row. @param {string} title @param {string} [subtitle] @param {Node|Node[]} [actions] */
export function pageHeader(title, subtitle, actions) {
  return h('header', { class: 'page-head' },
    h('div', null, h('h1', null, title), subtitle ? h('p', { class: 'muted' }, subtitle) : null),
    actions ? h('div', { class: 'actions' }, actions) : null);
}

/** Loading placeholder. */
export function loading() {
  return h('div', { class: 'loading', 'aria-busy': 'true' }, 'Loading…');
}

/** Triggers a download of a Blob under `name`. @param {Blob} blob @param {string} name */
export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, class: 'offscreen' });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
