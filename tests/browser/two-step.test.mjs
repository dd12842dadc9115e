// Two-step sign-in in the web app: a person adds an authenticator app from the
// profile page (the code computed here from the key the page shows, as an app would,
// with node's own HMAC), keeps the recovery codes, signs in with a code, then with a
// recovery code, and finally removes the app.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { setup, newPage, signIn, review, apiSession, expectVisible, revealedSecret, PHONE } from './harness.mjs';

let gh;
let browser;
setup((g, b) => {
  gh = g;
  browser = b;
});

/** RFC 4648 base32 to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238: the 6-digit code for `secret` at `unixSeconds`. */
function totp(secret, unixSeconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/**
 * A code from a step no earlier code of `secret` was made in (a code works once). The
 * server accepts the step before and after the current one (clocks drift), as
 * authenticator apps rely on, so up to three codes are at hand without waiting for the
 * clock: the step before only early in a step, so that it is still accepted on arrival.
 */
const lastSteps = new Map();
async function freshCode(secret) {
  for (;;) {
    const now = Date.now() / 1000;
    const current = Math.floor(now / 30);
    const last = lastSteps.get(secret) ?? -Infinity;
    const usable = [current - 1, current, current + 1].filter(
      (step) => step > last && (step !== current - 1 || now % 30 < 20),
    );
    if (usable.length > 0) {
      lastSteps.set(secret, usable[0]);
      return totp(secret, usable[0] * 30);
    }
    await new Promise((r) => setTimeout(r, (30 - (now % 30)) * 1000 + 200));
  }
}

test('two-step sign-in: add an app, sign in with a code and with a recovery code, remove it', { timeout: 180_000 }, async () => {
  const admin = await apiSession(gh.url, gh.admin);
  const lin = { username: 'lin@example.com', password: 'first passphrase 123' };
  assert.equal((await admin('POST', '/users', { ...lin, role: 'viewer' })).status, 201);
  const page = await newPage(browser);
  await signIn(page, gh.url, lin, '/profile');
  await page.waitForURL(`${gh.url}/profile`);
  const section = page.getByRole('region', { name: 'Two-step sign-in' });
  await section.getByText('Off: your password alone signs you in.').waitFor();

  await section.getByRole('button', { name: 'Add an authenticator app' }).click();
  await section.locator('.qr svg').waitFor();
  const secret = (await section.locator('#totp-secret').textContent()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await review(page, 'profile-two-step-enrol');
  await section.getByLabel('Code the app shows').fill('000000');
  await section.getByRole('button', { name: 'Turn on' }).click();
  await section.getByRole('alert').waitFor();
  await section.getByLabel('Code the app shows').fill(await freshCode(secret));
  await section.getByLabel('Name').fill('Lin\'s phone');
  await section.getByRole('button', { name: 'Turn on' }).click();
  const recovery = section.locator('#recovery-codes li');
  await recovery.first().waitFor();
  const codes = await recovery.allTextContents();
  assert.equal(codes.length, 10);
  await section.getByText('On: signing in asks for a passkey or a code').waitFor();
  await section.getByText('Lin\'s phone').waitFor();
  await review(page, 'profile-two-step-on');
  await page.context().close();

  // Sign in: the password, then a code from the app.
  const again = await newPage(browser);
  await signIn(again, gh.url, lin, '/keys');
  const code = again.getByLabel('Code from your authenticator app');
  await code.waitFor();
  assert.equal(new URL(again.url()).pathname, '/login', 'not signed in yet');
  await review(again, 'login-second-step');
  await code.fill('123456');
  await again.getByRole('button', { name: 'Continue' }).click();
  await again.getByRole('alert').filter({ hasText: /not right/ }).waitFor();
  await code.fill(await freshCode(secret));
  await again.getByRole('button', { name: 'Continue' }).click();
  await again.waitForURL(`${gh.url}/keys`);
  await again.context().close();

  // On a phone, with a recovery code instead.
  const phone = await newPage(browser, PHONE);
  await signIn(phone, gh.url, lin, '/apps');
  await phone.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await phone.getByLabel('Recovery code').fill(codes[0].toUpperCase());
  await phone.getByRole('button', { name: 'Continue' }).click();
  await phone.waitForURL(`${gh.url}/apps`);
  // Removed from the profile page: the password alone signs in again.
  await phone.goto(`${gh.url}/profile`);
  const mine = phone.getByRole('region', { name: 'Two-step sign-in' });
  await mine.getByRole('button', { name: 'Remove Lin\'s phone' }).click();
  await expectVisible(phone, mine.getByText('Off: your password alone signs you in.'));
  await phone.context().close();
  const plain = await fetch(`${gh.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(lin),
  });
  assert.equal(plain.status, 200);
});

test('sudo mode asks for the password again in a dialog; the policy takes people to set up a second step', { timeout: 240_000 }, async () => {
  const admin = await apiSession(gh.url, gh.admin);
  const mo = { username: 'mo@example.com', password: 'mo passphrase 12345' };
  assert.equal((await admin('POST', '/users', { ...mo, role: 'editor' })).status, 201);
  const page = await newPage(browser);
  await signIn(page, gh.url, mo, '/keys');
  await page.waitForURL(`${gh.url}/keys`);
  // An hour since mo last gave the password: a full-access key asks for it again.
  gh.ageSudo(mo.username);
  await page.getByRole('button', { name: 'Create API key' }).click();
  const form = page.locator('dialog[open]').filter({ hasText: 'Name' });
  await form.getByLabel('Name').fill('deploy');
  await form.getByLabel(/Full access/).check();
  await form.getByRole('button', { name: 'Create key' }).click();
  const sudo = page.getByRole('dialog', { name: 'Confirm it is you' });
  await expectVisible(page, sudo);
  await review(page, 'sudo-dialog');
  await sudo.getByLabel('Password').fill('not the password at all');
  await sudo.getByRole('button', { name: 'Confirm' }).click();
  await sudo.getByRole('alert').filter({ hasText: /not right/ }).waitFor();
  await sudo.getByLabel('Password').fill(mo.password);
  await sudo.getByRole('button', { name: 'Confirm' }).click();
  // The request went on by itself: the new key's secret is shown.
  const secret = await revealedSecret(page);
  assert.match(secret, /^gatk_/);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  await page.locator('#keys-table tbody tr', { hasText: 'deploy' }).waitFor();

  // The admin sets up their own second step, then requires one of everyone.
  const started = await admin('POST', '/me/second-factors/totp', {});
  assert.equal(started.status, 201);
  const confirmed = await admin('POST', `/me/second-factors/${started.body.id}/confirm`, {
    code: await freshCode(started.body.secret), name: 'Admin phone',
  });
  assert.equal(confirmed.status, 200);
  const policy = await admin('PATCH', '/subscription', { two_step_policy: 'everyone', two_step_grace_days: 7 });
  assert.equal(policy.status, 200, JSON.stringify(policy.body));

  // Mo's next page sends them to set one up, then back.
  await page.goto(`${gh.url}/apps`);
  await page.waitForURL(/\/enrol\?next=/);
  await page.getByRole('heading', { name: 'Set up two-step sign-in' }).waitFor();
  await review(page, 'enrol');
  const section = page.getByRole('region', { name: 'Two-step sign-in' });
  await section.getByRole('button', { name: 'Add an authenticator app' }).click();
  const key = (await section.locator('#totp-secret').textContent()).trim();
  await section.getByLabel('Code the app shows').fill(await freshCode(key));
  await section.getByRole('button', { name: 'Turn on' }).click();
  await section.locator('#recovery-codes li').first().waitFor();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${gh.url}/apps`);
  const back = await admin('PATCH', '/subscription', { two_step_policy: 'optional' });
  assert.equal(back.status, 200);
  await page.context().close();
});
