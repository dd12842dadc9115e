// Shared pieces of the browser tests: a real Gatehouse server on a fresh SQLite
// database, Debian's Chromium driven by playwright-core, axe-core checks, screenshots,
// and a small API client for setting up data.
//
// `cargo xtask test` sets GATEHOUSE_BIN, SAMPLE_APP_BIN and GATEHOUSE_WEB_DIR.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const root = resolve(import.meta.dirname, '..', '..');
export const GATEHOUSE_BIN = process.env.GATEHOUSE_BIN ?? join(root, 'target/debug/gatehouse');
export const SAMPLE_APP_BIN = process.env.SAMPLE_APP_BIN ?? join(root, 'target/debug/sample-app');
export const WEB_DIR = process.env.GATEHOUSE_WEB_DIR ?? join(root, 'frontend/dist');
export const SCREENSHOTS = process.env.SCREENSHOTS_DIR ?? join(root, 'target/screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 740 };

export async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** Starts `gatehouse serve` on a fresh SQLite database; answers its URL and first admin.
 *  Its standard output is a pipe, not a terminal, so the server writes the first admin
 *  to `first-admin-password` in its data directory instead of printing them. */
export async function startGatehouse({ host = '127.0.0.1' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-browser-'));
  const port = await freePort();
  // Passkeys need a host name (browsers refuse an IP address as WebAuthn's RP id):
  // those tests use `localhost`, which is as much a secure context as 127.0.0.1.
  const url = `http://${host}:${port}`;
  const proc = spawn(GATEHOUSE_BIN, [
    '--database-url', `sqlite://${join(dir, 'gatehouse.db')}`,
    '--data-dir', dir,
    '--listen', `127.0.0.1:${port}`,
    '--public-url', url,
    '--web-dir', WEB_DIR,
    'serve',
  ], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // The test's apps (back-channel logout receivers) listen on loopback addresses,
    // which Gatehouse refuses to call unless told.
    env: { ...process.env, GATEHOUSE_LOG: 'warn', GATEHOUSE_OUTBOUND_ALLOW_PRIVATE: 'true' },
  });
  let out = '';
  proc.stdout.on('data', (chunk) => { out += chunk; });
  proc.stderr.on('data', (chunk) => { out += chunk; });
  await waitUntilUp(`${url}/healthz`, proc, () => out);
  const file = readFileSync(join(dir, 'first-admin-password'), 'utf8');
  const username = file.match(/^username:\s*(\S+)/m)[1];
  const password = file.match(/^password:\s*(\S+)/m)[1];
  assert.ok(!out.includes(password), 'the first admin\'s password reached the output');
  return {
    url,
    admin: { username, password },
    /** Moves a person's last password confirmation an hour back (sudo mode ends
     *  after ten minutes), in the server's SQLite file, as the API tests move time. */
    ageSudo(user) {
      const script = [
        'import sqlite3, sys',
        'db = sqlite3.connect(sys.argv[1], timeout=10)',
        "db.execute(\"UPDATE sessions SET verified_at = datetime('now', '-1 hour') WHERE user_id = (SELECT id FROM users WHERE username = ?)\", (sys.argv[2],))",
        'db.commit()',
      ].join('\n');
      execFileSync('python3', ['-c', script, join(dir, 'gatehouse.db'), user], { stdio: 'inherit' });
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((ok) => (proc.exitCode !== null ? ok() : proc.once('exit', ok)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `url` answers; fails at once, with the output, if `proc` exits first. */
async function waitUntilUp(url, proc, output) {
  for (let i = 0; i < 1200; i++) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`gatehouse exited with ${proc.exitCode ?? proc.signalCode}:\n${output()}`);
    }
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never answered:\n${output()}`);
}


export async function launchBrowser() {
  // playwright gives every launch a fresh, throwaway profile directory of its own.
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** A page whose console errors and failed responses are collected. */
export async function newPage(browser, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

/** Runs axe-core on the page: no serious or critical violation is allowed. */
export async function checkA11y(page, name) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  // Evaluated through the debugging protocol: the app's CSP rightly refuses inline scripts.
  if (!has) await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const text = bad.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join('\n  ')}`).join('\n');
  assert.equal(bad.length, 0, `accessibility violations on ${name}:\n${text}`);
}

/** Screenshots at desktop and phone width, then back to where it was. */
export async function screenshots(page, name) {
  const size = page.viewportSize();
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-phone.png`), fullPage: true });
  // Nothing may stick out sideways on a phone except inside scrolling tables and tabs.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${name} is ${overflow}px wider than a phone screen`);
  await checkA11y(page, `${name} (phone)`);
  await page.setViewportSize(size);
}

/** Every page: accessible at desktop width and phone width, screenshots of both. */
export async function review(page, name) {
  await checkA11y(page, name);
  await screenshots(page, name);
  assert.deepEqual(page.errors, [], `script errors on ${name}`);
}

export async function signIn(page, base, { username, password }, next) {
  await page.goto(`${base}/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** A signed-in API session for setting up data (cookie + CSRF token). */
export async function apiSession(base, { username, password }) {
  const res = await fetch(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(res.status, 200, `sign-in of ${username}`);
  const cookie = res.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf } = await res.json();
  return async (method, path, body) => {
    const r = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { Cookie: cookie, 'X-CSRF-Token': csrf, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}

/** The secret shown in the one-time panel. */
export async function revealedSecret(page) {
  const input = page.locator('dialog[open] [data-secret]');
  await input.waitFor();
  return input.inputValue();
}

/** Waits for `locator`; on failure the error carries what the page showed instead. */
export async function expectVisible(page, locator, ms = 15_000) {
  try {
    await locator.waitFor({ timeout: ms });
  } catch (e) {
    const text = await page.locator('body').innerText().catch(() => '(no page)');
    throw new Error(`${e.message}\n--- the page at ${page.url()} showed:\n${text.slice(0, 2000)}`);
  }
}

/** One Gatehouse and one browser for a test file: `ready(gatehouse, browser)` before its
 *  tests, both stopped after them. */
export function setup(ready, options) {
  let gh;
  let browser;
  before(async () => {
    gh = await startGatehouse(options);
    browser = await launchBrowser();
    ready(gh, browser);
  });
  after(async () => {
    await browser?.close();
    await gh?.stop();
  });
}
