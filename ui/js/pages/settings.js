// Settings: server address (read-only), content logging, where the data lives, CSV export.

import { h, fill, card, pageHeader, copyField, toast, downloadBlob, errorBox } from '../dom.js';
import { RANGES, rangeStart, csvFileName } from '../format.js';

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  const settings = await ctx.api.settings();
  fill(root,
    pageHeader('Settings', `ARouter ${settings.version || ''}`),
    serverCard(settings, ctx.base),
    loggingCard(ctx, settings),
    dataCard(settings),
    exportCard(ctx),
    card('Session', null,
      h('p', { class: 'muted' }, 'The admin key is kept in this browser tab only and forgotten when it closes.'),
      h('button', { type: 'button', class: 'btn', onclick: ctx.signOut }, 'Sign out')));
}

/**
 * The configured address, and the one this page actually came from when they differ (port 0
 * means "any free port"; a proxy or the desktop shell may also sit in between).
 * @param {import('../api.js').Settings} s @param {string} base
 */
function serverCard(s, base) {
  const configured = `${s.server?.host}:${s.server?.port}`;
  const actual = new URL(base).host;
  return card('Server', null, h('dl', { class: 'facts' },
    h('dt', null, 'Listening on'), h('dd', { 'data-testid': 'server-address' }, h('code', null, actual)),
    configured !== actual ? [h('dt', null, 'Configured'), h('dd', null, h('code', null, configured), s.server?.port === 0 ? h('span', { class: 'muted' }, ' (port 0: any free port)') : null)] : null,
    h('dt', null, 'Max request body'), h('dd', null, s.server?.max_body_mb != null ? `${s.server.max_body_mb} MB` : '—')),
  h('p', { class: 'muted small' }, 'Host and port are read at start: change them in config.toml or with --host / --port and restart ARouter.'));
}

/** @param {import('../app.js').Ctx} ctx @param {import('../api.js').Settings} s */
function loggingCard(ctx, s) {
  const status = h('div');
  const box = h('input', {
    type: 'checkbox', checked: !!s.server?.store_content, 'data-testid': 'store-content',
    onchange: async () => {
      const want = /** @type {HTMLInputElement} */ (box).checked;
      box.disabled = true;
      fill(status);
      try {
        const next = await ctx.api.patchSettings({ store_content: want });
        /** @type {HTMLInputElement} */ (box).checked = !!next.server?.store_content;
        toast(want ? 'Request and response bodies will be stored.' : 'Bodies will no longer be stored.');
      } catch (err) {
        /** @type {HTMLInputElement} */ (box).checked = !want;
        if (err?.status !== 401) status.appendChild(errorBox(err));
      } finally {
        box.disabled = false;
      }
    },
  });
  return card('Content logging', null,
    h('label', { class: 'check' }, box, ' Store request and response bodies'),
    h('p', { class: 'muted small' }, 'When on, the full prompt and answer of each request are kept in the local SQLite ledger and shown in History. Tokens and cost are always recorded.'),
    status);
}

/** @param {import('../api.js').Settings} s */
function dataCard(s) {
  return card('Data', null,
    h('div', { class: 'label' }, 'Data directory (arouter.db, config.toml)'), copyField(s.data_dir || '—', 'data-dir'),
    h('div', { class: 'label' }, 'Config file'), copyField(s.config_path || '—', 'config-path'));
}

/** @param {import('../app.js').Ctx} ctx */
function exportCard(ctx) {
  const range = h('select', { 'aria-label': 'Export range' }, RANGES.map((r) => h('option', { value: r.key, selected: r.key === '30d' }, r.label)), h('option', { value: 'all' }, 'Everything'));
  const status = h('div');
  const btn = h('button', {
    type: 'button', class: 'btn btn-primary', 'data-testid': 'export-csv', onclick: async () => {
      btn.disabled = true;
      fill(status);
      try {
        const key = /** @type {HTMLSelectElement} */ (range).value;
        const since = key === 'all' ? undefined : rangeStart(/** @type {any} */ (key)).getTime();
        const blob = await ctx.api.usageCsv({ since });
        downloadBlob(blob, csvFileName());
      } catch (err) {
        if (err?.status !== 401) status.appendChild(errorBox(err));
      } finally {
        btn.disabled = false;
      }
    },
  }, 'Download CSV');
  return card('Export usage', null,
    h('p', { class: 'muted' }, 'Every request in the range, one row each (time, app, key, model, provider, tokens, cost, status).'),
    h('div', { class: 'inline-form' }, range, btn),
    status);
}
