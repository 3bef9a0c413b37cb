// The UI shell: admin-key sign-in (sessionStorage only), navigation and hash routing.

import { Api } from './api.js';
import { h, clear, errorBox, loading, field } from './dom.js';
import { parseRoute, tokenFromHash } from './format.js';
import * as overview from './pages/overview.js';
import * as providers from './pages/providers.js';
import * as health from './pages/health.js';
import * as models from './pages/models.js';
import * as usage from './pages/usage.js';
import * as historyPage from './pages/history.js';
import * as keys from './pages/keys.js';
import * as settings from './pages/settings.js';

/**
 * @typedef {{api: Api, route: ReturnType<typeof parseRoute>, base: string,
 *   go: (hash: string) => void, refresh: () => void, signOut: () => void}} Ctx
 * @typedef {{render: (root: HTMLElement, ctx: Ctx) => Promise<void>}} Page
 */

const KEY_STORAGE = 'arouter.adminKey';

/** @type {{id: string, label: string, page: Page}[]} */
const PAGES = [
  { id: 'overview', label: 'Overview', page: overview },
  { id: 'providers', label: 'Providers', page: providers },
  { id: 'health', label: 'Health', page: health },
  { id: 'models', label: 'Models & routing', page: models },
  { id: 'usage', label: 'Usage', page: usage },
  { id: 'history', label: 'History', page: historyPage },
  { id: 'keys', label: 'Keys', page: keys },
  { id: 'settings', label: 'Settings', page: settings },
];

const keyStore = {
  get() {
    try { return sessionStorage.getItem(KEY_STORAGE); } catch { return null; }
  },
  /** @param {string} k */
  set(k) {
    try { sessionStorage.setItem(KEY_STORAGE, k); } catch { /* storage blocked: key lives until reload */ }
    memoryKey = k;
  },
  clear() {
    try { sessionStorage.removeItem(KEY_STORAGE); } catch { /* nothing stored */ }
    memoryKey = null;
  },
};
/** Fallback when sessionStorage is unavailable (e.g. blocked by the browser). */
let memoryKey = /** @type {string|null} */ (null);
const currentKey = () => keyStore.get() ?? memoryKey;

let renderSeq = 0;

const api = new Api({
  getKey: currentKey,
  onUnauthorized: () => {
    // several calls of one page may fail together: prompt once
    if (document.body.classList.contains('signed-out')) return;
    keyStore.clear();
    showLogin('Your admin key is no longer accepted (it may have been disabled or deleted). Enter an admin key to continue.');
  },
});

function main() {
  return /** @type {HTMLElement} */ (document.getElementById('main'));
}

function buildNav() {
  const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
  clear(nav);
  nav.appendChild(h('a', { class: 'brand', href: '#/overview' },
    h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), 'ARouter'));
  nav.appendChild(h('ul', { class: 'nav-links' }, PAGES.map((p) =>
    h('li', null, h('a', { href: `#/${p.id}`, 'data-page': p.id }, p.label)))));
  nav.appendChild(h('button', { type: 'button', class: 'btn btn-small nav-signout', onclick: signOut }, 'Sign out'));
}

function signOut() {
  keyStore.clear();
  showLogin('Signed out. The key was removed from this browser tab.');
}

/** @param {string} [notice] */
function showLogin(notice) {
  renderSeq++;
  document.body.classList.add('signed-out');
  document.title = 'Sign in · ARouter';
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', placeholder: 'sk-ar-…', 'data-testid': 'login-key' });
  const keyField = field('Admin key', input);
  const status = h('div', { 'data-testid': 'login-error' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', {
    class: 'login card',
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clear(status);
      const key = /** @type {HTMLInputElement} */ (input).value.trim();
      if (!key) {
        keyField.error('Paste the admin key first.');
        return;
      }
      keyField.error(null);
      button.disabled = true;
      try {
        await api.checkKey(key);
        keyStore.set(key);
        render();
      } catch (err) {
        status.appendChild(errorBox(loginError(err)));
        /** @type {HTMLInputElement} */ (input).select();
      } finally {
        button.disabled = false;
      }
    },
  },
  h('h1', null, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), ' ARouter'),
  notice ? h('div', { class: 'alert alert-info', 'data-testid': 'login-notice' }, notice) : null,
  h('p', null, 'The web UI manages ARouter with an admin key. Create one in a terminal:'),
  h('pre', { class: 'code' }, h('code', null, 'arouter keys create --name admin --admin')),
  h('p', { class: 'muted' }, 'Paste the last line it prints. The key stays in this browser tab only (sessionStorage) and is forgotten when the tab closes.'),
  keyField, status, h('div', { class: 'actions' }, button));
  clear(main()).appendChild(form);
  /** @type {HTMLInputElement} */ (input).focus();
}

/** @param {any} err */
function loginError(err) {
  if (err && err.status === 401) return new Error('That key was not accepted. Check that you copied the whole last line of `arouter keys create`.');
  if (err && err.status === 403) return new Error('That is an app key. The UI needs an admin key: create one with `arouter keys create --name admin --admin`.');
  return err;
}

async function render() {
  const seq = ++renderSeq;
  if (!currentKey()) {
    showLogin();
    return;
  }
  document.body.classList.remove('signed-out');
  const route = parseRoute(location.hash);
  const entry = PAGES.find((p) => p.id === route.page);
  for (const a of document.querySelectorAll('#nav a[data-page]')) {
    a.classList.toggle('active', a.getAttribute('data-page') === route.page);
    if (a.getAttribute('data-page') === route.page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const view = h('div', { class: 'view', 'data-testid': `page-${route.page}` }, loading());
  clear(main()).appendChild(view);
  if (!entry) {
    clear(view).appendChild(h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, 'No such page'), h('a', { href: '#/overview' }, 'Go to the overview')));
    return;
  }
  document.title = `${entry.label} · ARouter`;
  /** @type {Ctx} */
  const ctx = {
    api,
    route,
    base: location.origin,
    go: (hash) => {
      if (location.hash === hash) render(); else location.hash = hash;
    },
    refresh: () => { if (seq === renderSeq) render(); },
    signOut,
  };
  try {
    await entry.page.render(view, ctx);
  } catch (err) {
    if (seq !== renderSeq || (err && err.status === 401)) return;
    clear(view).appendChild(h('div', null,
      errorBox(err),
      h('button', { type: 'button', class: 'btn', onclick: () => render() }, 'Try again')));
  }
}

function start() {
  const token = tokenFromHash(location.hash);
  if (token) {
    keyStore.set(token);
    history.replaceState(null, '', `${location.pathname}${location.search}#/overview`);
  }
  buildNav();
  window.addEventListener('hashchange', () => {
    const t = tokenFromHash(location.hash);
    if (t) {
      keyStore.set(t);
      history.replaceState(null, '', `${location.pathname}${location.search}#/overview`);
    }
    render();
  });
  render();
}

start();
