// An MCP-style client walking OAuth discovery from nothing but a protected URL, independent of
// the crate under test (Node 20, global fetch, no npm packages):
//
//   node discovery_walk.mjs RESOURCE_URL CLIENT_ID CLIENT_SECRET
//
//   1. challenge  GET RESOURCE_URL without a token: 401 whose WWW-Authenticate names
//                 `resource_metadata` (RFC 9728 §5.1)
//   2. metadata   GET that URL: `resource` and `authorization_servers`; `resource` must be
//                 RESOURCE_URL (RFC 9728 §3.3) or, as draft-mcguinness-oauth-rfc9728bis
//                 allows, of its origin and a path prefix of it (`match` says which)
//   3. as         the first authorization server's metadata: RFC 8414 §3 (well-known path
//                 inserted before the issuer's path), then OpenID Connect Discovery (inserted,
//                 then appended); its `issuer` must be the server's identifier (RFC 8414 §3.3)
//   4. token      client credentials at its token_endpoint (client_secret_basic) with
//                 `resource` = the metadata's resource (RFC 8707) and `scope` = its
//                 scopes_supported, if any
//   5. call       GET RESOURCE_URL with `Authorization: Bearer <token>`: 200
//
// Prints one JSON line a step to stdout (never the token or the secret), exits 0 when every
// step passed, 1 with `discovery_walk: <step>: <why>` on stderr when one failed, 2 on bad
// usage or a URL that is not loopback (http(s) to 127.0.0.0/8, [::1] or localhost): it never
// talks to anything else, and never follows redirects. Every request times out after 10 s.

const TIMEOUT_MS = 10_000;

// The step under way, for errors that are not a `Failure` (a body cut off by the timeout).
let current = 'usage';

class Failure extends Error {
  constructor(step, message, exitCode = 1) {
    super(message);
    this.step = step;
    this.exitCode = exitCode;
  }
}

function report(step, fields) {
  process.stdout.write(`${JSON.stringify({ step, ok: true, ...fields })}\n`);
}

function begin(step) {
  current = step;
  return step;
}

// The URL `text`, if it is absolute and loopback; otherwise exit 2.
function loopbackUrl(step, text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new Failure(step, `not an absolute URL: ${JSON.stringify(text)}`, 2);
  }
  const loopback = (url.protocol === 'http:' || url.protocol === 'https:')
    && (url.hostname === 'localhost'
      || url.hostname === '[::1]'
      || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname));
  if (!loopback) {
    throw new Failure(step, `refusing a URL that is not loopback: ${url.href}`, 2);
  }
  if (url.username || url.password) {
    throw new Failure(step, `refusing a URL with credentials: ${url.origin}`, 2);
  }
  return url;
}

// fetch with the timeout, no redirects, and errors as failures of `step`.
async function request(step, url, init = {}) {
  loopbackUrl(step, url.href ?? url);
  try {
    return await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const why = error.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : error.cause?.message ?? error.message;
    throw new Failure(step, `${init.method ?? 'GET'} ${url}: ${why}`);
  }
}

// The body as JSON, or a failure naming the status and the start of the body.
async function json(step, response, what) {
  const text = await response.text();
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error('not an object');
    }
    return value;
  } catch {
    throw new Failure(step, `${what} is not a JSON object (status ${response.status}): ${text.slice(0, 200)}`);
  }
}

