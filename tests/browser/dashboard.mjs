// Drives the dashboard in headless Chromium (Debian's /usr/bin/chromium, via puppeteer-core from
// collector/dashboard's lockfile). Run by test_dashboard.cpp, which starts PostgreSQL and the
// collector, loads the events and writes what SQL and /v1/query say to $TK_EXPECT.
// Every wait has a deadline; any request to a host other than the collector's fails the run.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { kWait, launchChromium, measureSpeed, panelsReady } from './chromium.mjs';

const require = createRequire(join(process.env.TK_DASHBOARD_DIR, 'package.json'));
const puppeteer = require('puppeteer-core');
const expect = JSON.parse(readFileSync(process.env.TK_EXPECT, 'utf8'));
const work = process.env.TK_WORK;
const collector = new URL(expect.url);
const foreign = [];

function step(text) {
  console.log(`ok - ${text}`);
}

/** Polls `condition` every 50 ms until true or `ms` pass. */
async function waitFor(condition, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

async function newPage(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (['data:', 'blob:'].includes(url.protocol) || url.host === collector.host) return request.continue();
    foreign.push(request.url());
    request.abort();
  });
  page.on('pageerror', (error) => console.error('page error:', error.message));
  return page;
}

const cardValue = (page, metric) => page.$eval(`.card[data-metric="${metric}"]`, (e) => ({ value: e.dataset.value, text: e.querySelector('.value').textContent }));
const commandCounts = (page) => page.$$eval('[data-panel=commands] tbody tr', (rows) =>
  Object.fromEntries(rows.map((r) => [r.dataset.command, Number(r.querySelector('td.num').dataset.value)])));

function approx(text, value) {
  const match = /^([\d.]+)([kM]?)$/.exec(text);
  assert.ok(match, `"${text}" is a formatted count`);
  const shown = parseFloat(match[1]) * { '': 1, k: 1e3, M: 1e6 }[match[2]];
  assert.ok(Math.abs(shown - value) <= value * 0.05 + 0.5, `"${text}" shows ${value}`);
}

const browser = await launchChromium(puppeteer, work);

