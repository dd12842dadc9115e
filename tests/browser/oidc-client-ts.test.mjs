// npm's oidc-client-ts in a real single-page app on its own origin: a node server on
// http://localhost:<port> (Gatehouse is http://127.0.0.1:<port>, another site) serves a
// page and the library's browser build. In Chromium the person signs in through
// Gatehouse's sign-in and consent pages (code flow with PKCE, from the browser), the app
// calls Gatehouse's JSON API across origins with the access token, renews it with the
// refresh token grant from the browser, and signs out (RP-Initiated Logout). A page on
// a third origin shows that it cannot read the token endpoint's or the API's answers.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { setup, newPage, apiSession, expectVisible, freePort } from './harness.mjs';

const require = createRequire(import.meta.url);
const OIDC_CLIENT_TS = readFileSync(
  join(dirname(require.resolve('oidc-client-ts/package.json')), 'dist/browser/oidc-client-ts.min.js'),
  'utf8',
);

const NAME = 'Notes (oidc-client-ts SPA)';
const SCOPE = 'openid profile api:read';

let gh;
let browser;
setup((g, b) => {
  gh = g;
  browser = b;
});

const grace = {
  username: 'grace@example.com',
  password: 'a long passphrase of grace',
  display_name: 'Grace Hopper',
  email: 'grace@example.com',
};

/**
 * The single-page app, run in the browser (serialized with `toString`): it signs in
 * with oidc-client-ts's UserManager, shows who is signed in, lists the person's API
 * keys from Gatehouse's JSON API, renews its tokens and signs out. Everything it knows
 * is on the page, for the person (and the test) to see.
 */
function spa(cfg) {
  /* global oidc */
  const $ = (id) => document.getElementById(id);
  const mgr = new oidc.UserManager({
    authority: cfg.gatehouse,
    client_id: cfg.clientId,
    redirect_uri: `${cfg.origin}/callback`,
    post_logout_redirect_uri: `${cfg.origin}/signed-out`,
    scope: cfg.scope,
    response_type: 'code',
    automaticSilentRenew: false,
  });
  let renewals = 0;
  const button = (id, on) => {
    $(id).hidden = false;
    $(id).onclick = async () => {
      $('error').textContent = '';
      try {
        await on();
      } catch (e) {
        $('error').textContent = `${e.name}: ${e.message}`;
      }
    };
  };
  const showUser = (user) => {
    $('title').textContent = `Hello, ${user.profile.name}`;
    $('who').hidden = false;
    $('username').textContent = user.profile.preferred_username;
    $('sub').textContent = user.profile.sub;
    $('token-tail').textContent = user.access_token.slice(-12);
    $('scope').textContent = user.scope;
    $('renewals').textContent = String(renewals);
    button('load-keys', async () => {
      const current = await mgr.getUser();
      const res = await fetch(`${cfg.gatehouse}/api/v1/api-keys`, {
        headers: { Authorization: `Bearer ${current.access_token}` },
      });
      if (!res.ok) throw new Error(`The API answered ${res.status}`);
      const page = await res.json();
      $('keys').replaceChildren(...page.items.map((k) => {
        const li = document.createElement('li');
        li.textContent = `${k.name} (${k.permission})`;
        return li;
      }));
      $('status').textContent = `${page.items.length} API key(s) loaded from Gatehouse.`;
    });
    button('renew', async () => {
      const renewed = await mgr.signinSilent();
      renewals += 1;
      showUser(renewed);
      $('status').textContent = 'Access renewed.';
    });
    // State to get back: oidc-client-ts sends `state` only with something to keep.
    button('sign-out', () => mgr.signoutRedirect({ state: { page: 'home' } }));
  };
  const showSignedOut = (title, text) => {
    $('title').textContent = title;
    $('status').textContent = text;
    button('sign-in', () => mgr.signinRedirect());
  };
  (async () => {
    try {
      if (location.pathname === '/callback') {
        const user = await mgr.signinRedirectCallback();
        history.replaceState(null, '', '/');
        showUser(user);
        $('status').textContent = 'Signed in with Gatehouse.';
      } else if (location.pathname === '/signed-out') {
        const back = await mgr.signoutRedirectCallback();
        if (back.userState?.page !== 'home') throw new Error('The state did not come back.');
        const left = await mgr.getUser();
        showSignedOut('Signed out', left ? 'Still signed in to Notes!' : 'You have signed out of Notes and Gatehouse.');
      } else {
        const user = await mgr.getUser();
        if (user) showUser(user);
        else showSignedOut('Notes', 'You are not signed in.');
      }
    } catch (e) {
      $('error').textContent = `${e.name}: ${e.message}`;
    }
    document.body.dataset.ready = 'true';
  })();
}

