// Run by bench_dashboard.cpp: the page of one tool in headless Chromium, per panel, for each view
// (the default 30 days and 13 months), next to the same panel's API requests made without a
// browser in the same run; and the page's own bytes, compressed, against the 300 KiB budget.
//
// A panel's time is its `tk-panel:NAME` performance mark (panels.js: set when the panel is drawn,
// ms after navigation start, with the API paths it waited for). Its limit in the same run is
// those paths asked from node alone (at once, as the panel asks them; nothing else running), and
// the target is 1 s (issue 11).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import http from 'node:http';

import { launchChromium, panelsReady } from '../../tests/browser/chromium.mjs';

const require = createRequire(join(process.env.TK_DASHBOARD_DIR, 'package.json'));
const puppeteer = require('puppeteer-core');
const { TK_URL: url, TK_TOKEN: token, TK_WORK: work, TK_TOOL: tool } = process.env;
const runs = Number(process.env.TK_RUNS || 3);
const kTargetMs = 1000;
const kBudgetBytes = 300 * 1024;

const median = (values) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ms = (value) => String(Math.round(value)).padStart(6);

/** `date` ("YYYY-MM-DD") plus `days`, as the page counts. */
function addDays(date, days) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** The marks of the last load: {panel: {at, requests, answered}}; `answered` is when the last of
 * its requests was read (resource timing), so `at - answered` is the page's own work for it. */
function panelMarks(page) {
  return page.evaluate(() => {
    const ends = new Map(performance.getEntriesByType('resource').map((r) => [r.name, r.responseEnd]));
    return Object.fromEntries(performance.getEntriesByType('mark')
      .filter((m) => m.name.startsWith('tk-panel:'))
      .map((m) => [m.name.slice('tk-panel:'.length), { at: m.startTime, requests: m.detail.requests,
        answered: Math.max(...m.detail.requests.map((path) => ends.get(new URL(path, location.href).href) ?? NaN)) }]));
  });
}

/** Ms until every one of `paths` has answered, asked at once from node (no browser). */
async function bare(paths) {
  const started = performance.now();
  await Promise.all(paths.map(async (path) => {
    const response = await fetch(url + path, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(60000) });
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  }));
  return performance.now() - started;
}

/** Bytes on the wire (gzip accepted) of the page and the files it names, as a first visit gets them. */
function compressedBytes(path) {
  return new Promise((resolve, reject) => {
    http.get(url + path, { headers: { 'Accept-Encoding': 'gzip' } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks)));
    }).on('error', reject);
  });
}

async function assets() {
  const page = await compressedBytes('/');
  const { gunzipSync } = await import('node:zlib');
  const html = gunzipSync(page).toString();
  const files = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]);
  let total = page.length;
  for (const file of new Set(files)) total += (await compressedBytes(file)).length;
  return total;
}

/** First visit and `runs` reloads of `fragment`; prints a row per panel. */
async function measure(page, name, fragment) {
  await page.goto(`${url}/${fragment}`, { waitUntil: 'domcontentloaded' });
  const first = await panelsReady(page);
  const perPanel = {};  // panel -> {page: [ms], bare: [ms], requests}
  const whole = { page: [], bare: [] };
  for (let run = 0; run < runs; ++run) {
    await page.reload({ waitUntil: 'domcontentloaded' });
    whole.page.push(await panelsReady(page));
    const marks = await panelMarks(page);
    for (const [panel, mark] of Object.entries(marks)) {
      perPanel[panel] ??= { page: [], bare: [], render: [], requests: mark.requests };
      perPanel[panel].page.push(mark.at);
      perPanel[panel].render.push(mark.at - mark.answered);
    }
    // Each panel's requests alone, one panel after the other: the API's answer time for it.
    for (const entry of Object.values(perPanel)) entry.bare.push(await bare(entry.requests));
    whole.bare.push(await bare([...new Set(Object.values(perPanel).flatMap((e) => e.requests))]));
  }
  const requests = new Set(Object.values(perPanel).flatMap((e) => e.requests)).size;
  console.log(`\n${name}: ${requests} API requests (+ /v1/tools); medians of ${runs} reloads (first load in a new tab: every panel ${Math.round(first)} ms)`);
  console.log(`${'panel'.padEnd(10)} ${'drawn ms'.padStart(8)} ${'limit'.padStart(6)} ${'API alone'.padStart(10)} ${'ratio'.padStart(6)}  requests  ` +
    `${'answered'.padStart(8)} ${'render'.padStart(6)}  runs (page / API)`);
  let met = 0;
  for (const [panel, e] of Object.entries(perPanel)) {
    const drawn = median(e.page);
    const api = median(e.bare);
    met += drawn <= kTargetMs;
    console.log(`${panel.padEnd(10)} ${ms(drawn).padStart(8)} ${ms(kTargetMs)} ${ms(api).padStart(10)} ${(drawn / api).toFixed(2).padStart(6)}  ` +
      `${String(e.requests.length).padStart(8)}  ${ms(drawn - median(e.render)).padStart(8)} ${ms(median(e.render))}  ` +
      `${e.page.map(Math.round).join(' ')} / ${e.bare.map(Math.round).join(' ')}`);
  }
  const all = median(whole.page);
  const api = median(whole.bare);
  console.log(`${'every'.padEnd(10)} ${ms(all).padStart(8)} ${ms(kTargetMs)} ${ms(api).padStart(10)} ${(all / api).toFixed(2).padStart(6)}  ` +
    `${String(requests).padStart(8)}  ${''.padStart(8)} ${''.padStart(6)}  ${whole.page.map(Math.round).join(' ')} / ${whole.bare.map(Math.round).join(' ')}  (API: all at once from node)`);
  console.log(`${name}: ${met} of ${Object.keys(perPanel).length} panels drawn <= ${kTargetMs} ms (median)`);
  const slow = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((r) => new URL(r.name).pathname.startsWith('/v1/'))
    .sort((a, b) => b.responseEnd - a.responseEnd).slice(0, 6)
    .map((r) => `${Math.round(r.startTime)}+${Math.round(r.requestStart - r.startTime)}q+${Math.round(r.responseStart - r.requestStart)}w ` +
      decodeURIComponent(r.name.replace(/^.*\/v1\//, '').replace(/tool=[^&]*&from=[^&]*&to=[^&]*&?/, ''))));
  console.log(`# last reload, the latest answers (start+queued+waiting ms): ${slow.join('; ')}`);
}

const browser = await launchChromium(puppeteer, work);
try {
  const bytes = await assets();
  console.log(`page code and assets: ${(bytes / 1024).toFixed(1)} KiB compressed (budget ${kBudgetBytes / 1024} KiB): ` +
    `${bytes <= kBudgetBytes ? 'met' : 'NOT met'}`);
  const tomorrow = addDays(new Date().toISOString().slice(0, 10), 1);
  // The default view is the page's own: no range (the last 30 days) and no zone (UTC).
  const views = [['default view (last 30 days, UTC)', ''],
    ['13 months', `&range=custom&from=${addDays(tomorrow, -395)}&to=${tomorrow}&tz=UTC`]];
  // The collector's once-per-process work (it reads the time-zone names on its first query)
  // before the first visit, so that a first visit measures the browser's cold start only.
  await bare([`/v1/query?tool=${encodeURIComponent(tool)}&metric=events`]);
  for (const [name, range] of views) {
    const page = await browser.newPage();  // a tab each (the token lives in the tab's sessionStorage)
    await page.setViewport({ width: 1280, height: 900 });
    await measure(page, name, `#token=${token}&tool=${tool}${range}`);
    await page.close();
  }
} finally {
  await browser.close();
}
