// Headless Chromium for the dashboard's test and benchmark: the project's flags, waiting for the
// panels, and the speed measurement (medians of reloads next to the same API requests without a
// browser, in the same run).
import assert from 'node:assert/strict';
import { join } from 'node:path';

export const kWait = { timeout: 20000 };

/** Debian's Chromium (or $TK_CHROMIUM), headless, with a fresh profile under `work`. */
export function launchChromium(puppeteer, work) {
  return puppeteer.launch({
    executablePath: process.env.TK_CHROMIUM || '/usr/bin/chromium',
    headless: true,  // puppeteer's --headless=new, also named below with the flags the project uses
    userDataDir: join(work, 'chromium-profile'),
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps',
      '--force-color-profile=srgb', '--lang=en-US'],
    env: { ...process.env, TZ: 'UTC' },
    protocolTimeout: 60000,
  });
}

/** Waits until every panel has rendered (or shown its error); returns the slowest panel's ms. */
export async function panelsReady(page) {
  await page.waitForFunction(() => {
    const panels = [...document.querySelectorAll('[data-panel]')];
    return panels.length > 0 && panels.every((p) => p.dataset.state === 'ready' || p.dataset.state === 'error');
  }, kWait);
  const errors = await page.$$eval('[data-panel][data-state=error]', (els) => els.map((e) => `${e.dataset.panel}: ${e.innerText}`));
  assert.deepEqual(errors, [], 'no panel shows an error');
  return page.$$eval('[data-panel]', (els) => Math.max(...els.map((e) => Number(e.dataset.renderedAt))));
}

/** Ms until each panel rendered, after a reload; the same API requests from node, 6 at a time
 * (Chromium's connections per host) with no browser: the limit the page is held against. */
export async function measureSpeed(page, token, runs = 3) {
  const median = (values) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const pageMs = [];
  const bareMs = [];
  let apis = [];
  let each = [];  // [ms, request] of the last bare run
  for (let run = 0; run < runs; ++run) {
    await page.reload({ waitUntil: 'domcontentloaded' });
    pageMs.push(await panelsReady(page));
    apis = await page.evaluate(() => performance.getEntriesByType('resource')
      .map((r) => r.name).filter((url) => new URL(url).pathname.startsWith('/v1/')));
    const queue = apis.slice();
    each = [];
    const started = performance.now();
    await Promise.all(Array.from({ length: 6 }, async () => {
      for (let url = queue.shift(); url; url = queue.shift()) {
        const begun = performance.now();
        const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30000) });
        assert.equal(response.status, 200, url);
        await response.arrayBuffer();
        each.push([performance.now() - begun, decodeURIComponent(url.replace(/^.*\/v1\//, '').replace(/tool=[^&]*&from=[^&]*&to=[^&]*&?/, ''))]);
      }
    }));
    bareMs.push(performance.now() - started);
  }
  const timings = await page.$$eval('[data-panel]', (els) => els.map((e) => `${e.dataset.panel} ${e.dataset.renderedAt}`).join(', '));
  console.log(`# speed (medians of ${runs} reloads): every panel rendered ${Math.round(median(pageMs))} ms ` +
    `after navigation; the page's ${apis.length} API requests from node, 6 at a time, no browser: ${Math.round(median(bareMs))} ms; ` +
    `ratio ${(median(pageMs) / median(bareMs)).toFixed(2)} (runs: page ${pageMs.map(Math.round).join(' ')}, bare ${bareMs.map(Math.round).join(' ')})`);
  const timeline = await page.evaluate(() => [
    ...performance.getEntriesByType('navigation').map((n) => `page ${Math.round(n.responseEnd)}`),
    ...performance.getEntriesByType('resource').slice(0, 5).map((r) => `${new URL(r.name).pathname} ${Math.round(r.startTime)}-${Math.round(r.responseEnd)}`)]);
  const phases = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((r) => new URL(r.name).pathname.startsWith('/v1/'))
    .map((r) => `${Math.round(r.startTime)}+${Math.round(r.requestStart - r.startTime)}q+${Math.round(r.responseStart - r.requestStart)}w+${Math.round(r.responseEnd - r.responseStart)}r`));
  console.log(`# last run, API requests (start+queued+waiting+reading ms): ${phases.join(' ')}`);
  console.log(`# last run, first requests (ms after navigation): ${timeline.join(', ')}`);
  console.log(`# last run, slowest bare requests: ${each.sort((a, b) => b[0] - a[0]).slice(0, 5).map(([ms, what]) => `${Math.round(ms)} ms ${what}`).join('; ')}`);
  console.log(`# last run, per panel (ms after navigation): ${timings}`);
  return { pageMs: median(pageMs), bareMs: median(bareMs) };
}

