// Unit tests of the UI's pure modules (format, snippets, API client): `node --test tests/ui/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatUsd, formatTokens, formatMs, perMillion, formatPerMillion, rangeStart, daySpan, buildQuery,
  parseList, moveItem, validateProvider, validateAlias, validateKeyForm, validateOverride,
  splitModelId, stackDaily, niceTicks, pageInfo, parseRoute, tokenFromHash, localDay, formatAgo, isOkStatus,
} from '../../ui/js/format.js';
import { setupSnippets } from '../../ui/js/snippets.js';
import { Api, ApiError, errorMessage } from '../../ui/js/api.js';

test('formatUsd shows cents for sums and more digits for tiny costs', () => {
  assert.equal(formatUsd(0), '$0.00');
  assert.equal(formatUsd(12.5), '$12.50');
  assert.equal(formatUsd(1234.567), '$1234.57');
  assert.equal(formatUsd(0.1234), '$0.1234');
  assert.equal(formatUsd(0.5), '$0.50');
  assert.equal(formatUsd(0.000123), '$0.000123');
  assert.equal(formatUsd(-3), '-$3.00');
  assert.equal(formatUsd(null), '—');
});

test('formatTokens and formatMs are compact', () => {
  assert.equal(formatTokens(950), '950');
  assert.equal(formatTokens(1200), '1.2k');
  assert.equal(formatTokens(45000), '45k');
  assert.equal(formatTokens(4_500_000), '4.5M');
  assert.equal(formatMs(850), '850 ms');
  assert.equal(formatMs(2400), '2.4 s');
  assert.equal(formatMs(null), '—');
});

test('perMillion moves the decimal point without float error', () => {
  assert.equal(perMillion('0.00000015'), '0.15');
  assert.equal(perMillion('0.0000025'), '2.5');
  assert.equal(perMillion('0.00001'), '10');
  assert.equal(perMillion('0'), '0');
  assert.equal(perMillion('0.000000075'), '0.075');
  assert.equal(perMillion('3'), '3000000');
  assert.equal(perMillion('1.5e-7'), '0.15');
  assert.equal(perMillion(''), null);
  assert.equal(perMillion('abc'), null);
  assert.equal(formatPerMillion('0.000002'), '$2');
  assert.equal(formatPerMillion(undefined), '—');
});

test('ranges start at local midnight and count today as a day', () => {
  const now = new Date(2026, 10, 21, 15, 30);
  assert.equal(localDay(rangeStart('today', now)), '2026-11-21');
  assert.equal(rangeStart('today', now).getHours(), 0);
  assert.equal(localDay(rangeStart('7d', now)), '2026-11-15');
  assert.equal(localDay(rangeStart('30d', now)), '2026-10-23');
  assert.deepEqual(daySpan('2026-02-27', '2026-03-02'), ['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02']);
  assert.deepEqual(daySpan('bad', '2026-01-01'), []);
});

test('buildQuery drops empty values', () => {
  assert.equal(buildQuery({ a: 'x', b: '', c: null, d: undefined, e: 0, f: false }), '?a=x&e=0&f=false');
  assert.equal(buildQuery({}), '');
});

test('parseList and moveItem', () => {
  assert.deepEqual(parseList('a, b\nc  a\n'), ['a', 'b', 'c']);
  assert.deepEqual(moveItem(['a', 'b', 'c'], 0, 2), ['b', 'c', 'a']);
  assert.deepEqual(moveItem(['a', 'b', 'c'], 2, -5), ['c', 'a', 'b']);
  assert.deepEqual(moveItem(['a', 'b'], 5, 0), ['a', 'b']);
});

