// @node-oauth/oauth2-server 5.3.0 wired to node:http, on 127.0.0.1.
//
// It reads client_secret_basic raw (RFC 2617, through the `basic-auth` package): the id and
// secret are not form-urldecoded, and an id cannot contain ':'.
// Environment: INTEROP_CLIENTS (JSON list of {client_id, client_secret, scope, grants}),
// INTEROP_TOKEN_TTL (seconds).
//   POST /oauth/token              the token endpoint
//   GET  /api/me                   the protected endpoint, checked against the server's own token
//                                  store: 200 {client_id, scope} or 401 invalid_token
//   GET  /_interop/token-requests  every successful token request: {client_id, params}
// Prints "LISTENING <port>" once it listens on an ephemeral port of 127.0.0.1.
import crypto from 'node:crypto';
import http from 'node:http';
import OAuth2Server from '@node-oauth/oauth2-server';

const { Request, Response } = OAuth2Server;
const TTL = Number(process.env.INTEROP_TOKEN_TTL || '3600');
const CLIENTS = new Map(
  JSON.parse(process.env.INTEROP_CLIENTS || '[]').map((c) => [c.client_id, c]),
);
const MAX_BODY = 64 * 1024;
const tokens = new Map();
const tokenRequests = [];

function sameSecret(expected, given) {
  const a = crypto.createHash('sha256').update(String(expected)).digest();
  const b = crypto.createHash('sha256').update(String(given)).digest();
  return crypto.timingSafeEqual(a, b);
}

const model = {
  async getClient(clientId, clientSecret) {
    const client = CLIENTS.get(clientId);
    if (!client || (clientSecret != null && !sameSecret(client.client_secret, clientSecret))) {
      return null;
    }
    return { id: client.client_id, grants: client.grants, scope: client.scope.split(' ').filter(Boolean) };
  },
  async getUserFromClient(client) {
    return { id: client.id };
  },
  async validateScope(user, client, scope) {
    if (!scope || scope.length === 0) return client.scope;
    return scope.every((s) => client.scope.includes(s)) ? scope : false;
  },
  async saveToken(token, client, user) {
    const saved = { ...token, client, user };
    tokens.set(token.accessToken, saved);
    return saved;
  },
  async getAccessToken(accessToken) {
    return tokens.get(accessToken) || null;
  },
  async verifyScope(token, scope) {
    return scope.every((s) => (token.scope || []).includes(s));
  },
};

const oauth = new OAuth2Server({ model, accessTokenLifetime: TTL });

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, headers, body) {
  res.writeHead(status, { ...headers, 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function relay(res, response) {
  send(res, response.status, response.headers, response.body);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/healthz') return send(res, 200, {}, { ok: true });
  if (url.pathname === '/_interop/token-requests') return send(res, 200, {}, tokenRequests);
  const form = new URLSearchParams(await readBody(req));
  const body = Object.fromEntries(form);
  const request = new Request({
    method: req.method,
    headers: req.headers,
    query: Object.fromEntries(url.searchParams),
    body,
  });
  const response = new Response({ headers: {} });
  if (url.pathname === '/oauth/token' && req.method === 'POST') {
    try {
      const token = await oauth.token(request, response);
      const params = {};
      for (const [name, value] of form) {
        if (name !== 'client_secret') (params[name] ||= []).push(value);
      }
      tokenRequests.push({ client_id: token.client.id, params });
    } catch {
      // the handler has already put the error into `response`
    }
    return relay(res, response);
  }
  if (url.pathname === '/api/me' && req.method === 'GET') {
    try {
      const token = await oauth.authenticate(request, response);
      return send(res, 200, {}, { client_id: token.client.id, scope: (token.scope || []).join(' ') });
    } catch {
      return send(res, 401, { 'www-authenticate': 'Bearer error="invalid_token"' }, { error: 'invalid_token' });
    }
  }
  return send(res, 404, {}, { error: 'not_found' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => send(res, 500, {}, { error: 'server_error', error_description: String(error) }));
});
server.listen(0, '127.0.0.1', () => console.log(`LISTENING ${server.address().port}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
