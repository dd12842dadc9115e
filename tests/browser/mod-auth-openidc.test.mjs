// Debian's Apache with mod_auth_openidc protecting a page with Gatehouse: a person
// opens the page in Chromium, signs in on Gatehouse's sign-in page, allows the app on
// the consent page, and the page shows their claims as mod_auth_openidc passed them.
// Then the two ways a sign-in ends: the person signs out through mod_auth_openidc
// (RP-Initiated Logout at Gatehouse's end_session_endpoint), and the person revokes
// the app in Gatehouse, which tells Apache by Back-Channel Logout.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, newPage, apiSession, expectVisible, freePort } from './harness.mjs';
import { startApache, apacheRedirectUri } from './apache.mjs';

const NAME = 'Intranet (Apache)';

let gh;
let browser;
let apache;
/** The admin's API session, and the client's record. */
let api;
let registered;
setup((g, b) => {
  gh = g;
  browser = b;
});

const ada = {
  username: 'ada@example.com',
  password: 'a long passphrase of ada',
  display_name: 'Ada Lovelace',
  email: 'ada@example.com',
};

/** Ada, the client and Apache, made once. (Not a second root `before`: node 20 starts
 *  root hooks registered after the harness's without waiting for it.) */
let prepared;
function prepare() {
  prepared ??= start();
  return prepared;
}

/** Where mod_auth_openidc's logout sends the person back to: a plain page of Apache. */
const signedOutPage = (port) => `http://127.0.0.1:${port}/signed-out.html`;
const SIGNED_OUT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1>You signed out of the intranet</h1><p><a href="/protected/">Sign in again</a></p></body></html>
`;

/** A protected page showing which Gatehouse session (`sid`) signed the person in. */
const SESSION_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Session</title></head>
<body><h1>Session of <!--#echo var="OIDC_CLAIM_name" --></h1>
<dl><dt>Gatehouse session</dt><dd id="sid"><!--#echo var="OIDC_CLAIM_sid" --></dd></dl></body></html>
`;

async function start() {
  api = await apiSession(gh.url, gh.admin);
  const user = await api('POST', '/users', {
    username: ada.username,
    display_name: ada.display_name,
    email: ada.email,
    role: 'viewer',
    password: ada.password,
  });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  ada.id = user.body.user.id;
  const port = await freePort();
  const created = await api('POST', '/oauth-clients', {
    name: NAME,
    redirect_uris: [apacheRedirectUri(port)],
    client_type: 'confidential',
    post_logout_redirect_uris: [signedOutPage(port)],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  registered = created.body;
  apache = await startApache({
    issuer: gh.url,
    clientId: created.body.client_id,
    clientSecret: created.body.client_secret,
    port,
    pages: { 'signed-out.html': SIGNED_OUT_PAGE, 'protected/session.shtml': SESSION_PAGE },
  });
}

after(async () => {
  await apache?.stop();
});

/** Waits for `locator`; on failure the error carries Apache's log too. */
async function expectOnApache(page, locator) {
  try {
    await expectVisible(page, locator);
  } catch (e) {
    throw new Error(`${e.message}\n${apache.log()}`);
  }
}

test('mod_auth_openidc: a person opens a protected page, signs in with Gatehouse and sees their claims', async () => {
  await prepare();
  const page = await newPage(browser);
  // Every page the browser asks for, redirects included.
  const visited = [];
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) visited.push(r.url());
  });
  try {
    await page.goto(`${apache.url}/protected/`);
    await expectOnApache(page, page.getByText('An application asked you to sign in'));
    assert.match(page.url(), /\/login\?next=/);
    await page.getByLabel('Username').fill(ada.username);
    await page.getByLabel('Password').fill(ada.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    await page.waitForURL(/\/authorize\?request=/);
    await expectVisible(page, page.locator('#consent-title').filter({ hasText: NAME }));
    assert.deepEqual(await page.locator('#consent-scopes li').allInnerTexts(), [
      'Know who you are (sign you in)',
      'See your name and username',
      'See your e-mail address',
    ]);
    await page.locator('#allow').click();

    // Back on Apache's protected page, with what mod_auth_openidc learnt.
    await page.waitForURL((u) => u.href.startsWith(`${apache.url}/protected/`));
    await expectOnApache(page, page.getByRole('heading', { name: `Hello, ${ada.display_name}` }));
    assert.equal(new URL(page.url()).pathname, '/protected/');
    assert.equal(await page.locator('#preferred-username').innerText(), ada.username);
    assert.equal(await page.locator('#email').innerText(), ada.email);
    assert.equal(await page.locator('#sub').innerText(), ada.id);
    assert.equal(await page.locator('#iss').innerText(), gh.url);
    assert.equal(await page.locator('#remote-user').innerText(), ada.username);
    // Apache sent the browser to Gatehouse's authorization endpoint: the code flow
    // with PKCE, and Gatehouse came back to mod_auth_openidc's callback with a code.
    assert.equal(visited[0], `${apache.url}/protected/`);
    const asked = new URL(visited[1]);
    assert.equal(`${asked.origin}${asked.pathname}`, `${gh.url}/oauth/authorize`, visited.join('\n'));
    assert.equal(asked.searchParams.get('response_type'), 'code');
    assert.equal(asked.searchParams.get('redirect_uri'), apache.redirectUri);
    assert.equal(asked.searchParams.get('scope'), 'openid profile email');
    assert.equal(asked.searchParams.get('code_challenge_method'), 'S256');
    const callback = visited.map((u) => new URL(u)).find((u) => `${u.origin}${u.pathname}` === apache.redirectUri);
    assert.ok(callback?.searchParams.get('code'), visited.join('\n'));
    assert.equal(callback.searchParams.get('iss'), gh.url);

    // Apache's session holds: the page is served again without a trip to Gatehouse.
    visited.length = 0;
    await page.reload();
    await expectOnApache(page, page.getByRole('heading', { name: `Hello, ${ada.display_name}` }));
    assert.deepEqual(visited.filter((u) => u.startsWith(gh.url)), []);

    // The person sees Apache among their authorized applications in Gatehouse.
    await page.goto(`${gh.url}/apps`);
    await expectVisible(page, page.locator('#apps-list li', { hasText: NAME }).locator('.badge', { hasText: 'Active' }));
  } finally {
    await page.context().close();
  }
});