// The challenges of a WWW-Authenticate value (RFC 9110 §11.6.1), each
// `{ scheme, params }` with lowercased scheme and parameter names. Several header fields
// arrive joined by `, `, which this grammar tells apart from a challenge's parameters.
function parseChallenges(value) {
  const challenges = [];
  let i = 0;
  const token = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
  const skip = (chars) => {
    while (i < value.length && chars.includes(value[i])) i += 1;
  };
  const readToken = () => {
    token.lastIndex = i;
    const match = token.exec(value);
    if (!match) return undefined;
    i = token.lastIndex;
    return match[0];
  };
  const readQuoted = () => {
    let out = '';
    i += 1;
    while (i < value.length && value[i] !== '"') {
      if (value[i] === '\\') i += 1;
      out += value[i] ?? '';
      i += 1;
    }
    if (value[i] !== '"') throw new Error('an unterminated quoted string');
    i += 1;
    return out;
  };
  while (i < value.length) {
    skip(' \t,');
    if (i >= value.length) break;
    const scheme = readToken();
    if (!scheme) throw new Error(`no auth scheme at offset ${i}`);
    const challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    skip(' \t');
    // token68 (a blob, as Basic and Negotiate use) instead of parameters: kept, never
    // needed here.
    const blob = /^([A-Za-z0-9\-._~+/]+=*)[ \t]*(?:,|$)/.exec(value.slice(i));
    if (blob) {
      challenge.token68 = blob[1];
      i += blob[1].length;
      continue;
    }
    // #auth-param: name = token / quoted-string, comma separated, until the next scheme.
    for (;;) {
      const start = i;
      skip(' \t');
      const name = readToken();
      if (!name) {
        i = start;
        break;
      }
      skip(' \t');
      if (value[i] !== '=') {
        // The name was the next challenge's scheme.
        i = start;
        break;
      }
      i += 1;
      skip(' \t');
      const paramValue = value[i] === '"' ? readQuoted() : readToken();
      if (paramValue === undefined) throw new Error(`no value for parameter ${name}`);
      challenge.params[name.toLowerCase()] = paramValue;
      skip(' \t');
      if (value[i] !== ',') break;
      // A comma ends this parameter; what follows is a parameter or the next challenge.
      i += 1;
      skip(' \t,');
    }
  }
  return challenges;
}

// The RFC 8414 §3 / OpenID Connect Discovery URLs for issuer `issuer`, in the order MCP
// clients try them.
function metadataUrls(issuer) {
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/$/, '');
  const origin = issuer.origin;
  const urls = [`${origin}/.well-known/oauth-authorization-server${path}`];
  if (path) {
    urls.push(`${origin}/.well-known/openid-configuration${path}`);
  }
  urls.push(`${origin}${path}/.well-known/openid-configuration`);
  return urls;
}

// How `resource` relates to the URL that was called: 'identical', 'path-prefix' (same
// origin, its path a whole-segment prefix of the called one, no query), or undefined.
function resourceMatch(resource, called) {
  if (resource === called.href) return 'identical';
  let url;
  try {
    url = new URL(resource);
  } catch {
    return undefined;
  }
  if (url.href === called.href) return 'identical';
  if (url.origin !== called.origin || url.search || url.hash) return undefined;
  const prefix = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  if (called.pathname === url.pathname || called.pathname.startsWith(prefix)) {
    return 'path-prefix';
  }
  return undefined;
}

// application/x-www-form-urlencoded for one value (RFC 6749 Appendix B).
function formEncode(value) {
  return new URLSearchParams([['v', value]]).toString().slice(2);
}