test('validateProvider names each bad field', () => {
  assert.deepEqual(validateProvider({ id: 'groq', kind: 'openai', base_url: 'https://api.groq.com/openai/v1', api_key_env: 'GROQ_API_KEY' }), {});
  const e = validateProvider({ id: 'v1', kind: 'soap', base_url: 'ftp://x', api_key_env: '1BAD' });
  assert.match(e.id, /reserved/);
  assert.match(e.kind, /openai, anthropic or gemini/);
  assert.match(e.base_url, /http/);
  assert.match(e.api_key_env, /environment variable/);
  assert.match(validateProvider({ id: 'a b', kind: 'openai', base_url: 'http://x' }).id, /letters/);
  assert.match(validateProvider({ id: 'x', kind: 'openai', base_url: 'http://x' }, { existingIds: ['x'] }).id, /already exists/);
  assert.equal(validateProvider({ id: '', kind: 'openai', base_url: 'http://x' }, { editing: true }).id, undefined);
});

test('validateAlias', () => {
  assert.deepEqual(validateAlias('fast', ['groq/llama', 'openai/gpt-4o-mini']), {});
  assert.match(validateAlias('', ['a/b']).name, /Name/);
  assert.match(validateAlias('a/b', ['a/b']).name, /"\/"/);
  assert.match(validateAlias('fast', []).models, /at least one/);
  assert.match(validateAlias('fast', ['gpt4']).models, /neither/);
  assert.deepEqual(validateAlias('fast', ['cheap'], { aliases: ['cheap'] }), {});
  assert.match(validateAlias('fast', ['fast'], { aliases: ['fast'], editing: true }).models, /itself/);
  assert.match(validateAlias('fast', ['a/b'], { aliases: ['fast'] }).name, /already exists/);
});

test('validateKeyForm builds the body', () => {
  assert.deepEqual(validateKeyForm({ name: ' cursor ', rpm: '60', limit: '5.5', limit_reset: 'monthly' }),
    { errors: {}, body: { name: 'cursor', rpm: 60, limit: 5.5, limit_reset: 'monthly' } });
  assert.deepEqual(validateKeyForm({ name: 'x', rpm: '', limit: '', limit_reset: '' }).body, { name: 'x', rpm: null, limit: null, limit_reset: null });
  const bad = validateKeyForm({ name: '', rpm: '1.5', limit: '-1', limit_reset: '' }).errors;
  assert.ok(bad.name && bad.rpm && bad.limit);
  assert.match(validateKeyForm({ name: 'x', rpm: '', limit: '', limit_reset: 'daily' }).errors.limit_reset, /needs a limit/);
});

test('validateOverride requires input and output prices', () => {
  assert.deepEqual(validateOverride({ input: '0.15', output: '0.6', cache_read: '', cache_write: '', context: '128000' }),
    { errors: {}, body: { input_per_mtok: 0.15, output_per_mtok: 0.6, context_length: 128000 } });
  const r = validateOverride({ input: '', output: 'x', cache_read: '-1', cache_write: '', context: '0' });
  assert.ok(r.errors.input && r.errors.output && r.errors.cache_read && r.errors.context);
});

test('splitModelId splits at the first slash only', () => {
  assert.deepEqual(splitModelId('openrouter/anthropic/claude'), { provider: 'openrouter', model: 'anthropic/claude' });
  assert.equal(splitModelId('fast'), null);
  assert.equal(splitModelId('/x'), null);
});