test('mod_auth_openidc: without a Gatehouse sign-in nothing under /protected/ is served', async () => {
  await prepare();
  const page = await newPage(browser);
  try {
    // A fresh browser that gives up on the sign-in page never sees the claims.
    await page.goto(`${apache.url}/protected/index.shtml`);
    await expectVisible(page, page.getByRole('button', { name: 'Sign in', exact: true }));
    assert.ok(page.url().startsWith(`${gh.url}/login?`), page.url());
    // And a forged callback (a code Gatehouse never issued) is refused by Apache.
    const res = await page.goto(`${apache.redirectUri}?code=forged&state=forged`);
    assert.ok(res.status() >= 400, `the forged callback answered ${res.status()}`);
    assert.equal(await page.getByRole('heading', { name: /^Hello/ }).count(), 0);
  } finally {
    await page.context().close();
  }
});

/** A browser page that keeps every URL it asked for in its main frame, redirects too. */
async function trackedPage() {
  const page = await newPage(browser);
  page.asked = [];
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) page.asked.push(r.url());
  });
  return page;
}

/** Signs Ada in to the protected page through Gatehouse: the sign-in page, then the
 *  consent page when `consent`. Ends on the page with her claims. */
async function signInThroughApache(page, { consent }) {
  await page.goto(`${apache.url}/protected/`);
  await expectOnApache(page, page.getByText('An application asked you to sign in'));
  await page.getByLabel('Username').fill(ada.username);
  await page.getByLabel('Password').fill(ada.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  if (consent) {
    await page.waitForURL(/\/authorize\?request=/);
    await expectVisible(page, page.locator('#consent-title').filter({ hasText: NAME }));
    await page.locator('#allow').click();
  }
  await page.waitForURL((u) => u.href.startsWith(`${apache.url}/protected/`));
  await expectOnApache(page, page.getByRole('heading', { name: `Hello, ${ada.display_name}` }));
  assert.equal(await page.locator('#sub').innerText(), ada.id);
}

test('mod_auth_openidc: signing out through Apache ends the Gatehouse session too (RP-Initiated Logout) and comes back to Apache', async () => {
  await prepare();
  const page = await trackedPage();
  try {
    // Allowed once already (first test) or not: consent only if Gatehouse asks.
    await page.goto(`${apache.url}/protected/`);
    await expectOnApache(page, page.getByText('An application asked you to sign in'));
    await page.getByLabel('Username').fill(ada.username);
    await page.getByLabel('Password').fill(ada.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(`${apache.url}/protected/`) || /\/authorize\?request=/.test(u.href));
    if (/\/authorize\?request=/.test(page.url())) await page.locator('#allow').click();
    await expectOnApache(page, page.getByRole('heading', { name: `Hello, ${ada.display_name}` }));

    // mod_auth_openidc's logout: its redirect URI with ?logout=<where to go after>.
    page.asked.length = 0;
    const after = signedOutPage(apache.port);
    await page.goto(`${apache.redirectUri}?logout=${encodeURIComponent(after)}`);
    await page.waitForURL(after);
    await expectOnApache(page, page.getByRole('heading', { name: 'You signed out of the intranet' }));
    // On the way: Gatehouse's end_session_endpoint, with the id_token as hint and the
    // page as post_logout_redirect_uri (registered exactly); no confirmation page.
    const ended = page.asked.map((u) => new URL(u)).find((u) => `${u.origin}${u.pathname}` === `${gh.url}/oauth/logout`);
    assert.ok(ended, `mod_auth_openidc never went to the end_session_endpoint: ${page.asked.join(' → ')}`);
    assert.ok(ended.searchParams.get('id_token_hint'), ended.href);
    assert.equal(ended.searchParams.get('post_logout_redirect_uri'), after);
    assert.equal(page.asked.at(-1), after, page.asked.join(' → '));

    // Both sessions are gone: the protected page needs Gatehouse's sign-in page again.
    await page.goto(`${apache.url}/protected/`);
    await expectOnApache(page, page.getByText('An application asked you to sign in'));
    assert.ok(page.url().startsWith(`${gh.url}/login?`), page.url());
    assert.equal(await page.getByRole('heading', { name: /^Hello/ }).count(), 0);
  } finally {
    await page.context().close();
  }
});

/** The audit events of back-channel logout deliveries to Apache since `since`. */
async function deliveries(since) {
  const out = [];
  for (const action of ['oauth_logout.delivered', 'oauth_logout.failed']) {
    const res = await api('GET', `/audit-events?action=${action}&since=${encodeURIComponent(since)}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    out.push(...res.body.items.filter((e) => e.details?.client_id === registered.client_id));
  }
  return out;
}

test('mod_auth_openidc: revoking the app in Gatehouse signs the person out of Apache (Back-Channel Logout)', async () => {
  await prepare();
  // Apache's back-channel logout endpoint: its redirect URI with ?logout=backchannel.
  const uri = `${apache.redirectUri}?logout=backchannel`;
  const patched = await api('PATCH', `/oauth-clients/${registered.id}`, { backchannel_logout_uri: uri });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.backchannel_logout_uri, uri);
  const page = await trackedPage();
  try {
    // Gatehouse asks to allow the app again: signing out (previous test),
    // mod_auth_openidc revoked its refresh token at the revocation endpoint (RFC 7009),
    // which ends the authorization in Gatehouse.
    await signInThroughApache(page, { consent: true });
    // Apache's session holds; its id_token's sid (Gatehouse's session) is on a page.
    await page.goto(`${apache.url}/protected/session.shtml`);
    await expectOnApache(page, page.getByRole('heading', { name: `Session of ${ada.display_name}` }));
    const sid = await page.locator('#sid').innerText();
    assert.ok(sid, 'the id_token carries no sid');

    // Ada revokes the app under Authorized Applications in Gatehouse.
    const since = new Date(Date.now() - 1000).toISOString();
    await page.goto(`${gh.url}/apps`);
    const card = page.locator('#apps-list li', { hasText: NAME });
    await expectVisible(page, card.locator('.badge', { hasText: 'Active' }));
    await card.getByRole('button', { name: `Revoke access for ${NAME}` }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Revoke access' }).click();
    await expectVisible(page, card.locator('.badge', { hasText: 'Revoked' }));

    // Gatehouse posts a logout token to Apache after the change commits: one for each
    // Gatehouse session that signed Ada in to it (this one's sid among them; Apache
    // may still hold sessions of the earlier sign-ins too).
    let told = [];
    for (let i = 0; i < 100 && !told.some((e) => e.details.sid === sid); i++) {
      await new Promise((r) => setTimeout(r, 100));
      told = await deliveries(since);
    }
    const summary = () => `deliveries: ${JSON.stringify(told.map((e) => [e.action, e.details]), null, 1)}\n${apache.log()}`;
    const event = told.find((e) => e.details.sid === sid);
    assert.ok(event, `no logout token for sid ${sid}: ${summary()}`);
    assert.equal(event.action, 'oauth_logout.delivered', `mod_auth_openidc refused the logout token: ${summary()}`);
    assert.deepEqual(event.details.result, { status: 200 }, summary());
    // The audit log names the URL without its query (which may hold an app's secret).
    assert.equal(event.details.backchannel_logout_uri, uri.split('?')[0]);
    assert.equal(event.details.reason, 'app_revoked');
    assert.deepEqual(told.filter((e) => e.action !== 'oauth_logout.delivered'), [], summary());

    // Apache forgot the sign-in: its page no longer shows the claims but sends the
    // person to Gatehouse, which asks again (the app was revoked; Ada is still signed
    // in to Gatehouse itself).
    page.asked.length = 0;
    await page.goto(`${apache.url}/protected/`);
    const claims = page.getByRole('heading', { name: /^Hello/ });
    const consent = page.locator('#consent-title').filter({ hasText: NAME });
    await expectOnApache(page, claims.or(consent));
    assert.equal(await claims.count(), 0, `Apache still shows the claims after the back-channel logout\n${apache.log()}`);
    await expectVisible(page, consent);
    assert.match(page.url(), /\/authorize\?request=/);
    assert.ok(page.asked.some((u) => u.startsWith(`${gh.url}/oauth/authorize?`)), page.asked.join(' → '));
  } finally {
    await page.context().close();
  }
});
