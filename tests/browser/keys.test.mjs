// A person signs in and manages API keys in the browser: the revealed secret really
// works from a script, a reset really kills the old secret, and an admin switching
// keys off shows the exact message of docs/PRODUCT.md §6.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  setup, newPage, signIn, review, revealedSecret, apiSession, PHONE,
} from './harness.mjs';

const API_KEYS_DISABLED = 'API Keys are disabled. Please contact your Subscription Administrator to enable this functionality.';

let gh;
let browser;
setup((g, b) => {
  gh = g;
  browser = b;
});

/** What a script would get calling the API with `key`, run from inside the page. */
async function callWithKey(page, key) {
  return page.evaluate(async (k) => {
    const r = await fetch('/api/v1/session', { headers: { Authorization: `Bearer ${k}` }, credentials: 'omit' });
    return { status: r.status, body: await r.json() };
  }, key);
}

test('sign-in page: a wrong password is explained, the right one lands on the applications tab', async () => {
  const page = await newPage(browser);
  await page.goto(`${gh.url}/keys`);
  await page.waitForURL(/\/login\?next=%2Fkeys/);
  await review(page, 'login');
  await page.getByLabel('Username').fill(gh.admin.username);
  await page.getByLabel('Password').fill('not the password at all');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor());
  await page.getByLabel('Password').fill(gh.admin.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  // Back where the visitor wanted to go.
  await page.waitForURL(`${gh.url}/keys`);
  await page.getByRole('heading', { name: 'API Keys', level: 1 }).waitFor();
  await page.getByText('No API keys yet').waitFor();
  await review(page, 'keys-empty');
  await page.context().close();
});

