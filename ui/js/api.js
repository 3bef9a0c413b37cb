// The one client every page uses to talk to ARouter's management API (/api/v1/*).
// Errors come back as ApiError with a plain-words message; a 401 calls `onUnauthorized`.

import { buildQuery } from './format.js';

/**
 * @typedef {{hash: string, name: string, label: string, disabled: boolean, limit: number|null,
 *   limit_remaining: number|null, limit_reset: 'daily'|'weekly'|'monthly'|null, usage: number,
 *   usage_daily: number, usage_weekly: number, usage_monthly: number, created_at: string,
 *   updated_at: string|null, rpm: number|null, admin: boolean}} Key
 * @typedef {{status: 'ok'|'failing'|'unknown', recent_failures: number, last_error: string|null,
 *   last_error_at: string|null, last_success_at: string|null}} Health
 * @typedef {{id: string, kind: 'openai'|'anthropic'|'gemini', base_url: string,
 *   api_key_env: string|null, models: string[], has_credential: boolean,
 *   credential_source: 'env'|'keychain'|null, local: boolean, health: Health}} Provider
 * @typedef {{id: string, label: string, kind: Provider['kind'], base_url: string,
 *   api_key_env: string|null, needs_key: boolean}} Preset
 * @typedef {{default_model: string|null, aliases: Record<string, string[]>,
 *   server: {host: string, port: number, store_content: boolean, max_body_mb: number},
 *   data_dir: string, config_path: string, version: string}} Settings
 * @typedef {{prompt: string, completion: string, input_cache_read?: string,
 *   input_cache_write?: string}} Pricing
 * @typedef {{id: string, name: string, context_length: number|null, pricing: Pricing,
 *   priced: boolean, owned_by?: string}} Model
 * @typedef {{requests: number, errors: number, input_tokens: number, output_tokens: number,
 *   reasoning_tokens: number, cache_read_tokens: number, cache_write_tokens: number,
 *   cost: number, unpriced: number|boolean}} UsageTotals
 * @typedef {UsageTotals & {group: string|null}} UsageRow
 * @typedef {{day: string, group: string|null, requests: number, input_tokens: number,
 *   output_tokens: number, cost: number}} DailyRow
 * @typedef {{id: string, created_at: string, app: string|null, key_name: string|null,
 *   surface: string|null, endpoint: string|null, requested_model: string|null,
 *   served_model: string|null, provider: string|null, input_tokens: number,
 *   output_tokens: number, reasoning_tokens: number, cache_read_tokens: number,
 *   cache_write_tokens: number, cost: number, priced: boolean, estimated?: boolean,
 *   latency_ms: number|null,
 *   ttft_ms: number|null, streamed: boolean, finish_reason: string|null,
 *   status: 'ok'|'error'|string, error: string|null, attempt: number|null}} RequestRow
 * @typedef {RequestRow & {request: any, response: any, attempts: RequestRow[]}} RequestDetail
 * @typedef {{ok: boolean, status: number|null, message: string, latency_ms: number}} TestResult
 * @typedef {{since?: string|number, until?: string|number}} Range
 * @typedef {'app'|'model'|'provider'|'key'|'day'} GroupBy
 */

export class ApiError extends Error {
  /**
   * @param {number} status  HTTP status, 0 when the server could not be reached
   * @param {string} message plain-words explanation
   * @param {any} [metadata]
   */
  constructor(status, message, metadata) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.metadata = metadata ?? null;
  }
}

/**
 * The message from an OpenRouter-shaped error body, or a fallback that names the status.
 * @param {number} status
 * @param {string} text  raw response body
 */
export function errorMessage(status, text) {
  try {
    const body = JSON.parse(text);
    const m = body?.error?.message ?? body?.message;
    if (typeof m === 'string' && m) return m;
  } catch {
    // not JSON: fall through to the status text
  }
  const plain = String(text || '').trim();
  if (plain && plain.length < 300 && !plain.startsWith('<')) return plain;
  const names = {
    400: 'The request was not valid',
    401: 'The admin key was not accepted',
    403: 'This key may not use the management API (it is an app key, not an admin key)',
    404: 'Not found',
    409: 'That already exists',
    413: 'The request is too large',
    429: 'Too many requests; try again in a moment',
    500: 'ARouter hit an internal error',
    502: 'The upstream provider failed',
    503: 'The service is unavailable right now',
  };
  return names[status] || `ARouter answered HTTP ${status}`;
}

/** Encodes each `/`-separated segment on its own, keeping the slashes. @param {string} path */
function encodePath(path) {
  return String(path).split('/').map(encodeURIComponent).join('/');
}

