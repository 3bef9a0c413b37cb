// Providers: list with credential status and health; add (from presets), edit, remove;
// set or remove the credential; test the connection.

import { h, fill, card, pageHeader, emptyState, badge, dialog, field, showErrors, KEEP_OPEN, confirmDialog, toast, errorBox } from '../dom.js';
import { validateProvider, parseList, formatMs, formatAgo } from '../format.js';
import { healthText } from './overview.js';

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  const [providers, presets] = await Promise.all([ctx.api.providers(), ctx.api.presets().catch(() => [])]);
  const add = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'add-provider', onclick: () => editDialog(ctx, null, providers, presets) }, 'Add provider');
  const list = providers.length
    ? h('div', { class: 'stack' }, providers.map((p) => providerCard(ctx, p, providers, presets)))
    : emptyState('No providers yet',
      'Add one from a preset (OpenAI, Anthropic, Gemini, OpenRouter, Ollama…) and enter its API key. Local servers such as Ollama need no key.',
      h('button', { type: 'button', class: 'btn btn-primary', onclick: () => editDialog(ctx, null, providers, presets) }, 'Add your first provider'));
  fill(root,
    pageHeader('Providers', 'Where requests go. Credentials live in the OS keychain or an environment variable; the UI only shows whether one is set.', add),
    list);
}

/** @param {import('../api.js').Provider} p */
function credentialText(p) {
  if (p.has_credential) {
    return p.credential_source === 'env'
      ? badge(p.api_key_env ? `credential set (env ${p.api_key_env})` : 'credential set (env)', 'ok')
      : badge('credential set (keychain)', 'ok');
  }
  if (p.local) return badge('no credential needed (local)', 'muted');
  return badge(p.api_key_env ? `not set (${p.api_key_env} is empty, no keychain entry)` : 'not set', 'warn');
}

/**
 * @param {import('../app.js').Ctx} ctx
 * @param {import('../api.js').Provider} p
 * @param {import('../api.js').Provider[]} all
 * @param {import('../api.js').Preset[]} presets
 */
function providerCard(ctx, p, all, presets) {
  const testOut = h('div', { class: 'test-result', 'data-testid': 'test-result' });
  const test = h('button', {
    type: 'button', class: 'btn btn-small', onclick: async () => {
      test.disabled = true;
      fill(testOut, h('span', { class: 'muted' }, 'Testing…'));
      try {
        const r = await ctx.api.testProvider(p.id);
        fill(testOut, r.ok
          ? h('span', { class: 'text-ok' }, `✓ Connected: ${r.message || 'the provider answered'} (${formatMs(r.latency_ms)}${r.status ? `, HTTP ${r.status}` : ''})`)
          : h('span', { class: 'text-error' }, `✗ ${r.message || 'The provider did not answer as expected.'}${r.status ? ` (HTTP ${r.status})` : ''}`));
      } catch (err) {
        fill(testOut, errorBox(err));
      } finally {
        test.disabled = false;
      }
    },
  }, 'Test connection');
  const hl = p.health || { status: 'unknown' };
  return h('article', { class: 'card provider', 'data-provider': p.id },
    h('div', { class: 'card-head' },
      h('div', { class: 'title-row' },
        h('span', { class: `dot dot-${hl.status}`, title: hl.status }),
        h('h2', null, p.id),
        badge(p.kind, 'accent'),
        p.local ? badge('local', 'muted') : null),
      h('div', { class: 'actions' },
        test,
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => credentialDialog(ctx, p) }, p.credential_source === 'keychain' ? 'Replace credential' : 'Set credential'),
        p.credential_source === 'keychain'
          ? h('button', {
            type: 'button', class: 'btn btn-small', onclick: async () => {
              if (!(await confirmDialog(`Remove the credential of ${p.id}?`, 'The key is deleted from the OS keychain. Requests to this provider will fail until you set a new one.', 'Remove credential'))) return;
              await run(ctx, () => ctx.api.deleteCredential(p.id), `Credential of ${p.id} removed.`);
            },
          }, 'Remove credential')
          : null,
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => editDialog(ctx, p, all, presets) }, 'Edit'),
        h('button', {
          type: 'button', class: 'btn btn-small btn-danger-text', onclick: async () => {
            if (!(await confirmDialog(`Remove provider ${p.id}?`, `Its models (${p.id}/…) stop being routable. Fallback lists that name them will skip them. Usage history is kept.`, 'Remove provider'))) return;
            await run(ctx, () => ctx.api.deleteProvider(p.id), `Provider ${p.id} removed.`);
          },
        }, 'Remove'))),
    h('dl', { class: 'facts' },
      h('dt', null, 'Base URL'), h('dd', null, h('code', null, p.base_url)),
      h('dt', null, 'Credential'), h('dd', { 'data-testid': 'credential' }, credentialText(p)),
      h('dt', null, 'Health'), h('dd', null, healthText(p)),
      hl.last_error && hl.status !== 'failing' ? [h('dt', null, 'Last error'), h('dd', { class: 'muted' }, `${hl.last_error} (${formatAgo(hl.last_error_at)})`)] : null,
      h('dt', null, 'Extra models'), h('dd', null, p.models?.length ? p.models.map((m) => h('code', { class: 'chip' }, m)) : h('span', { class: 'muted' }, 'none (catalog models only)'))),
    testOut);
}

/** Runs an action, toasts success, refreshes the page; shows the error otherwise. */
async function run(ctx, action, message) {
  try {
    await action();
    toast(message);
    ctx.refresh();
  } catch (err) {
    if (err?.status !== 401) toast(err.message, 'error');
  }
}

