// A DPoP client (RFC 9449) made with npm `jose`, independent of the crate under test, for
// the interop tests against oidc-provider. jose is resolved from the working directory
// (`<cwd>/node_modules/jose`; oidc-provider depends on it).
//
//   node dpop_client.mjs keygen ALG
//       prints {"jwk": <private JWK>, "jkt": <RFC 7638 thumbprint of its public key>}
//   node dpop_client.mjs proof ALG '<private JWK>' HTM HTU [ACCESS_TOKEN]
//       prints a fresh proof (a random jti, iat now, ath when an access token is given)

import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const requireFromCwd = createRequire(path.join(process.cwd(), 'package.json'));
const jose = await import(pathToFileURL(requireFromCwd.resolve('jose')).href);

const [command, alg, ...rest] = process.argv.slice(2);

function publicOf(jwk) {
  const { kty, crv, x, y, n, e } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
}

if (command === 'keygen') {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  const jkt = await jose.calculateJwkThumbprint(publicOf(jwk), 'sha256');
  process.stdout.write(`${JSON.stringify({ jwk, jkt })}\n`);
} else if (command === 'proof') {
  const [jwkText, htm, htu, accessToken] = rest;
  const jwk = JSON.parse(jwkText);
  const key = await jose.importJWK(jwk, alg);
  const claims = { htm, htu, jti: crypto.randomUUID() };
  if (accessToken) {
    claims.ath = crypto.createHash('sha256').update(accessToken).digest('base64url');
  }
  const proof = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: publicOf(jwk) })
    .setIssuedAt()
    .sign(key);
  process.stdout.write(`${proof}\n`);
} else {
  console.error('usage: dpop_client.mjs keygen ALG | proof ALG JWK HTM HTU [ACCESS_TOKEN]');
  process.exit(2);
}
