// node oidc-provider as the benchmark's peer: one confidential client, an in-memory
// adapter without the bundled one's 1,000-entry limit (which silently drops tokens
// under load), opaque access tokens, rotating refresh tokens; one set of grants without
// `openid` (no id_token on refresh) and one with it (an RS256 id_token on every refresh),
// the same as Gatehouse's side of the comparison. TOKENS_FILE.oidc holds the second.
// Usage: node oidc-provider.mjs PORT TOKENS_FILE COUNT
import { writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, tokensFile, count] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const store = new Map();
const byGrant = new Map();

class MemoryAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, expires: Date.now() + expiresIn * 1000 });
    if (payload.grantId) {
      const set = byGrant.get(payload.grantId) || new Set();
      set.add(this.key(id));
      byGrant.set(payload.grantId, set);
    }
  }
  async find(id) {
    const e = store.get(this.key(id));
    if (!e || e.expires < Date.now()) return undefined;
    return e.payload;
  }
  async findByUserCode() { return undefined; }
  async findByUid(uid) {
    for (const e of store.values()) if (e.payload.uid === uid) return e.payload;
    return undefined;
  }
  async consume(id) {
    const e = store.get(this.key(id));
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const k of byGrant.get(grantId) || []) store.delete(k);
    byGrant.delete(grantId);
  }
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  adapter: MemoryAdapter,
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-bench-secret-bench-secret',
    redirect_uris: ['https://app.example.com/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'offline_access', 'api:read'],
  features: {
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  findAccount: async (ctx, sub) => ({ accountId: sub, async claims() { return { sub }; } }),
  ttl: { AccessToken: 3600, RefreshToken: 30 * 24 * 3600, Grant: 30 * 24 * 3600 },
});
provider.proxy = false;

const client = await provider.Client.find('bench');
const now = Math.floor(Date.now() / 1000);
async function refreshTokens(scope, prefix) {
  const lines = [];
  for (let i = 0; i < count; i += 1) {
    const grant = new provider.Grant({ accountId: `${prefix}${i}`, clientId: 'bench' });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      client, accountId: `${prefix}${i}`, grantId, scope, gty: 'authorization_code', authTime: now,
    });
    lines.push(await rt.save());
  }
  return lines;
}
const lines = await refreshTokens('offline_access api:read', 'user');
const oidcLines = await refreshTokens('openid offline_access api:read', 'oidc');
const grant = new provider.Grant({ accountId: 'introspected', clientId: 'bench' });
grant.addOIDCScope('openid api:read');
const grantId = await grant.save();
const at = new provider.AccessToken({ client, accountId: 'introspected', grantId, scope: 'openid api:read', gty: 'authorization_code' });
const access = await at.save();
writeFileSync(tokensFile, lines.join('\n') + '\n');
writeFileSync(`${tokensFile}.oidc`, oidcLines.join('\n') + '\n');
writeFileSync(`${tokensFile}.access`, access);
provider.listen(port, '127.0.0.1', () => { console.log('ready'); });
