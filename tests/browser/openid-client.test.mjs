// npm's openid-client (an OpenID-certified relying party) as a server-side web app
// that signs people in with Gatehouse, once per way a client authenticates:
// client_secret_basic, client_secret_post, and a public client with PKCE alone.
// The person uses Gatehouse's real sign-in and consent pages in Chromium; the app is a
// small node server on a loopback port whose callback redeems the code with
// openid-client and shows who signed in. The app then refreshes, introspects and
// revokes its tokens through openid-client, and the person sees the result in
// Gatehouse's Authorized Applications.
// Then the other grants and sign-out: the device grant (RFC 8628; the person answers
// on Gatehouse's /device page while openid-client polls), client credentials for a
// service account, and RP-Initiated Logout with buildEndSessionUrl.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as client from 'openid-client';
import {
  setup, newPage, review, apiSession, expectVisible, freePort, signIn,
} from './harness.mjs';

const SCOPE = 'openid profile email api:read';

let gh;
let browser;
let api;
setup((g, b) => {
  gh = g;
  browser = b;
});

/** The person who signs in to the apps. */
const grace = {
  username: 'grace@example.com',
  password: 'a long passphrase of grace',
  display_name: 'Grace Hopper',
  email: 'grace@example.com',
};

/** The admin's API session and Grace, made once. (Not a second root `before`: node 20
 *  starts root hooks registered after the harness's without waiting for it.) */
let prepared;
function prepare() {
  prepared ??= (async () => {
    api = await apiSession(gh.url, gh.admin);
    const res = await api('POST', '/users', {
      username: grace.username,
      display_name: grace.display_name,
      email: grace.email,
      role: 'editor',
      password: grace.password,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    grace.id = res.body.user.id;
  })();
  return prepared;
}

/** Registers a client through the JSON API; answers its id and secret (null if public).
 *  `metadata`: more of the client's metadata (grant_types, post_logout_redirect_uris…). */
async function registerClient(name, redirectUri, clientType, metadata = {}) {
  const res = await api('POST', '/oauth-clients', {
    name, redirect_uris: [redirectUri], client_type: clientType, ...metadata,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.match(res.body.client_id, /^[0-9a-f]{32}$/);
  if (clientType === 'confidential') assert.match(res.body.client_secret, /^gats_/);
  else assert.equal(res.body.client_secret, null);
  return { clientId: res.body.client_id, secret: res.body.client_secret };
}

/** openid-client's Configuration from Gatehouse's discovery document. */
async function configure(clientId, auth) {
  const config = await client.discovery(new URL(gh.url), clientId, undefined, auth, {
    execute: [client.allowInsecureRequests],
  });
  assert.equal(config.serverMetadata().issuer, gh.url);
  return config;
}

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function describeError(e) {
  let text = `${e.name}: ${e.message}`;
  if (e.error) text += ` [${e.error}${e.error_description ? `: ${e.error_description}` : ''}]`;
  if (e.cause && !(e.cause instanceof URLSearchParams) && !Array.isArray(e.cause)) {
    text += ` (cause: ${e.cause.message ?? JSON.stringify(e.cause)})`;
  }
  return text;
}

/**
 * A web app using openid-client: `/login` sends the browser to Gatehouse with PKCE
 * (S256), state and nonce bound to a cookie; `/callback` redeems the code, checks the
 * id_token, reads userinfo and shows the person's name. Each sign-in is kept in
 * `logins` for the test to use its tokens.
 */
async function startRelyingParty(config, port) {
  const url = `http://127.0.0.1:${port}`;
  const redirectUri = `${url}/callback`;
  const pending = new Map();
  const rp = { url, redirectUri, signedOutUri: `${url}/signed-out`, logins: [], errors: [], signedOut: [] };
  const html = (res, status, title, body) => {
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
      + `<body><h1>${esc(title)}</h1>${body}</body></html>`);
  };
  const server = createServer(async (req, res) => {
    const here = new URL(req.url, url);
    try {
      if (here.pathname === '/login') {
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        const login = client.randomState();
        pending.set(login, { verifier, state, nonce });
        const to = client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: SCOPE,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        });
        res.writeHead(302, { Location: to.href, 'Set-Cookie': `rp_login=${login}; Path=/; HttpOnly; SameSite=Lax` });
        res.end();
        return;
      }
      if (here.pathname === '/callback') {
        const cookie = /(?:^|;\s*)rp_login=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
        const p = pending.get(cookie);
        if (!p) throw new Error('No sign-in was started in this browser.');
        pending.delete(cookie);
        const tokens = await client.authorizationCodeGrant(config, here, {
          pkceCodeVerifier: p.verifier,
          expectedState: p.state,
          expectedNonce: p.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        rp.logins.push({ tokens, claims, userinfo, nonce: p.nonce, callback: here });
        html(res, 200, `Signed in as ${userinfo.preferred_username}`,
          `<dl><dt>Name</dt><dd id="name">${esc(userinfo.name)}</dd>`
          + `<dt>E-mail</dt><dd id="email">${esc(userinfo.email)}</dd>`
          + `<dt>Subject</dt><dd id="sub">${esc(claims.sub)}</dd></dl>`);
        return;
      }
      if (here.pathname === '/signed-out') {
        // Where Gatehouse sends the person after RP-Initiated Logout.
        rp.signedOut.push(here);
        html(res, 200, 'You are signed out of the app',
          `<p>State: <code id="state">${esc(here.searchParams.get('state'))}</code></p>`);
        return;
      }
      html(res, 404, 'Not found', '');
    } catch (e) {
      rp.errors.push(e);
      html(res, 500, 'Sign-in failed', `<p id="error">${esc(describeError(e))}</p>`);
    }
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  rp.stop = () => new Promise((ok) => {
    server.closeAllConnections();
    server.close(ok);
  });
  return rp;
}

/** The OAuth error a refused openid-client call got: `{ status, error }`. */
async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof client.ResponseBodyError) return { status: e.status, error: e.error };
    if (e instanceof client.WWWAuthenticateChallengeError) {
      let error = e.cause?.[0]?.parameters?.error;
      if (!error) error = await e.response.json().then((b) => b.error, () => undefined);
      return { status: e.status, error, scheme: e.cause?.[0]?.scheme };
    }
    throw e;
  }
  return assert.fail('the request was not refused');
}

/** The person's browser, not signed in to Gatehouse yet. */
async function person() {
  const page = await newPage(browser);
  page.visited = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) page.visited.push(f.url()); });
  return page;
}

