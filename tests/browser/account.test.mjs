// Profile and password, and a developer managing an OAuth client (edit, reset the
// secret and see the old one refused by the token endpoint, delete).

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

test('profile: change the display name, then the password (with the policy\'s messages)', async () => {
  const admin = await apiSession(gh.url, gh.admin);
  assert.equal((await admin('POST', '/users', { username: 'kim@example.com', role: 'editor', password: 'first passphrase 123' })).status, 201);
  const kim = { username: 'kim@example.com', password: 'first passphrase 123' };
  const other = await apiSession(gh.url, kim); // another session, ended by the change
  // A key made from that other session today: the change lists it, to be looked over.
  assert.equal((await other('POST', '/api-keys', { name: 'made elsewhere', permission: 'read_only' })).status, 201);
  const page = await newPage(browser);
  await signIn(page, gh.url, kim, '/profile');
  await page.waitForURL(`${gh.url}/profile`);
  await page.getByLabel('Display name').fill('Kim Lee');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.getByText('Profile saved.').waitFor();
  await page.locator('.user-name', { hasText: 'Kim Lee' }).waitFor();

  const form = page.locator('#password-form');
  await form.getByLabel('Current password').fill(kim.password);
  await form.getByLabel('New password', { exact: true }).fill('short');
  await form.getByLabel('New password again').fill('short');
  await form.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('alert').filter({ hasText: 'at least 12 characters' }).waitFor();
  await form.getByLabel('Current password').fill('not my password!!');
  await form.getByLabel('New password', { exact: true }).fill('second passphrase 456');
  await form.getByLabel('New password again').fill('second passphrase 456');
  await form.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('alert').filter({ hasText: /current_password|not correct/i }).waitFor();
  await form.getByLabel('Current password').fill(kim.password);
  await form.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed. 1 other session was signed out.').waitFor();
  const recent = page.locator('#recent-credentials');
  await recent.getByRole('link', { name: 'made elsewhere' }).waitFor();
  assert.equal(await recent.getByRole('link', { name: 'made elsewhere' }).getAttribute('href'), '/keys');
  await review(page, 'profile-password-changed');
  assert.equal((await other('GET', '/me')).status, 401, 'the other session has ended');
  const again = await fetch(`${gh.url}/api/v1/session`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: kim.username, password: 'second passphrase 456' }),
  });
  assert.equal(again.status, 200, 'the new password signs in');

  // Sign out from the user menu: back to sign-in, and the session is over.
  await page.locator('.user-menu summary').click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expectVisible(page, page.getByRole('heading', { name: 'Sign in' }));
  assert.equal(new URL(page.url()).pathname, '/login');
  const status = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
  assert.equal(status, 401);
  await page.goto(`${gh.url}/keys`);
  await page.waitForURL(/\/login\?next=%2Fkeys/);
  await page.context().close();
});

/** What the token endpoint says to client credentials (a refresh with a dummy token). */
async function clientAuth(clientId, secret) {
  const r = await fetch(`${gh.url}/oauth/token`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    },
    body: 'grant_type=refresh_token&refresh_token=gatr_not_a_real_token',
  });
  return (await r.json()).error;
}

test('OAuth client: edit the callbacks, reset the secret (the old one fails), delete', async () => {
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/clients');
  await page.getByRole('button', { name: 'Create new client' }).click();
  let dialog = page.locator('dialog[open]');
  await dialog.getByLabel('Application name').fill('Reports');
  await dialog.getByLabel('Callback URLs').fill('https://reports.example.com/cb');
  await dialog.getByRole('button', { name: 'Create client' }).click();
  const first = await revealedSecret(page);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const row = page.locator('#clients-table tbody tr', { hasText: 'Reports' });
  const clientId = (await row.locator('code').first().textContent()).trim();
  // A wrong client secret is invalid_client; the right one gets past client auth.
  assert.equal(await clientAuth(clientId, 'gats_wrong'), 'invalid_client');
  assert.equal(await clientAuth(clientId, first), 'invalid_grant');

  // A bad callback is explained and changes nothing; a good one is saved.
  await row.getByRole('button', { name: 'Edit Reports' }).click();
  dialog = page.locator('dialog[open]');
  await dialog.getByLabel('Callback URLs').fill('http://reports.example.com/cb');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByRole('alert').waitFor();
  await review(page, 'clients-edit-error');
  await dialog.getByLabel('Callback URLs').fill('https://reports.example.com/cb\nhttps://reports.example.com/cb2');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await row.getByText('https://reports.example.com/cb2').waitFor();

  await row.getByRole('button', { name: 'Reset secret of Reports' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Reset secret' }).click();
  const second = await revealedSecret(page);
  assert.notEqual(second, first);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  assert.equal(await clientAuth(clientId, first), 'invalid_client', 'the old secret stops at once');
  assert.equal(await clientAuth(clientId, second), 'invalid_grant');

  await row.getByRole('button', { name: 'Delete Reports' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Delete client' }).click();
  await page.getByText('No OAuth clients yet').waitFor();
  await review(page, 'clients-empty');
  assert.equal(await clientAuth(clientId, second), 'invalid_client', 'a deleted client is gone');
  await page.context().close();
});
