// An application in Frontegg's hosted-login mode, in a real browser: the real, unmodified
// @frontegg/rest-api (bundled for the page by esbuild) against Tessera's authorization server.
// Served by tests/clients/chromium.rs on the application's own origin, with `window.TESSERA =
// {base, clientId, redirect}` set by the page. What it does depends on the path:
//   /app/         start: a PKCE verifier (kept in sessionStorage), then to <base>/oauth/authorize
//   /app/callback the code: exchangeOAuthTokensV2, as the SDK's hosted mode does
//   /app/reload   a reload: silentOAuthRefreshTokenV2, by the hosted session's cookie
// Every outcome is posted to the page's own server at /result.

import { createApiClient, ContextHolder } from '@frontegg/rest-api';

const cfg = window.TESSERA;
ContextHolder.for('default').setContext({ baseUrl: cfg.base, clientId: cfg.clientId, requestCredentials: 'include' });
const api = createApiClient('default');

const report = (r) => fetch('/result', { method: 'POST', body: JSON.stringify(r) });
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

async function start() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('verifier', verifier);
  sessionStorage.setItem('state', state);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const q = new URLSearchParams({
    response_type: 'code', client_id: cfg.clientId, redirect_uri: cfg.redirect, scope: 'openid email profile',
    state, nonce: 'n-' + state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(`${cfg.base}/oauth/authorize?${q}`);
}

async function callback() {
  const q = new URLSearchParams(location.search);
  if (q.get('error')) return report({ step: 'callback', error: q.get('error') });
  if (q.get('state') !== sessionStorage.getItem('state')) return report({ step: 'callback', error: 'state mismatch' });
  const r = await api.auth.exchangeOAuthTokensV2({
    code: q.get('code'), redirect_uri: cfg.redirect, code_verifier: sessionStorage.getItem('verifier'),
    grant_type: 'authorization_code',
  });
  report({ step: 'exchanged', accessToken: r.user.accessToken, email: r.user.email, tenants: (r.tenants || []).length });
}

async function reload() {
  const r = await api.auth.silentOAuthRefreshTokenV2();
  report({ step: 'silent', accessToken: r.user.accessToken, email: r.user.email });
}

const routes = { '/app/': start, '/app/callback': callback, '/app/reload': reload };
const run = routes[location.pathname];
if (run) run().catch((e) => report({ step: location.pathname, error: String(e && (e.message || e)) }));
