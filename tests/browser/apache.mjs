// Debian's Apache with mod_auth_openidc as a relying party of Gatehouse: a standalone
// configuration in a temporary folder, Apache in the foreground as a child of the test,
// and pages under /protected/ that show the claims mod_auth_openidc passes on
// (`OIDCPassClaimsAs environment`, printed by mod_include).
//
// Debian: `apt-get install apache2 libapache2-mod-auth-openidc` (.ci/run installs them).

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const APACHE_BIN = process.env.APACHE_BIN ?? '/usr/sbin/apache2';
export const APACHE_MODULES = process.env.APACHE_MODULES ?? '/usr/lib/apache2/modules';

/** Where mod_auth_openidc answers for the protected location: the callback URL to
 *  register with Gatehouse (`OIDCRedirectURI`). Its `?logout=<url>` signs out, and
 *  `?logout=backchannel` receives back-channel logout tokens. */
export function apacheRedirectUri(port) {
  return `http://127.0.0.1:${port}/protected/redirect_uri`;
}

/** The page Apache serves at /protected/ once mod_auth_openidc let the person in: the
 *  claims of their id_token and userinfo, one element each, and REMOTE_USER. */
const CLAIMS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Protected by mod_auth_openidc</title></head>
<body>
<h1>Hello, <span id="name"><!--#echo var="OIDC_CLAIM_name" --></span></h1>
<dl>
  <dt>Username</dt><dd id="preferred-username"><!--#echo var="OIDC_CLAIM_preferred_username" --></dd>
  <dt>E-mail</dt><dd id="email"><!--#echo var="OIDC_CLAIM_email" --></dd>
  <dt>Subject</dt><dd id="sub"><!--#echo var="OIDC_CLAIM_sub" --></dd>
  <dt>Issuer</dt><dd id="iss"><!--#echo var="OIDC_CLAIM_iss" --></dd>
  <dt>REMOTE_USER</dt><dd id="remote-user"><!--#echo var="REMOTE_USER" --></dd>