/** Signs in to the app through Gatehouse: the sign-in page when the browser has no
 *  Gatehouse session, the consent page when `consent` (checked, then allowed). */
async function signInToApp(page, rp, name, { signIn, consent, reviewAs }) {
  page.visited.length = 0;
  await page.goto(`${rp.url}/login`);
  if (signIn) {
    await page.waitForURL(/\/login\?next=/);
    await page.getByText('An application asked you to sign in').waitFor();
    await page.getByLabel('Username').fill(grace.username);
    await page.getByLabel('Password').fill(grace.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }
  if (consent) {
    await page.waitForURL(/\/authorize\?request=/);
    await expectVisible(page, page.locator('#consent-title').filter({ hasText: name }));
    const scopes = page.locator('#consent-scopes li');
    assert.deepEqual(await scopes.allInnerTexts(), [
      'Know who you are (sign you in)',
      'See your name and username',
      'See your e-mail address',
      'Read your data through the API, as a read-only key would',
    ]);
    // Where the person goes afterwards: the app's host.
    await page.locator('code', { hasText: '127.0.0.1' }).waitFor();
    if (reviewAs) await review(page, reviewAs);
    // Playwright waits for the button to wake up (700 ms after the page shows).
    await page.locator('#allow').click();
  }
  await page.waitForURL((u) => u.href.startsWith(rp.redirectUri));
  await expectVisible(page, page.getByRole('heading', { name: `Signed in as ${grace.username}` }));
  assert.equal(await page.locator('#name').innerText(), grace.display_name);
  assert.equal(await page.locator('#email').innerText(), grace.email);
  assert.equal(await page.locator('#sub').innerText(), grace.id);
  assert.deepEqual(rp.errors, []);
  if (!consent) {
    assert.ok(!page.visited.some((u) => u.includes('/authorize?request=')),
      `the consent page was shown: ${page.visited.join(' → ')}`);
  }
  return rp.logins.at(-1);
}

/** What the person sees for the app under Authorized Applications in Gatehouse. */
async function appBadge(page, name, badge) {
  await page.goto(`${gh.url}/apps`);
  const card = page.locator('#apps-list li', { hasText: name });
  await expectVisible(page, card.locator('.badge', { hasText: badge }));
}

const CLIENTS = [
  { label: 'client_secret_basic', type: 'confidential', auth: (s) => client.ClientSecretBasic(s) },
  { label: 'client_secret_post', type: 'confidential', auth: (s) => client.ClientSecretPost(s) },
  { label: 'public client with PKCE', type: 'public', auth: () => client.None() },
];

for (const { label, type, auth } of CLIENTS) {
  describe(`openid-client 6 (${label})`, () => {
    const name = `openid-client ${label}`;
    let rp;
    let config;
    /** Who introspects: the app itself, or for a public client (which may not) a
     *  resource server registered as a confidential client of the same subscription. */
    let introspector;
    let page;
    let first;
    let refreshed;

    before(async () => {
      await prepare();
      const port = await freePort();
      const { clientId, secret } = await registerClient(name, `http://127.0.0.1:${port}/callback`, type);
      config = await configure(clientId, auth(secret));
      rp = await startRelyingParty(config, port);
      if (type === 'public') {
        const rs = await registerClient(`${name} resource server`, 'https://rs.example.com/unused', 'confidential');
        introspector = await configure(rs.clientId, client.ClientSecretBasic(rs.secret));
      } else {
        introspector = config;
      }
      page = await person();
    });
    after(async () => {
      await page?.context().close();
      await rp?.stop();
    });

    test('the person signs in through Gatehouse\'s sign-in and consent pages and the app shows who they are', async () => {
      first = await signInToApp(page, rp, name, {
        signIn: true, consent: true, reviewAs: label === 'client_secret_basic' ? 'consent-openid-client' : null,
      });
      const { tokens, claims, userinfo, nonce, callback } = first;
      // RFC 9207: the authorization response names its issuer (openid-client checked it).
      assert.equal(callback.searchParams.get('iss'), gh.url);
      assert.equal(claims.iss, gh.url);
      assert.equal(claims.sub, grace.id);
      assert.equal(claims.nonce, nonce);
      assert.deepEqual([claims.aud].flat(), [config.clientMetadata().client_id]);
      assert.ok(Math.abs(claims.auth_time - Date.now() / 1000) < 120, `auth_time ${claims.auth_time}`);
      assert.equal(claims.preferred_username, grace.username);
      assert.equal(tokens.token_type, 'bearer');
      assert.deepEqual(tokens.scope.split(' ').sort(), SCOPE.split(' ').sort());
      assert.ok(tokens.expiresIn() > 3000, `expires in ${tokens.expiresIn()}`);
      assert.match(tokens.refresh_token, /^gatr_/);
      assert.deepEqual(userinfo, {
        sub: grace.id,
        name: grace.display_name,
        preferred_username: grace.username,
        updated_at: userinfo.updated_at,
        email: grace.email,
        email_verified: false,
      });
      await appBadge(page, name, 'Active');
    });

    test('refreshing rotates the refresh token; the new tokens work and introspect as active', async () => {
      assert.ok(first, 'the sign-in did not succeed');
      const old = first.tokens;
      refreshed = await client.refreshTokenGrant(config, old.refresh_token);
      assert.match(refreshed.refresh_token, /^gatr_/);
      assert.notEqual(refreshed.refresh_token, old.refresh_token);
      assert.notEqual(refreshed.access_token, old.access_token);
      // With openid the refresh answers a new id_token too (OpenID Connect Core §12.2):
      // the same issuer, subject and audience, and no nonce.
      const idClaims = refreshed.claims();
      assert.ok(idClaims, 'the refresh answered no id_token');
      assert.equal(idClaims.iss, gh.url);
      assert.equal(idClaims.sub, grace.id);
      assert.deepEqual([idClaims.aud].flat(), [first.claims.aud].flat());
      assert.equal(idClaims.nonce, undefined);
      assert.ok(idClaims.iat >= first.claims.iat);
      const info = await client.fetchUserInfo(config, refreshed.access_token, grace.id);
      assert.equal(info.preferred_username, grace.username);

      const access = await client.tokenIntrospection(introspector, refreshed.access_token);
      assert.equal(access.active, true);
      assert.equal(access.client_id, config.clientMetadata().client_id);
      assert.equal(access.sub, grace.id);
      assert.equal(access.username, grace.username);
      assert.equal(access.iss, gh.url);
      assert.deepEqual(access.scope.split(' ').sort(), SCOPE.split(' ').sort());
      const refresh = await client.tokenIntrospection(introspector, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
      assert.equal(refresh.active, true);
      assert.equal(refresh.client_id, config.clientMetadata().client_id);
      // The spent refresh token is no longer active.
      assert.deepEqual(await client.tokenIntrospection(introspector, old.refresh_token), { active: false });
      if (type === 'public') {
        // A public client's id proves nothing: it may not introspect (RFC 7662 §2.1).
        const refused = await refusal(client.tokenIntrospection(config, refreshed.access_token));
        assert.equal(refused.status, 401);
        assert.equal(refused.error, 'invalid_client');
      }
    });

    test('a replayed refresh token is refused and ends the whole authorization', async () => {
      assert.ok(refreshed, 'the refresh did not succeed');
      const replay = await refusal(client.refreshTokenGrant(config, first.tokens.refresh_token));
      assert.deepEqual(replay, { status: 400, error: 'invalid_grant' });
      // Reuse detection (RFC 9700 §4.14.2): the tokens issued after it stop too.
      assert.deepEqual(await refusal(client.refreshTokenGrant(config, refreshed.refresh_token)), { status: 400, error: 'invalid_grant' });
      assert.deepEqual(await client.tokenIntrospection(introspector, refreshed.access_token), { active: false });
      const userinfo = await refusal(client.fetchUserInfo(config, refreshed.access_token, grace.id));
      assert.equal(userinfo.status, 401);
      assert.equal(userinfo.error, 'invalid_token');
      assert.equal(userinfo.scheme, 'bearer');
      await appBadge(page, name, 'Revoked');
    });

    test('signing in again asks for consent once more, then no longer; revoking the refresh token ends the authorization', async () => {
      // Revoked: Gatehouse asks again (the person is still signed in to Gatehouse).
      await signInToApp(page, rp, name, { signIn: false, consent: true });
      // Allowed and active: straight back to the app.
      const again = await signInToApp(page, rp, name, { signIn: false, consent: false });
      assert.equal(again.claims.sub, grace.id);
      assert.equal(again.claims.nonce, again.nonce);
      await appBadge(page, name, 'Active');
      const { tokens } = again;
      assert.equal((await client.tokenIntrospection(introspector, tokens.access_token)).active, true);

      // RFC 7009: the app signs the person out and revokes its refresh token.
      await client.tokenRevocation(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
      // Revoking the refresh token revokes its grant: the access token stops as well.
      assert.deepEqual(await client.tokenIntrospection(introspector, tokens.access_token), { active: false });
      assert.deepEqual(await client.tokenIntrospection(introspector, tokens.refresh_token), { active: false });
      const userinfo = await refusal(client.fetchUserInfo(config, tokens.access_token, grace.id));
      assert.equal(userinfo.status, 401);
      assert.equal(userinfo.error, 'invalid_token');
      assert.deepEqual(await refusal(client.refreshTokenGrant(config, tokens.refresh_token)), { status: 400, error: 'invalid_grant' });
      // Revoking again, or a token that is not one, is not an error (RFC 7009 §2.2).
      await client.tokenRevocation(config, tokens.refresh_token);
      await client.tokenRevocation(config, 'not-a-token');
      await appBadge(page, name, 'Revoked');
    });
  });
}

test('openid-client: denying the consent brings the person back to the app with access_denied', async () => {
  await prepare();
  const port = await freePort();
  const name = 'openid-client denied';
  const { clientId, secret } = await registerClient(name, `http://127.0.0.1:${port}/callback`, 'confidential');
  const config = await configure(clientId, client.ClientSecretBasic(secret));
  const rp = await startRelyingParty(config, port);
  const page = await person();
  try {
    await page.goto(`${rp.url}/login`);
    await page.waitForURL(/\/login\?next=/);
    await page.getByLabel('Username').fill(grace.username);
    await page.getByLabel('Password').fill(grace.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/authorize\?request=/);
    await page.locator('#deny').click();
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri));
    await expectVisible(page, page.getByRole('heading', { name: 'Sign-in failed' }));
    assert.match(await page.locator('#error').innerText(), /access_denied/);
    assert.equal(rp.logins.length, 0);
    // The error response names its issuer and echoes the state (openid-client checked both).
    const back = new URL(page.url());
    assert.equal(back.searchParams.get('iss'), gh.url);
    assert.ok(back.searchParams.get('state'));
    assert.ok(rp.errors[0] instanceof client.AuthorizationResponseError, describeError(rp.errors[0]));
    // Grace's other apps are listed, this one is not.
    await page.goto(`${gh.url}/apps`);
    await expectVisible(page, page.locator('#apps-list li', { hasText: 'openid-client client_secret_basic' }));
    assert.equal(await page.locator('#apps-list li', { hasText: name }).count(), 0);
  } finally {
    await page.context().close();
    await rp.stop();
  }
});

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §6.1: 8 characters of 20 consonants, shown XXXX-XXXX. */
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

/** Signs the person in on Gatehouse's sign-in page, where the browser was sent. */
async function signInAtGatehouse(page) {
  await expectVisible(page, page.getByRole('button', { name: 'Sign in', exact: true }));
  assert.match(page.url(), /\/login\?next=/);
  await page.getByLabel('Username').fill(grace.username);
  await page.getByLabel('Password').fill(grace.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

describe('openid-client 6: the device authorization grant (RFC 8628)', () => {
  const name = 'openid-client command-line tool';
  let config;
  let page;

  before(async () => {
    await prepare();
    const { clientId } = await registerClient(name, 'https://cli.example.com/unused', 'public', {
      grant_types: [DEVICE_GRANT, 'refresh_token'],
    });
    config = await configure(clientId, client.None());
    assert.equal(config.serverMetadata().device_authorization_endpoint, `${gh.url}/oauth/device_authorization`);
    page = await person();
  });
  after(async () => {
    await page?.context().close();
  });

  test('the person opens verification_uri_complete, signs in, checks the code and the app and allows; the tool\'s poll gets tokens', async () => {
    const device = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    assert.match(device.user_code, USER_CODE);
    assert.equal(device.verification_uri, `${gh.url}/device`);
    const complete = new URL(device.verification_uri_complete);
    assert.equal(`${complete.origin}${complete.pathname}`, `${gh.url}/device`);
    assert.equal(complete.searchParams.get('user_code'), device.user_code);
    assert.ok(device.expires_in > 60 && device.expires_in <= 600, `expires_in ${device.expires_in}`);
    // The tool polls the token endpoint (openid-client waits `interval` between polls,
    // hearing authorization_pending) while the person answers in the browser.
    const polled = client.pollDeviceAuthorizationGrant(config, device);
    polled.catch(() => {}); // awaited below

    // The person is not signed in to Gatehouse in this browser yet.
    await page.goto(device.verification_uri_complete);
    await signInAtGatehouse(page);
    await page.waitForURL(/\/device\?user_code=/);
    await expectVisible(page, page.getByRole('heading', { name: 'Connect a device' }));
    await expectVisible(page, page.locator('#device-warning'));
    // The code comes filled in from the link.
    assert.equal(await page.getByLabel('Code').inputValue(), device.user_code);
    await review(page, 'openid-client-device-code');
    await page.getByRole('button', { name: 'Continue' }).click();

    // Which app, on which device, asks for what.
    await expectVisible(page, page.locator('#device-title').filter({ hasText: name }));
    assert.equal(await page.locator('#device-code').innerText(), device.user_code);
    const agent = await page.locator('#device-agent').innerText();
    assert.match(agent, /openid-client\/v6\.8\.9/);
    assert.match(agent, /127\.0\.0\.1/);
    assert.deepEqual(await page.locator('#device-scopes li').allInnerTexts(), [
      'Know who you are (sign you in)',
      'See your name and username',
      'Keep this access after you sign out of Gatehouse, until you revoke it',
    ]);
    await review(page, 'openid-client-device-decision');
    // Playwright waits for the button to wake up (700 ms after the card shows).
    await page.locator('#allow').click();
    await expectVisible(page, page.locator('#device-done').filter({ hasText: 'Device connected' }));
    await expectVisible(page, page.getByRole('status').filter({ hasText: `${name} is signed in` }));

    const tokens = await polled;
    assert.equal(tokens.token_type, 'bearer');
    assert.deepEqual(tokens.scope.split(' ').sort(), ['offline_access', 'openid', 'profile']);
    assert.match(tokens.refresh_token, /^gatr_/);
    // With openid the device gets an id_token naming the person (openid-client checked
    // its issuer, audience and times).
    const claims = tokens.claims();
    assert.ok(claims, 'the device grant answered no id_token');
    assert.equal(claims.iss, gh.url);
    assert.equal(claims.sub, grace.id);
    assert.deepEqual([claims.aud].flat(), [config.clientMetadata().client_id]);
    assert.equal(claims.preferred_username, grace.username);
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, grace.id);
    assert.equal(userinfo.name, grace.display_name);
    // The device code is spent: the person's one "Allow" gave one set of tokens.
    const again = await refusal(client.genericGrantRequest(config, DEVICE_GRANT, { device_code: device.device_code }));
    assert.equal(again.status, 400);
    assert.ok(['invalid_grant', 'expired_token'].includes(again.error), again.error);
    // The tool refreshes like any other client.
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    await appBadge(page, name, 'Active');
  });

  test('the person types a code and denies: the tool\'s poll ends with access_denied', async () => {
    const device = await client.initiateDeviceAuthorization(config, { scope: 'openid profile' });
    const polled = client.pollDeviceAuthorizationGrant(config, device);
    polled.catch(() => {}); // awaited below
    // Signed in already; the person types the code as they read it (case and dash do
    // not matter).
    await page.goto(device.verification_uri);
    await expectVisible(page, page.getByRole('heading', { name: 'Connect a device' }));
    assert.equal(await page.getByLabel('Code').inputValue(), '');
    await page.getByLabel('Code').fill(device.user_code.replace('-', '').toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();
    await expectVisible(page, page.locator('#device-title').filter({ hasText: name }));
    assert.equal(await page.locator('#device-code').innerText(), device.user_code);
    await page.locator('#deny').click();
    await expectVisible(page, page.locator('#device-done').filter({ hasText: 'Request denied' }));
    await expectVisible(page, page.getByRole('status').filter({ hasText: `${name} was not given access` }));
    assert.deepEqual(await refusal(polled), { status: 400, error: 'access_denied' });
    // A code that was answered cannot be used again.
    await page.goto(`${gh.url}/device`);
    await page.getByLabel('Code').fill(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    const alert = page.locator('#device-form p.error[role="alert"]');
    await expectVisible(page, alert);
    assert.match(await alert.innerText(), /No device is waiting with this code/);
    assert.equal(await page.locator('#device-title').count(), 0);
  });
});

test('openid-client 6: client credentials — a service account of role editor calls the API; an admin sees what it did', async () => {
  await prepare();
  const name = 'openid-client nightly report';
  const { clientId, secret } = await registerClient(name, 'https://reports.example.com/unused', 'confidential', {
    grant_types: ['client_credentials'], service_role: 'editor',
  });
  const config = await configure(clientId, client.ClientSecretBasic(secret));
  const tokens = await client.clientCredentialsGrant(config, { scope: 'api:read api:write' });
  assert.equal(tokens.token_type, 'bearer');
  assert.deepEqual(tokens.scope.split(' ').sort(), ['api:read', 'api:write']);
  assert.ok(tokens.expiresIn() > 60, `expires in ${tokens.expiresIn()}`);
  // RFC 6749 §4.4.3: no refresh token; and no id_token, nobody signed in.
  assert.equal(tokens.refresh_token, undefined);
  assert.equal(tokens.id_token, undefined);

  const asService = (path) => client.fetchProtectedResource(
    config, tokens.access_token, new URL(`${gh.url}/api/v1${path}`), 'GET',
  );
  const session = await asService('/session');
  assert.equal(session.status, 200);
  const { user } = await session.json();
  assert.equal(user.kind, 'service');
  assert.equal(user.role, 'editor');
  assert.equal(user.display_name, `${name} (service account)`);

  // More than its role allows, or a client without a service account, is refused.
  assert.deepEqual(await refusal(client.clientCredentialsGrant(config, { scope: 'api:read openid' })),
    { status: 400, error: 'invalid_scope' });
  const noService = await registerClient(`${name} without a role`, 'https://reports.example.com/unused', 'confidential');
  const plain = await configure(noService.clientId, client.ClientSecretBasic(noService.secret));
  assert.deepEqual(await refusal(client.clientCredentialsGrant(plain, {})), { status: 400, error: 'unauthorized_client' });

  // An admin finds the service account among the users, an editor, and disables it:
  // its token stops at once and it gets no new one.
  const page = await newPage(browser);
  try {
    await signIn(page, gh.url, gh.admin, '/admin/users');
    const label = `${name} (service account)`;
    const row = page.locator('#users-table tr', { hasText: label });
    await expectVisible(page, row.locator('.badge', { hasText: 'Active' }));
    // Its role is the client's to set: shown, not editable here, and it cannot be deleted here.
    await expectVisible(page, row.locator('.badge', { hasText: 'Service account' }));
    assert.equal((await row.locator('td').first().innerText()).trim(), 'Editor');
    assert.equal(await row.getByRole('combobox', { name: `Role of ${label}` }).count(), 0);
    assert.equal(await row.getByRole('button', { name: `Delete ${label}` }).count(), 0);
    await review(page, 'users-service-account');
    await row.getByRole('button', { name: `Disable ${label}` }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Disable user' }).click();
    await expectVisible(page, row.locator('.badge', { hasText: 'Disabled' }));
  } finally {
    await page.context().close();
  }
  // A 401 with a Bearer challenge: openid-client raises it.
  const stopped = await refusal(asService('/session'));
  assert.equal(stopped.status, 401);
  assert.equal(stopped.scheme, 'bearer');
  assert.equal((await refusal(client.clientCredentialsGrant(config, {}))).error, 'unauthorized_client');
});

describe('openid-client 6: RP-Initiated Logout', () => {
  const name = 'openid-client sign-out';
  let rp;
  let config;
  let clientId;
  let page;
  let login;

  before(async () => {
    await prepare();
    const port = await freePort();
    const registered = await registerClient(name, `http://127.0.0.1:${port}/callback`, 'confidential', {
      post_logout_redirect_uris: [`http://127.0.0.1:${port}/signed-out`],
    });
    clientId = registered.clientId;
    config = await configure(clientId, client.ClientSecretBasic(registered.secret));
    assert.equal(config.serverMetadata().end_session_endpoint, `${gh.url}/oauth/logout`);
    rp = await startRelyingParty(config, port);
    page = await person();
  });
  after(async () => {
    await page?.context().close();
    await rp?.stop();
  });

  test('a bare logout link is confirmed first: Gatehouse asks, and leaving the page keeps the person signed in', async () => {
    login = await signInToApp(page, rp, name, { signIn: true, consent: true });
    assert.ok(login.claims.sid, 'the id_token carries no sid');
    await page.goto(`${gh.url}/oauth/logout?client_id=${clientId}`);
    await expectVisible(page, page.getByRole('heading', { name: 'Sign out of Gatehouse?' }));
    assert.equal(await page.title(), 'Sign out of Gatehouse?');
    await expectVisible(page, page.getByText(`${name} asks to sign you out of Gatehouse.`));
    await expectVisible(page, page.getByRole('button', { name: 'Sign out', exact: true }));
    await review(page, 'logout-confirmation');
    // The person closes it: nothing happened.
    await appBadge(page, name, 'Active');
  });

  test('buildEndSessionUrl with id_token_hint: signed out at once, back on the app with state, and Gatehouse asks to sign in again', async () => {
    assert.ok(login, 'the sign-in did not succeed');
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: login.tokens.id_token,
      post_logout_redirect_uri: rp.signedOutUri,
      state,
    });
    assert.equal(`${url.origin}${url.pathname}`, `${gh.url}/oauth/logout`);
    assert.equal(url.searchParams.get('client_id'), clientId);
    page.visited.length = 0;
    await page.goto(url.href);
    await page.waitForURL((u) => u.href.startsWith(rp.signedOutUri));
    await expectVisible(page, page.getByRole('heading', { name: 'You are signed out of the app' }));
    assert.equal(await page.locator('#state').innerText(), state);
    assert.equal(rp.signedOut.at(-1).searchParams.get('state'), state);
    // No confirmation page: the hint named the person signed in.
    assert.deepEqual(page.visited.filter((u) => u.startsWith(gh.url)), [], page.visited.join(' → '));

    // The Gatehouse session is gone: the person's next visit asks them to sign in.
    await page.goto(`${gh.url}/apps`);
    await expectVisible(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.match(page.url(), /\/login\?next=/);
    // And the app's refresh token from that sign-in (no offline_access) died with it
    // (OpenID Connect Core §11).
    assert.deepEqual(await refusal(client.refreshTokenGrant(config, login.tokens.refresh_token)),
      { status: 400, error: 'invalid_grant' });
  });

  test('an unregistered post_logout_redirect_uri is an error page; confirming a bare link signs out and goes back with state', async () => {
    await signInToApp(page, rp, name, { signIn: true, consent: false });
    // Not registered: Gatehouse shows an error and sends the browser nowhere.
    const evil = `${gh.url}/oauth/logout?client_id=${clientId}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example.com/')}`;
    const res = await page.goto(evil);
    assert.equal(res.status(), 400);
    await expectVisible(page, page.getByRole('heading', { name: 'Cannot sign out' }));
    await expectVisible(page, page.getByText('The post_logout_redirect_uri is not one the application registered.'));
    assert.ok(page.url().startsWith(`${gh.url}/oauth/logout?`), page.url());

    const state = client.randomState();
    await page.goto(client.buildEndSessionUrl(config, { post_logout_redirect_uri: rp.signedOutUri, state }).href);
    await expectVisible(page, page.getByRole('heading', { name: 'Sign out of Gatehouse?' }));
    await page.locator('#confirm-logout').click();
    await page.waitForURL((u) => u.href.startsWith(rp.signedOutUri));
    await expectVisible(page, page.getByRole('heading', { name: 'You are signed out of the app' }));
    assert.equal(await page.locator('#state').innerText(), state);
    await page.goto(`${gh.url}/apps`);
    await expectVisible(page, page.getByRole('button', { name: 'Sign in', exact: true }));
  });
});
