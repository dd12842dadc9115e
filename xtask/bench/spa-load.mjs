// `cargo xtask bench`: how long the signed-in API Keys page takes to show its keys.
//
//   node xtask/bench/spa-load.mjs BASE_URL [USERNAME] [PASSWORD]
//
// (or BENCH_USERNAME / BENCH_PASSWORD; BENCH_KEYS, BENCH_RUNS to change the counts).
// Signs in through the API, creates the keys, then in Debian's Chromium (headless,
// driven by playwright-core from tests/node_modules) opens BASE_URL/keys once with an
// empty cache and BENCH_RUNS times more in the same browser context (assets cached,
// as for a returning user). Each run is timed in the page, from navigation start
// (performance.timeOrigin) to the moment the table holds every key; the time around
// `page.goto` + the wait is reported beside it. Prints one line of JSON on stdout.

import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const require = createRequire(join(root, 'tests', 'package.json'));
const { chromium } = require('playwright-core');

const [base, username = process.env.BENCH_USERNAME, password = process.env.BENCH_PASSWORD] =
  process.argv.slice(2);
if (!base || !username || !password) {
  console.error('usage: node xtask/bench/spa-load.mjs BASE_URL USERNAME PASSWORD');
  process.exit(2);
}
const KEYS = Number(process.env.BENCH_KEYS ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const ROWS = '#keys-table tbody tr';

// Sign in: the session cookie(s), and the CSRF token for the key creations.
const signedIn = await fetch(`${base}/api/v1/session`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ username, password }),
});
if (signedIn.status !== 200) {
  throw new Error(`sign-in answered ${signedIn.status}: ${await signedIn.text()}`);
}
const { csrf_token: csrf } = await signedIn.json();
const cookies = signedIn.headers.getSetCookie().map((c) => {
  const [pair] = c.split(';');
  const eq = pair.indexOf('=');
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), url: base };
});
const cookieHeader = cookies.map((c) => `${c.name}=${c.value}`).join('; ');

for (let i = 0; i < KEYS; i++) {
  const r = await fetch(`${base}/api/v1/api-keys`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Cookie: cookieHeader, 'X-CSRF-Token': csrf },
    body: JSON.stringify({ name: `bench key ${i}`, permission: 'read_only' }),
  });
  if (r.status !== 201 && r.status !== 200) {
    throw new Error(`creating key ${i} answered ${r.status}: ${await r.text()}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies(cookies);
  // Runs in every document before the app's scripts (through the debugging protocol,
  // so the page's CSP does not apply): notes when the table first holds `want` rows.
  await context.addInitScript(({ selector, want }) => {
    const check = () => {
      if (window.__benchRowsAt === undefined && document.querySelectorAll(selector).length >= want) {
        window.__benchRowsAt = performance.now();
      }
    };
    new MutationObserver(check).observe(document, { childList: true, subtree: true });
  }, { selector: ROWS, want: KEYS });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  const once = async () => {
    const started = Date.now();
    await page.goto(`${base}/keys`, { waitUntil: 'commit' });
    await page.waitForFunction(
      ({ selector, want }) => document.querySelectorAll(selector).length >= want,
      { selector: ROWS, want: KEYS },
      { timeout: 30_000, polling: 'raf' },
    );
    const wall = Date.now() - started;
    const inPage = await page.evaluate(() => window.__benchRowsAt);
    if (!new URL(page.url()).pathname.startsWith('/keys')) {
      throw new Error(`the page went to ${page.url()} instead of /keys`);
    }
    if (errors.length) throw new Error(`script errors: ${errors.join('\n')}`);
    return { ms: inPage ?? wall, wall_ms: wall };
  };

  const cold = await once();
  const warm = [];
  for (let i = 0; i < RUNS; i++) warm.push(await once());

  const sorted = warm.map((r) => r.ms).sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const median = sorted.length % 2
    ? sorted[(sorted.length - 1) / 2]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const round = (x) => Math.round(x * 10) / 10;
  const walls = warm.map((r) => r.wall_ms).sort((a, b) => a - b);
  console.log(JSON.stringify({
    keys: KEYS,
    runs: RUNS,
    cold_ms: round(cold.ms),
    cold_wall_ms: cold.wall_ms,
    median_ms: round(median),
    p90_ms: round(at(0.9)),
    max_ms: round(sorted[sorted.length - 1]),
    min_ms: round(sorted[0]),
    median_wall_ms: walls[Math.floor((walls.length - 1) / 2)],
    samples_ms: sorted.map(round),
  }));
} finally {
  await browser.close();
}