async function walk(resourceText, clientId, clientSecret) {
  const called = loopbackUrl('usage', resourceText);

  // 1. The challenge.
  let step = begin('challenge');
  let response = await request(step, called);
  await response.arrayBuffer();
  if (response.status !== 401) {
    throw new Failure(step, `GET ${called.href} without a token answered ${response.status}, not 401`);
  }
  const header = response.headers.get('www-authenticate');
  if (!header) {
    throw new Failure(step, '401 without WWW-Authenticate');
  }
  let challenges;
  try {
    challenges = parseChallenges(header);
  } catch (error) {
    throw new Failure(step, `WWW-Authenticate does not parse (${error.message}): ${header}`);
  }
  const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
  const withMetadata = [bearer, ...challenges].find((challenge) => challenge?.params.resource_metadata);
  if (!withMetadata) {
    throw new Failure(step, `WWW-Authenticate has no resource_metadata parameter: ${header}`);
  }
  const metadataUrl = loopbackUrl(step, withMetadata.params.resource_metadata);
  report(step, {
    status: 401,
    schemes: challenges.map((challenge) => challenge.scheme),
    resource_metadata: metadataUrl.href,
  });

  // 2. The protected resource metadata.
  step = begin('metadata');
  response = await request(step, metadataUrl, { headers: { accept: 'application/json' } });
  if (response.status !== 200) {
    throw new Failure(step, `GET ${metadataUrl.href} answered ${response.status}`);
  }
  const metadata = await json(step, response, 'the protected resource metadata');
  if (typeof metadata.resource !== 'string') {
    throw new Failure(step, 'no `resource` string');
  }
  const match = resourceMatch(metadata.resource, called);
  if (!match) {
    throw new Failure(step, `resource ${JSON.stringify(metadata.resource)} is neither ${called.href} nor a path prefix of it on its origin`);
  }
  const servers = metadata.authorization_servers;
  if (!Array.isArray(servers) || servers.length === 0 || typeof servers[0] !== 'string') {
    throw new Failure(step, 'no `authorization_servers` (a non-empty array of strings)');
  }
  const scopes = metadata.scopes_supported;
  if (scopes !== undefined && (!Array.isArray(scopes) || scopes.some((scope) => typeof scope !== 'string'))) {
    throw new Failure(step, '`scopes_supported` is not an array of strings');
  }
  report(step, {
    resource: metadata.resource,
    match,
    authorization_servers: servers,
    scopes_supported: scopes ?? null,
  });

  // 3. The authorization server's metadata.
  step = begin('as');
  const issuer = loopbackUrl(step, servers[0]);
  const tried = [];
  let as;
  let asUrl;
  for (const url of metadataUrls(issuer)) {
    response = await request(step, url, { headers: { accept: 'application/json' } });
    tried.push(`${url} ${response.status}`);
    if (response.status === 200) {
      as = await json(step, response, url);
      asUrl = url;
      break;
    }
    await response.arrayBuffer();
  }
  if (!as) {
    throw new Failure(step, `no authorization server metadata: ${tried.join(', ')}`);
  }
  if (as.issuer !== servers[0]) {
    throw new Failure(step, `${asUrl} names issuer ${JSON.stringify(as.issuer)}, not ${JSON.stringify(servers[0])}`);
  }
  if (typeof as.token_endpoint !== 'string') {
    throw new Failure(step, `${asUrl} has no token_endpoint`);
  }
  const methods = as.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
  if (!methods.includes('client_secret_basic')) {
    throw new Failure(step, `client_secret_basic is not among ${JSON.stringify(methods)}`);
  }
  const tokenEndpoint = loopbackUrl(step, as.token_endpoint);
  report(step, { metadata: asUrl, issuer: as.issuer, token_endpoint: tokenEndpoint.href });

  // 4. A token for the resource.
  step = begin('token');
  const form = [['grant_type', 'client_credentials'], ['resource', metadata.resource]];
  const requestedScope = scopes?.length ? scopes.join(' ') : null;
  if (requestedScope) {
    form.push(['scope', requestedScope]);
  }
  const basic = Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64');
  response = await request(step, tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(form).toString(),
  });
  const tokenResponse = await json(step, response, 'the token response');
  if (response.status !== 200) {
    throw new Failure(step, `the token endpoint answered ${response.status}: ${tokenResponse.error ?? ''} ${tokenResponse.error_description ?? ''}`.trim());
  }
  if (typeof tokenResponse.access_token !== 'string' || !tokenResponse.access_token) {
    throw new Failure(step, 'no access_token in the token response');
  }
  if (String(tokenResponse.token_type).toLowerCase() !== 'bearer') {
    throw new Failure(step, `token_type ${JSON.stringify(tokenResponse.token_type)}, not Bearer`);
  }
  report(step, {
    status: 200,
    token_type: tokenResponse.token_type,
    expires_in: tokenResponse.expires_in ?? null,
    requested_scope: requestedScope,
    scope: tokenResponse.scope ?? null,
    jwt: tokenResponse.access_token.split('.').length === 3,
  });

  // 5. The protected resource, with the token.
  step = begin('call');
  response = await request(step, called, {
    headers: { authorization: `Bearer ${tokenResponse.access_token}` },
  });
  const body = await response.text();
  if (response.status !== 200) {
    throw new Failure(step, `GET ${called.href} with the token answered ${response.status} (WWW-Authenticate: ${response.headers.get('www-authenticate')}): ${body.slice(0, 200)}`);
  }
  report(step, { status: 200, bytes: Buffer.byteLength(body) });
}

const args = process.argv.slice(2);
if (args.length !== 3) {
  console.error('usage: node discovery_walk.mjs RESOURCE_URL CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}
try {
  await walk(...args);
} catch (error) {
  const step = error instanceof Failure ? error.step : current;
  const message = error.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : error.message;
  console.error(`discovery_walk: ${step}: ${message}`);
  process.stdout.write(`${JSON.stringify({ step, ok: false, error: message })}\n`);
  process.exit(error instanceof Failure ? error.exitCode : 1);
}
