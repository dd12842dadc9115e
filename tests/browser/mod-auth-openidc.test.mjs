// Debian's Apache with mod_auth_openidc protecting a page with Gatehouse: a person
// opens the page in Chromium, signs in on Gatehouse's sign-in page, allows the app on
// the consent page, and the page shows their claims as mod_auth_openidc passed them.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, newPage, apiSession, expectVisible, freePort } from './harness.mjs';
import { startApache, apacheRedirectUri } from './apache.mjs';

const NAME = 'Intranet (Apache)';

let gh;
let browser;
let apache;
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

async function start() {
  const api = await apiSession(gh.url, gh.admin);
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
    name: NAME, redirect_uris: [apacheRedirectUri(port)], client_type: 'confidential',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  apache = await startApache({
    issuer: gh.url,
    clientId: created.body.client_id,
    clientSecret: created.body.client_secret,
    port,
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
    await page.getByRole('button', { name: 'Sign in' }).click();

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
    await expectVisible(page, page.getByRole('button', { name: 'Sign in' }));
    assert.ok(page.url().startsWith(`${gh.url}/login?`), page.url());
    // And a forged callback (a code Gatehouse never issued) is refused by Apache.
    const res = await page.goto(`${apache.redirectUri}?code=forged&state=forged`);
    assert.ok(res.status() >= 400, `the forged callback answered ${res.status()}`);
    assert.equal(await page.getByRole('heading', { name: /^Hello/ }).count(), 0);
  } finally {
    await page.context().close();
  }
});
