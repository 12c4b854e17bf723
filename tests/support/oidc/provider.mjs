// A real OpenID provider (panva's oidc-provider) on loopback for cdp's staff sign-in tests.
//
// Environment: PORT (127.0.0.1), REDIRECT_URIS (comma-separated), CLIENT_ID, CLIENT_SECRET.
// devInteractions sign in any account id typed at the login form; the accounts below (and any
// a test adds) carry a `groups` claim. Admin routes, for tests only (loopback, no auth):
//   POST /admin/accounts/<id>   {"groups": [...], "removed": bool, "userinfoOnly": bool}
//   POST /admin/rotate          a new signing key (new kid); the old one leaves the JWKS
//   GET  /admin/stats           {"jwks": <how many times the JWKS was fetched>}
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = (process.env.REDIRECT_URIS || '').split(',').filter(Boolean);

const accounts = new Map(Object.entries({
  'staff-support': { groups: ['cdp-support'] },
  'staff-both': { groups: ['cdp-support', 'cdp-compliance'] },
  'staff-unmapped': { groups: ['sales'] },
  'staff-leaver': { groups: ['cdp-support'] },
}));
const stats = { jwks: 0 };

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function configuration(key) {
  return {
    clients: [{
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [key] },
    cookies: { keys: ['cdp-test-cookie-key-that-stays-across-rotations'] },
    scopes: ['openid', 'offline_access', 'groups'],
    claims: { openid: ['sub'], groups: ['groups'] },
    // The groups in the ID token, not only at userinfo (as Okta, Keycloak and Azure AD can).
    conformIdTokenClaims: false,
    pkce: { required: () => true, methods: ['S256'] },
    // A new refresh token on every use (as Okta does), the spent one refused thereafter.
    rotateRefreshToken: true,
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account || account.removed) return undefined;
      return {
        accountId: id,
        async claims(use) {
          const current = accounts.get(id);
          if (use === 'id_token' && current.userinfoOnly) return { sub: id };
          return { sub: id, groups: current.groups };
        },
      };
    },
  };
}

function start(key) {
  const provider = new Provider(issuer, configuration(key));
  // No stack traces or token values on the test's terminal, only that something went wrong.
  provider.on('server_error', (_ctx, error) => console.error('server_error', error.message));
  return provider.callback();
}

let handle = start(signingKey());

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : {};
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function admin(req, res) {
  const url = new URL(req.url, issuer);
  if (req.method === 'GET' && url.pathname === '/admin/stats') return json(res, 200, stats);
  if (req.method === 'POST' && url.pathname === '/admin/rotate') {
    handle = start(signingKey());
    return json(res, 200, { rotated: true });
  }
  const found = url.pathname.match(/^\/admin\/accounts\/([\w.-]+)$/);
  if (req.method === 'POST' && found) {
    const id = found[1];
    accounts.set(id, { groups: [], ...accounts.get(id), ...(await body(req)) });
    return json(res, 200, accounts.get(id));
  }
  return json(res, 404, { error: 'not_found' });
}

http.createServer((req, res) => {
  if (req.url.startsWith('/admin/')) {
    admin(req, res).catch((error) => json(res, 400, { error: error.message }));
    return;
  }
  if (req.url.startsWith('/jwks')) stats.jwks += 1;
  handle(req, res);
}).listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
