// Run by bench_dashboard.cpp: the page of the loaded tool in headless Chromium, first visit and
// reloads, next to the same API requests without a browser (tests/browser/chromium.mjs).
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { launchChromium, measureSpeed, panelsReady } from '../../tests/browser/chromium.mjs';

const require = createRequire(join(process.env.TK_DASHBOARD_DIR, 'package.json'));
const puppeteer = require('puppeteer-core');
const { TK_URL: url, TK_TOKEN: token, TK_WORK: work, TK_EVENTS: events } = process.env;
const runs = Number(process.env.TK_RUNS || 3);

const browser = await launchChromium(puppeteer, work);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(`${url}/#token=${token}&tool=demo-cli&range=30d&tz=UTC`, { waitUntil: 'domcontentloaded' });
  const first = await panelsReady(page);
  const { pageMs, bareMs } = await measureSpeed(page, token, runs);
  console.log(`dashboard, ${events} events in the page's 30 days: every panel rendered ${Math.round(pageMs)} ms after ` +
    `navigation (median of ${runs} reloads; first visit ${Math.round(first)} ms); the same API requests without a browser: ` +
    `${Math.round(bareMs)} ms; ratio ${(pageMs / bareMs).toFixed(2)}; target <= 1000 ms: ${pageMs <= 1000 ? 'met' : 'NOT met'}`);
} finally {
  await browser.close();
}
