// A person's page (issue 23): an admin corrects a name and e-mail and resets a
// forgotten password; the person signs in with the temporary one and must choose their
// own first. Lists as cards on a phone, with every action reachable; key expiry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, newPage, signIn, review, revealedSecret, apiSession, PHONE,
} from './harness.mjs';

let gh;
let browser;
setup((g, b) => {
  gh = g;
  browser = b;
});

test('a forgotten password: the admin resets it, the person chooses their own at sign-in', async () => {
  const admin = await apiSession(gh.url, gh.admin);
  const made = await admin('POST', '/users', {
    username: 'ada@example.com', role: 'editor', password: 'the password ada forgot',
  });
  assert.equal(made.status, 201);
  const ada = await apiSession(gh.url, { username: 'ada@example.com', password: 'the password ada forgot' });
  assert.equal((await ada('POST', '/api-keys', { name: 'nightly export', permission: 'read_only' })).status, 201);

  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/admin/users');
  await page.locator('#users-table').getByRole('link', { name: 'ada@example.com' }).click();
  await page.waitForURL(/\/admin\/users\/[0-9a-f-]+$/);
  // Users stays the current admin tab on a person's page.
  await page.locator('nav.subtabs a[aria-current="page"]', { hasText: 'Users' }).waitFor();
  // Her keys and what she did, in words.
  await page.locator('#person-keys tbody tr', { hasText: 'nightly export' }).waitFor();
  await page.locator('#person-activity tbody tr', { hasText: 'API key created' }).first().waitFor();

  // Name and e-mail corrected.
  const form = page.locator('#person-form');
  await form.getByLabel('Display name').fill('Ada Lovelace');
  await form.getByLabel('E-mail').fill('ada@lovelace.example');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  await page.getByRole('heading', { name: 'Ada Lovelace (ada@example.com)' }).waitFor();
  const me = (await ada('GET', '/me')).body;
  assert.equal(me.display_name, 'Ada Lovelace');
  assert.equal(me.email, 'ada@lovelace.example');
  await review(page, 'admin-person');

  // The reset asks first, with the safe choice focused: Enter cancels.
  await page.getByRole('button', { name: 'Reset password' }).click();
  const ask = page.locator('dialog[open]');
  await ask.getByText('signed out everywhere').waitFor();
  await review(page, 'admin-person-reset-confirm');
  await page.keyboard.press('Enter');
  await ask.waitFor({ state: 'detached' });
  assert.equal((await ada('GET', '/me')).status, 200, 'cancelled: still signed in');
  await page.getByRole('button', { name: 'Reset password' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Reset password' }).click();
  const temporary = await revealedSecret(page);
  assert.ok(temporary.length >= 16);
  await review(page, 'admin-person-temporary-password');
  await page.getByRole('button', { name: 'I have copied it' }).click();
  assert.equal((await ada('GET', '/me')).status, 401, 'her session ended');

  // Ada signs in with it and is asked for her own before anything else.
  const hers = await newPage(browser, PHONE);
  await signIn(hers, gh.url, { username: 'ada@example.com', password: temporary }, '/keys');
  await hers.waitForURL(/\/change-password\?next=%2Fkeys$/);
  await hers.getByRole('heading', { name: 'Choose your password' }).waitFor();
  await review(hers, 'change-password');
  // Straight to a page: sent back.
  await hers.goto(`${gh.url}/keys`);
  await hers.waitForURL(/\/change-password/);
  await hers.getByLabel('Temporary password').fill(temporary);
  await hers.getByLabel('New password', { exact: true }).fill('ada chose this herself');
  await hers.getByLabel('New password again').fill('ada chose this herself');
  await hers.getByRole('button', { name: 'Save and continue' }).click();
  await hers.waitForURL(`${gh.url}/keys`);
  await hers.locator('#keys-table tbody tr', { hasText: 'nightly export' }).waitFor();
  await apiSession(gh.url, { username: 'ada@example.com', password: 'ada chose this herself' });
  await hers.context().close();
  await page.context().close();
});

test('on a phone every list is cards, its actions on screen, the current tab in view', async () => {
  const admin = await apiSession(gh.url, gh.admin);
  await admin('POST', '/users', { username: 'phone-user@example.com', role: 'viewer', password: 'a phone user password' });
  await admin('POST', '/api-keys', { name: 'phone key', permission: 'read_only' });
  const page = await newPage(browser, PHONE);
  await signIn(page, gh.url, gh.admin, '/keys');
  const row = page.locator('#keys-table tbody tr', { hasText: 'phone key' });
  await row.waitFor();
  const inView = async (locator) => {
    const box = await locator.boundingBox();
    assert.ok(box, 'laid out');
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `inside the screen: ${JSON.stringify(box)}`);
  };
  for (const name of ['Rename phone key', 'Reset phone key', 'Delete phone key']) {
    await inView(row.getByRole('button', { name }));
  }
  await inView(page.locator('.tabs a[aria-current="page"]'));
  await review(page, 'keys-phone-cards');
  // Clicked on the phone: the rename works.
  await row.getByRole('button', { name: 'Rename phone key' }).click();
  await page.locator('dialog[open]').getByLabel('New name').fill('phone key renamed');
  await page.locator('dialog[open]').getByRole('button', { name: 'Rename' }).click();
  await page.locator('#keys-table tbody tr', { hasText: 'phone key renamed' }).waitFor();

  await page.goto(`${gh.url}/admin/users`);
  const user = page.locator('#users-table tbody tr', { hasText: 'phone-user@example.com' });
  await user.waitFor();
  await inView(user.getByRole('button', { name: /Delete phone-user/ }));
  await inView(user.getByLabel(/Role of phone-user/));
  await inView(page.locator('.tabs a[aria-current="page"]'));
  await review(page, 'admin-users-phone-cards');
  await user.getByRole('button', { name: /Disable phone-user/ }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Disable user' }).click();
  await user.getByText('Disabled').waitFor();
  await page.context().close();
});

test('key expiry: 90 days unless chosen, a warning for none, dates in words, Expired', async () => {
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/keys');
  await page.getByRole('button', { name: 'Create API key' }).click();
  const dialog = page.locator('dialog[open]');
  const expires = dialog.getByLabel('Expires');
  assert.equal(await expires.inputValue(), '90');
  assert.equal(await dialog.locator('#no-expiry-warning').count(), 0);
  await expires.selectOption('never');
  await dialog.locator('#no-expiry-warning').getByText('works until someone deletes it').waitFor();
  await review(page, 'keys-no-expiry-warning');
  await expires.selectOption('90');
  await dialog.getByLabel('Name').fill('ninety days');
  await dialog.getByRole('button', { name: 'Create key' }).click();
  await revealedSecret(page);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const row = page.locator('#keys-table tbody tr', { hasText: 'ninety days' });
  // "7 Mar 2027 (in 3 months)": the day itself, and how far.
  await row.getByText(/^\d{1,2} [A-Z][a-z]{2} \d{4} \(in 3 months\)$/).waitFor();

  // A key past its date says so.
  const admin = await apiSession(gh.url, gh.admin);
  const soon = new Date(Date.now() + 2_000).toISOString();
  assert.equal((await admin('POST', '/api-keys', { name: 'short lived', permission: 'read_only', expires_at: soon })).status, 201);
  await page.waitForTimeout(2_500);
  await page.reload();
  await page.locator('#keys-table tbody tr', { hasText: 'short lived' }).getByText('Expired').waitFor();
  // Admins see every active key's expiry too (an expired key is no longer listed there).
  await page.goto(`${gh.url}/admin/keys`);
  const all = page.locator('#all-keys-table');
  await all.getByRole('columnheader', { name: 'Expires' }).waitFor();
  await all.locator('tbody tr', { hasText: 'ninety days' }).getByText(/\(in 3 months\)$/).waitFor();
  assert.equal(await all.locator('tbody tr', { hasText: 'short lived' }).count(), 0);
  await page.context().close();
});

test('errors sit under their field, in words; the clients page gives the issuer and endpoints', async () => {
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/clients');
  await page.getByRole('button', { name: 'Create new client' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByLabel('Application name').fill('Broken callback');
  await dialog.getByLabel('Callback URLs').fill('http://app.example.com/callback');
  await dialog.getByLabel('Homepage (optional)').fill('https://app.example.com');
  await dialog.getByRole('button', { name: 'Create client' }).click();
  const callbacks = dialog.locator('label', { has: page.locator('textarea[name="redirect_uris"]') });
  const said = callbacks.locator('.field-error');
  await said.waitFor();
  assert.match(await said.textContent(), /^Callback URLs .+\.$/);
  assert.doesNotMatch(await said.textContent(), /redirect_uris/, 'in words, not the API field');
  const homepage = dialog.locator('label', { has: page.locator('input[name="homepage_url"]') });
  assert.equal(await homepage.locator('.field-error').count(), 0);
  assert.equal(await dialog.locator('p.error').count(), 0, 'said once, at its field');
  await review(page, 'clients-field-error');
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  // What a developer configures, from the discovery document, each with a copy button.
  await page.locator('#integration summary').click();
  const endpoints = page.locator('#integration .endpoints');
  await endpoints.getByText(`${gh.url}/.well-known/openid-configuration`, { exact: true }).waitFor();
  for (const path of ['/oauth/authorize', '/oauth/token', '/oauth/jwks']) {
    await endpoints.locator('code', { hasText: path }).first().waitFor();
  }
  await endpoints.getByRole('button', { name: 'Copy the Issuer URL' }).waitFor();
  await review(page, 'clients-integration');
  await page.context().close();
});

test('your account: where you are signed in, the others signed out, your own activity', async () => {
  const admin = await apiSession(gh.url, gh.admin);
  const sam = { username: 'sam@example.com', password: 'sam has a long password' };
  assert.equal((await admin('POST', '/users', { ...sam, role: 'viewer' })).status, 201);
  const elsewhere = await apiSession(gh.url, sam);
  const andThere = await apiSession(gh.url, sam);
  const page = await newPage(browser);
  await signIn(page, gh.url, sam, '/profile');
  const sessions = page.locator('#sessions');
  const items = sessions.locator('li.session');
  await expectCount(items, 3);
  await sessions.locator('li.session[data-current="true"]').getByText('This browser').waitFor();
  await page.locator('#my-activity tbody tr', { hasText: 'Signed in' }).first().waitFor();
  await review(page, 'profile-sessions');
  // One other browser signed out on its own.
  await sessions.locator('li.session[data-current="false"]').first().getByRole('button', { name: /^End session: / }).click();
  await expectCount(items, 2);
  // Then every other one, confirmed first (the safe choice has the focus).
  await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
  const ask = page.locator('dialog[open]');
  await ask.getByText('This browser stays signed in').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Cancel');
  await ask.getByRole('button', { name: 'Sign out the others' }).click();
  await sessions.getByText('1 other browser was signed out.').waitFor();
  await expectCount(items, 1);
  assert.equal((await elsewhere('GET', '/me')).status, 401);
  assert.equal((await andThere('GET', '/me')).status, 401);
  await page.context().close();
});

test('admins find people and clients, see what acts for a person, disable and delete anyone\'s client on a phone', async () => {
  const admin = await apiSession(gh.url, gh.admin);
  const rita = { username: 'rita@example.com', password: 'rita has a long password' };
  assert.equal((await admin('POST', '/users', { ...rita, role: 'editor' })).status, 201);
  const ritaApi = await apiSession(gh.url, rita);
  for (const name of ['beta sync', 'alpha export']) {
    assert.equal((await ritaApi('POST', '/api-keys', { name, permission: 'read_only' })).status, 201);
  }
  const callback = 'http://127.0.0.1:9/callback';
  const made = await ritaApi('POST', '/oauth-clients', { name: 'Rita Reports', redirect_uris: [callback] });
  assert.equal(made.status, 201);
  const { id: clientRecord, client_id: clientId } = made.body;

  // Rita allows her app: it now acts for her.
  const hers = await newPage(browser);
  await hers.route(`${callback}**`, (route) => route.fulfill({ body: 'the app' }));
  await signIn(hers, gh.url, rita, '/apps');
  await hers.waitForURL(`${gh.url}/apps`);
  await hers.goto(`${gh.url}/oauth/authorize?response_type=code&client_id=${clientId}`
    + `&redirect_uri=${encodeURIComponent(callback)}&scope=api%3Aread&state=s1`
    + '&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256');
  await hers.locator('#allow').click();
  await hers.waitForURL(/127\.0\.0\.1:9\/callback\?code=/);

  // Her keys: found by a word of their name, ordered by name.
  await hers.goto(`${gh.url}/keys`);
  const keyRows = hers.locator('#keys-table tbody tr');
  await keyRows.first().waitFor();
  await hers.getByLabel('Search your keys').fill('BETA');
  await expectCount(keyRows, 1);
  await keyRows.filter({ hasText: 'beta sync' }).waitFor();
  await hers.getByText('1 of 2 match').waitFor();
  await hers.getByLabel('Search your keys').fill('nothing like it');
  await hers.locator('#no-match').getByText('Nothing matches “nothing like it”.').waitFor();
  await hers.getByLabel('Search your keys').fill('');
  await hers.getByLabel('Sort by').selectOption('name');
  await expectCount(keyRows, 2);
  assert.match(await keyRows.first().textContent(), /alpha export/);
  await review(hers, 'keys-search');

  // The admin, on a phone: Rita found among the users, her page lists her app.
  const page = await newPage(browser, PHONE);
  await signIn(page, gh.url, gh.admin, '/admin/users');
  const users = page.locator('#users-table tbody tr');
  await users.first().waitFor();
  await page.getByLabel('Search users').fill('rita');
  await expectCount(users, 1);
  await page.getByLabel('Search users').fill('');
  await page.getByLabel('Sort by').selectOption('created');
  await users.first().filter({ hasText: 'rita@example.com' }).waitFor();
  await review(page, 'admin-users-search');
  await users.first().getByRole('link', { name: 'rita@example.com' }).click();
  const app = page.locator('#person-apps tbody tr', { hasText: 'Rita Reports' });
  await app.getByText('Active').waitFor();
  await review(page, 'admin-person-apps');

  // Every client: hers found by its owner's name, disabled, enabled, deleted.
  await page.goto(`${gh.url}/admin/clients`);
  await page.locator('#all-clients-table').waitFor();
  await page.getByLabel('Search clients').fill('rita@');
  const row = page.locator('#all-clients-table tbody tr', { hasText: 'Rita Reports' });
  await expectCount(page.locator('#all-clients-table tbody tr'), 1);
  const disable = row.getByRole('button', { name: 'Disable Rita Reports' });
  const box = await disable.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, 'Disable is on the screen');
  await disable.click();
  const ask = page.locator('dialog[open]');
  await ask.locator('#disable-effect').getByText('loses its access at once').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Cancel');
  await review(page, 'admin-client-disable-confirm');
  await ask.getByRole('button', { name: 'Disable client' }).click();
  await row.locator('.badge', { hasText: 'Disabled' }).waitFor();
  // What a person and the owner see: the app revoked, the client disabled.
  assert.equal((await ritaApi('GET', '/authorized-apps')).body.items[0].state, 'revoked');
  assert.ok((await ritaApi('GET', `/oauth-clients/${clientRecord}`)).body.disabled_at);
  await hers.goto(`${gh.url}/clients`);
  await hers.locator('#clients-table tbody tr', { hasText: 'Rita Reports' }).getByText('Disabled by an administrator').waitFor();
  await review(page, 'admin-clients-disabled');

  await row.getByRole('button', { name: 'Enable Rita Reports' }).click();
  await row.getByRole('button', { name: 'Disable Rita Reports' }).waitFor();
  assert.equal((await ritaApi('GET', `/oauth-clients/${clientRecord}`)).body.disabled_at, null);

  await row.getByRole('button', { name: 'Delete Rita Reports' }).click();
  await page.locator('dialog[open]').getByText('rita@example.com registered it').waitFor();
  await page.locator('dialog[open]').getByRole('button', { name: 'Delete client' }).click();
  await row.waitFor({ state: 'detached' });
  assert.equal((await ritaApi('GET', `/oauth-clients/${clientRecord}`)).status, 404);
  await hers.context().close();
  await page.context().close();
});

/** Waits until `locator` matches exactly `n` elements. */
async function expectCount(locator, n) {
  for (let i = 0; i < 100; i++) {
    if (await locator.count() === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await locator.count(), n);
}
