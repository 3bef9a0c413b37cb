// End-to-end test of ARouter's web UI in Debian's headless Chromium (playwright-core, no
// browser download). Expects a running router: env BASE_URL (http://127.0.0.1:PORT) and
// ADMIN_KEY. Starts its own mock OpenAI upstream on 127.0.0.1. Screenshots of every page go to
// tests/ui/artifacts/. Exits 0 only when every step passed.

import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE_URL = (process.env.BASE_URL || '').replace(/\/+$/, '');
const ADMIN_KEY = process.env.ADMIN_KEY || '';
/** The router's data dir (config.toml), for the steps that edit the config file. */
const DATA_DIR = process.env.AROUTER_E2E_DATA_DIR || '';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
const MOCK_KEY = 'sk-mock-upstream-credential';
const MOCK_REPLY = 'Hello from the mock upstream.';
const OVERALL_TIMEOUT_MS = 240_000;

if (!BASE_URL || !ADMIN_KEY) {
  console.error('set BASE_URL and ADMIN_KEY (a running router and its admin key)');
  process.exit(2);
}

const guard = setTimeout(() => {
  console.error(`e2e: gave up after ${OVERALL_TIMEOUT_MS / 1000}s`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

// ---------------------------------------------------------------- mock upstream (OpenAI wire)

/** Requests the mock saw: {method, path, auth, body}. */
const upstreamSeen = [];

function startMockUpstream() {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      let body = null;
      try { body = raw ? JSON.parse(raw) : null; } catch { body = null; }
      upstreamSeen.push({ method: req.method, path: req.url, auth: req.headers.authorization || null, body });
      const json = (status, obj) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (req.headers.authorization !== `Bearer ${MOCK_KEY}`) {
        return json(401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
      }
      if (req.method === 'GET' && req.url === '/v1/models') {
        return json(200, { object: 'list', data: ['gpt-mock', 'gpt-backup'].map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'mock' })) });
      }
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        if (!body || !Array.isArray(body.messages)) {
          return json(400, { error: { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: null } });
        }
        const usage = { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 };
        const id = `chatcmpl-mock${upstreamSeen.length}`;
        const created = Math.floor(Date.now() / 1000);
        if (body.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const chunk = (delta, finish, u) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: u ? [] : [{ index: 0, delta, finish_reason: finish }], ...(u ? { usage: u } : {}) })}\n\n`;
          res.write(chunk({ role: 'assistant', content: MOCK_REPLY }, null));
          res.write(chunk({}, 'stop'));
          res.write(chunk(null, null, usage));
          return res.end('data: [DONE]\n\n');
        }
        return json(200, {
          id, object: 'chat.completion', created, model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: MOCK_REPLY, refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage,
        });
      }
      return json(404, { error: { message: `Invalid URL (${req.method} ${req.url})`, type: 'invalid_request_error', param: null, code: null } });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------------------------------------------------------------- helpers

let passed = 0;
let failed = 0;
let page;

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(err && err.stack || err).split('\n').join('\n  ')}`);
    if (page) await page.screenshot({ path: path.join(ARTIFACTS, `failure-${passed + failed}.png`), fullPage: true }).catch(() => {});
    throw err;
  }
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function api(method, p, body, key = ADMIN_KEY) {
  const resp = await fetch(`${BASE_URL}${p}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: resp.status, json, text };
}

async function nav(label) {
  await page.locator('#nav').getByRole('link', { name: label, exact: true }).click();
}

/** Waits until the page for `id` finished loading (its view is in place and not "Loading…"). */
async function pageReady(id) {
  const view = page.locator(`[data-testid="page-${id}"]`);
  await view.waitFor();
  await page.waitForFunction((sel) => {
    const el = document.querySelector(sel);
    return el && !el.querySelector('.loading');
  }, `[data-testid="page-${id}"]`);
  return view;
}

async function signIn(key) {
  await page.getByTestId('login-key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

// ---------------------------------------------------------------- scenario

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const upstream = await startMockUpstream();
  const upstreamBase = `http://127.0.0.1:${upstream.address().port}/v1`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage',
      '--disable-component-update', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  const requests = [];
  const pageErrors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
  });

  let appKey = '';
  try {
    await step('static UI is served with proper types', async () => {
      const index = await fetch(`${BASE_URL}/ui/`);
      expect(index.status === 200, `/ui/ answered ${index.status}`);
      expect(/text\/html/.test(index.headers.get('content-type') || ''), 'index is not text/html');
      expect(index.headers.get('cache-control') === 'no-cache', 'index.html must be no-cache');
      const js = await fetch(`${BASE_URL}/ui/js/app.js`);
      expect(/javascript/.test(js.headers.get('content-type') || ''), 'app.js is not JavaScript');
      const route = await fetch(`${BASE_URL}/ui/some/client/route`);
      expect(route.status === 200 && /text\/html/.test(route.headers.get('content-type') || ''), 'unknown sub-path should serve index.html');
    });

    await step('first load asks for an admin key', async () => {
      await page.goto(`${BASE_URL}/ui`);
      await page.getByTestId('login-key').waitFor();
      expect(await page.getByText('arouter keys create --name admin --admin').isVisible(), 'prompt should explain how to create an admin key');
      await shot('01-login');
    });

    await step('a wrong key is refused with a plain message', async () => {
      await signIn('sk-ar-not-a-real-key');
      const err = page.getByTestId('login-error');
      await err.getByText('not accepted').waitFor();
      await shot('02-login-wrong-key');
    });

    await step('the admin key opens the overview', async () => {
      await signIn(ADMIN_KEY);
      await pageReady('overview');
      expect((await page.getByTestId('base-url').textContent()) === BASE_URL, 'overview shows the base URL');
      expect((await page.getByTestId('base-url-v1').textContent()) === `${BASE_URL}/v1`, 'overview shows the /v1 base URL');
      await page.getByRole('tab', { name: 'Claude Code' }).click();
      const snippet = await page.getByTestId('snippet').textContent();
      expect(snippet.includes(`ANTHROPIC_BASE_URL=${BASE_URL}`) && snippet.includes('ANTHROPIC_AUTH_TOKEN='), `Claude Code snippet: ${snippet}`);
      const stored = await page.evaluate(() => sessionStorage.getItem('arouter.adminKey'));
      expect(stored === ADMIN_KEY, 'the key is kept in sessionStorage');
      const local = await page.evaluate(() => JSON.stringify(localStorage));
      expect(!local.includes(ADMIN_KEY), 'the key must not be in localStorage');
      await shot('03-overview-empty');
    });

    await step('add an openai-kind provider with a credential', async () => {
      await nav('Providers');
      await pageReady('providers');
      const before = await api('GET', '/api/v1/providers');
      const existing = (before.json?.data || []).map((p) => p.id);
      expect(!existing.includes('mock'), 'provider "mock" already exists');
      await page.getByTestId('add-provider').click();
      const dlg = page.locator('dialog[open]');
      const presetOptions = await dlg.getByTestId('preset').locator('option').count();
      expect(presetOptions > 1, 'presets were loaded into the form');
      // validation before sending: empty id and base URL
      await dlg.getByLabel('Id', { exact: true }).fill('');
      await dlg.getByLabel('Base URL').fill('not a url');
      await dlg.getByRole('button', { name: 'Add provider' }).click();
      await dlg.getByText('full http:// or https:// URL').waitFor();
      await dlg.getByLabel('Id', { exact: true }).fill('mock');
      await dlg.getByLabel('Wire protocol').selectOption('openai');
      await dlg.getByLabel('Base URL').fill(upstreamBase);
      await dlg.getByLabel('API key environment variable').fill('');
      await dlg.getByLabel('Extra models').fill('gpt-mock\ngpt-backup');
      await dlg.getByLabel('API key', { exact: true }).fill(MOCK_KEY);
      await shot('04-provider-form');
      await dlg.getByRole('button', { name: 'Add provider' }).click();
      await dlg.waitFor({ state: 'detached' });
      await pageReady('providers');
      const card = page.locator('[data-provider="mock"]');
      await card.waitFor();
      const cred = await card.getByTestId('credential').textContent();
      expect(/credential set/.test(cred), `credential status: ${cred}`);
      expect(!(await page.content()).includes(MOCK_KEY), 'the credential is never shown');
    });

    await step('test connection reaches the upstream', async () => {
      const card = page.locator('[data-provider="mock"]');
      await card.getByRole('button', { name: 'Test connection' }).click();
      await card.getByTestId('test-result').getByText('Connected').waitFor();
      expect(upstreamSeen.some((r) => r.method === 'GET' && r.path === '/v1/models' && r.auth === `Bearer ${MOCK_KEY}`), 'upstream saw GET /v1/models with the credential');
      await shot('05-providers');
    });

    await step('choose the default model', async () => {
      await nav('Models & routing');
      await pageReady('models');
      await page.getByTestId('default-model').selectOption('mock/gpt-mock');
      await page.getByTestId('save-default-model').click();
      await page.getByTestId('current-default').getByText('mock/gpt-mock').waitFor();
      const s = await api('GET', '/api/v1/settings');
      expect(s.json?.default_model === 'mock/gpt-mock', `settings.default_model = ${s.json?.default_model}`);
    });

    await step('create and reorder a fallback list', async () => {
      await page.getByTestId('new-alias').click();
      // validation: no models yet
      await page.getByTestId('alias-name').fill('fast');
      await page.getByTestId('save-alias').click();
      await page.getByText('Add at least one model.').waitFor();
      for (const m of ['mock/gpt-backup', 'mock/gpt-mock']) {
        await page.getByTestId('alias-add-input').fill(m);
        await page.getByTestId('alias-add').click();
      }
      // drag and drop reorders too
      const rows = page.getByTestId('alias-models').locator('li');
      await rows.nth(1).dragTo(rows.nth(0));
      const dragged = await page.getByTestId('alias-models').locator('li code').allTextContents();
      expect(JSON.stringify(dragged) === JSON.stringify(['mock/gpt-mock', 'mock/gpt-backup']), `order after drag: ${dragged}`);
      await page.getByRole('button', { name: 'Move mock/gpt-mock down' }).click();
      await page.getByRole('button', { name: 'Move mock/gpt-mock up' }).click();
      const order = await page.getByTestId('alias-models').locator('li code').allTextContents();
      expect(JSON.stringify(order) === JSON.stringify(['mock/gpt-mock', 'mock/gpt-backup']), `order after move: ${order}`);
      await page.getByTestId('save-alias').click();
      await pageReady('models');
      await page.locator('[data-alias="fast"]').waitFor();
      const s = await api('GET', '/api/v1/settings');
      expect(JSON.stringify(s.json?.aliases?.fast) === JSON.stringify(['mock/gpt-mock', 'mock/gpt-backup']), `aliases.fast = ${JSON.stringify(s.json?.aliases)}`);
    });

    await step('override the price of a model from the catalog', async () => {
      await page.getByTestId('catalog-search').fill('gpt-mock');
      const row = page.locator('tr[data-model="mock/gpt-mock"]');
      await row.waitFor();
      await row.getByRole('button', { name: 'Set price' }).click();
      const dlg = page.locator('dialog[open]');
      await dlg.getByLabel('Input (USD / 1M tokens)').fill('1');
      await dlg.getByLabel('Output (USD / 1M tokens)').fill('2');
      await dlg.getByRole('button', { name: 'Save price' }).click();
      await dlg.waitFor({ state: 'detached' });
      await pageReady('models');
      await page.getByTestId('catalog-search').fill('gpt-mock');
      const input = await page.locator('tr[data-model="mock/gpt-mock"] td').nth(2).textContent();
      expect(input === '$1', `input price per 1M after override: ${input}`);
      await page.getByTestId('catalog-search').fill('');
      await shot('06-models');
    });

    await step('create an app key and read it from the UI', async () => {
      await nav('Keys');
      await pageReady('keys');
      await page.getByTestId('create-key').click();
      const dlg = page.locator('dialog[open]');
      await dlg.getByRole('button', { name: 'Create key' }).click();
      await dlg.getByText('Name the key').waitFor();
      await dlg.getByTestId('key-name').fill('ui-test-app');
      await dlg.getByLabel('Requests per minute').fill('600');
      await dlg.getByRole('button', { name: 'Create key' }).click();
      const shown = page.getByTestId('new-key');
      await shown.waitFor();
      appKey = (await shown.textContent()).trim();
      expect(appKey.length > 10, `raw key shown: ${appKey}`);
      await shot('07-key-created');
      await page.locator('dialog[open]').getByRole('button', { name: 'Done' }).click();
      await page.locator('tr[data-key="ui-test-app"]').waitFor();
      await shot('08-keys');
    });

    await step('a chat request with the app key through the fallback list', async () => {
      const r = await api('POST', '/v1/chat/completions', { model: 'fast', messages: [{ role: 'user', content: 'Hi from the UI test' }] }, appKey);
      expect(r.status === 200, `chat answered ${r.status}: ${r.text.slice(0, 300)}`);
      expect(r.json?.choices?.[0]?.message?.content === MOCK_REPLY, `reply: ${r.text.slice(0, 300)}`);
      const call = upstreamSeen.find((x) => x.method === 'POST' && x.path === '/v1/chat/completions');
      expect(call && call.body.model === 'gpt-mock' && call.auth === `Bearer ${MOCK_KEY}`, 'upstream got model gpt-mock with the stored credential');
    });

    await step('the request shows in History with its detail', async () => {
      const deadline = Date.now() + 10_000;
      // the ledger is written asynchronously: wait until the API lists it
      for (;;) {
        const l = await api('GET', '/api/v1/requests?limit=5');
        if ((l.json?.data || []).some((x) => x.app === 'ui-test-app')) break;
        expect(Date.now() < deadline, 'request never reached the ledger');
        await new Promise((res) => setTimeout(res, 200));
      }
      await nav('History');
      await pageReady('history');
      const row = page.getByTestId('requests-table').locator('tbody tr').filter({ hasText: 'ui-test-app' }).first();
      await row.waitFor();
      expect((await row.textContent()).includes('mock/gpt-mock'), 'history row names the served model');
      await shot('09-history');
      await row.locator('a').first().click();
      await pageReady('history');
      const facts = await page.getByTestId('detail-cost').textContent();
      expect(facts.includes('$0.000028'), `detail cost: ${facts}`);
      await shot('10-history-detail');
    });

    await step('history filters narrow the list', async () => {
      await page.goto(`${BASE_URL}/ui/#/history?app=nobody-by-this-name`);
      await pageReady('history');
      await page.getByText('No request matches these filters').waitFor();
      await page.goto(`${BASE_URL}/ui/#/history?app=ui-test-app&status=ok`);
      await pageReady('history');
      await page.getByTestId('requests-table').waitFor();
    });

    await step('usage shows the cost per app', async () => {
      await page.goto(`${BASE_URL}/ui/#/usage?range=today&by=app`);
      await pageReady('usage');
      const row = page.getByTestId('usage-table').locator('tr[data-group="ui-test-app"]');
      await row.waitFor();
      const cost = await row.getByTestId('cost').textContent();
      expect(cost === '$0.000028', `cost per app: ${cost}`);
      expect(await page.locator('svg.chart rect').count() > 0, 'the daily chart has bars');
      await shot('11-usage');
      await page.getByRole('button', { name: '30 days' }).click();
      await pageReady('usage');
      await page.getByTestId('group-by').selectOption('model');
      await pageReady('usage');
      await page.getByTestId('usage-table').locator('tr[data-group="mock/gpt-mock"]').waitFor();
      await shot('12-usage-by-model');
    });

    await step('overview totals count the request', async () => {
      await nav('Overview');
      await pageReady('overview');
      const today = await page.getByTestId('stats-today').textContent();
      expect(today.includes('$0.000028'), `today: ${today}`);
      await shot('13-overview');
    });

    await step('keys page shows each key\'s spend', async () => {
      await nav('Keys');
      await pageReady('keys');
      const spend = await page.locator('tr[data-key="ui-test-app"]').getByTestId('key-usage').textContent();
      expect(spend.includes('$0.000028'), `ui-test-app spend: ${spend}`);
      await shot('13b-keys-with-usage');
    });

    await step('the Models page refreshes model lists from the providers', async () => {
      await nav('Models & routing');
      await pageReady('models');
      await page.getByTestId('refresh-models').click();
      await page.getByTestId('facts-status').getByText(/mock 2 models/).waitFor();
      const status = await page.getByTestId('facts-status').textContent();
      expect(status.includes('Bundled prices: LiteLLM model price map'), `facts status: ${status}`);
      expect(upstreamSeen.filter((r) => r.method === 'GET' && r.path === '/v1/models').length >= 2, 'the refresh asked the mock for /v1/models');
      await shot('13c-models-refreshed');
    });

    await step('a request to an unpriced remote model is reported as unpriced, not as $0', async () => {
      // A provider ARouter has no price for, not on this machine (`local = false`: the mock
      // listens on loopback but stands for a paid remote API).
      expect(DATA_DIR, 'AROUTER_E2E_DATA_DIR is set');
      fs.appendFileSync(path.join(DATA_DIR, 'config.toml'),
        `\n[providers.paid]\nkind = "openai"\nbase_url = "${upstreamBase}"\nlocal = false\n`);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const p = await api('GET', '/api/v1/providers');
        if ((p.json?.data || []).some((x) => x.id === 'paid')) break;
        expect(Date.now() < deadline, 'config reload never added the provider');
        await new Promise((res) => setTimeout(res, 200));
      }
      const cred = await api('PUT', '/api/v1/providers/paid/credential', { key: MOCK_KEY });
      expect(cred.status === 200, `credential: ${cred.status} ${cred.text.slice(0, 200)}`);
      const r = await api('POST', '/v1/chat/completions', { model: 'paid/gpt-unlisted', messages: [{ role: 'user', content: 'Hi' }] }, appKey);
      expect(r.status === 200, `chat answered ${r.status}: ${r.text.slice(0, 300)}`);
      for (;;) {
        const u = await api('GET', '/api/v1/usage?by=model');
        if (u.json?.totals?.unpriced === 1) break;
        expect(Date.now() < deadline + 10_000, `usage never counted the unpriced request: ${u.text.slice(0, 300)}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      await page.goto(`${BASE_URL}/ui/#/usage?range=today&by=model`);
      await pageReady('usage');
      const row = page.getByTestId('usage-table').locator('tr[data-group="paid/gpt-unlisted"]');
      await row.waitFor();
      expect((await row.textContent()).includes('1 unpriced'), `usage row: ${await row.textContent()}`);
      const cost = await row.getByTestId('cost').textContent();
      expect(cost === 'unpriced', `an all-unpriced group shows no $0 cost: ${cost}`);
      await page.getByText('1 unpriced request: cost is a lower bound').waitFor();
      await shot('13d-usage-unpriced');
    });

    await step('lost ledger rows and estimated rows are shown', async () => {
      // Neither can be caused from outside on demand (a lost row needs a ledger that cannot
      // write; an estimated one a client that hangs up mid-stream, tested in
      // tests/tests/budget_holes.rs): the API answers are edited on their way to the page.
      await page.route('**/api/v1/settings', async (route) => {
        const resp = await route.fetch();
        const json = await resp.json();
        json.ledger = { ...(json.ledger || {}), rows_lost: 3 };
        await route.fulfill({ response: resp, json });
      });
      await page.route('**/api/v1/requests?*', async (route) => {
        const resp = await route.fetch();
        const json = await resp.json();
        if (json.data?.[0]) json.data[0].estimated = true;
        await route.fulfill({ response: resp, json });
      });
      await page.goto(`${BASE_URL}/ui/#/`);
      await pageReady('overview');
      const alert = await page.getByTestId('ledger-lost').textContent();
      expect(alert.includes('3 usage rows could not be written'), `ledger alert: ${alert}`);
      await nav('History');
      await pageReady('history');
      const first = page.getByTestId('requests-table').locator('tbody tr').first();
      await first.waitFor();
      expect((await first.textContent()).includes('estimated'), `history row: ${await first.textContent()}`);
      const second = page.getByTestId('requests-table').locator('tbody tr').nth(1);
      if (await second.count()) {
        expect(!(await second.textContent()).includes('estimated'), 'only the estimated row is marked');
      }
      await page.unroute('**/api/v1/settings');
      await page.unroute('**/api/v1/requests?*');
    });

    await step('settings show the server and export CSV', async () => {
      await nav('Settings');
      await pageReady('settings');
      const port = new URL(BASE_URL).port;
      const addr = await page.getByTestId('server-address').textContent();
      expect(addr.endsWith(`:${port}`), `server address ${addr} vs port ${port}`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
      const file = path.join(ARTIFACTS, 'export.csv');
      await download.saveAs(file);
      const csv = fs.readFileSync(file, 'utf8');
      expect(csv.includes('ui-test-app'), `CSV lacks the app: ${csv.slice(0, 300)}`);
      const box = page.getByTestId('store-content');
      const was = await box.isChecked();
      await box.click();
      await page.waitForFunction((want) => {
        const el = document.querySelector('[data-testid="store-content"]');
        return el && !el.disabled && el.checked === want;
      }, !was);
      const s = await api('GET', '/api/v1/settings');
      expect(s.json?.server?.store_content === !was, 'content logging toggled');
      await box.click();
      await page.waitForFunction((want) => {
        const el = document.querySelector('[data-testid="store-content"]');
        return el && !el.disabled && el.checked === want;
      }, was);
      await shot('14-settings');
    });

    await step('your tools: connect with per-slot models, then disconnect', async () => {
      // The router runs with HOME=TOOLS_HOME (a temp dir): the tools' files land there.
      const home = process.env.TOOLS_HOME;
      expect(home, 'TOOLS_HOME is set');
      await nav('Overview');
      await pageReady('overview');
      const row = page.getByTestId('tool-claude-code');
      await row.waitFor();
      const options = await page.getByTestId('tool-model-claude-code').locator('option').allTextContents();
      expect(options.includes('mock/gpt-mock') && options.includes('fast'), `model choices: ${options.join(', ')}`);
      expect(!options.some((o) => o.includes('embedding')), `embedding models offered: ${options.join(', ')}`);
      await page.getByTestId('tool-model-claude-code').selectOption('mock/gpt-mock');
      await page.getByTestId('tool-slot-claude-code-haiku').selectOption('fast');
      await page.getByTestId('tool-connect-claude-code').click();
      await page.getByTestId('tool-status-claude-code').getByText('connected · key claude-code').waitFor();
      const settingsPath = path.join(home, '.claude', 'settings.json');
      const cc = JSON.parse(fs.readFileSync(settingsPath, 'utf8'));
      expect(cc.env.ANTHROPIC_BASE_URL === BASE_URL, `ANTHROPIC_BASE_URL = ${cc.env.ANTHROPIC_BASE_URL}`);
      expect(cc.env.ANTHROPIC_MODEL === 'mock/gpt-mock' && cc.env.ANTHROPIC_DEFAULT_HAIKU_MODEL === 'fast'
        && cc.env.ANTHROPIC_DEFAULT_OPUS_MODEL === 'mock/gpt-mock', `slots: ${JSON.stringify(cc.env)}`);
      const viaKey = await api('GET', '/api/v1/key', null, cc.env.ANTHROPIC_AUTH_TOKEN);
      expect(viaKey.json?.data?.name === 'claude-code', `the written key is claude-code's: ${viaKey.text.slice(0, 200)}`);
      // aider: a YAML file with a comment of the user's own, kept through connect/disconnect
      const aiderPath = path.join(home, '.aider.conf.yml');
      const mine = '# my aider settings\ndark-mode: true\n';
      fs.writeFileSync(aiderPath, mine);
      await page.getByTestId('tool-connect-aider').click();
      await page.getByTestId('tool-status-aider').getByText('connected · key aider').waitFor();
      const aider = fs.readFileSync(aiderPath, 'utf8');
      expect(aider.startsWith(mine) && aider.includes(`openai-api-base: ${BASE_URL}/v1`) && aider.includes('model: openai/mock/gpt-mock'), `aider file: ${aider}`);
      await shot('14b-your-tools');
      await page.getByTestId('tool-disconnect-aider').click();
      await page.getByTestId('tool-status-aider').getByText('not connected').waitFor();
      expect(fs.readFileSync(aiderPath, 'utf8') === mine, 'aider file restored byte for byte');
      await page.getByTestId('tool-disconnect-claude-code').click();
      await page.getByTestId('tool-status-claude-code').getByText('not connected').waitFor();
      expect(!fs.existsSync(settingsPath), 'settings.json (created by connect) removed again');
      // Values for GUI editors
      await page.getByTestId('manual-panel').locator('summary').click();
      const manualBase = await page.getByTestId('manual-base-url').textContent();
      expect(manualBase === `${BASE_URL}/v1`, `manual base URL ${manualBase}`);
      await page.getByTestId('manual-create-key').click();
      const key = await page.getByTestId('manual-key').textContent();
      const check = await api('GET', '/api/v1/key', null, key);
      expect(check.json?.data?.name === 'cursor', `pasted key works: ${check.text.slice(0, 200)}`);
      await shot('14c-manual-values');
    });

    await step('small window and dark mode render', async () => {
      await page.setViewportSize({ width: 480, height: 900 });
      await nav('Overview');
      await pageReady('overview');
      await shot('15-overview-small');
      await page.emulateMedia({ colorScheme: 'dark' });
      await nav('Usage');
      await pageReady('usage');
      await shot('16-usage-dark');
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 1280, height: 860 });
    });

    await step('401: a cleared session asks for the key again', async () => {
      await page.evaluate(() => sessionStorage.clear());
      await page.reload();
      await page.getByTestId('login-key').waitFor();
      await signIn(appKey);
      await page.getByTestId('login-error').getByText('app key').waitFor();
      await signIn(ADMIN_KEY);
      await pageReady('usage'); // back on the page that was open
    });

    await step('401: a revoked admin key leads back to the prompt', async () => {
      const created = await api('POST', '/api/v1/keys', { name: 'ui-temp-admin', admin: true });
      expect(created.status === 201 && created.json?.key, `creating a temp admin key: ${created.status} ${created.text.slice(0, 200)}`);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByTestId('login-notice').getByText('Signed out').waitFor();
      await signIn(created.json.key);
      await pageReady('usage');
      const off = await api('PATCH', `/api/v1/keys/${encodeURIComponent(created.json.data.hash)}`, { disabled: true });
      expect(off.status === 200, `disabling: ${off.status}`);
      await nav('Keys');
      await page.getByTestId('login-notice').getByText('no longer accepted').waitFor();
      await shot('17-login-after-revoke');
      await signIn(ADMIN_KEY);
      await pageReady('keys');
    });

    await step('one-time #token= login is stored and cleared from the URL', async () => {
      await page.evaluate(() => sessionStorage.clear());
      await page.goto(`${BASE_URL}/ui/#token=${encodeURIComponent(ADMIN_KEY)}`);
      await pageReady('overview');
      expect(!page.url().includes('token='), `token still in URL: ${page.url()}`);
    });

    await step('the UI made no request outside 127.0.0.1', async () => {
      const outside = requests.filter((u) => {
        if (u.startsWith('blob:') || u.startsWith('data:')) return false;
        try { return new URL(u).hostname !== '127.0.0.1'; } catch { return true; }
      });
      expect(requests.length > 20, `only ${requests.length} requests recorded`);
      expect(outside.length === 0, `requests outside 127.0.0.1: ${outside.join(', ')}`);
    });

    await step('no script errors on any page', async () => {
      expect(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
    });
  } catch {
    // the failing step already reported itself
  } finally {
    await browser.close().catch(() => {});
    upstream.close();
    clearTimeout(guard);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