test('create a key, use its secret from a script, reset it and see the old secret fail, delete it', async () => {
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin);
  await page.waitForURL(`${gh.url}/apps`);
  await page.getByRole('link', { name: 'API Keys' }).click();
  await page.getByRole('button', { name: 'Create API key' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByLabel('Name').fill('nightly export');
  await dialog.getByLabel(/Full access/).check();
  await review(page, 'keys-create-dialog');
  await dialog.getByRole('button', { name: 'Create key' }).click();
  const secret = await revealedSecret(page);
  assert.match(secret, /^gatk_[0-9A-Za-z]{46}$/);
  await page.getByText('Copy it now.').waitFor();
  await review(page, 'keys-secret-panel');
  // The copy button puts the secret on the clipboard.
  await page.getByRole('button', { name: 'Copy secret' }).click();
  await page.getByRole('button', { name: 'Copy secret' }).getByText('Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await page.getByRole('button', { name: 'I have copied it' }).click();

  // The list shows the key by its hint, never the secret.
  const row = page.locator('#keys-table tbody tr', { hasText: 'nightly export' });
  await row.waitFor();
  assert.ok((await row.textContent()).includes(secret.slice(-4)));
  assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page');
  assert.ok((await row.textContent()).includes('never'), 'an unused key says never');

  const used = await callWithKey(page, secret);
  assert.equal(used.status, 200);
  assert.equal(used.body.credential.kind, 'api_key');
  assert.equal(used.body.credential.permission, 'full_access');

  // Rename.
  await row.getByRole('button', { name: 'Rename nightly export' }).click();
  await page.locator('dialog[open]').getByLabel('New name').fill('nightly export v2');
  await page.locator('dialog[open]').getByRole('button', { name: 'Rename' }).click();
  const renamed = page.locator('#keys-table tbody tr', { hasText: 'nightly export v2' });
  await renamed.waitFor();

  // Reset: confirm, then the new secret once; the old one stops at once.
  await renamed.getByRole('button', { name: 'Reset nightly export v2' }).click();
  await page.getByText('The current secret stops working at once').waitFor();
  await review(page, 'keys-reset-confirm');
  await page.locator('dialog[open]').getByRole('button', { name: 'Reset key' }).click();
  const fresh = await revealedSecret(page);
  assert.notEqual(fresh, secret);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  assert.equal((await callWithKey(page, secret)).status, 401, 'the old secret is refused');
  assert.equal((await callWithKey(page, fresh)).status, 200, 'the new secret works');
  await review(page, 'keys-list');

  // Delete: confirm, and the key stops working.
  await renamed.getByRole('button', { name: 'Delete nightly export v2' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Delete key' }).click();
  await page.getByText('No API keys yet').waitFor();
  assert.equal((await callWithKey(page, fresh)).status, 401, 'a deleted key is refused');
  await page.context().close();
});

test('an admin switches API keys off: a user sees the exact message and may only delete', async () => {
  const admin = await apiSession(gh.url, gh.admin);
  const made = await admin('POST', '/users', { username: 'ada@example.com', display_name: 'Ada', role: 'editor', password: 'correct horse battery' });
  assert.equal(made.status, 201);
  const ada = { username: 'ada@example.com', password: 'correct horse battery' };
  const adaApi = await apiSession(gh.url, ada);
  const created = await adaApi('POST', '/api-keys', { name: 'deploy bot', permission: 'read_only' });
  assert.equal(created.status, 201);

  // The admin uses the settings page.
  const adminPage = await newPage(browser);
  await signIn(adminPage, gh.url, gh.admin);
  await adminPage.waitForURL(`${gh.url}/apps`);
  await adminPage.getByRole('link', { name: 'Administration' }).click();
  await adminPage.waitForURL(`${gh.url}/admin/settings`);
  // A switch whose label is the setting and whose state reads On or Off.
  const keysSwitch = adminPage.getByRole('switch', { name: 'API keys' });
  assert.equal(await keysSwitch.getAttribute('aria-checked'), 'true');
  assert.equal((await keysSwitch.textContent()).trim(), 'On');
  await keysSwitch.click();
  assert.equal((await keysSwitch.textContent()).trim(), 'Off');
  await adminPage.getByRole('button', { name: 'Save settings' }).click();
  // Asked first, with what stops: ada's one key (the admin has none).
  const off = adminPage.locator('dialog[open]');
  await off.locator('#keys-off-effect').filter({ hasText: '1 key of 1 person stops working at once' }).waitFor();
  assert.equal(await adminPage.evaluate(() => document.activeElement?.textContent?.trim()), 'Cancel');
  await review(adminPage, 'admin-settings-keys-off');
  await off.getByRole('button', { name: 'Switch keys off' }).click();
  await adminPage.getByText('Settings saved').waitFor();

  const page = await newPage(browser, PHONE);
  await signIn(page, gh.url, ada, '/keys');
  await page.waitForURL(`${gh.url}/keys`);
  await page.locator('#keys-disabled').filter({ hasText: API_KEYS_DISABLED }).waitFor();
  await page.locator('#keys-disabled').getByText('The keys listed here do not work').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Create API key' }).count(), 0);
  const row = page.locator('#keys-table tbody tr', { hasText: 'deploy bot' });
  await row.waitFor();
  assert.equal(await row.getByRole('button', { name: /Reset/ }).count(), 0);
  assert.equal(await row.getByRole('button', { name: /Rename/ }).count(), 0);
  await review(page, 'keys-disabled');
  assert.equal((await callWithKey(page, created.body.secret)).status, 401);
  assert.equal((await callWithKey(page, created.body.secret)).body.error.message, API_KEYS_DISABLED);
  // Switched back on, the key works again.
  await keysSwitch.click();
  assert.equal(await keysSwitch.getAttribute('aria-checked'), 'true');
  await adminPage.getByRole('button', { name: 'Save settings' }).click();
  await adminPage.getByText('Settings saved').waitFor();
  assert.equal((await callWithKey(page, created.body.secret)).status, 200);
  // Deleting works from the page.
  await page.reload();
  await row.getByRole('button', { name: 'Delete deploy bot' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Delete key' }).click();
  await page.getByText('No API keys yet').waitFor();
  await page.context().close();
  await adminPage.context().close();
});

test('a lifetime cap: the dialog says so, offers no "No expiry", and the key expires in time', async () => {
  const admin = await apiSession(gh.url, gh.admin);
  assert.equal((await admin('PATCH', '/subscription', { api_key_max_lifetime_days: 30 })).status, 200);
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/keys');
  await page.getByRole('button', { name: 'Create API key' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByText('Your administrator limits keys to 30 days.').waitFor();
  const options = await dialog.getByLabel('Expires').locator('option').allTextContents();
  assert.ok(!options.includes('No expiry'), options.join(', '));
  assert.ok(!options.includes('90 days'), options.join(', '));
  await dialog.getByLabel('Name').fill('capped');
  await dialog.getByRole('button', { name: 'Create key' }).click();
  await revealedSecret(page);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const keys = (await admin('GET', '/api-keys')).body.items;
  const capped = keys.find((k) => k.name === 'capped');
  const days = (Date.parse(capped.expires_at) - Date.now()) / 86_400_000;
  assert.ok(days > 0 && days <= 30, `expires in ${days} days`);
  await page.locator('#keys-table tbody tr', { hasText: 'capped' }).getByText(/^\d{1,2} [A-Z][a-z]{2} \d{4} \(in \d+ days?\)$/).waitFor();
  assert.equal((await admin('PATCH', '/subscription', { api_key_max_lifetime_days: null })).status, 200);
  assert.equal((await admin('DELETE', `/api-keys/${capped.id}`)).status, 204);
  await page.context().close();
});

test('keyboard only: sign in and create a key without touching the mouse', async () => {
  const page = await newPage(browser);
  await page.goto(`${gh.url}/login?next=%2Fkeys`);
  // The username field has focus on arrival.
  await page.getByLabel('Username').waitFor();
  await page.keyboard.type(gh.admin.username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(gh.admin.password);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${gh.url}/keys`);
  await page.getByRole('button', { name: 'Create API key' }).waitFor();
  // Tab to the create button.
  for (let i = 0; i < 30; i++) {
    const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
    if (focused === 'Create API key') break;
    await page.keyboard.press('Tab');
  }
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'create-key');
  await page.keyboard.press('Enter');
  // Focus moved into the dialog, on the name field.
  await page.locator('dialog[open]').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'name');
  await page.keyboard.type('typed by keyboard');
  await page.keyboard.press('Enter');
  const secret = await revealedSecret(page);
  assert.match(secret, /^gatk_/);
  // Escape closes the panel and focus returns to the button that opened the dialog.
  await page.keyboard.press('Escape');
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
  await page.locator('#keys-table tbody tr', { hasText: 'typed by keyboard' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'create-key');
  await page.context().close();
});

test('an ended session sends the person to sign in, then back to the page', async () => {
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/profile');
  await page.waitForURL(`${gh.url}/profile`);
  await review(page, 'profile');
  await page.context().clearCookies();
  await page.getByRole('link', { name: 'API Keys' }).click();
  await page.waitForURL(/\/login\?next=%2Fkeys/);
  await page.getByText('Your session has ended').waitFor();
  await page.getByLabel('Username').fill(gh.admin.username);
  await page.getByLabel('Password').fill(gh.admin.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${gh.url}/keys`);
  await page.context().close();
});

test('sign-in never sends the person to another site, however `next` is disguised', async () => {
  for (const next of ['//evil.example/', '/%09/evil.example/', '/%0A/evil.example/', '/%0D/evil.example/', '/%2509/evil.example/', '/%5Cevil.example', 'https://evil.example/', 'javascript:alert(1)']) {
    const page = await newPage(browser);
    await page.goto(`${gh.url}/login?next=${next}`);
    await page.getByLabel('Username').fill(gh.admin.username);
    await page.getByLabel('Password').fill(gh.admin.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(300);
    assert.ok(page.url().startsWith(gh.url), `next=${next} led to ${page.url()}`);
    await page.context().close();
  }
});

test('unknown pages and unknown consent requests say so clearly', async () => {
  const page = await newPage(browser);
  await page.goto(`${gh.url}/no/such/page`);
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  await review(page, 'not-found');
  await signIn(page, gh.url, gh.admin, '/authorize?request=0190f7d2-9a4b-7c1e-8f00-000000000000');
  await page.getByRole('heading', { name: 'Nothing to authorize' }).waitFor();
  await page.locator('#consent-error').filter({ hasText: 'expired' }).waitFor();
  await review(page, 'consent-unknown');
  await page.context().close();
});

test('a destructive dialog focuses Cancel (Enter keeps the key); the one-time secret shows whole on a phone', async () => {
  const page = await newPage(browser);
  await signIn(page, gh.url, gh.admin, '/keys');
  await page.waitForURL(`${gh.url}/keys`);
  await page.getByRole('button', { name: 'Create API key' }).click();
  const form = page.locator('dialog[open]');
  await form.getByLabel('Name').fill('kept by enter');
  await form.getByRole('button', { name: 'Create key' }).click();
  const secret = await revealedSecret(page);
  // On a phone, every character of the secret is in view, wrapped: nothing scrolls.
  await page.setViewportSize(PHONE);
  const shown = page.locator('dialog[open] [data-secret]');
  const box = await shown.evaluate((el) => ({
    value: el.value, wide: el.scrollWidth - el.clientWidth, tall: el.scrollHeight - el.clientHeight,
  }));
  assert.equal(box.value, secret);
  assert.ok(box.wide <= 0 && box.tall <= 0, `the secret is clipped: ${JSON.stringify(box)}`);
  await review(page, 'keys-secret-phone');
  await page.getByRole('button', { name: 'I have copied it' }).click();
  await page.setViewportSize({ width: 1280, height: 800 });

  // Delete: the safe choice has the focus, so Enter cancels.
  await page.getByRole('button', { name: 'Delete kept by enter' }).click();
  const confirm = page.locator('dialog[open]');
  await confirm.getByRole('button', { name: 'Cancel' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Cancel');
  await page.keyboard.press('Enter');
  await confirm.waitFor({ state: 'detached' });
  await page.locator('#keys-table tbody tr', { hasText: 'kept by enter' }).waitFor();
  const listed = await page.evaluate(async () => (await (await fetch('/api/v1/api-keys')).json()).items.map((k) => k.name));
  assert.ok(listed.includes('kept by enter'), 'Enter deleted nothing');
  await page.context().close();
});
