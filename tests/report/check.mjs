// Opens an HTML page in headless Chromium and prints one line of JSON: what the
// page logged as errors or warnings, the exceptions it threw, the requests that
// failed, and its structure (bands of the narrowing SVG, section ids, title).
// Saves a full-page screenshot. Exits nonzero only when the browser itself fails.
//
//   node check.mjs PAGE.html SCREENSHOT.png
//
// Uses Debian's chromium (OPML_CHROMIUM overrides the path), never a Playwright
// browser download: `./dev setup` installs both it and this package.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [page_path, shot_path] = process.argv.slice(2);
if (!page_path || !shot_path) {
  console.error('usage: node check.mjs PAGE.html SCREENSHOT.png');
  process.exit(2);
}

const executablePath = process.env.OPML_CHROMIUM || '/usr/bin/chromium';
// The machine has no network: these keep Chromium from trying to reach it
// (and from hanging or logging on the attempt).
const args = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let browser;
try {
  browser = await chromium.launch({ executablePath, args, headless: true, timeout: 60_000 });
} catch (e) {
  console.error(`cannot launch Chromium at ${executablePath} (run ./dev setup): ${e.message}`);
  process.exit(1);
}

const result = { console_errors: [], page_errors: [], failed_requests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      result.console_errors.push(`${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => result.page_errors.push(e.message));
  page.on('requestfailed', (r) => {
    result.failed_requests.push(`${r.url()}: ${r.failure()?.errorText ?? 'failed'}`);
  });
  await page.goto('file://' + path.resolve(page_path), { waitUntil: 'load', timeout: 30_000 });
  Object.assign(
    result,
    await page.evaluate(() => {
      const svg = document.querySelector('svg#bands')?.getBoundingClientRect();
      return {
        bands: document.querySelectorAll('svg#bands g.band').length,
        sections: [...document.querySelectorAll('section[id]')].map((s) => s.id),
        svg: svg ? { width: svg.width, height: svg.height } : null,
        title: document.title,
      };
    }),
  );
  await page.screenshot({ path: shot_path, fullPage: true });
} catch (e) {
  console.error(`Chromium failed on ${page_path} (run ./dev setup if it is not installed): ${e.message}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log(JSON.stringify(result));