try {
  const base = `${expect.url}/`;
  const view = `tool=demo-cli&range=30d&tz=UTC`;

  // 1. The numbers: the token in the fragment, gone from the URL at once.
  const page = await newPage(browser);
  await page.goto(`${base}#token=${expect.token}&${view}`, { waitUntil: 'domcontentloaded' });
  const slowest = await panelsReady(page);
  assert.ok(!page.url().includes('token'), 'the token is taken out of the URL');
  const events = await cardValue(page, 'events');
  assert.equal(Number(events.value), expect.events);
  approx(events.text, expect.events);
  assert.equal(Number((await cardValue(page, 'installs')).value), expect.installs);
  assert.equal(Number((await cardValue(page, 'success_rate')).value), expect.successRate);
  assert.equal(Number((await cardValue(page, 'duration_p95')).value), expect.p95);
  assert.deepEqual(await commandCounts(page), expect.commands);
  const failed = await page.$eval('[data-panel=failures] .lead', (e) => Number(e.dataset.value));
  assert.equal(failed, expect.failed);
  step(`numbers equal SQL and /v1/query: ${expect.events} events, ${expect.installs} installs, commands ${JSON.stringify(expect.commands)}`);
  const timings = await page.$$eval('[data-panel]', (els) => els.map((e) => `${e.dataset.panel} ${e.dataset.renderedAt}`).join(', '));
  console.log(`# first visit: every panel rendered ${Math.round(slowest)} ms after navigation`);
  await measureSpeed(page, expect.token);

  // 2. Screenshots for docs/dashboard.md, light and dark.
  const screenshots = process.env.TK_SCREENSHOTS;
  if (screenshots) {
    await page.screenshot({ path: join(screenshots, 'dashboard.png'), fullPage: true });
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await panelsReady(page);
    await page.screenshot({ path: join(screenshots, 'dashboard-dark.png'), fullPage: true });
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
    step(`screenshots in ${screenshots}`);
  }

  // 3. A click on a value filters: the URL and the numbers change.
  await page.click('[data-panel=platforms] button[data-filter="os:linux"]');
  await page.waitForFunction(() => location.hash.includes('filter=os:linux'), kWait);
  await panelsReady(page);
  assert.equal(Number((await cardValue(page, 'events')).value), expect.linuxEvents);
  assert.deepEqual(await commandCounts(page), expect.linuxCommands);
  step(`filter click: URL ${new URL(page.url()).hash}, ${expect.linuxEvents} events`);

  // 4. The commands panel's CSV, as the browser saves it.
  const downloads = join(work, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.click('[data-panel=commands] button.csv');
  const csvName = `demo-cli-commands-${expect.from}.csv`;
  await waitFor(() => existsSync(join(downloads, csvName)) && !readdirSync(downloads).some((f) => f.endsWith('.crdownload')), 10000, csvName);
  const lines = readFileSync(join(downloads, csvName), 'utf8').trim().split('\r\n');
  assert.equal(lines[0], 'command,events,share,success_rate,duration_p95_us');
  const fromCsv = Object.fromEntries(lines.slice(1).map((l) => l.split(',')).map(([name, count]) => [name, Number(count)]));
  assert.deepEqual(fromCsv, expect.linuxCommands);
  step(`CSV download: ${lines.length - 1} commands, counts equal SQL`);
  await page.close();

  // 5. A token for several tools: the picker, then the tool's view.
  const multi = await newPage(browser);
  await multi.emulateTimezone('Europe/Berlin');  // a view without tz is UTC's, whatever the browser's zone
  await multi.goto(`${base}#token=${expect.multiToken}`, { waitUntil: 'domcontentloaded' });
  await multi.waitForSelector('#picker:not([hidden]) button.pick', kWait);
  const offered = await multi.$$eval('#picker button.pick', (els) => els.map((e) => e.textContent));
  assert.deepEqual(offered, ['demo-cli', 'other-tool']);
  await multi.evaluate(() => [...document.querySelectorAll('#picker button.pick')].find((b) => b.textContent === 'other-tool').focus());
  await multi.keyboard.press('Enter');  // keyboard-usable
  await multi.waitForFunction(() => location.hash.includes('tool=other-tool'), kWait);
  await panelsReady(multi);
  step(`tool picker offers ${offered.join(', ')}; Enter opens other-tool`);
  assert.match(await multi.evaluate(() => location.hash), /tz=UTC/, 'a view without a zone is in UTC (the daily rollups)');
  assert.equal(await multi.$eval('#tz-list option', (o) => o.value), 'Europe/Berlin', "the browser's zone is offered first");
  step("a view without a zone is in UTC; the browser's zone (Europe/Berlin) is first in the list");
  await multi.evaluate(() => { location.hash = location.hash.replace(/tz=[^&]*/, 'tz=Mars/Olympus'); });
  await multi.waitForFunction(() => document.querySelector('#error').textContent.includes('Unknown time zone'), kWait);
  step('an unknown time zone in the URL is named in a message');
  await multi.close();

  // 6. A wrong token: a clear message and the sign-in form.
  const wrong = await newPage(browser);
  await wrong.goto(`${base}#token=tkr_${'x'.repeat(43)}&${view}`, { waitUntil: 'domcontentloaded' });
  await wrong.waitForSelector('#error:not([hidden])', kWait);
  const message = await wrong.$eval('#error', (e) => e.textContent);
  assert.match(message, /unknown or revoked/);
  assert.equal(await wrong.$eval('#signin', (e) => e.hidden), false);
  step(`a wrong token shows: ${message}`);
  await wrong.type('#token', expect.token);  // then the right one, in the form
  await wrong.keyboard.press('Enter');
  await wrong.waitForSelector('#dashboard:not([hidden])', kWait);
  await panelsReady(wrong);
  assert.equal(Number((await cardValue(wrong, 'events')).value), expect.events);
  assert.equal(await wrong.$eval('#error', (e) => e.hidden), true);
  step('signing in with the form opens the tool of the URL');
  await wrong.close();

  assert.deepEqual(foreign, [], 'no request to a host other than the collector');
  step('no request to another host');
} finally {
  await browser.close();
}