export class Api {
  /**
   * @param {{getKey: () => string|null, onUnauthorized?: (err: ApiError) => void,
   *   base?: string, fetchImpl?: typeof fetch}} opts
   */
  constructor(opts) {
    this.getKey = opts.getKey;
    this.onUnauthorized = opts.onUnauthorized || (() => {});
    this.base = opts.base ?? '';
    this.fetchImpl = opts.fetchImpl || ((...a) => fetch(...a));
  }

  /**
   * One API call. Resolves to the parsed JSON (or the Response for `raw`); rejects with ApiError.
   * @param {string} method
   * @param {string} path  under /api/v1, starting with "/"
   * @param {{body?: any, query?: Record<string, any>, key?: string, raw?: boolean,
   *   quiet401?: boolean}} [opts]
   */
  async call(method, path, opts = {}) {
    const key = opts.key ?? this.getKey();
    /** @type {Record<string,string>} */
    const headers = { accept: opts.raw ? '*/*' : 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const url = `${this.base}/api/v1${path}${buildQuery(opts.query || {})}`;
    let resp;
    try {
      resp = await this.fetchImpl(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, 'Cannot reach ARouter. Is it still running?');
    }
    if (!resp.ok) {
      const text = await resp.text().catch(() => '');
      let metadata = null;
      try { metadata = JSON.parse(text)?.error?.metadata ?? null; } catch { /* plain text */ }
      const err = new ApiError(resp.status, errorMessage(resp.status, text), metadata);
      if (resp.status === 401 && !opts.quiet401) this.onUnauthorized(err);
      throw err;
    }
    if (opts.raw) return resp;
    if (resp.status === 204) return null;
    const text = await resp.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(resp.status, 'ARouter sent a response the UI could not read.');
    }
  }

  /**
   * Checks a candidate admin key without triggering the unauthorized handler.
   * @param {string} key
   * @returns {Promise<Settings>}
   */
  async checkKey(key) {
    return this.call('GET', '/settings', { key, quiet401: true });
  }

  // ---- settings and routing ----

  /** @returns {Promise<Settings>} */
  settings() { return this.call('GET', '/settings'); }

  /** @param {{store_content?: boolean}} body @returns {Promise<Settings>} */
  patchSettings(body) { return this.call('PATCH', '/settings', { body }); }

  /** @param {string} model @returns {Promise<Settings>} */
  setDefaultModel(model) { return this.call('PUT', '/default-model', { body: { model } }); }

  /** @param {string} name @param {string[]} models @returns {Promise<Settings>} */
  putAlias(name, models) { return this.call('PUT', `/aliases/${encodeURIComponent(name)}`, { body: { models } }); }

  /** @param {string} name @returns {Promise<Settings>} */
  deleteAlias(name) { return this.call('DELETE', `/aliases/${encodeURIComponent(name)}`); }

  /** @returns {Promise<Model[]>} */
  async catalog() { return (await this.call('GET', '/catalog')).data || []; }

  /**
   * Where model facts come from: the bundled catalog's pinned source and each provider's
   * last live model list.
   * @returns {Promise<{bundle: {name: string, pins: {package: string, pinned: string}[]}, bundle_models: number,
   *   cache_error?: string|null, providers: {provider: string, fetched_ms: number|null, models: number, priced: number}[]}>}
   */
  async modelFacts() { return (await this.call('GET', '/models/facts')).data; }

  /**
   * Asks every configured provider for its model list now; rejects (with the reasons) when
   * none answered, in which case nothing changed.
   * @returns {Promise<{providers: {provider: string, ok: boolean, models: number, priced: number, error?: string}[], cache: string}>}
   */
  async refreshModels() { return (await this.call('POST', '/models/refresh')).data; }

  /**
   * @param {string} provider @param {string} model  the part after "provider/"
   * @param {{input_per_mtok: number, output_per_mtok: number, cache_read_per_mtok?: number,
   *   cache_write_per_mtok?: number, context_length?: number}} body
   * @returns {Promise<Model>}
   */
  async putOverride(provider, model, body) {
    return (await this.call('PUT', `/model-overrides/${encodeURIComponent(provider)}/${encodePath(model)}`, { body })).data;
  }

  /** @param {string} provider @param {string} model */
  deleteOverride(provider, model) {
    return this.call('DELETE', `/model-overrides/${encodeURIComponent(provider)}/${encodePath(model)}`);
  }

  // ---- tools (agent CLIs) ----

