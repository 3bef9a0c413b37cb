// Keys: create (raw key shown once), rename and limits, disable/enable, delete, per-key usage.

import { h, fill, card, pageHeader, emptyState, badge, dialog, field, showErrors, KEEP_OPEN, confirmDialog, toast, copyField } from '../dom.js';
import { validateKeyForm, formatUsd, formatInt, formatDateTime } from '../format.js';

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  const [keys, me] = await Promise.all([ctx.api.keys(), ctx.api.currentKey().catch(() => null)]);
  const create = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'create-key', onclick: () => keyDialog(ctx, null) }, 'Create key');
  fill(root,
    pageHeader('Keys', 'Give every tool its own app key: usage and limits are tracked per key. Admin keys can also manage ARouter.', create),
    keys.length
      ? card(null, null, h('div', { class: 'table-wrap' }, keyTable(ctx, keys, me?.hash ?? null)))
      : emptyState('No keys yet', 'Create an app key for each tool you point at ARouter.'));
}

const PERIOD = { daily: 'day', weekly: 'week', monthly: 'month' };

/** @param {import('../api.js').Key} k */
function limitText(k) {
  if (k.limit === null || k.limit === undefined) return h('span', { class: 'muted nowrap' }, 'no limit');
  return h('span', null, `${formatUsd(k.limit)}${k.limit_reset ? ` per ${PERIOD[k.limit_reset] || k.limit_reset}` : ' total'}`,
    k.limit_remaining !== null && k.limit_remaining !== undefined ? h('div', { class: 'muted small' }, `${formatUsd(k.limit_remaining)} left`) : null);
}

/**
 * @param {import('../app.js').Ctx} ctx @param {import('../api.js').Key[]} keys @param {string|null} myHash
 */
function keyTable(ctx, keys, myHash) {
  return h('table', { class: 'table', 'data-testid': 'keys-table' },
    h('thead', null, h('tr', null, ['Name', 'Spend this month', 'Limit', 'Rate', '']
      .map((c, i) => h('th', { class: i === 1 ? 'num' : null }, c)))),
    h('tbody', null, keys.map((k) => {
      const mine = k.hash === myHash;
      return h('tr', { 'data-key': k.name, class: k.disabled ? 'row-disabled' : null },
        h('td', null, h('strong', null, k.name), k.admin ? badge('admin', 'accent') : null, k.disabled ? badge('disabled', 'error') : null, mine ? badge('this browser', 'muted') : null,
          h('div', { class: 'muted small', title: `created ${formatDateTime(k.created_at)}` }, h('code', null, k.label), ` · created ${new Date(k.created_at).toLocaleDateString()}`)),
        h('td', { class: 'num', 'data-testid': 'key-usage' }, formatUsd(k.usage_monthly),
          h('div', { class: 'muted small' }, `today ${formatUsd(k.usage_daily)} · all time ${formatUsd(k.usage)}`)),
        h('td', null, limitText(k)),
        h('td', { class: 'nowrap' }, k.rpm ? `${formatInt(k.rpm)}/min` : h('span', { class: 'muted' }, 'unlimited')),
        h('td', null, h('div', { class: 'actions row-actions' },
          h('button', { type: 'button', class: 'btn btn-small', onclick: () => keyDialog(ctx, k) }, 'Edit'),
          h('button', {
            type: 'button', class: 'btn btn-small', onclick: async () => {
              if (!k.disabled && mine && !(await confirmDialog('Disable the key this browser uses?', 'You will be signed out and need another admin key.', 'Disable'))) return;
              await run(ctx, () => ctx.api.updateKey(k.hash, { disabled: !k.disabled }), `Key ${k.name} ${k.disabled ? 'enabled' : 'disabled'}.`);
            },
          }, k.disabled ? 'Enable' : 'Disable'),
          h('button', {
            type: 'button', class: 'btn btn-small btn-danger-text', onclick: async () => {
              const warn = mine ? ' This is the key this browser uses: you will be signed out.' : '';
              if (!(await confirmDialog(`Delete key ${k.name}?`, `Tools using it get 401 from now on. Its usage history is kept.${warn}`))) return;
              await run(ctx, () => ctx.api.deleteKey(k.hash), `Key ${k.name} deleted.`);
            },
          }, 'Delete'))));
    })));
}

async function run(ctx, action, message) {
  try {
    await action();
    toast(message);
    ctx.refresh();
  } catch (err) {
    if (err?.status !== 401) toast(err.message, 'error');
  }
}

/** Create (k = null) or edit a key. @param {import('../app.js').Ctx} ctx @param {import('../api.js').Key|null} k */
function keyDialog(ctx, k) {
  const editing = !!k;
  const inputs = {
    name: h('input', { type: 'text', value: k?.name ?? '', spellcheck: 'false', placeholder: 'cursor', 'data-testid': 'key-name' }),
    rpm: h('input', { type: 'text', inputmode: 'numeric', value: k?.rpm ?? '', placeholder: 'unlimited' }),
    limit: h('input', { type: 'text', inputmode: 'decimal', value: k?.limit ?? '', placeholder: 'no limit' }),
    limit_reset: h('select', null, [['', 'never (total budget)'], ['daily', 'daily'], ['weekly', 'weekly'], ['monthly', 'monthly']]
      .map(([v, l]) => h('option', { value: v, selected: (k?.limit_reset ?? '') === v }, l))),
    admin: h('input', { type: 'checkbox' }),
  };
  const fields = {
    name: field('Name', inputs.name, 'Usage is attributed to this name (refined by X-Title / HTTP-Referer headers).'),
    rpm: field('Requests per minute', inputs.rpm, 'Optional. Over it, requests get 429 with Retry-After.'),
    limit: field('Spending limit (USD)', inputs.limit, 'Optional. Over it, requests get 402.'),
    limit_reset: field('Limit resets', inputs.limit_reset),
  };
  const adminRow = editing ? null : h('label', { class: 'check' }, inputs.admin, ' Admin key (can manage ARouter through /api/v1 and this UI)');
  return dialog({
    title: editing ? `Edit key ${k.name}` : 'Create a key',
    body: [fields.name, h('div', { class: 'grid-2 tight' }, fields.rpm, fields.limit), fields.limit_reset, adminRow].filter(Boolean),
    submitLabel: editing ? 'Save' : 'Create key',
    onSubmit: async () => {
      const v = Object.fromEntries(['name', 'rpm', 'limit', 'limit_reset'].map((n) => [n, /** @type {HTMLInputElement} */ (inputs[n]).value]));
      const { errors, body } = validateKeyForm(/** @type {any} */ (v));
      if (!showErrors(fields, errors)) return KEEP_OPEN;
      if (editing) {
        await ctx.api.updateKey(k.hash, body);
        toast(`Key ${body.name} saved.`);
        ctx.refresh();
        return;
      }
      const created = await ctx.api.createKey({ ...body, admin: /** @type {HTMLInputElement} */ (inputs.admin).checked });
      ctx.refresh();
      // Shown after this dialog closes; the raw key is never retrievable again.
      setTimeout(() => showNewKey(created.data, created.key), 0);
    },
  });
}

/** @param {import('../api.js').Key} key @param {string} raw */
function showNewKey(key, raw) {
  return dialog({
    title: `Key ${key.name} created`,
    body: [
      h('p', null, 'Copy it now: this is the only time ARouter shows it.'),
      copyField(raw, 'new-key'),
      h('p', { class: 'muted small' }, 'Use it as the API key of your tool, with the base URL from the Overview.'),
    ],
    submitLabel: 'Done',
    hideCancel: true,
  });
}
