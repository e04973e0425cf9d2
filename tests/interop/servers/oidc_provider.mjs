// panva's oidc-provider 9.13.3 as a client_credentials authorization server on 127.0.0.1.
//
// Environment: INTEROP_CLIENTS (JSON list of {client_id, client_secret, scope, grants}),
// INTEROP_TOKEN_TTL (seconds), INTEROP_TOKEN_FORMAT ("opaque" or "jwt"),
// INTEROP_INTROSPECTOR (JSON {client_id, client_secret}: the resource server's own client),
// INTEROP_SCOPES (the scopes it knows, space-separated), INTEROP_RESOURCES (JSON list).
// Resource indicators are on in both formats: a token request may name one `resource`
// (only INTEROP_RESOURCES are known), and one that names none gets DEFAULT_RESOURCE.
//
// Routes besides the provider's own (/token, /token/introspection, /jwks, discovery):
//   GET /api/me                    the protected endpoint: 200 {client_id, scope, aud} for a valid
//                                  token (opaque: RFC 7662 introspection over HTTP; jwt: the
//                                  signature checked against /jwks), else 401 invalid_token
//   GET /_interop/token-requests   every successful token request: {client_id, params}
// Prints "LISTENING <port>" once it listens on an ephemeral port of 127.0.0.1.
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const TTL = Number(process.env.INTEROP_TOKEN_TTL || '600');
const SCOPES = (process.env.INTEROP_SCOPES || 'read').split(' ').filter(Boolean);
const FORMAT = process.env.INTEROP_TOKEN_FORMAT || 'opaque';
const CLIENTS = JSON.parse(process.env.INTEROP_CLIENTS || '[]');
const INTROSPECTOR = JSON.parse(process.env.INTEROP_INTROSPECTOR || '{}');
const RESOURCES = new Set(JSON.parse(process.env.INTEROP_RESOURCES || '[]'));
const DEFAULT_RESOURCE = process.env.INTEROP_DEFAULT_RESOURCE || 'urn:interop:default';
RESOURCES.add(DEFAULT_RESOURCE);
if (FORMAT !== 'opaque' && FORMAT !== 'jwt') throw new Error(`unknown INTEROP_TOKEN_FORMAT ${FORMAT}`);

const tokenRequests = [];
const none = { redirect_uris: [], response_types: [] };

function asLists(body) {
  const params = {};
  for (const [name, value] of Object.entries(body || {})) {
    if (name === 'client_secret') continue;
    params[name] = Array.isArray(value) ? value.map(String) : [String(value)];
  }
  return params;
}

function json(ctx, status, body) {
  ctx.status = status;
  ctx.body = body;
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      ...CLIENTS.map((c) => ({
        ...none,
        client_id: c.client_id,
        client_secret: c.client_secret,
        scope: c.scope,
        grant_types: c.grants,
      })),
      { ...none, grant_types: [], client_id: INTROSPECTOR.client_id, client_secret: INTROSPECTOR.client_secret },
    ],
    scopes: SCOPES,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => DEFAULT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          if (!RESOURCES.has(resource)) throw new errors.InvalidTarget();
          return {
            scope: SCOPES.join(' '),
            audience: resource,
            accessTokenTTL: TTL,
            accessTokenFormat: FORMAT,
            ...(FORMAT === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
          };
        },
      },
    },
    ttl: { ClientCredentials: TTL },
  });
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

  async function validate(value) {
    if (FORMAT === 'jwt') {
      try {
        const { payload } = await jwtVerify(value, jwks, { issuer, typ: 'at+jwt' });
        return { client_id: payload.client_id, scope: payload.scope, aud: payload.aud };
      } catch {
        return undefined;
      }
    }
    const basic = Buffer.from(
      `${encodeURIComponent(INTROSPECTOR.client_id)}:${encodeURIComponent(INTROSPECTOR.client_secret)}`,
    ).toString('base64');
    const reply = await fetch(`${issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: value }),
      signal: AbortSignal.timeout(5000),
    });
    const body = await reply.json();
    return body.active ? { client_id: body.client_id, scope: body.scope, aud: body.aud } : undefined;
  }

  provider.use(async (ctx, next) => {
    if (ctx.path === '/healthz') return json(ctx, 200, { ok: true });
    if (ctx.path === '/_interop/token-requests') return json(ctx, 200, tokenRequests);
    if (ctx.path === '/api/me') {
      const [scheme, value] = (ctx.get('authorization') || '').split(' ');
      const claims = scheme?.toLowerCase() === 'bearer' && value ? await validate(value) : undefined;
      if (!claims) {
        ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
        return json(ctx, 401, { error: 'invalid_token' });
      }
      return json(ctx, 200, claims);
    }
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.oidc?.client) {
      tokenRequests.push({ client_id: ctx.oidc.client.clientId, params: asLists(ctx.oidc.body) });
    }
    return undefined;
  });
  server.on('request', provider.callback());
  console.log(`LISTENING ${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