  /** @returns {Promise<{data: any[], models: string[], manual: Record<string,string>}>} */
  tools() { return this.call('GET', '/tools'); }

  /** @param {string} id @param {{model?: string, slots?: Record<string,string>, key_name?: string}} body */
  async connectTool(id, body) { return (await this.call('POST', `/tools/${encodeURIComponent(id)}/connect`, { body })).data; }

  /** @param {string} id */
  async disconnectTool(id) { return (await this.call('POST', `/tools/${encodeURIComponent(id)}/disconnect`)).data; }

  // ---- health ----

  /** Per provider state, recent error rate and timings; ledger and trace counters. */
  async health() { return (await this.call('GET', '/health')).data; }

  // ---- providers ----

  /** @returns {Promise<Provider[]>} */
  async providers() { return (await this.call('GET', '/providers')).data || []; }

  /** @returns {Promise<Preset[]>} */
  async presets() { return (await this.call('GET', '/provider-presets')).data || []; }

  /**
   * @param {{id: string, kind: string, base_url: string, api_key_env?: string|null, models?: string[]}} body
   * @returns {Promise<Provider>}
   */
  async createProvider(body) { return (await this.call('POST', '/providers', { body })).data; }

  /**
   * @param {string} id
   * @param {{kind?: string, base_url?: string, api_key_env?: string|null, models?: string[]}} body
   * @returns {Promise<Provider>}
   */
  async updateProvider(id, body) {
    return (await this.call('PATCH', `/providers/${encodeURIComponent(id)}`, { body })).data;
  }

  /** @param {string} id */
  deleteProvider(id) { return this.call('DELETE', `/providers/${encodeURIComponent(id)}`); }

  /** @param {string} id @param {string} key @returns {Promise<Provider>} */
  async setCredential(id, key) {
    return (await this.call('PUT', `/providers/${encodeURIComponent(id)}/credential`, { body: { key } })).data;
  }

  /** @param {string} id @returns {Promise<Provider>} */
  async deleteCredential(id) {
    return (await this.call('DELETE', `/providers/${encodeURIComponent(id)}/credential`)).data;
  }

  /** @param {string} id @returns {Promise<TestResult>} */
  testProvider(id) { return this.call('POST', `/providers/${encodeURIComponent(id)}/test`); }

  // ---- keys ----

  /** @returns {Promise<Key[]>} */
  async keys() { return (await this.call('GET', '/keys')).data || []; }

  /** The key this browser signed in with. @returns {Promise<Key>} */
  async currentKey() { return (await this.call('GET', '/key')).data; }

  /**
   * @param {{name: string, limit?: number|null, limit_reset?: string|null, rpm?: number|null, admin?: boolean}} body
   * @returns {Promise<{data: Key, key: string}>}
   */
  createKey(body) { return this.call('POST', '/keys', { body }); }

  /**
   * @param {string} hash
   * @param {{name?: string, disabled?: boolean, limit?: number|null, limit_reset?: string|null, rpm?: number|null}} body
   * @returns {Promise<Key>}
   */
  async updateKey(hash, body) {
    return (await this.call('PATCH', `/keys/${encodeURIComponent(hash)}`, { body })).data;
  }

  /** @param {string} hash */
  deleteKey(hash) { return this.call('DELETE', `/keys/${encodeURIComponent(hash)}`); }

  // ---- usage and history ----

  /**
   * @param {Range & {by?: GroupBy}} q
   * @returns {Promise<{data: UsageRow[], totals: UsageTotals}>}
   */
  usage(q) { return this.call('GET', '/usage', { query: q }); }

  /** @param {Range & {by?: Exclude<GroupBy, 'day'>}} q @returns {Promise<DailyRow[]>} */
  async usageDaily(q) { return (await this.call('GET', '/usage/daily', { query: q })).data || []; }

  /** The request log as CSV. @param {Range} q @returns {Promise<Blob>} */
  async usageCsv(q) {
    const resp = await this.call('GET', '/usage.csv', { query: q, raw: true });
    return resp.blob();
  }

  /**
   * @param {{limit?: number, offset?: number, app?: string, model?: string, provider?: string,
   *   status?: 'ok'|'error'|'', streamed?: 'true'|'false'|'', since?: string|number, until?: string|number}} q
   * @returns {Promise<{data: RequestRow[], total: number}>}
   */
  requests(q) { return this.call('GET', '/requests', { query: q }); }

  /** @param {string} id @returns {Promise<RequestDetail>} */
  async request(id) { return (await this.call('GET', `/requests/${encodeURIComponent(id)}`)).data; }
}