</dl>
</body>
</html>
`;

/** Whether Apache and mod_auth_openidc are installed (tests skip with a reason if not). */
export function apacheMissing() {
  if (!existsSync(APACHE_BIN)) return `${APACHE_BIN} is missing (apt-get install apache2)`;
  if (!existsSync(join(APACHE_MODULES, 'mod_auth_openidc.so'))) {
    return `${APACHE_MODULES}/mod_auth_openidc.so is missing (apt-get install libapache2-mod-auth-openidc)`;
  }
  return null;
}

/**
 * Starts Apache in the foreground on `port` (127.0.0.1) with mod_auth_openidc protecting
 * `/protected/`, for the OpenID provider at `issuer`.
 *
 * - `clientId`, `clientSecret`: a confidential Gatehouse client whose callback URL is
 *   `apacheRedirectUri(port)`.
 * - `oidc`: more `OIDC…` directives (lines), e.g. `OIDCDefaultLoggedOutURL …`.
 * - `config`: more server configuration (lines), e.g. another `<Location>`.
 * - `pages`: more files under the document root, `{ 'protected/other.shtml': '…' }`
 *   (`.shtml` files go through mod_include).
 *
 * Answers `{ url, port, redirectUri, dir, log(), stop() }`; `log()` is Apache's error
 * log and output, for failure messages.
 */
export async function startApache({ issuer, clientId, clientSecret, port, oidc = [], config = [], pages = {} }) {
  const missing = apacheMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-apache-'));
  // As root Apache's children run as www-data: they must be able to read the pages.
  chmodSync(dir, 0o755);
  const docroot = join(dir, 'htdocs');
  const files = { 'index.html': '<!doctype html><title>Apache</title><p>Not protected.</p>\n', 'protected/index.shtml': CLAIMS_PAGE, ...pages };
  for (const [name, body] of Object.entries(files)) {
    const path = join(docroot, name);
    mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
    writeFileSync(path, body, { mode: 0o644 });
  }
  chmodSync(docroot, 0o755);
  const url = `http://127.0.0.1:${port}`;
  const redirectUri = apacheRedirectUri(port);
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const mod = (name, file) => `LoadModule ${name} ${join(APACHE_MODULES, file)}`;
  const conf = [
    `ServerRoot "${dir}"`,
    `DefaultRuntimeDir "${dir}"`,
    `PidFile "${join(dir, 'apache.pid')}"`,
    `Mutex file:${dir} default`,
    `Listen 127.0.0.1:${port}`,
    `ServerName 127.0.0.1:${port}`,
    ...(root ? ['User www-data', 'Group www-data'] : []),
    mod('mpm_event_module', 'mod_mpm_event.so'),
    mod('authn_core_module', 'mod_authn_core.so'),
    mod('authz_core_module', 'mod_authz_core.so'),
    mod('authz_user_module', 'mod_authz_user.so'),
    mod('dir_module', 'mod_dir.so'),
    mod('include_module', 'mod_include.so'),
    mod('auth_openidc_module', 'mod_auth_openidc.so'),
    // One child with a few threads: enough for one browser, light on a small machine.
    'StartServers 1',
    'ServerLimit 1',
    'ThreadsPerChild 16',
    'MaxRequestWorkers 16',
    'MinSpareThreads 1',
    'MaxSpareThreads 32',
    `ErrorLog "${join(dir, 'error.log')}"`,
    'LogLevel warn auth_openidc:info',
    `DocumentRoot "${docroot}"`,
    'DirectoryIndex index.html index.shtml',
    `<Directory "${docroot}">`,
    '  Options +Includes',
    '  Require all granted',
    '</Directory>',
    '<Files "*.shtml">',
    '  ForceType "text/html; charset=utf-8"',
    '  SetOutputFilter INCLUDES',
    '</Files>',
    `OIDCProviderMetadataURL ${issuer}/.well-known/openid-configuration`,
    `OIDCClientID ${clientId}`,
    `OIDCClientSecret ${clientSecret}`,
    `OIDCRedirectURI ${redirectUri}`,
    `OIDCCryptoPassphrase ${randomBytes(24).toString('hex')}`,
    'OIDCScope "openid profile email"',
    'OIDCSSLValidateServer Off',
    'OIDCProviderTokenEndpointAuth client_secret_basic',
    'OIDCPKCEMethod S256',
    'OIDCPassClaimsAs environment',
    'OIDCRemoteUserClaim preferred_username',
    ...oidc,
    '<Location /protected/>',
    '  AuthType openid-connect',
    '  Require valid-user',
    '</Location>',
    ...config,
    '',
  ].join('\n');
  const confPath = join(dir, 'apache.conf');
  writeFileSync(confPath, conf);

  const proc = spawn(APACHE_BIN, ['-f', confPath, '-DFOREGROUND'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Debian's apache2 reads its locations from these when /etc/apache2/envvars ran;
    // this configuration names every path itself.
    env: { ...process.env, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir },
  });
  let out = '';
  proc.stdout.on('data', (c) => { out += c; });
  proc.stderr.on('data', (c) => { out += c; });
  const log = () => {
    let errors = '';
    try { errors = readFileSync(join(dir, 'error.log'), 'utf8'); } catch { /* not yet */ }
    return `--- apache output:\n${out}--- error.log:\n${errors}`;
  };
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`apache2 exited with ${proc.exitCode ?? proc.signalCode}\n${conf}\n${log()}`);
    }
    try {
      if ((await fetch(`${url}/`)).status === 200) break;
    } catch { /* not yet */ }
    if (i > 400) {
      proc.kill('SIGKILL');
      throw new Error(`apache2 never answered on ${url}\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    redirectUri,
    dir,
    log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        // SIGTERM: the parent stops its children and removes its pid file.
        proc.kill('SIGTERM');
        await new Promise((ok) => {
          const timer = setTimeout(() => { proc.kill('SIGKILL'); }, 10_000);
          proc.once('exit', () => { clearTimeout(timer); ok(); });
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