/**
 * A page on a third origin, registered nowhere (serialized with `toString`): given the
 * SPA's tokens in its fragment, it tries to read Gatehouse's discovery document (open to
 * every origin), the token endpoint and the JSON API, and shows what it got.
 */
function otherOrigin(cfg) {
  const $ = (id) => document.getElementById(id);
  const given = new URLSearchParams(location.hash.slice(1));
  const attempt = async (id, request) => {
    try {
      const res = await request();
      const body = await res.json();
      $(id).textContent = `Read: ${res.status} ${body.issuer ? `issuer ${body.issuer}` : JSON.stringify(body).slice(0, 300)}`;
    } catch (e) {
      $(id).textContent = `Blocked: ${e.name}: ${e.message}`;
    }
  };
  (async () => {
    await attempt('discovery', () => fetch(`${cfg.gatehouse}/.well-known/openid-configuration`));
    // A form POST is a "simple" request: it reaches Gatehouse without a preflight.
    await attempt('token', () => fetch(`${cfg.gatehouse}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: given.get('refresh_token'),
        client_id: given.get('client_id'),
      }),
    }));
    await attempt('api', () => fetch(`${cfg.gatehouse}/api/v1/api-keys`, {
      headers: { Authorization: `Bearer ${given.get('access_token')}` },
    }));
    document.body.dataset.ready = 'true';
  })();
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const SPA_PAGE = (cfg) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Notes</title>
<script src="/oidc-client-ts.min.js"></script>
<script src="/app.js" defer></script></head>
<body><main>
<h1 id="title">Notes</h1>
<p id="status" role="status"></p>
<dl id="who" hidden>
  <dt>Username</dt><dd id="username"></dd>
  <dt>Subject</dt><dd id="sub"></dd>
  <dt>Scope</dt><dd id="scope"></dd>
  <dt>Access token ends with</dt><dd id="token-tail"></dd>
  <dt>Renewals</dt><dd id="renewals"></dd>
</dl>
<p>
  <button type="button" id="sign-in" hidden>Sign in with Gatehouse</button>
  <button type="button" id="load-keys" hidden>Show my API keys</button>
  <button type="button" id="renew" hidden>Renew access</button>
  <button type="button" id="sign-out" hidden>Sign out</button>
</p>
<ul id="keys"></ul>
<p id="error" role="alert"></p>
<p><small>Gatehouse: ${esc(cfg.gatehouse)}</small></p>
</main></body></html>
`;

const OTHER_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Another site</title><script src="/other.js" defer></script></head>
<body><main><h1>Another site</h1>
<dl>
  <dt>Discovery</dt><dd id="discovery">…</dd>
  <dt>Token endpoint</dt><dd id="token">…</dd>
  <dt>JSON API</dt><dd id="api">…</dd>
</dl></main></body></html>
`;

/** The SPA's server on http://localhost:<port> and the other site's on another port. */
async function startSpa(cfg) {
  const requests = [];
  const serve = (routes) => createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    requests.push(`${req.headers.host}${req.url}`);
    const route = routes[path];
    if (!route) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Not found');
      return;
    }
    const [type, body] = route;
    res.writeHead(200, { 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  const page = ['text/html', SPA_PAGE(cfg)];
  const spaServer = serve({
    '/': page,
    '/callback': page,
    '/signed-out': page,
    '/oidc-client-ts.min.js': ['text/javascript', OIDC_CLIENT_TS],
    '/app.js': ['text/javascript', `(${spa})(${JSON.stringify(cfg)});\n`],
  });
  const otherServer = serve({
    '/': ['text/html', OTHER_PAGE],
    '/other.js': ['text/javascript', `(${otherOrigin})(${JSON.stringify(cfg)});\n`],
  });
  await new Promise((ok) => spaServer.listen(cfg.port, '127.0.0.1', ok));
  await new Promise((ok) => otherServer.listen(cfg.otherPort, '127.0.0.1', ok));
  const close = (s) => new Promise((ok) => {
    s.closeAllConnections();
    s.close(ok);
  });
  return {
    requests,
    stop: () => Promise.all([close(spaServer), close(otherServer)]),
  };
}

describe('oidc-client-ts 3 in a single-page app on another origin', () => {
  let spaOrigin;
  let otherOriginUrl;
  let clientId;
  let servers;
  let page;
  /** Every page the browser loaded in its main frame (redirects excluded). */
  const visited = [];
  /** Requests the SPA sent to Gatehouse's token endpoint. */
  const tokenRequests = [];
  let refreshToken;
  let accessToken;

  before(async () => {
    const api = await apiSession(gh.url, gh.admin);
    const user = await api('POST', '/users', {
      username: grace.username,
      display_name: grace.display_name,
      email: grace.email,
      role: 'editor',
      password: grace.password,
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    grace.id = user.body.user.id;
    // Grace has an API key, which the SPA will list.
    const asGrace = await apiSession(gh.url, grace);
    const key = await asGrace('POST', '/api-keys', { name: 'laptop backup', permission: 'read_only' });
    assert.equal(key.status, 201, JSON.stringify(key.body));

    const port = await freePort();
    const otherPort = await freePort();
    spaOrigin = `http://localhost:${port}`;
    otherOriginUrl = `http://localhost:${otherPort}`;
    const created = await api('POST', '/oauth-clients', {
      name: NAME,
      client_type: 'public',
      redirect_uris: [`${spaOrigin}/callback`],
      allowed_origins: [spaOrigin],
      post_logout_redirect_uris: [`${spaOrigin}/signed-out`],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    clientId = created.body.client_id;
    servers = await startSpa({
      gatehouse: gh.url, clientId, origin: spaOrigin, scope: SCOPE, port, otherPort,
    });
    page = await newPage(browser);
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) visited.push(f.url()); });
    page.on('request', (r) => {
      if (r.url() === `${gh.url}/oauth/token` && r.method() === 'POST') tokenRequests.push(r);
    });
  });
  after(async () => {
    await page?.context().close();
    await servers?.stop();
  });

  /** The SPA's stored user, as oidc-client-ts keeps it (session storage). */
  const storedUser = () => page.evaluate(([authority, id]) => JSON.parse(
    sessionStorage.getItem(`oidc.user:${authority}:${id}`) ?? 'null',
  ), [gh.url, clientId]);

  test('the person signs in to the SPA through Gatehouse\'s sign-in and consent pages and sees who they are', async () => {
    await page.goto(`${spaOrigin}/`);
    await expectVisible(page, page.getByRole('heading', { name: 'Notes' }));
    await expectVisible(page, page.getByRole('status').filter({ hasText: 'You are not signed in.' }));
    const authorize = page.waitForRequest((r) => r.url().startsWith(`${gh.url}/oauth/authorize?`));
    await page.getByRole('button', { name: 'Sign in with Gatehouse' }).click();
    // oidc-client-ts sends the browser to Gatehouse: code flow, PKCE S256, state.
    const asked = new URL((await authorize).url());
    assert.equal(asked.searchParams.get('client_id'), clientId);
    assert.equal(asked.searchParams.get('response_type'), 'code');
    assert.equal(asked.searchParams.get('redirect_uri'), `${spaOrigin}/callback`);
    assert.equal(asked.searchParams.get('scope'), SCOPE);
    assert.equal(asked.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(asked.searchParams.get('state'));

    await expectVisible(page, page.getByText('An application asked you to sign in'));
    await page.getByLabel('Username').fill(grace.username);
    await page.getByLabel('Password').fill(grace.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/authorize\?request=/);
    await expectVisible(page, page.locator('#consent-title').filter({ hasText: NAME }));
    assert.deepEqual(await page.locator('#consent-scopes li').allInnerTexts(), [
      'Know who you are (sign you in)',
      'See your name and username',
      'Read your data through the API, as a read-only key would',
    ]);
    // Where the person goes afterwards: the SPA's host.
    await expectVisible(page, page.locator('code', { hasText: 'localhost' }));
    await page.locator('#allow').click();

    // Back on the SPA, which redeemed the code from the browser (a CORS request).
    await page.waitForURL(`${spaOrigin}/`);
    await expectVisible(page, page.getByRole('heading', { name: `Hello, ${grace.display_name}` }));
    await expectVisible(page, page.getByRole('status').filter({ hasText: 'Signed in with Gatehouse.' }));
    assert.equal(await page.locator('#username').innerText(), grace.username);
    assert.equal(await page.locator('#sub').innerText(), grace.id);
    assert.deepEqual((await page.locator('#scope').innerText()).split(' ').sort(), SCOPE.split(' ').sort());
    assert.equal(await page.locator('#error').innerText(), '');
    assert.ok(visited.some((u) => u.startsWith(`${spaOrigin}/callback?`)), visited.join(' → '));

    const code = tokenRequests.find((r) => new URLSearchParams(r.postData()).get('grant_type') === 'authorization_code');
    assert.ok(code, 'the SPA did not redeem the code itself');
    assert.equal((await code.allHeaders()).origin, spaOrigin);
    const answer = await code.response();
    assert.equal(answer.status(), 200);
    const shared = await answer.allHeaders();
    assert.equal(shared['access-control-allow-origin'], spaOrigin);
    assert.equal(shared['access-control-allow-credentials'], undefined);

    const user = await storedUser();
    assert.match(user.refresh_token, /^gatr_/);
    assert.equal(user.profile.iss, gh.url);
    assert.ok(user.profile.sid, 'the id_token carries no sid');
    refreshToken = user.refresh_token;
    accessToken = user.access_token;
  });

  test('the SPA reads the person\'s API keys from Gatehouse\'s JSON API with the access token', async () => {
    assert.ok(accessToken, 'the sign-in did not succeed');
    const call = page.waitForResponse((r) => r.url() === `${gh.url}/api/v1/api-keys` && r.request().method() === 'GET');
    await page.getByRole('button', { name: 'Show my API keys' }).click();
    await expectVisible(page, page.locator('#keys li', { hasText: 'laptop backup (read_only)' }));
    await expectVisible(page, page.getByRole('status').filter({ hasText: '1 API key(s) loaded from Gatehouse.' }));
    const res = await call;
    const shared = await res.allHeaders();
    assert.equal(shared['access-control-allow-origin'], spaOrigin);
    assert.equal(shared['access-control-allow-credentials'], undefined);
  });

  test('a page on an unregistered origin cannot read the token endpoint\'s or the API\'s answers, and spends nothing', async () => {
    assert.ok(refreshToken, 'the sign-in did not succeed');
    const other = await newPage(browser);
    try {
      const hash = new URLSearchParams({ refresh_token: refreshToken, access_token: accessToken, client_id: clientId });
      await other.goto(`${otherOriginUrl}/#${hash}`);
      await other.locator('body[data-ready="true"]').waitFor();
      // Discovery is open to every origin: the page itself works.
      assert.equal(await other.locator('#discovery').innerText(), `Read: 200 issuer ${gh.url}`);
      assert.equal(await other.locator('#token').innerText(), 'Blocked: TypeError: Failed to fetch');
      assert.equal(await other.locator('#api').innerText(), 'Blocked: TypeError: Failed to fetch');
    } finally {
      await other.context().close();
    }
    // Gatehouse refused it too, before spending the refresh token: told the same
    // request's Origin, it answers unauthorized_client and shares nothing.
    const res = await fetch(`${gh.url}/oauth/token`, {
      method: 'POST',
      headers: { Origin: otherOriginUrl, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
    });
    assert.equal((await res.json()).error, 'unauthorized_client');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  test('renewing access uses the refresh token grant from the browser: a new access token that works', async () => {
    assert.ok(refreshToken, 'the sign-in did not succeed');
    const before = await page.locator('#token-tail').innerText();
    const renewal = page.waitForRequest((r) => r.url() === `${gh.url}/oauth/token`
      && new URLSearchParams(r.postData()).get('grant_type') === 'refresh_token');
    await page.getByRole('button', { name: 'Renew access' }).click();
    await expectVisible(page, page.getByRole('status').filter({ hasText: 'Access renewed.' }));
    assert.equal(await page.locator('#error').innerText(), '');
    assert.equal(await page.locator('#renewals').innerText(), '1');
    assert.notEqual(await page.locator('#token-tail').innerText(), before);
    // The refresh token the other site tried is the one the SPA spent now: it was not
    // spent before (or this would have been a replay, ending the authorization).
    const sent = await renewal;
    assert.equal(new URLSearchParams(sent.postData()).get('refresh_token'), refreshToken);
    assert.equal((await sent.allHeaders()).origin, spaOrigin);
    const answer = await sent.response();
    assert.equal(answer.status(), 200);
    assert.equal((await answer.allHeaders())['access-control-allow-origin'], spaOrigin);
    const user = await storedUser();
    assert.notEqual(user.refresh_token, refreshToken);
    refreshToken = user.refresh_token;
    // The new access token reads the API.
    await page.locator('#keys').evaluate((ul) => ul.replaceChildren());
    await page.getByRole('button', { name: 'Show my API keys' }).click();
    await expectVisible(page, page.locator('#keys li', { hasText: 'laptop backup (read_only)' }));
  });

  test('signing out ends the Gatehouse session at once and comes back to the SPA', async () => {
    assert.ok(refreshToken, 'the sign-in did not succeed');
    const logout = page.waitForRequest((r) => r.url().startsWith(`${gh.url}/oauth/logout?`));
    visited.length = 0;
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    const sent = new URL((await logout).url());
    assert.ok(sent.searchParams.get('id_token_hint'), sent.href);
    assert.equal(sent.searchParams.get('post_logout_redirect_uri'), `${spaOrigin}/signed-out`);
    assert.ok(sent.searchParams.get('state'));
    await page.waitForURL((u) => u.href.startsWith(`${spaOrigin}/signed-out`));
    await expectVisible(page, page.getByRole('heading', { name: 'Signed out' }));
    await expectVisible(page, page.getByRole('status').filter({ hasText: 'You have signed out of Notes and Gatehouse.' }));
    assert.equal(await page.locator('#error').innerText(), '');
    // The hint named the signed-in person: no confirmation page on the way.
    assert.deepEqual(visited.filter((u) => u.startsWith(gh.url)), [], visited.join(' → '));
    assert.equal(new URL(page.url()).searchParams.get('state'), sent.searchParams.get('state'));

    // The SPA's refresh token died with the Gatehouse session (no offline_access).
    const res = await fetch(`${gh.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');
    // Opening the SPA again: not signed in; signing in asks for Gatehouse's password.
    await page.goto(`${spaOrigin}/`);
    await expectVisible(page, page.getByRole('status').filter({ hasText: 'You are not signed in.' }));
    await page.getByRole('button', { name: 'Sign in with Gatehouse' }).click();
    await expectVisible(page, page.getByText('An application asked you to sign in'));
    assert.ok(page.url().startsWith(`${gh.url}/login?`), page.url());
  });
});
