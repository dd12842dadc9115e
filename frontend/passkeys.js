// Passkeys for the web app: the server's WebAuthn options (JSON, binary fields in
// base64url) become what `navigator.credentials` takes, and the credential it gives
// back becomes JSON again for the server. Its own module, loaded by index.html (the
// page runs no inline script); the Rust app calls `window.gatehousePasskeys`.

function decode(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
}

function encode(buffer) {
  let binary = '';
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: decode(c.id) }));

function creationOptions({ publicKey }) {
  return {
    publicKey: {
      ...publicKey,
      challenge: decode(publicKey.challenge),
      user: { ...publicKey.user, id: decode(publicKey.user.id) },
      excludeCredentials: withIds(publicKey.excludeCredentials),
    },
  };
}

function requestOptions({ publicKey }) {
  return {
    publicKey: {
      ...publicKey,
      challenge: decode(publicKey.challenge),
      allowCredentials: withIds(publicKey.allowCredentials),
    },
  };
}

function toJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = encode(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = encode(r.authenticatorData);
    response.signature = encode(r.signature);
    response.userHandle = r.userHandle ? encode(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: encode(credential.rawId),
    type: credential.type,
    response,
    extensions: credential.getClientExtensionResults?.() ?? {},
  };
}

window.gatehousePasskeys = {
  supported: () => typeof window.PublicKeyCredential === 'function',
  async create(json) {
    const credential = await navigator.credentials.create(creationOptions(JSON.parse(json)));
    return JSON.stringify(toJSON(credential));
  },
  async get(json) {
    const credential = await navigator.credentials.get(requestOptions(JSON.parse(json)));
    return JSON.stringify(toJSON(credential));
  },
};
