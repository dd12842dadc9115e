// A developer registers the sample app of examples/ in the browser; a person signs in
// to it through Gatehouse's real sign-in and consent pages, the app reads their
// profile and keys, and revoking it under Authorized Applications cuts it off.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, newPage, signIn, review, revealedSecret, apiSession, expectVisible,
} from './harness.mjs';

let gh;
let browser;
setup((g, b) => {
  gh = g;
  browser = b;
});

/** Registers a client through the OAuth Clients tab; answers its id and secret. The
 *  app's root is its sign-out return URL; `device` also ticks device sign-in. */
async function registerClient(page, name, callback, type, { device = false } = {}) {
  await page.goto(`${gh.url}/clients`);
  await page.getByRole('button', { name: 'Create new client' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByLabel('Application name').fill(name);
  await dialog.getByLabel('Callback URLs').fill(callback);
  await dialog.getByLabel('Homepage (optional)').fill('https://sample.example.com');
  await dialog.getByLabel('Sign-out return URLs (optional)').fill(new URL('/', callback).href);
  if (device) await dialog.getByLabel(/Device sign-in/).check();
  await dialog.getByLabel(type === 'public' ? /Public/ : /Confidential/).check();
  await review(page, `clients-create-${type}`);
  await dialog.getByRole('button', { name: 'Create client' }).click();
  let secret = null;
  if (type === 'confidential') {
    secret = await revealedSecret(page);
    assert.match(secret, /^gats_/);
    await review(page, 'clients-secret-panel');
    await page.getByRole('button', { name: 'I have copied it' }).click();
  } else {
    await page.locator('dialog[open]').getByText('has no secret').waitFor();
    await page.locator('dialog[open]').getByRole('button', { name: 'Done' }).click();
  }
  const row = page.locator('#clients-table tbody tr', { hasText: name });
  await row.waitFor();
  const clientId = (await row.locator('code').first().textContent()).trim();
  assert.match(clientId, /^[0-9a-f]{32}$/);
  return { clientId, secret };
}

for (const type of ['confidential', 'public']) {
  test(`the sample app (${type} client) signs a person in through Gatehouse, then loses access when revoked`, async () => {
    const port = await import('./harness.mjs').then((h) => h.freePort());
    const callback = `http://127.0.0.1:${port}/callback`;
    const page = await newPage(browser);
    await signIn(page, gh.url, gh.admin);
    await page.waitForURL(`${gh.url}/apps`);
    const name = `Sample ${type}`;
    const { clientId, secret } = await registerClient(page, name, callback, type);
    await review(page, 'clients-list');
    // The sample app listens on the port registered as its callback.
    const sample = await startSampleAppOn(port, clientId, secret);
    try {
      // Give the person a key the app will list.
      const api = await apiSession(gh.url, gh.admin);
      assert.equal((await api('POST', '/api-keys', { name: `key for ${type}`, permission: 'read_only' })).status, 201);

      // A fresh browser: not signed in to Gatehouse.
      const person = await newPage(browser);
      await person.goto(sample.url);
      await person.locator('#sign-in').click();
      await person.waitForURL(/\/login\?next=/);
      await person.getByText('An application asked you to sign in').waitFor();
      await person.getByLabel('Username').fill(gh.admin.username);
      await person.getByLabel('Password').fill(gh.admin.password);
      await person.getByRole('button', { name: 'Sign in', exact: true }).click();
      // The consent page: the app's name, who registered it, the scopes in words.
      await person.waitForURL(/\/authorize\?request=/);
      await person.locator('#consent-title').filter({ hasText: name }).waitFor();
      await person.locator('#registered-by').waitFor();
      await person.getByText('See your e-mail address').waitFor();
      await review(person, `consent-${type}`);
      await person.locator('#allow').click();
      // Back in the sample app, signed in.
      await person.waitForURL(`${sample.url}/`);
      await person.locator('#profile-sub').waitFor();
      await person.locator('#api-keys li', { hasText: `key for ${type}` }).waitFor();
      // Refresh rotates the token and keeps working.
      await person.locator('#refresh').click();
      await expectVisible(person, person.locator('#refresh-result').filter({ hasText: /refreshed/i }));
      await person.locator('#api-keys').waitFor();

      // The app appears under Authorized Applications; revoke it.
      await page.goto(`${gh.url}/apps`);
      const card = page.locator('#apps-list li', { hasText: name });
      await card.locator('.badge', { hasText: 'Active' }).waitFor();
      await card.getByRole('heading', { name: 'It can', exact: true }).waitFor();
      await review(page, 'apps');
      await card.getByRole('button', { name: `Revoke access for ${name}` }).click();
      await page.locator('dialog[open]').getByRole('button', { name: 'Revoke access' }).click();
      await card.locator('.badge', { hasText: 'Revoked' }).waitFor();
      await card.getByText('sign in to it with Gatehouse').waitFor();
      // What it could do, in the past tense: it can no longer.
      await card.getByRole('heading', { name: 'It could', exact: true }).waitFor();
      await review(page, 'apps-revoked');

      // The app has lost access at once.
      await person.goto(`${sample.url}/`);
      await person.locator('#api-error').filter({ hasText: '401' }).waitFor();
      await person.locator('#refresh').click();
      await person.locator('#refresh-result').filter({ hasText: 'invalid_grant' }).waitFor();

      // Signing out of the app signs out of Gatehouse too (RP-Initiated Logout with
      // the id_token as the hint: no question asked), and comes back to the app.
      await person.locator('#sign-out').click();
      await expectVisible(person, person.locator('#sign-in'));
      const gone = await person.request.get(`${gh.url}/api/v1/session`);
      assert.equal(gone.status(), 401, 'the Gatehouse session ended');
      // Signing in through the app again: the password, then consent (the person
      // revoked the app above), and the app is authorized again.
      await person.locator('#sign-in').click();
      await person.waitForURL(/\/login\?next=/);
      await person.getByLabel('Username').fill(gh.admin.username);
      await person.getByLabel('Password').fill(gh.admin.password);
      await person.getByRole('button', { name: 'Sign in', exact: true }).click();
      await person.waitForURL(/\/authorize\?request=/);
      await person.locator('#allow').click();
      await person.waitForURL(`${sample.url}/`);
      await person.locator('#api-keys li', { hasText: `key for ${type}` }).waitFor();
      await page.reload();
      await card.locator('.badge', { hasText: 'Active' }).waitFor();
      await person.context().close();
    } finally {
      await sample.stop();
    }
    await page.context().close();
  });
}

test('the sample app signs a person in from a terminal with a device code (device-login)', async () => {
  const port = await import('./harness.mjs').then((h) => h.freePort());
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin);
  await page.waitForURL(`${gh.url}/apps`);
  const { clientId } = await registerClient(page, 'Sample CLI', `http://127.0.0.1:${port}/callback`, 'public', { device: true });
  const { SAMPLE_APP_BIN } = await import('./harness.mjs');
  const { spawn } = await import('node:child_process');
  const cli = spawn(SAMPLE_APP_BIN, ['--gatehouse', gh.url, '--client-id', clientId, 'device-login'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  cli.stdout.on('data', (c) => { out += c; });
  cli.stderr.on('data', (c) => { out += c; });
  const exited = new Promise((ok) => cli.once('exit', ok));
  try {
    // The terminal says where to go and what to type.
    for (let i = 0; i < 200 && !/enter the code/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    const [, uri, code] = out.match(/open (\S+) in your browser and enter the code (\S+)/) ?? [];
    assert.equal(uri, `${gh.url}/device`, out);
    assert.match(code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    // The person types it (in lower case, as people do) on the device page.
    await page.goto(uri);
    await page.locator('#device-warning').waitFor();
    await review(page, 'device-enter');
    await page.getByLabel('Code').fill(code.toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#device-title').filter({ hasText: 'Sample CLI' }).waitFor();
    assert.equal((await page.locator('#device-code').textContent()).trim(), code);
    await review(page, 'device-decide');
    await page.locator('#allow').click();
    await page.locator('#device-done').filter({ hasText: 'Device connected' }).waitFor();
    await review(page, 'device-done');
    // The terminal goes on by itself: signed in as the admin, with their keys.
    assert.equal(await exited, 0, out);
    assert.match(out, new RegExp(`Signed in as ${gh.admin.username} \\(`), out);
    assert.match(out, /Your API keys: \d+/, out);
    // It is an authorized application like any other.
    await page.goto(`${gh.url}/apps`);
    await page.locator('#apps-list li', { hasText: 'Sample CLI' }).locator('.badge', { hasText: 'Active' }).waitFor();
  } finally {
    cli.kill('SIGTERM');
  }
  await page.context().close();
});

test('denying the consent sends the person back to the app with access_denied', async () => {
  const port = await import('./harness.mjs').then((h) => h.freePort());
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin);
  await page.waitForURL(`${gh.url}/apps`);
  const { clientId, secret } = await registerClient(page, 'Sample denied', `http://127.0.0.1:${port}/callback`, 'confidential');
  const sample = await startSampleAppOn(port, clientId, secret);
  try {
    await page.goto(sample.url);
    await page.locator('#sign-in').click();
    await page.waitForURL(/\/authorize\?request=/);
    await page.locator('#deny').click();
    await page.locator('#error').filter({ hasText: /denied/i }).waitFor();
    await page.goto(`${gh.url}/apps`);
    assert.equal(await page.locator('#apps-list li', { hasText: 'Sample denied' }).count(), 0);
  } finally {
    await sample.stop();
  }
  await page.context().close();
});

test('prompt=login: a signed-in person is asked for their password again before the app gets a code', async () => {
  const port = await import('./harness.mjs').then((h) => h.freePort());
  const callback = `http://127.0.0.1:${port}/callback`;
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin);
  await page.waitForURL(`${gh.url}/apps`);
  const { clientId } = await registerClient(page, 'Sample reauth', callback, 'confidential');
  // Nothing listens on the callback: the browser's arrival there is answered here.
  await page.route(`http://127.0.0.1:${port}/**`, (route) => route.fulfill({ body: 'back at the app' }));
  const authorize = `${gh.url}/oauth/authorize?response_type=code&client_id=${clientId}`
    + `&redirect_uri=${encodeURIComponent(callback)}&scope=api%3Aread&state=s1&prompt=login`;
  await page.goto(authorize);
  // Signed in, yet the sign-in page stays and says why.
  await page.waitForURL(/\/login\?next=.*reauth=1/);
  await page.getByText('confirm it is you').waitFor();
  await review(page, 'login-reauth');
  await page.waitForTimeout(300);
  assert.match(page.url(), /\/login\?/, 'the existing session did not count');
  await page.getByLabel('Username').fill(gh.admin.username);
  await page.getByLabel('Password').fill(gh.admin.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  // The new sign-in goes on to the consent page, then back to the app with a code.
  await page.waitForURL(/\/authorize\?request=/);
  await page.locator('#allow').click();
  await page.waitForURL((u) => u.href.startsWith(callback));
  const back = new URL(page.url());
  assert.ok(back.searchParams.get('code'), page.url());
  assert.equal(back.searchParams.get('state'), 's1');
  await page.context().close();
});

async function startSampleAppOn(port, clientId, secret) {
  const { SAMPLE_APP_BIN } = await import('./harness.mjs');
  const { spawn } = await import('node:child_process');
  const url = `http://127.0.0.1:${port}`;
  const args = ['--gatehouse', gh.url, '--client-id', clientId, '--listen', `127.0.0.1:${port}`, '--public-url', url];
  if (secret) args.push('--client-secret', secret);
  const proc = spawn(SAMPLE_APP_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (c) => { log += c; });
  proc.stderr.on('data', (c) => { log += c; });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).status < 500) break;
    } catch { /* not yet */ }
    if (proc.exitCode !== null) throw new Error(`sample app exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((ok) => (proc.exitCode !== null ? ok() : proc.once('exit', ok)));
    },
  };
}
