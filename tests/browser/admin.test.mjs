// The administration pages: users (a generated password shown once), every key of
// the subscription (filter, CSV), every client (mark standard), the audit log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, newPage, signIn, review, revealedSecret, apiSession,
} from './harness.mjs';

let gh;
let browser;
setup((g, b) => {
  gh = g;
  browser = b;
});

test('users: add one with a generated password, change the role, disable, delete', async () => {
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/admin/users');
  await page.waitForURL(`${gh.url}/admin/users`);
  await page.locator('#users-table').waitFor();
  await review(page, 'admin-users');
  await page.getByRole('button', { name: 'Add user' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByLabel('Username').fill('grace@example.com');
  await dialog.getByLabel('Display name (optional)').fill('Grace Hopper');
  await dialog.getByLabel('Role').selectOption('editor');
  await review(page, 'admin-users-create');
  await dialog.getByRole('button', { name: 'Add user' }).click();
  const password = await revealedSecret(page);
  assert.ok(password.length >= 12);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  // The generated password works.
  const grace = await apiSession(gh.url, { username: 'grace@example.com', password });
  assert.equal((await grace('GET', '/me')).body.role, 'editor');

  const row = page.locator('#users-table tbody tr', { hasText: 'grace@example.com' });
  // A role change is confirmed first, with its effect; cancelled, nothing changed.
  await row.getByLabel(/Role of Grace Hopper/).selectOption('viewer');
  const ask = page.locator('dialog[open]');
  await ask.getByText('act with the rights of a viewer').waitFor();
  await review(page, 'admin-users-role-confirm');
  await ask.getByRole('button', { name: 'Cancel' }).click();
  await ask.waitFor({ state: 'detached' });
  assert.equal((await grace('GET', '/me')).body.role, 'editor', 'cancelled: still an editor');
  // The menu shows the role again once the page has put it back (a render away).
  const menu = await row.getByLabel(/Role of Grace Hopper/).elementHandle();
  await page.waitForFunction((select) => select.value === 'editor', menu, { timeout: 5_000 });
  await row.getByLabel(/Role of Grace Hopper/).selectOption('viewer');
  await page.locator('dialog[open]').getByRole('button', { name: 'Change role' }).click();
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  assert.equal((await grace('GET', '/me')).body.role, 'viewer', 'the role change applies at once');
  // Disabling is confirmed too, and says what stops.
  await row.getByRole('button', { name: /Disable Grace Hopper/ }).click();
  const disable = page.locator('dialog[open]');
  await disable.getByText('signed out at once').waitFor();
  await disable.getByRole('button', { name: 'Disable user' }).click();
  await row.getByText('Disabled').waitFor();
  assert.equal((await grace('GET', '/me')).status, 401, 'a disabled user is signed out');
  await row.getByRole('button', { name: /Enable Grace Hopper/ }).click();
  await row.getByText('Active').waitFor();
  // The last admin cannot demote themselves: a clear message, nothing changes.
  const me = page.locator('#users-table tbody tr', { hasText: '— you' });
  await me.getByRole('combobox').selectOption('viewer');
  const own = page.locator('dialog[open]');
  await own.getByText('You will no longer administer this subscription').waitFor();
  await own.getByRole('button', { name: 'Change role' }).click();
  await own.getByRole('alert').filter({ hasText: 'at least one active admin' }).waitFor();
  await own.getByRole('button', { name: 'Cancel' }).click();
  await row.getByRole('button', { name: /Delete Grace Hopper/ }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Delete user' }).click();
  await row.waitFor({ state: 'detached' });
  await page.context().close();
});

test('users: failed sign-ins lock password sign-in only; the admin sees it and unlocks', async () => {
  const api = await apiSession(gh.url, gh.admin);
  const created = await api('POST', '/users', { username: 'ada@example.com', role: 'viewer', password: 'a password of some length' });
  assert.equal(created.status, 201);
  const ada = await apiSession(gh.url, { username: 'ada@example.com', password: 'a password of some length' });
  // A guesser (this test) spends the default budget of ten from one address.
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`${gh.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ada@example.com', password: `guess number ${i}` }),
    });
    assert.equal(res.status, 401);
  }
  // Ada's open session keeps working.
  assert.equal((await ada('GET', '/me')).status, 200);
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/admin/users');
  await page.waitForURL(`${gh.url}/admin/users`);
  const row = page.locator('#users-table tbody tr', { hasText: 'ada@example.com' });
  await row.getByText('Sign-in locked').waitFor();
  // …with when it lapses.
  assert.match(await row.getByText('Sign-in locked').textContent(), /until \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);
  await review(page, 'admin-users-sign-in-locked');
  await row.getByRole('button', { name: /Unlock sign-in of/ }).click();
  await row.getByText('Sign-in locked').waitFor({ state: 'detached' });
  const again = await apiSession(gh.url, { username: 'ada@example.com', password: 'a password of some length' });
  assert.equal((await again('GET', '/me')).body.username, 'ada@example.com');
  await page.context().close();
});

test('every key: filter, reset for a user, download CSV', async () => {
  const api = await apiSession(gh.url, gh.admin);
  await api('POST', '/users', { username: 'linus@example.com', role: 'editor', password: 'a long passphrase here' });
  const linus = await apiSession(gh.url, { username: 'linus@example.com', password: 'a long passphrase here' });
  for (const name of ['ci-deploy', 'backup job', 'ci-lint']) {
    assert.equal((await linus('POST', '/api-keys', { name, permission: 'read_only' })).status, 201);
  }
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/admin/keys');
  await page.locator('#all-keys-table').waitFor();
  await review(page, 'admin-keys');
  await page.getByLabel('Filter').fill('ci-');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#all-keys-table tbody tr').length === 2);
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV' }).click();
  const file = await download;
  const csv = await new Promise((ok) => {
    file.createReadStream().then((s) => { let t = ''; s.on('data', (c) => { t += c; }); s.on('end', () => ok(t)); });
  });
  assert.ok(csv.includes('ci-deploy') && csv.includes('ci-lint'), csv);
  assert.ok(!csv.includes('backup job'), 'the CSV follows the filter');
  const row = page.locator('#all-keys-table tbody tr', { hasText: 'ci-lint' });
  await row.getByRole('button', { name: 'Reset ci-lint' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Reset key' }).click();
  assert.match(await revealedSecret(page), /^gatk_/);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  await page.context().close();
});

test('every client: mark one standard; the audit log filters by action', async () => {
  const api = await apiSession(gh.url, gh.admin);
  const made = await api('POST', '/oauth-clients', { name: 'Flowdock', redirect_uris: ['https://flowdock.example.com/cb'] });
  assert.equal(made.status, 201);
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/admin/clients');
  const row = page.locator('#all-clients-table tbody tr', { hasText: 'Flowdock' });
  await row.waitFor();
  await review(page, 'admin-clients');
  // Asked first, saying what it means; cancelled, nothing changed.
  await row.getByRole('checkbox').check();
  const ask = page.locator('dialog[open]');
  await ask.locator('#standard-effect').filter({ hasText: 'Nobody in the subscription will be asked' }).waitFor();
  await ask.getByRole('button', { name: 'Cancel' }).click();
  await ask.waitFor({ state: 'detached' });
  assert.equal((await api('GET', `/oauth-clients/${made.body.id}`)).body.standard, false);
  assert.equal(await row.getByRole('checkbox').isChecked(), false);
  await row.getByRole('checkbox').check();
  await page.locator('dialog[open]').getByRole('button', { name: 'Make standard' }).click();
  await page.waitForTimeout(300);
  const got = await api('GET', `/oauth-clients/${made.body.id}`);
  assert.equal(got.body.standard, true);
  // The client id has its copy button here too.
  await row.getByRole('button', { name: 'Copy client ID of Flowdock' }).waitFor();

  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.locator('#audit-table').waitFor();
  await page.getByLabel('Action').selectOption('oauth_client.updated');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#audit-table tbody tr')];
    return rows.length > 0 && rows.every((r) => r.dataset.action === 'oauth_client.updated'
      && r.textContent.includes('OAuth client changed'));
  });
  // Each row opens to every detail of its event, the action's code included.
  const first = page.locator('#audit-table tbody tr').first();
  await first.getByText('OAuth client changed').click();
  await first.locator('.event-details').getByText('oauth_client.updated').waitFor();
  await review(page, 'admin-audit');
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.locator('#settings-form').waitFor();
  await review(page, 'admin-settings');
  await page.context().close();
});

test('a viewer sees why they cannot register clients, and no Administration tab', async () => {
  const api = await apiSession(gh.url, gh.admin);
  await api('POST', '/users', { username: 'val@example.com', role: 'viewer', password: 'viewer passphrase 1' });
  const page = await newPage(browser);
  await signIn(page, gh.url, { username: 'val@example.com', password: 'viewer passphrase 1' }, '/clients');
  await page.locator('#clients-not-allowed').waitFor();
  // The empty list does not tell them to create one.
  await page.locator('#clients-empty').getByText('Registering them is for the roles named above').waitFor();
  assert.equal(await page.locator('#clients-empty').getByText('Create a client').count(), 0);
  assert.ok(await page.getByRole('button', { name: 'Create new client' }).isDisabled());
  assert.equal(await page.getByRole('link', { name: 'Administration' }).count(), 0);
  await review(page, 'clients-viewer');
  await page.goto(`${gh.url}/keys`);
  await page.getByRole('button', { name: 'Create API key' }).click();
  assert.ok(await page.locator('dialog[open]').getByLabel(/Full access/).isDisabled());
  await page.locator('dialog[open]').getByText('may hold full-access keys').waitFor();
  await page.goto(`${gh.url}/admin/users`);
  await page.getByText('Only administrators').waitFor();
  await page.context().close();
});
