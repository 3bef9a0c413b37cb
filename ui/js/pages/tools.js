// The "Your tools" card on Overview: connect agent CLIs (Claude Code, Codex, Gemini CLI,
// opencode, aider, Continue) to ARouter with one click, pick their models per slot, and copy
// the values GUI editors (Cursor and the like) need.

import { h, fill, card, copyField, badge, errorBox, toast, loading } from '../dom.js';
import { formatUsd, formatAgo } from '../format.js';

/** @param {import('../app.js').Ctx} ctx @returns {HTMLElement} */
export function toolsCard(ctx) {
  const body = h('div', { 'data-testid': 'tools-card' }, loading());
  const el = card('Your tools', null,
    h('p', null, 'Connect points a tool at ARouter with its own app key, by merging into the tool\'s own config file (your other settings stay; Disconnect puts the file back).'),
    body);
  const load = async () => {
    try {
      const [res, settings] = await Promise.all([ctx.api.tools(), ctx.api.settings()]);
      fill(body,
        h('div', { class: 'tool-list' }, res.data.map((t) => toolRow(ctx, t, res.models || [], settings.default_model, load))),
        manualPanel(ctx, res.manual, res.models || [], settings.default_model));
    } catch (err) {
      fill(body, errorBox(err));
    }
  };
  load();
  return el;
}

/**
 * @param {string} id @param {string[]} models @param {string|null|undefined} value
 * @param {string} [emptyLabel]
 */
function modelSelect(id, models, value, emptyLabel) {
  const sel = /** @type {HTMLSelectElement} */ (h('select', { 'data-testid': id, 'aria-label': id }));
  if (emptyLabel) sel.appendChild(h('option', { value: '' }, emptyLabel));
  const list = value && !models.includes(value) ? [value, ...models] : models;
  for (const m of list) sel.appendChild(h('option', { value: m }, m));
  sel.value = value || (emptyLabel ? '' : list[0] || '');
  return sel;
}

/** @param {import('../app.js').Ctx} ctx @param {any} t @param {string[]} models @param {string|null} def @param {() => void} reload */
function toolRow(ctx, t, models, def, reload) {
  const main = modelSelect(`tool-model-${t.id}`, models, t.model || def);
  const slots = (t.slots || []).map((s) => ({
    name: s,
    select: modelSelect(`tool-slot-${t.id}-${s}`, models, t.slot_models?.[s] || '', 'same as main'),
  }));
  const busy = (/** @type {HTMLButtonElement} */ b, fn) => async () => {
    b.disabled = true;
    try {
      await fn();
      reload();
    } catch (err) {
      toast(err.message || String(err), 'error');
      b.disabled = false;
    }
  };
  const connectBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-testid': `tool-connect-${t.id}` }, t.connected ? 'Update' : 'Connect'));
  connectBtn.onclick = busy(connectBtn, async () => {
    /** @type {Record<string,string>} */
    const slotModels = {};
    for (const s of slots) if (s.select.value) slotModels[s.name] = s.select.value;
    const out = await ctx.api.connectTool(t.id, { model: main.value, slots: slotModels });
    toast(`${t.name} connected with key "${out.key_name}"`);
  });
  const disconnectBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `tool-disconnect-${t.id}`, hidden: !t.connected }, 'Disconnect'));
  disconnectBtn.onclick = busy(disconnectBtn, async () => {
    await ctx.api.disconnectTool(t.id);
    toast(`${t.name} disconnected; its files are back as they were`);
  });
  const status = [
    t.connected ? badge(`connected · key ${t.key_name}`, 'ok') : badge('not connected', 'muted'),
    ' ',
    t.installed ? badge('installed', 'accent') : badge('not found', 'muted'),
  ];
  const activity = t.last_request_ms
    ? `last request ${formatAgo(t.last_request_ms)}${t.last_model ? ` (${t.last_model})` : ''} · today ${formatUsd(t.today_usd || 0)}`
    : (t.connected ? 'no requests yet' : '');
  return h('div', { class: 'tool-row', 'data-testid': `tool-${t.id}` },
    h('div', { class: 'tool-head' },
      h('strong', null, t.name),
      h('span', { 'data-testid': `tool-status-${t.id}` }, ...status),
      h('span', { class: 'muted small' }, activity)),
    h('div', { class: 'tool-pickers' },
      h('label', { class: 'inline-label' }, 'Model ', main),
      slots.map((s) => h('label', { class: 'inline-label' }, `${s.name} `, s.select)),
      h('div', { class: 'actions' }, connectBtn, disconnectBtn)),
    h('div', { class: 'muted small' }, (t.files || []).join(' · ')),
    (t.notes || []).map((n) => h('div', { class: 'text-warn small' }, n)));
}

/** Values for editors with no config file ARouter can write (Cursor and the like). */
function manualPanel(ctx, manual, models, def) {
  const keySlot = h('div', null,
    h('button', {
      type: 'button',
      class: 'btn btn-small',
      'data-testid': 'manual-create-key',
      onclick: async () => {
        try {
          const existing = new Set((await ctx.api.keys()).map((k) => k.name));
          let name = 'cursor';
          for (let n = 2; existing.has(name); n++) name = `cursor-${n}`;
          const res = await ctx.api.createKey({ name });
          fill(keySlot, h('div', { class: 'label' }, `API key "${name}" (shown once)`), copyField(res.key, 'manual-key'));
        } catch (err) {
          fill(keySlot, errorBox(err));
        }
      },
    }, 'Create a key to paste'));
  const model = modelSelect('manual-model', models, def);
  const modelValue = h('div');
  const showModel = () => fill(modelValue, copyField(model.value, 'manual-model-id'));
  model.addEventListener('change', showModel);
  showModel();
  return h('details', { class: 'manual-panel', 'data-testid': 'manual-panel' },
    h('summary', null, 'Cursor and other GUI editors: values to paste'),
    h('p', { class: 'muted small' }, 'In the editor\'s OpenAI-compatible settings ("Override OpenAI Base URL" in Cursor), paste:'),
    h('div', { class: 'grid-2 tight' },
      h('div', null, h('div', { class: 'label' }, 'Base URL'), copyField(manual?.openai_base_url || `${ctx.base}/v1`, 'manual-base-url')),
      h('div', null, h('div', { class: 'label' }, 'Model'), model, modelValue)),
    keySlot);
}