test('stackDaily fills gaps, orders groups by total and folds the tail into "other"', () => {
  const rows = [
    { day: '2026-11-20', group: 'cursor', cost: 1, requests: 2, input_tokens: 10, output_tokens: 5 },
    { day: '2026-11-22', group: 'aider', cost: 3, requests: 1, input_tokens: 1, output_tokens: 1 },
    { day: '2026-11-22', group: 'cursor', cost: 0.5, requests: 1, input_tokens: 1, output_tokens: 1 },
  ];
  const s = stackDaily(rows, 'cost', { from: '2026-11-20', to: '2026-11-22' });
  assert.deepEqual(s.days, ['2026-11-20', '2026-11-21', '2026-11-22']);
  assert.deepEqual(s.groups, ['aider', 'cursor']);
  assert.deepEqual(s.series, [[0, 0, 3], [1, 0, 0.5]]);
  assert.deepEqual(s.dayTotals, [1, 0, 3.5]);
  assert.equal(s.max, 3.5);
  const t = stackDaily(rows, 'tokens', { from: '2026-11-21', to: '2026-11-21', maxGroups: 1 });
  assert.deepEqual(t.days, ['2026-11-20', '2026-11-21', '2026-11-22'], 'days outside the span widen the axis');
  assert.deepEqual(t.groups, ['cursor', 'other']);
  assert.deepEqual(t.series, [[15, 0, 2], [0, 0, 2]]);
  assert.equal(stackDaily([], 'cost', { from: '2026-11-21', to: '2026-11-21' }).max, 0);
});

test('niceTicks covers the maximum with round steps', () => {
  assert.deepEqual(niceTicks(0), [0, 1]);
  assert.deepEqual(niceTicks(10), [0, 2.5, 5, 7.5, 10]);
  const t = niceTicks(0.037);
  assert.equal(t[0], 0);
  assert.ok(t[t.length - 1] >= 0.037);
  assert.ok(t.length <= 6);
});

test('pageInfo', () => {
  assert.deepEqual(pageInfo(120, 50, 50), { label: '51–100 of 120', hasPrev: true, hasNext: true, prevOffset: 0, nextOffset: 100 });
  assert.equal(pageInfo(0, 0, 50).label, 'No results');
  assert.equal(pageInfo(120, 100, 50).hasNext, false);
});

test('parseRoute and tokenFromHash', () => {
  assert.deepEqual(parseRoute('#/history/gen-1%2Fx?app=cursor&status=ok'), { page: 'history', rest: ['gen-1/x'], query: { app: 'cursor', status: 'ok' } });
  assert.deepEqual(parseRoute(''), { page: 'overview', rest: [], query: {} });
  assert.equal(tokenFromHash('#token=sk-ar-abc%2B1'), 'sk-ar-abc+1');
  assert.equal(tokenFromHash('#/overview'), null);
});

test('isOkStatus accepts words and HTTP codes', () => {
  assert.equal(isOkStatus('ok'), true);
  assert.equal(isOkStatus(200), true);
  assert.equal(isOkStatus('201'), true);
  assert.equal(isOkStatus('error'), false);
  assert.equal(isOkStatus(502), false);
  assert.equal(isOkStatus(null), false);
});

test('formatAgo', () => {
  const now = new Date('2026-11-21T12:00:00Z');
  assert.equal(formatAgo('2026-11-21T11:59:30Z', now), '30 s ago');
  assert.equal(formatAgo('2026-11-21T10:00:00Z', now), '2 h ago');
  assert.equal(formatAgo(null, now), 'never');
});

test('setup snippets use the base URL and model everywhere', () => {
  const sn = setupSnippets('http://127.0.0.1:8402/', 'fast');
  const by = Object.fromEntries(sn.map((s) => [s.id, s.code]));
  assert.match(by['openai-py'], /base_url="http:\/\/127\.0\.0\.1:8402\/v1"/);
  assert.match(by['openai-js'], /baseURL: "http:\/\/127\.0\.0\.1:8402\/v1"/);
  assert.match(by.anthropic, /base_url="http:\/\/127\.0\.0\.1:8402"/);
  assert.equal(by['claude-code'], 'ANTHROPIC_BASE_URL=http://127.0.0.1:8402 ANTHROPIC_AUTH_TOKEN=$AROUTER_KEY claude');
  assert.match(by.gemini, /http_options=\{"base_url": "http:\/\/127\.0\.0\.1:8402"\}/);
  assert.match(by.continue, /apiBase: http:\/\/127\.0\.0\.1:8402\/v1/);
  assert.match(by.aider, /--model openai\/fast/);
  assert.match(by.curl, /"model": "fast"/);
  for (const s of sn) assert.ok(!s.code.includes('8402//'), s.id);
});

