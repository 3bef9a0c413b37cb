// Models & routing: the default model, fallback lists (aliases) and the model catalog with
// per-model price overrides.

import { h, fill, card, pageHeader, emptyState, badge, dialog, field, showErrors, KEEP_OPEN, confirmDialog, toast, pager } from '../dom.js';
import { validateAlias, validateOverride, moveItem, formatPerMillion, perMillion, formatInt, formatAgo, splitModelId } from '../format.js';

const CATALOG_PAGE = 50;

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  const [settings, catalog, facts] = await Promise.all([ctx.api.settings(), ctx.api.catalog(), ctx.api.modelFacts().catch(() => null)]);
  const aliasNames = Object.keys(settings.aliases || {});
  const modelIds = catalog.map((m) => m.id).filter((id) => !aliasNames.includes(id));
  const datalist = h('datalist', { id: 'model-ids' }, [...aliasNames, ...modelIds].map((id) => h('option', { value: id })));
  fill(root,
    pageHeader('Models & routing', 'Which model answers when a request names none, which models stand in when one fails, and what each costs.'),
    datalist,
    defaultModelCard(ctx, settings, aliasNames, modelIds),
    aliasesCard(ctx, settings, aliasNames),
    catalogCard(ctx, catalog, aliasNames, facts));
}

/**
 * Where prices come from, and a button that asks the providers for their model lists now.
 * @param {import('../app.js').Ctx} ctx @param {any} facts
 */
function factsBar(ctx, facts) {
  const pin = facts?.bundle?.pins?.[0];
  const refreshed = (facts?.providers || []).filter((p) => p.fetched_ms);
  const status = h('p', { class: 'muted small', 'data-testid': 'facts-status' },
    pin ? `Bundled prices: ${facts.bundle.name} (${pin.package}, pinned ${pin.pinned}), ${formatInt(facts.bundle_models)} models. ` : '',
    refreshed.length
      ? `Live lists: ${refreshed.map((p) => `${p.provider} ${formatInt(p.models)} models (${formatInt(p.priced)} priced), ${formatAgo(new Date(p.fetched_ms).toISOString())}`).join('; ')}.`
      : 'No live model list fetched yet.',
    facts?.cache_error ? ` Cache unreadable: ${facts.cache_error}` : '');
  const button = h('button', {
    type: 'button', class: 'btn btn-small', 'data-testid': 'refresh-models', onclick: async () => {
      button.disabled = true;
      try {
        const r = await ctx.api.refreshModels();
        const parts = r.providers.map((p) => (p.ok ? `${p.provider}: ${p.models} models (${p.priced} priced)` : `${p.provider}: failed (${p.error})`));
        toast(`Model lists refreshed. ${parts.join('; ')}`);
        ctx.refresh();
      } catch (err) {
        if (err?.status !== 401) toast(err.message, 'error');
      } finally {
        button.disabled = false;
      }
    },
  }, 'Refresh model lists');
  return h('div', { class: 'actions' }, status, button);
}

/**
 * @param {import('../app.js').Ctx} ctx @param {import('../api.js').Settings} settings
 * @param {string[]} aliases @param {string[]} models
 */
