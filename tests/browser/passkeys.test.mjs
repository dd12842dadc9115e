// Passkeys in the web app, with Chromium's virtual authenticator (the DevTools
// protocol's WebAuthn domain, as a phone's or laptop's would answer): a person adds a
// passkey on their profile, signs in with it alone (no username typed), with it as the
// second step after the password, confirms sudo mode with it, and an application's
// OpenID Connect sign-in that asked for two steps gets an id_token saying `mfa`.
// WebAuthn needs a host name: this Gatehouse's public URL is http://localhost:….

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  setup, newPage, signIn, review, apiSession, expectVisible, revealedSecret, freePort,
} from './harness.mjs';

let gh;
let browser;
setup((g, b) => {
  gh = g;
  browser = b;
}, { host: 'localhost' });

/** A virtual platform authenticator on `page`: it keeps discoverable credentials and
 *  verifies the user (as a fingerprint would) without asking. */
async function virtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

async function signOut(page) {
  await page.locator('.user-menu summary').click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(`${gh.url}/login`);
}

/** The claims of a JWT. */
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

test('passkeys: add one, sign in with it alone and as the second step, confirm sudo mode, an app gets mfa', { timeout: 180_000 }, async () => {
  const admin = await apiSession(gh.url, gh.admin);
  const pia = { username: 'pia@example.com', password: 'pia passphrase 12345' };
  assert.equal((await admin('POST', '/users', { ...pia, role: 'editor' })).status, 201);
  const page = await newPage(browser);
  const { cdp, authenticatorId } = await virtualAuthenticator(page);
  await signIn(page, gh.url, pia, '/profile');
  await page.waitForURL(`${gh.url}/profile`);
  const section = page.getByRole('region', { name: 'Two-step sign-in' });
  await section.getByLabel('Passkey name').fill('Laptop');
  await section.getByRole('button', { name: 'Add a passkey' }).click();
  // The first second step brings the recovery codes.
  await section.locator('#recovery-codes li').first().waitFor();
  await section.getByText('Laptop').waitFor();
  await section.getByText('(passkey)').waitFor();
  await review(page, 'profile-passkey');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.ok(credentials[0].isResidentCredential, 'a discoverable credential: it signs in with no username');

  // Signed out (from the menu: the sign-in page it leaves for goes on to the app, not
  // back to itself), a passkey alone signs in: no username, no password.
  await signOut(page);
  assert.equal(new URL(page.url()).search, '', 'no `next` back to the sign-in page');
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL(`${gh.url}/apps`);
  const session = await page.evaluate(async () => (await fetch('/api/v1/session')).json());
  assert.equal(session.user.username, pia.username);
  await review(page, 'apps-after-passkey');

  // The password now asks for a second step, and the passkey gives it.
  await signOut(page);
  await signIn(page, gh.url, pia, '/keys');
  await page.getByRole('button', { name: 'Use your passkey' }).click();
  await page.waitForURL(`${gh.url}/keys`);

  // Sudo mode: an hour on, a full-access key asks again, and the passkey answers.
  gh.ageSudo(pia.username);
  await page.getByRole('button', { name: 'Create API key' }).click();
  const form = page.locator('dialog[open]').filter({ hasText: 'Name' });
  await form.getByLabel('Name').fill('deploy');
  await form.getByLabel(/Full access/).check();
  await form.getByRole('button', { name: 'Create key' }).click();
  const sudo = page.getByRole('dialog', { name: 'Confirm it is you' });
  await expectVisible(page, sudo);
  await sudo.getByRole('button', { name: 'Use a passkey' }).click();
  assert.match(await revealedSecret(page), /^gatk_/);
  await page.getByRole('button', { name: 'I have copied it' }).click();

  // An application that asks for two steps (acr_values) gets them, and says so.
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/callback`;
  const app = createServer((req, res) => res.end('signed in'));
  await new Promise((ok) => app.listen(port, '127.0.0.1', ok));
  try {
    const created = await admin('POST', '/oauth-clients', {
      name: 'Two-step app', redirect_uris: [callback], client_type: 'confidential',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { client_id: clientId, client_secret: secret } = created.body;
    const authorize = new URL(`${gh.url}/oauth/authorize`);
    Object.entries({
      response_type: 'code', client_id: clientId, redirect_uri: callback, scope: 'openid',
      state: 'st', nonce: 'n1', acr_values: 'urn:gatehouse:acr:two-step',
    }).forEach(([k, v]) => authorize.searchParams.set(k, v));
    await page.goto(authorize.href);
    await page.locator('#allow').click();
    await page.waitForURL((u) => u.href.startsWith(callback));
    const code = new URL(page.url()).searchParams.get('code');
    const tokens = await (await fetch(`${gh.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callback }),
    })).json();
    const said = claims(tokens.id_token);
    assert.ok(said.amr.includes('mfa'), JSON.stringify(said.amr));
    assert.ok(said.amr.includes('pwd'), 'the password, then the passkey');
    assert.equal(said.acr, 'urn:gatehouse:acr:two-step');
  } finally {
    app.close();
  }
  await page.context().close();
});
