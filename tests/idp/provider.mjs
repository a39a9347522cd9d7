// A throwaway OAuth 2.0 authorization server for the end-to-end tests of remote JWKS
// verification and token introspection: oidc-provider 9 with the client credentials grant,
// resource indicators, JWT access tokens (RFC 9068), opaque access tokens with introspection
// (RFC 7662) and revocation (RFC 7009), and DPoP (RFC 9449), on 127.0.0.1 and a port the
// system picks.
//
// Environment:
//   ISSUER        the issuer URL (the tests' loopback proxy in front of this server)
//   KID_PREFIX    prefix of the key ids; the keys are new at every start, so restarting with
//                 another prefix is a key rotation
//   RESOURCE_URL  optional: one more resource indicator (a resource server's own URL, RFC
//                 8707), issuing opaque tokens with that URL as audience, 300 s
//   RS_JWKS       optional: the public JWK set (JSON) of client `rs-jwt`, which authenticates
//                 with private_key_jwt; without it there is no `rs-jwt`
//
// Clients: `test-client` (secret `test-secret`, client_secret_basic) gets tokens with the
// client credentials grant and may revoke them; the resource servers `rs-basic`
// (client_secret_basic), `rs-post` (client_secret_post), both with secret `rs-secret`, and
// `rs-jwt` (private_key_jwt) may introspect any token. The endpoints are oidc-provider's
// defaults: /token, /token/introspection, /token/revocation, /jwks.
//
// Once listening it prints one line to stdout, `{"port":N}`, and nothing else goes there.
// It exits on SIGTERM, SIGINT, and when its stdin closes (its parent went away).
//
// oidc-provider is resolved from the working directory (`<cwd>/node_modules/oidc-provider`):
// an ES module resolves bare names from its own location and ignores NODE_PATH.

import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

// oidc-provider prints its notices with console.info; keep stdout for the port line.
console.info = console.error;
console.log = console.error;

const issuer = process.env.ISSUER;
const kidPrefix = process.env.KID_PREFIX;
if (!issuer || !kidPrefix) {
  console.error('provider.mjs: ISSUER and KID_PREFIX must be set');
  process.exit(2);
}

const requireFromCwd = createRequire(path.join(process.cwd(), 'package.json'));
const { Provider, errors } = await import(pathToFileURL(requireFromCwd.resolve('oidc-provider')).href);

// One private JWK per algorithm, each with its own kid.
function signingKey(type, options, alg, suffix) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: `${kidPrefix}-${suffix}`, alg, use: 'sig' };
}

const keys = [
  signingKey('rsa', { modulusLength: 2048 }, 'RS256', 'rs256'),
  signingKey('ec', { namedCurve: 'P-256' }, 'ES256', 'es256'),
  signingKey('ed25519', undefined, 'EdDSA', 'eddsa'),
];

const AUDIENCE = 'urn:tower-jwt-auth:api';

// The resource indicator chooses the token format, the signing algorithm of JWTs, the audience
// and the lifetime.
const resources = {
  'urn:api:rs256': { format: 'jwt', alg: 'RS256', audience: AUDIENCE, ttl: 300 },
  'urn:api:es256': { format: 'jwt', alg: 'ES256', audience: AUDIENCE, ttl: 300 },
  'urn:api:eddsa': { format: 'jwt', alg: 'EdDSA', audience: AUDIENCE, ttl: 300 },
  'urn:api:short': { format: 'jwt', alg: 'ES256', audience: AUDIENCE, ttl: 1 },
  'urn:api:other': { format: 'jwt', alg: 'ES256', audience: 'urn:someone-else', ttl: 300 },
  'urn:api:opaque': { format: 'opaque', audience: AUDIENCE, ttl: 300 },
  'urn:api:opaque-short': { format: 'opaque', audience: AUDIENCE, ttl: 2 },
};
if (process.env.RESOURCE_URL) {
  const url = process.env.RESOURCE_URL;
  resources[url] = { format: 'opaque', audience: url, ttl: 300 };
}

// The resource servers: clients that only introspect.
const resourceServers = [
  { client_id: 'rs-basic', client_secret: 'rs-secret', token_endpoint_auth_method: 'client_secret_basic' },
  { client_id: 'rs-post', client_secret: 'rs-secret', token_endpoint_auth_method: 'client_secret_post' },
];
if (process.env.RS_JWKS) {
  resourceServers.push({
    client_id: 'rs-jwt',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: JSON.parse(process.env.RS_JWKS),
  });
}
const resourceServerIds = new Set(resourceServers.map((client) => client.client_id));

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'test-client',
      client_secret: 'test-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read write',
    },
    ...resourceServers.map((client) => ({
      ...client,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    })),
  ],
  jwks: { keys },
  // A client's `scope` may only name scopes the server knows.
  scopes: ['openid', 'offline_access', 'read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // On by default in oidc-provider 9; named here because tests/dpop_idp.rs relies on it:
    // a token request with a DPoP proof gets a token bound to its key (`cnf.jkt`).
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async getResourceServerInfo(_ctx, resourceIndicator, _client) {
        const resource = resources[resourceIndicator];
        if (!resource) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'read write',
          audience: resource.audience,
          accessTokenTTL: resource.ttl,
          accessTokenFormat: resource.format,
          ...(resource.format === 'jwt' ? { jwt: { sign: { alg: resource.alg } } } : {}),
        };
      },
    },
    // RFC 7662. A client may introspect its own tokens, a resource server anyone's (the
    // default policy would let any confidential client introspect any token).
    introspection: {
      enabled: true,
      async allowedPolicy(_ctx, client, token) {
        return client.clientId === token.clientId || resourceServerIds.has(client.clientId);
      },
    },
    // RFC 7009: only the client a token was issued to may revoke it; another gets
    // invalid_request (as oidc-provider's default policy answers a confidential client).
    revocation: {
      enabled: true,
      async allowedPolicy(_ctx, client, token) {
        if (client.clientId !== token.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
  },
  // A JWT access token of the client credentials grant has `sub` = client_id (RFC 9068 §2.2,
  // oidc-provider's JWT format); introspection has no `sub` for a token without an account,
  // so opaque tokens carry the same one as an extra claim, which introspection returns.
  async extraTokenClaims(_ctx, token) {
    if (token.kind === 'ClientCredentials' && token.resourceServer?.accessTokenFormat === 'opaque') {
      return { sub: token.clientId };
    }
    return undefined;
  },
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
  },
});

const server = provider.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // Whatever still holds the loop open must not keep the process alive.
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