/** @param {import('../app.js').Ctx} ctx @param {import('../api.js').Provider} p */
function credentialDialog(ctx, p) {
  const input = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'credential-input' });
  const f = field('API key', input, 'Stored in the OS keychain (service "arouter"). It is never shown again or written to config.toml.');
  return dialog({
    title: `Credential for ${p.id}`,
    body: f,
    submitLabel: 'Save credential',
    onSubmit: async () => {
      const key = /** @type {HTMLInputElement} */ (input).value.trim();
      if (!showErrors({ key: f }, key ? {} : { key: 'Paste the provider\'s API key.' })) return KEEP_OPEN;
      await ctx.api.setCredential(p.id, key);
      toast(`Credential of ${p.id} saved.`);
      ctx.refresh();
    },
  });
}

/**
 * Add (p = null) or edit a provider.
 * @param {import('../app.js').Ctx} ctx
 * @param {import('../api.js').Provider|null} p
 * @param {import('../api.js').Provider[]} all
 * @param {import('../api.js').Preset[]} presets
 */
function editDialog(ctx, p, all, presets) {
  const editing = !!p;
  const inputs = {
    id: h('input', { type: 'text', name: 'id', value: p?.id ?? '', disabled: editing, autocomplete: 'off', spellcheck: 'false' }),
    kind: h('select', { name: 'kind' }, ['openai', 'anthropic', 'gemini'].map((k) => h('option', { value: k, selected: p?.kind === k }, k))),
    base_url: h('input', { type: 'url', name: 'base_url', value: p?.base_url ?? '', spellcheck: 'false', placeholder: 'https://api.openai.com/v1' }),
    api_key_env: h('input', { type: 'text', name: 'api_key_env', value: p?.api_key_env ?? '', spellcheck: 'false', placeholder: 'OPENAI_API_KEY (optional)' }),
    models: h('textarea', { name: 'models', rows: 2, spellcheck: 'false', placeholder: 'extra model names, e.g. llama3.2, qwen2.5-coder' }),
    key: h('input', { type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false' }),
  };
  /** @type {HTMLTextAreaElement} */ (inputs.models).value = (p?.models || []).join('\n');
  const fields = {
    id: field('Id', inputs.id, 'The prefix of its model ids: "openai" → openai/gpt-4o-mini.'),
    kind: field('Wire protocol', inputs.kind, 'What the upstream speaks: OpenAI-compatible servers (Groq, Ollama, OpenRouter…) are "openai".'),
    base_url: field('Base URL', inputs.base_url, 'What the vendor\'s own SDK takes as its base URL.'),
    api_key_env: field('API key environment variable', inputs.api_key_env, 'Optional. If set and non-empty, it wins over the keychain.'),
    models: field('Extra models', inputs.models, 'Models not in the bundled catalog (local models, new releases). One per line or comma-separated.'),
    key: field('API key', inputs.key, editing ? '' : 'Optional; stored in the OS keychain. Leave empty for local servers or when using the environment variable.'),
  };
  const presetSelect = editing ? null : h('select', {
    'data-testid': 'preset',
    onchange: () => {
      const pr = presets.find((x) => x.id === /** @type {HTMLSelectElement} */ (presetSelect).value);
      if (!pr) return;
      const taken = all.some((x) => x.id === pr.id);
      /** @type {HTMLInputElement} */ (inputs.id).value = taken ? '' : pr.id;
      /** @type {HTMLSelectElement} */ (inputs.kind).value = pr.kind;
      /** @type {HTMLInputElement} */ (inputs.base_url).value = pr.base_url;
      /** @type {HTMLInputElement} */ (inputs.api_key_env).value = pr.api_key_env || '';
      fields.key.hidden = pr.needs_key === false;
    },
  }, h('option', { value: '' }, presets.length ? 'Choose a preset…' : 'No presets available'), presets.map((pr) => h('option', { value: pr.id }, pr.label)));
  const body = [
    presetSelect ? field('Preset', presetSelect, 'Fills in the fields below; you can still change them.') : null,
    fields.id, fields.kind, fields.base_url, fields.api_key_env, fields.models,
    editing ? null : fields.key,
  ].filter(Boolean);
  return dialog({
    title: editing ? `Edit provider ${p.id}` : 'Add a provider',
    body: /** @type {Node[]} */ (body),
    submitLabel: editing ? 'Save changes' : 'Add provider',
    wide: true,
    onSubmit: async () => {
      const v = {
        id: /** @type {HTMLInputElement} */ (inputs.id).value.trim(),
        kind: /** @type {HTMLSelectElement} */ (inputs.kind).value,
        base_url: /** @type {HTMLInputElement} */ (inputs.base_url).value.trim(),
        api_key_env: /** @type {HTMLInputElement} */ (inputs.api_key_env).value.trim(),
      };
      const errors = validateProvider(v, { editing, existingIds: all.map((x) => x.id) });
      if (!showErrors(fields, errors)) return KEEP_OPEN;
      const models = parseList(/** @type {HTMLTextAreaElement} */ (inputs.models).value);
      const body = { kind: v.kind, base_url: v.base_url, api_key_env: v.api_key_env || null, models };
      if (editing) {
        await ctx.api.updateProvider(p.id, body);
        toast(`Provider ${p.id} saved.`);
      } else {
        await ctx.api.createProvider({ id: v.id, ...body });
        const key = /** @type {HTMLInputElement} */ (inputs.key).value.trim();
        if (key) {
          try {
            await ctx.api.setCredential(v.id, key);
          } catch (err) {
            toast(`Provider ${v.id} was added, but its credential was not saved: ${err.message}`, 'error');
            ctx.refresh();
            return;
          }
        }
        toast(`Provider ${v.id} added${key ? ' with its credential' : ''}.`);
      }
      ctx.refresh();
    },
  });
}