function defaultModelCard(ctx, settings, aliases, models) {
  const current = settings.default_model || '';
  const known = current && !aliases.includes(current) && !models.includes(current) ? [current] : [];
  const select = h('select', { 'data-testid': 'default-model' },
    h('option', { value: '', disabled: true, selected: !current }, models.length || aliases.length ? 'Choose a model…' : 'No routable models: add a provider first'),
    aliases.length ? h('optgroup', { label: 'Fallback lists' }, aliases.map((a) => h('option', { value: a, selected: a === current }, a))) : null,
    known.length ? h('optgroup', { label: 'Current (not routable now)' }, known.map((m) => h('option', { value: m, selected: true }, m))) : null,
    h('optgroup', { label: 'Models' }, models.map((m) => h('option', { value: m, selected: m === current }, m))));
  const f = field('Model or fallback list', select, 'Used when a request names no model. A fallback list works too.');
  const save = h('button', {
    type: 'button', class: 'btn btn-primary', 'data-testid': 'save-default-model', onclick: async () => {
      const model = /** @type {HTMLSelectElement} */ (select).value;
      if (!showErrors({ model: f }, model ? {} : { model: 'Choose a model or a fallback list.' })) return;
      save.disabled = true;
      try {
        await ctx.api.setDefaultModel(model);
        toast(`Default model is now ${model}.`);
        ctx.refresh();
      } catch (err) {
        f.error(err.message);
      } finally {
        save.disabled = false;
      }
    },
  }, 'Save');
  return card('Default model', null,
    h('p', { class: 'muted' }, 'Current: ', current ? h('code', { 'data-testid': 'current-default' }, current) : 'none set'),
    h('div', { class: 'inline-form' }, f, save));
}

/** @param {import('../app.js').Ctx} ctx @param {import('../api.js').Settings} settings @param {string[]} aliasNames */
function aliasesCard(ctx, settings, aliasNames) {
  const slot = h('div');
  const newBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'new-alias', onclick: () => fill(slot, aliasEditor(ctx, '', [], aliasNames, () => fill(slot))) }, 'New fallback list');
  const entries = Object.entries(settings.aliases || {});
  const list = entries.length
    ? h('ul', { class: 'alias-list' }, entries.map(([name, ids]) => h('li', { 'data-alias': name },
      h('div', null, h('strong', null, name),
        h('ol', { class: 'chain' }, ids.map((id) => h('li', null, h('code', null, id))))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => fill(slot, aliasEditor(ctx, name, ids, aliasNames, () => fill(slot))) }, 'Edit'),
        h('button', {
          type: 'button', class: 'btn btn-small btn-danger-text', onclick: async () => {
            if (!(await confirmDialog(`Delete fallback list "${name}"?`, `Requests for "${name}" will fail once it is gone${settings.default_model === name ? ', and it is your default model' : ''}.`))) return;
            try {
              await ctx.api.deleteAlias(name);
              toast(`Fallback list "${name}" deleted.`);
              ctx.refresh();
            } catch (err) {
              if (err?.status !== 401) toast(err.message, 'error');
            }
          },
        }, 'Delete')))))
    : emptyState('No fallback lists', 'A fallback list is a named, ordered list of models: ARouter tries them in order until one answers. Tools use its name as the model.');
  return card('Fallback lists', newBtn, list, slot);
}

/**
 * Editor for one fallback list: ordered rows with up/down/remove and drag to reorder.
 * @param {import('../app.js').Ctx} ctx @param {string} name @param {string[]} initial
 * @param {string[]} aliasNames @param {() => void} onClose
 */
