// Opens a generated report.html in headless Debian chromium (driven by playwright-core) and checks
// what a person sees: the verdict, a failed check's text, its trace link showing the row, the
// filter hiding rows, no console error, and no request to anything but file://.
// Run by wire/tests/report_html.rs with: REPORT (the page), EXPECT_FAILURE (text of a failed
// check), CHROMIUM, BROWSER_NODE_MODULES, SCREENSHOT (where to keep a screenshot).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const env = (name) => {
  const v = process.env[name];
  if (!v) { throw new Error(`${name} is not set`); }
  return v;
};
const require = createRequire(path.join(env('BROWSER_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'metal-report-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env('CHROMIUM'),
  headless: true,
  args: FLAGS,
  timeout: 60_000,
});
const problems = [];
const outside = [];
try {
  // Anything but file:// is refused and remembered.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file://')) { return route.continue(); }
    outside.push(url);
    return route.abort();
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') { problems.push(`console: ${m.text()}`); } });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (!r.url().startsWith('file://')) { outside.push(r.url()); } });
  await page.goto(pathToFileURL(env('REPORT')).href, { waitUntil: 'load' });

  assert.equal((await page.locator('#verdict .word').textContent()).trim(), 'FAILED');
  assert.match(await page.locator('#rerun').textContent(), /^metal-sim run .* --engine --seed \d+$/);

  const failed = page.locator('tr.check.fail', { hasText: env('EXPECT_FAILURE') });
  assert.equal(await failed.count(), 1, `one failed check reads ${env('EXPECT_FAILURE')}`);
  assert.ok(await failed.isVisible());

  // The trace link: its row is inside a closed <details> until the link is followed.
  const link = failed.locator('a.trace-link').first();
  const href = await link.getAttribute('href');
  assert.match(href, /^#row-\d+$/);
  const row = page.locator(href);
  assert.equal(await row.count(), 1, `${href} exists`);
  assert.equal(await row.isVisible(), false, `${href} hidden before the click`);
  await link.click();
  await row.waitFor({ state: 'visible', timeout: 5_000 });
  assert.ok(await row.isVisible(), `${href} shown after the click`);

  // The filter hides every row that does not hold its text.
  const all = await page.locator('tr.r').count();
  await page.locator('#filter').fill('registering');
  const counts = await page.evaluate(() => {
    const rows = Array.from(document.querySelectorAll('tr.r'));
    return {
      shownWithout: rows.filter((r) => !r.hidden && !r.textContent.includes('registering')).length,
      hidden: rows.filter((r) => r.hidden).length,
    };
  });
  assert.equal(counts.shownWithout, 0, 'no row without the text stays shown');
  assert.ok(counts.hidden > 0 && counts.hidden < all, `some rows hidden (${counts.hidden} of ${all})`);
  assert.match(await page.locator('#shown').textContent(), /^\d+ rows match$/);
  await page.locator('#filter').fill('');
  assert.equal(await page.locator('tr.r[hidden]').count(), 0, 'clearing the filter shows every row');

  if (process.env.SCREENSHOT) {
    await link.click();
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  }
  assert.deepEqual(problems, [], 'no console error');
  assert.deepEqual(outside, [], 'no request beyond file://');
  console.log(`report page checked: ${all} rows, ${href} shown by its link, filter hid ${counts.hidden}`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
