// Loads vigil's dashboard in Debian's headless Chromium (driven by playwright-core) and
// checks what a person would see. Used by tests/dashboard_test.cc.
//
//   node dashboard_check.mjs URL SCREENSHOT.png '{"model": "fraud", "texts": ["v1", ...]}'
//
// Waits until the five charts are drawn and every table has data, then asserts: the page
// text contains the model and each of `texts`; the live QPS peak is > 0; no request went
// anywhere but the server's own loopback address; the console has no error and no
// script threw. Saves a full-page screenshot. Prints one JSON line {"ok": ..., ...} and
// exits 0 when every check passed, 1 otherwise.
import { chromium } from 'playwright-core';

const [url, screenshot, expectJson] = process.argv.slice(2);
if (!url || !screenshot || !expectJson) {
  console.error('usage: node dashboard_check.mjs URL SCREENSHOT.png EXPECT_JSON');
  process.exit(2);
}
const expect = JSON.parse(expectJson);
const origin = new URL(url).origin;
const failures = [];
const consoleErrors = [];
const offHost = [];
let requests = 0;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  // --no-sandbox: tests run as root in CI, where Chromium's sandbox cannot start.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let summary = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('request', (r) => {
    requests++;
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:')) offHost.push(u);
  });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push('uncaught: ' + e.message));

  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  try {
    await page.waitForFunction(() => {
      const filled = (id) => document.querySelector('#' + id + ' table') !== null;
      const peak = parseFloat(document.getElementById('qps-peak').textContent);
      return document.querySelectorAll('.uplot canvas').length >= 5 &&
          ['versions', 'alias-history', 'drift-table', 'alerts', 'skew-table', 'auc-table'].every(filled) &&
          peak > 0;
    }, null, { timeout: 30000, polling: 250 });
  } catch (e) {
    failures.push('the page did not fill in 30 s: ' + e.message.split('\n')[0]);
  }
  const text = await page.evaluate(() => document.body.innerText);
  const qpsPeak = parseFloat(await page.textContent('#qps-peak'));
  if (!(qpsPeak > 0)) failures.push('live QPS peak is not > 0: ' + qpsPeak);
  const selected = await page.evaluate(() => document.getElementById('model').value);
  if (selected !== expect.model) failures.push(`model selector shows '${selected}', not '${expect.model}'`);
  for (const t of [expect.model, ...expect.texts]) {
    if (!text.includes(t)) failures.push(`page text lacks '${t}'`);
  }
  const charts = await page.evaluate(() => document.querySelectorAll('.uplot').length);
  const status = await page.textContent('#status');
  if (/error|\d{3} /.test(status) && !status.startsWith('updated')) failures.push('status line: ' + status);
  await page.screenshot({ path: screenshot, fullPage: true });
  summary = { charts, qps_peak: qpsPeak, status };
} catch (e) {
  failures.push('unexpected: ' + e.message);
} finally {
  await browser.close();
}
if (offHost.length) failures.push('requests left the server: ' + offHost.join(', '));
if (consoleErrors.length) failures.push('console errors: ' + consoleErrors.join(' | '));
const ok = failures.length === 0;
console.log(JSON.stringify({ ok, ...summary, requests, screenshot, failures }));
process.exit(ok ? 0 : 1);
