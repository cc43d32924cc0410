// Opens metal-sim serve's live fleet view in headless Debian chromium (driven by playwright-core)
// and checks what a person sees: every machine counted, only a screenful of rows drawn, a
// machine's row going from off through its power-on to the ramdisk it PXE-booted once its BMC is
// told to power on, a BMC fault and an agent fault clicked on the page reaching the machine (read
// back through the control API) and cleared again, no console error, no request beyond the page's own origin.
// Run by wire/tests/live_view.rs with: BASE (the control API's URL), HOST (the machine to watch),
// MACHINES (how many), SYSTEM, BMC_USER, BMC_PASSWORD (its Redfish system), CHROMIUM,
// BROWSER_NODE_MODULES, SCREENSHOT (where to keep a screenshot).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const env = (name) => {
  const v = process.env[name];
  if (!v) { throw new Error(`${name} is not set`); }
  return v;
};
const require = createRequire(path.join(env('BROWSER_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');

const BASE = env('BASE').replace(/\/$/, '');
const ORIGIN = new URL(BASE).origin;
const HOST = env('HOST');
const MACHINES = Number(env('MACHINES'));
const WAIT = { timeout: 30_000 };

// The test's own calls (not the page's): the machine's BMC and the control API, on loopback.
async function redfish(method, url, body) {
  const auth = Buffer.from(`${env('BMC_USER')}:${env('BMC_PASSWORD')}`).toString('base64');
  const r = await fetch(url, {
    method,
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(r.ok, `${method} ${url} → ${r.status}`);
}
async function truth() {
  const r = await fetch(`${BASE}/hosts/${HOST}`);
  assert.equal(r.status, 200);
  return r.json();
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'metal-live-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env('CHROMIUM'),
  headless: true,
  args: FLAGS,
  viewport: { width: 1440, height: 900 },
  timeout: 60_000,
});
const problems = [];
const outside = [];
try {
  // Anything beyond the page's own origin is refused and remembered.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === ORIGIN) { return route.continue(); }
    outside.push(url);
    return route.abort();
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') { problems.push(`console: ${m.text()}`); } });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (new URL(r.url()).origin !== ORIGIN) { outside.push(r.url()); } });
  await page.goto(`${BASE}/ui`, { waitUntil: 'load' });

  // Every machine is counted; only a screenful of rows exists in the document.
  await page.locator('#conn', { hasText: 'live' }).waitFor(WAIT);
  await page.locator('#shown', { hasText: `${MACHINES} of ${MACHINES} machines` }).waitFor(WAIT);
  const drawn = await page.locator('#rows .row').count();
  assert.ok(drawn > 0 && drawn < 80, `${drawn} rows drawn for ${MACHINES} machines`);
  const offChip = page.locator('#groups button[data-group="off"]');
  assert.equal((await offChip.locator('b').textContent()).trim(), String(MACHINES));
  // Scrolling far down draws the rows there, still only a screenful.
  await page.locator('#scroller').evaluate((el) => { el.scrollTop = el.scrollHeight / 2; });
  await page.locator('#rows .row[data-name^="crowd-1"]').first().waitFor(WAIT);
  assert.ok(await page.locator('#rows .row').count() < 80);

  // The filter finds the machine to watch.
  await page.locator('#filter').fill(HOST);
  await page.locator('#shown', { hasText: `1 of ${MACHINES} machines` }).waitFor(WAIT);
  const row = page.locator(`#rows .row[data-name="${HOST}"]`);
  await row.waitFor(WAIT);
  assert.equal(await row.getAttribute('data-state'), 'off');

  // Its BMC is told to power on: the row goes through the power-on to the PXE-booted ramdisk.
  const seen = [];
  const watch = setInterval(async () => {
    const s = await row.getAttribute('data-state').catch(() => null);
    if (s && seen.at(-1) !== s) { seen.push(s); }
  }, 50);
  await redfish('POST', `${env('SYSTEM')}/Actions/ComputerSystem.Reset`, { ResetType: 'On' });
  await page.locator(`#rows .row[data-name="${HOST}"][data-state="powering-on"]`).waitFor(WAIT);
  await page.locator(`#rows .row[data-name="${HOST}"][data-state="ramdisk"]`).waitFor(WAIT);
  clearInterval(watch);
  assert.match(await row.locator('[data-cell="booting"]').textContent(), /^ramdisk by PXE from /);
  await page.locator(`#rows .row[data-name="${HOST}"] [data-cell="agent"]`)
    .filter({ hasNotText: /^none$/ }).waitFor(WAIT);
  const agent = await row.locator('[data-cell="agent"]').textContent();

  // A fault clicked on the page reaches the machine, and the row says so.
  await row.click();
  await page.locator('#d-name', { hasText: HOST }).waitFor(WAIT);
  await page.locator('.actions button[data-action="unreachable"]').click();
  await page.locator('#result', { hasText: `POST /hosts/${HOST}/faults → 200` }).waitFor(WAIT);
  const injected = await truth();
  assert.equal(injected.faults.unreachable.length, 1, JSON.stringify(injected.faults));
  assert.equal(injected.faults.unreachable[0].until, undefined, 'until cleared');
  await row.locator('[data-cell="faults"]', { hasText: 'BMC unreachable' }).waitFor(WAIT);
  await page.locator('#detail dd[data-field="faults"]', { hasText: 'BMC unreachable' }).waitFor(WAIT);
  // So does an agent fault, through the control API's other route.
  await page.locator('.actions button[data-action="heartbeat"]').click();
  await page.locator('#result', { hasText: `POST /hosts/${HOST}/agent-faults → 200` }).waitFor(WAIT);
  const beats = await (await fetch(`${BASE}/hosts/${HOST}/agent-faults`)).json();
  assert.equal(beats.heartbeat_loss, true, JSON.stringify(beats));
  await row.locator('[data-cell="faults"]', { hasText: 'agent heartbeats lost' }).waitFor(WAIT);

  // The whole fleet again, the watched machine selected, for the screenshot.
  await page.locator('#filter').fill('');
  await page.locator('#shown', { hasText: `${MACHINES} of ${MACHINES} machines` }).waitFor(WAIT);
  if (process.env.SCREENSHOT) {
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  }

  // The state chips filter by group: one machine is in its ramdisk.
  await page.locator('#groups button[data-group="ramdisk"]').click();
  await page.locator('#shown', { hasText: `1 of ${MACHINES} machines` }).waitFor(WAIT);
  await page.locator('#groups button[data-group="ramdisk"]').click();

  await page.locator('.actions button[data-action="clear"]').click();
  await page.locator('#result', { hasText: `DELETE /hosts/${HOST}/agent-faults → 204` }).waitFor(WAIT);
  assert.deepEqual((await truth()).faults.unreachable ?? [], [], 'cleared on the machine');
  const after = await (await fetch(`${BASE}/hosts/${HOST}/agent-faults`)).json();
  assert.equal(after.heartbeat_loss, false, 'heartbeats back');
  await page.locator('#detail dd[data-field="faults"]', { hasText: /^none$/ }).waitFor(WAIT);

  assert.deepEqual(problems, [], 'no console error');
  assert.deepEqual(outside, [], `no request beyond ${ORIGIN}`);
  console.log(`live view checked: ${MACHINES} machines, ${drawn} rows drawn; ${HOST} went ${seen.join(' → ')}; `
    + `agent "${agent}"; a clicked BMC fault and agent fault reached it and were cleared`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
