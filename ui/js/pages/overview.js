// Overview: your tools (connect agent CLIs), the base URL and setup snippets, today's and this month's totals, provider health.

import { h, fill, card, copyField, copyButton, pageHeader, emptyState, badge, errorBox } from '../dom.js';
import { formatUsd, formatInt, formatTokens, formatAgo, startOfDay, monthStart } from '../format.js';
import { setupSnippets } from '../snippets.js';
import { toolsCard } from './tools.js';

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  const now = new Date();
  const [settings, today, month, providers] = await Promise.all([
    ctx.api.settings(),
    ctx.api.usage({ since: startOfDay(now).getTime(), by: 'app' }),
    ctx.api.usage({ since: monthStart(now).getTime(), by: 'app' }),
    ctx.api.providers().catch((err) => err),
  ]);
  fill(root,
    pageHeader('Overview', `ARouter ${settings.version || ''} is running.`),
    toolsCard(ctx),
    connectCard(ctx.base, settings.default_model),
    h('div', { class: 'grid-2' },
      statsCard('Today', today.totals, 'stats-today'),
      statsCard('This month', month.totals, 'stats-month')),
    topApps(month.data),
    healthCard(providers),
  );
}

/** @param {string} base @param {string|null} model */
function connectCard(base, model) {
  const snippets = setupSnippets(base, model || '');
  const code = h('code');
  const pre = h('pre', { class: 'code', 'data-testid': 'snippet' }, code);
  const note = h('p', { class: 'muted small' });
  let current = snippets[0];
  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const select = (sn) => {
    current = sn;
    code.textContent = sn.code;
    note.textContent = sn.note || '';
    note.hidden = !sn.note;
    for (const b of tabs.children) {
      b.setAttribute('aria-selected', String(b.getAttribute('data-id') === sn.id));
    }
  };
  for (const sn of snippets) {
    tabs.appendChild(h('button', { type: 'button', role: 'tab', class: 'tab', 'data-id': sn.id, onclick: () => select(sn) }, sn.label));
  }
  select(current);
  return card('Other tools and SDKs', null,
    h('p', null, 'Point every AI tool at this base URL and give each its own app key (Keys page), so usage is attributed per app.'),
    h('div', { class: 'grid-2 tight' },
      h('div', null, h('div', { class: 'label' }, 'Base URL (Anthropic, Gemini, proxy)'), copyField(base, 'base-url')),
      h('div', null, h('div', { class: 'label' }, 'OpenAI-compatible base URL'), copyField(`${base}/v1`, 'base-url-v1'))),
    tabs,
    h('div', { class: 'snippet' }, pre, h('div', { class: 'snippet-copy' }, copyButton(() => current.code))),
    note,
    model ? null : h('p', { class: 'muted small' }, 'No default model is set yet: choose one on the Models & routing page.'));
}

/** @param {string} title @param {import('../api.js').UsageTotals} t @param {string} testid */
function statsCard(title, t, testid) {
  const tokens = Number(t?.input_tokens || 0) + Number(t?.output_tokens || 0);
  return card(title, null, h('dl', { class: 'stats', 'data-testid': testid },
    stat('Requests', formatInt(t?.requests ?? 0), t?.errors ? `${formatInt(t.errors)} failed` : null),
    stat('Tokens', formatTokens(tokens), `${formatTokens(t?.input_tokens ?? 0)} in · ${formatTokens(t?.output_tokens ?? 0)} out`),
    stat('Cost', formatUsd(t?.cost ?? 0), t?.unpriced ? 'some requests unpriced' : null)));
}

/** @param {string} label @param {string} value @param {string|null} sub */
function stat(label, value, sub) {
  return h('div', { class: 'stat' }, h('dt', null, label), h('dd', null, value), sub ? h('div', { class: 'muted small' }, sub) : null);
}

/** @param {import('../api.js').UsageRow[]} rows */
function topApps(rows) {
  const top = (rows || []).slice().sort((a, b) => b.cost - a.cost || b.requests - a.requests).slice(0, 5);
  if (!top.length) {
    return card('Apps this month', null, emptyState('No requests yet this month',
      'Create an app key on the Keys page, paste a snippet above into your tool, and its usage will appear here.',
      h('a', { class: 'btn', href: '#/keys' }, 'Create an app key')));
  }
  return card('Apps this month', h('a', { href: '#/usage?range=30d&by=app' }, 'All usage →'),
    h('table', { class: 'table' },
      h('thead', null, h('tr', null, h('th', null, 'App'), h('th', { class: 'num' }, 'Requests'), h('th', { class: 'num' }, 'Tokens'), h('th', { class: 'num' }, 'Cost'))),
      h('tbody', null, top.map((r) => h('tr', null,
        h('td', null, r.group ?? '(none)'),
        h('td', { class: 'num' }, formatInt(r.requests)),
        h('td', { class: 'num' }, formatTokens(r.input_tokens + r.output_tokens)),
        h('td', { class: 'num' }, formatUsd(r.cost)))))));
}

/** @param {import('../api.js').Provider[]|Error} providers */
function healthCard(providers) {
  if (providers instanceof Error) return card('Provider health', null, errorBox(providers));
  if (!providers.length) {
    return card('Provider health', null, emptyState('No providers configured',
      'Add a provider (OpenAI, Anthropic, Gemini, Ollama…) and its credential to start routing.',
      h('a', { class: 'btn btn-primary', href: '#/providers' }, 'Add a provider')));
  }
  return card('Provider health', h('a', { href: '#/providers' }, 'Manage →'),
    h('ul', { class: 'health-list' }, providers.map((p) => h('li', null,
      h('span', { class: `dot dot-${p.health?.status || 'unknown'}`, title: p.health?.status || 'unknown' }),
      h('strong', null, p.id),
      ' ',
      healthText(p),
      !p.has_credential && !p.local ? badge('no credential', 'warn') : null))));
}

/** @param {import('../api.js').Provider} p */
export function healthText(p) {
  const hl = p.health || { status: 'unknown' };
  if (hl.status === 'ok') return h('span', { class: 'muted' }, `ok · last success ${formatAgo(hl.last_success_at)}`);
  if (hl.status === 'failing') {
    return h('span', { class: 'text-error' }, `failing (${formatInt(hl.recent_failures)} recent) · ${hl.last_error || 'unknown error'} · ${formatAgo(hl.last_error_at)}`);
  }
  return h('span', { class: 'muted' }, 'no requests yet');
}