function aliasEditor(ctx, name, initial, aliasNames, onClose) {
  const editing = !!name;
  let models = initial.slice();
  const nameInput = h('input', { type: 'text', value: name, disabled: editing, spellcheck: 'false', placeholder: 'fast', 'data-testid': 'alias-name' });
  const addInput = h('input', { type: 'text', list: 'model-ids', spellcheck: 'false', placeholder: 'provider/model or another list', 'data-testid': 'alias-add-input' });
  const rows = h('ol', { class: 'order-list', 'data-testid': 'alias-models' });
  const fields = {
    name: field('Name', nameInput, 'Tools send this as the model.'),
    models: field('Add a model', addInput, 'Type or pick from the catalog, then Add. First in the list is tried first.'),
  };
  let dragFrom = -1;
  const draw = () => {
    fill(rows, ...models.map((m, i) => h('li', {
      draggable: 'true',
      ondragstart: (e) => { dragFrom = i; e.dataTransfer?.setData('text/plain', String(i)); },
      ondragover: (e) => e.preventDefault(),
      ondrop: (e) => { e.preventDefault(); if (dragFrom >= 0) { models = moveItem(models, dragFrom, i); dragFrom = -1; draw(); } },
    },
    h('span', { class: 'drag', 'aria-hidden': 'true', title: 'Drag to reorder' }, '⋮⋮'),
    h('code', null, m),
    h('span', { class: 'actions' },
      h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Move ${m} up`, disabled: i === 0, onclick: () => { models = moveItem(models, i, i - 1); draw(); } }, '↑'),
      h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Move ${m} down`, disabled: i === models.length - 1, onclick: () => { models = moveItem(models, i, i + 1); draw(); } }, '↓'),
      h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Remove ${m}`, onclick: () => { models = models.filter((_, j) => j !== i); draw(); } }, '✕')))));
    if (!models.length) rows.appendChild(h('li', { class: 'muted placeholder' }, 'No models yet.'));
  };
  const add = () => {
    const v = /** @type {HTMLInputElement} */ (addInput).value.trim();
    if (!v) return fields.models.error('Type a model id first.');
    if (models.includes(v)) return fields.models.error(`${v} is already in the list.`);
    fields.models.error(null);
    models.push(v);
    /** @type {HTMLInputElement} */ (addInput).value = '';
    draw();
  };
  addInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); add(); } });
  draw();
  const status = h('div');
  const save = h('button', {
    type: 'button', class: 'btn btn-primary', 'data-testid': 'save-alias', onclick: async () => {
      const n = /** @type {HTMLInputElement} */ (nameInput).value.trim();
      const errors = validateAlias(n, models, { aliases: aliasNames, editing });
      if (!showErrors(fields, errors)) return;
      save.disabled = true;
      fill(status);
      try {
        await ctx.api.putAlias(n, models);
        toast(`Fallback list "${n}" saved.`);
        ctx.refresh();
      } catch (err) {
        fields.models.error(err.message);
      } finally {
        save.disabled = false;
      }
    },
  }, 'Save list');
  return h('div', { class: 'editor' },
    h('h3', null, editing ? `Edit "${name}"` : 'New fallback list'),
    fields.name,
    rows,
    h('div', { class: 'inline-form' }, fields.models, h('button', { type: 'button', class: 'btn', 'data-testid': 'alias-add', onclick: add }, 'Add')),
    status,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn', onclick: onClose }, 'Cancel'), save));
}

/**
 * @param {import('../app.js').Ctx} ctx @param {import('../api.js').Model[]} catalog @param {string[]} aliasNames
 * @param {any} facts
 */
function catalogCard(ctx, catalog, aliasNames, facts) {
  let query = '';
  let offset = 0;
  const search = h('input', { type: 'search', placeholder: 'Search models…', 'aria-label': 'Search models', 'data-testid': 'catalog-search' });
  const body = h('div');
  const draw = () => {
    const q = query.toLowerCase();
    const matches = catalog.filter((m) => !q || m.id.toLowerCase().includes(q) || (m.name || '').toLowerCase().includes(q));
    if (!catalog.length) {
      fill(body, emptyState('No routable models', 'Models appear here once a provider is configured.', h('a', { class: 'btn', href: '#/providers' }, 'Add a provider')));
      return;
    }
    if (!matches.length) {
      fill(body, emptyState('No model matches', `Nothing matches "${query}". Try part of a name, like "mini" or "claude".`));
      return;
    }
    const page = matches.slice(offset, offset + CATALOG_PAGE);
    fill(body,
      h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', null, h('tr', null,
          h('th', null, 'Model'), h('th', { class: 'num' }, 'Context'),
          h('th', { class: 'num' }, 'Input / 1M'), h('th', { class: 'num' }, 'Output / 1M'),
          h('th', { class: 'num' }, 'Cache read / 1M'), h('th', null, ''))),
        h('tbody', null, page.map((m) => {
          const isAlias = aliasNames.includes(m.id);
          return h('tr', { 'data-model': m.id },
            h('td', null, h('code', null, m.id), isAlias ? badge('fallback list', 'accent') : null, m.priced === false ? badge('unpriced', 'warn') : null,
              m.name && m.name !== m.id ? h('div', { class: 'muted small' }, m.name) : null),
            h('td', { class: 'num' }, m.context_length ? formatInt(m.context_length) : '—'),
            // An unpriced model has no price, not a price of $0.
            h('td', { class: 'num' }, m.priced === false ? 'unpriced' : formatPerMillion(m.pricing?.prompt)),
            h('td', { class: 'num' }, m.priced === false ? 'unpriced' : formatPerMillion(m.pricing?.completion)),
            h('td', { class: 'num' }, m.priced === false ? 'unpriced' : formatPerMillion(m.pricing?.input_cache_read)),
            h('td', { class: 'num' }, isAlias ? null : h('button', { type: 'button', class: 'btn btn-small', onclick: () => overrideDialog(ctx, m) }, 'Set price')));
        })))),
      matches.length > CATALOG_PAGE ? pager({ total: matches.length, offset, limit: CATALOG_PAGE, onPage: (o) => { offset = o; draw(); } }) : null);
  };
  search.addEventListener('input', () => {
    query = /** @type {HTMLInputElement} */ (search).value.trim();
    offset = 0;
    draw();
  });
  draw();
  return card(`Catalog (${formatInt(catalog.length)})`, factsBar(ctx, facts), search,
    h('p', { class: 'muted small' }, 'Prices are USD per million tokens. "Set price" overrides the provider\'s and the bundled price of one model (e.g. a local model or a negotiated rate). An unpriced model is never counted as free: its requests are reported as unpriced.'),
    body);
}

/** @param {import('../app.js').Ctx} ctx @param {import('../api.js').Model} m */
function overrideDialog(ctx, m) {
  const id = splitModelId(m.id);
  if (!id) return;
  const num = (v) => h('input', { type: 'text', inputmode: 'decimal', value: v ?? '', spellcheck: 'false' });
  const inputs = {
    input: num(perMillion(m.pricing?.prompt)),
    output: num(perMillion(m.pricing?.completion)),
    cache_read: num(perMillion(m.pricing?.input_cache_read)),
    cache_write: num(perMillion(m.pricing?.input_cache_write)),
    context: num(m.context_length),
  };
  const fields = {
    input: field('Input (USD / 1M tokens)', inputs.input),
    output: field('Output (USD / 1M tokens)', inputs.output),
    cache_read: field('Cache read (USD / 1M tokens)', inputs.cache_read, 'Optional.'),
    cache_write: field('Cache write (USD / 1M tokens)', inputs.cache_write, 'Optional.'),
    context: field('Context length (tokens)', inputs.context, 'Optional.'),
  };
  const remove = h('button', {
    type: 'button', class: 'btn btn-danger-text', onclick: async () => {
      remove.disabled = true;
      try {
        await ctx.api.deleteOverride(id.provider, id.model);
        toast(`Price override of ${m.id} removed.`);
        document.querySelector('dialog[open]')?.dispatchEvent(new Event('cancel'));
        ctx.refresh();
      } catch (err) {
        toast(err.status === 404 ? `${m.id} has no price override to remove.` : err.message, 'error');
      } finally {
        remove.disabled = false;
      }
    },
  }, 'Remove override');
  return dialog({
    title: `Price of ${m.id}`,
    body: [h('div', { class: 'grid-2 tight' }, fields.input, fields.output, fields.cache_read, fields.cache_write), fields.context,
      h('p', { class: 'muted small' }, 'Saved to config.toml as [models."', m.id, '"]. New requests use it; past costs stay as recorded. '), remove],
    submitLabel: 'Save price',
    onSubmit: async () => {
      const values = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, /** @type {HTMLInputElement} */ (el).value]));
      const { errors, body } = validateOverride(/** @type {any} */ (values));
      if (!showErrors(fields, errors)) return KEEP_OPEN;
      await ctx.api.putOverride(id.provider, id.model, /** @type {any} */ (body));
      toast(`Price of ${m.id} saved.`);
      ctx.refresh();
    },
  });
}
