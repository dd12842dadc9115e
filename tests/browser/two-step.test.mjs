// Two-step sign-in in the web app: a person adds an authenticator app from the
// profile page (the code computed here from the key the page shows, as an app would,
// with node's own HMAC), keeps the recovery codes, signs in with a code, then with a
// recovery code, and finally removes the app.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { setup, newPage, signIn, review, apiSession, expectVisible, PHONE } from './harness.mjs';

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

/** A code from a step no earlier code was made in (a code works once). */
let lastStep = 0;
async function freshCode(secret) {
  for (;;) {
    const now = Date.now() / 1000;
    const step = Math.floor(now / 30);
    if (step > lastStep) {
      lastStep = step;
      return totp(secret, now);
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
  await section.getByText('On: signing in asks for a code').waitFor();
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