/** A fetch stand-in that records calls and answers from a table. */
function fakeFetch(answers) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url, init });
    const a = answers.shift();
    if (a instanceof Error) throw a;
    return new Response(a.body === undefined ? '' : (typeof a.body === 'string' ? a.body : JSON.stringify(a.body)), { status: a.status ?? 200 });
  };
  return { impl, calls };
}

test('Api sends the admin key as a Bearer token and JSON bodies', async () => {
  const f = fakeFetch([{ status: 201, body: { data: { hash: 'h1', name: 'cursor' }, key: 'sk-raw' } }]);
  const api = new Api({ getKey: () => 'adm', fetchImpl: f.impl });
  const r = await api.createKey({ name: 'cursor', rpm: null });
  assert.equal(r.key, 'sk-raw');
  assert.equal(f.calls[0].url, '/api/v1/keys');
  assert.equal(f.calls[0].init.method, 'POST');
  assert.equal(f.calls[0].init.headers.authorization, 'Bearer adm');
  assert.equal(f.calls[0].init.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(f.calls[0].init.body), { name: 'cursor', rpm: null });
});

test('Api encodes paths and queries', async () => {
  const f = fakeFetch([{ body: { data: { id: 'x' } } }, { body: { data: [], total: 0 } }, { body: { data: { id: 'g' } } }]);
  const api = new Api({ getKey: () => 'k', fetchImpl: f.impl });
  await api.putOverride('openrouter', 'anthropic/claude 4', { input_per_mtok: 1, output_per_mtok: 2 });
  assert.equal(f.calls[0].url, '/api/v1/model-overrides/openrouter/anthropic/claude%204');
  await api.requests({ limit: 50, offset: 0, app: 'my app', status: '' });
  assert.equal(f.calls[1].url, '/api/v1/requests?limit=50&offset=0&app=my+app');
  await api.request('gen-1/attempt');
  assert.equal(f.calls[2].url, '/api/v1/requests/gen-1%2Fattempt');
});

test('Api errors: server message, 401 callback, network failure', async () => {
  let unauthorized = 0;
  const f = fakeFetch([
    { status: 400, body: { error: { code: 400, message: 'base_url: must be http(s)', metadata: { field: 'base_url' } } } },
    { status: 401, body: { error: { code: 401, message: 'invalid key' } } },
    { status: 401, body: 'nope' },
    new TypeError('fetch failed'),
    { status: 503, body: '<html>oops</html>' },
  ]);
  const api = new Api({ getKey: () => 'k', fetchImpl: f.impl, onUnauthorized: () => { unauthorized++; } });
  await assert.rejects(api.providers(), (e) => e instanceof ApiError && e.status === 400 && e.message === 'base_url: must be http(s)' && e.metadata.field === 'base_url');
  await assert.rejects(api.settings(), (e) => e.status === 401);
  assert.equal(unauthorized, 1);
  await assert.rejects(api.checkKey('wrong'), (e) => e.status === 401);
  assert.equal(unauthorized, 1, 'checkKey does not trigger the sign-out flow');
  assert.equal(f.calls[2].init.headers.authorization, 'Bearer wrong');
  await assert.rejects(api.keys(), (e) => e.status === 0 && /Cannot reach ARouter/.test(e.message));
  await assert.rejects(api.keys(), (e) => e.status === 503 && e.message === 'The service is unavailable right now');
});

test('errorMessage falls back to plain words', () => {
  assert.equal(errorMessage(403, ''), 'This key may not use the management API (it is an app key, not an admin key)');
  assert.equal(errorMessage(418, ''), 'ARouter answered HTTP 418');
  assert.equal(errorMessage(409, '{"error":{"message":"provider \\"x\\" exists"}}'), 'provider "x" exists');
});
