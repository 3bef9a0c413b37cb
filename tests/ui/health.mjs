// The Health page in Debian's headless Chromium (playwright-core). Expects a router that has
// served the traffic tests/tests/ui_health.rs sends: provider `oa` cooling down after three
// 500s, `an` healthy, streams on `oa` before that. Env: BASE_URL, ADMIN_KEY. Exits 0 only when
// every check passed; screenshots go to tests/ui/artifacts/.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE_URL = (process.env.BASE_URL || '').replace(/\/+$/, '');
const ADMIN_KEY = process.env.ADMIN_KEY || '';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');

if (!BASE_URL || !ADMIN_KEY) {
  console.error('set BASE_URL and ADMIN_KEY');
  process.exit(2);
}
setTimeout(() => { console.error('health.mjs: gave up after 90 s'); process.exit(1); }, 90_000).unref();

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage', '--no-first-run'],
});
let page;
try {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  await page.goto(`${BASE_URL}/ui/#/overview`);
  await page.getByTestId('login-key').fill(ADMIN_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-testid="page-overview"]').waitFor();
  await page.locator('#nav').getByRole('link', { name: 'Health', exact: true }).click();
  const table = page.getByTestId('health-table');
  await table.waitFor();

  const row = (id) => table.locator(`tr[data-provider="${id}"]`);
  const text = async (id, testid) => (await row(id).getByTestId(testid).textContent()).trim();

  expect(await text('oa', 'health-state') === 'cooling down', `oa state: ${await text('oa', 'health-state')}`);
  expect(/^\d+(\.\d)?% \(3 of 6\)$/.test(await text('oa', 'health-error-rate')), `oa errors: ${await text('oa', 'health-error-rate')}`);
  expect(/ms|s/.test(await text('oa', 'health-ttft')), `oa first token: ${await text('oa', 'health-ttft')}`);
  expect((await text('oa', 'health-last-error')).startsWith('oa: '), 'oa shows its last error');
  expect(await text('an', 'health-state') === 'ok', `an state: ${await text('an', 'health-state')}`);
  expect(await text('an', 'health-error-rate') === '0% (0 of 3)', `an errors: ${await text('an', 'health-error-rate')}`);
  expect(/ \/ /.test(await text('an', 'health-latency')), `an latency: ${await text('an', 'health-latency')}`);
  expect(await row('an').getByTestId('health-last-error').count() === 0, 'an has no last error');
  expect(await page.getByTestId('rows-lost').count() === 0, 'no lost-rows alert while none were lost');
  await page.screenshot({ path: path.join(ARTIFACTS, 'health.png'), fullPage: true });

  // Lost ledger rows are called out: the same answer with rows_lost set, served to the page.
  await page.route('**/api/v1/health', async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    body.data.ledger.rows_lost = 3;
    await route.fulfill({ response: resp, json: body });
  });
  await page.getByTestId('health-refresh').click();
  const lost = page.getByTestId('rows-lost');
  await lost.waitFor();
  expect((await lost.textContent()).includes('3 usage rows were lost'), await lost.textContent());
  await page.screenshot({ path: path.join(ARTIFACTS, 'health-rows-lost.png'), fullPage: true });
  expect(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  console.log('ok - health page');
} catch (err) {
  console.log(`not ok - health page\n  ${String(err && err.stack || err)}`);
  if (page) await page.screenshot({ path: path.join(ARTIFACTS, 'health-failure.png'), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
