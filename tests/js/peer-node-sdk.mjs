// The load harness's Node peer (`load peers`, benches/src/bin/load.rs): an Express app whose
// one route is guarded by Frontegg's Node SDK (@frontegg/client, unmodified) the way
// Frontegg's own guide has it — `withAuthentication({ permissions })` on the route — so its
// throughput is what a Frontegg user's service pays per request today.
//
// The SDK fetches the signing key once at start (POST /auth/vendor, then
// GET /identity/resources/configurations/v1); a second listener here answers those two calls
// with the harness's public key (PEER_PUBLIC_KEY_PEM), so every peer verifies the same token
// with the same key. Prints `http://127.0.0.1:<port>` of the guarded app once the key is
// loaded.
import express from 'express';

const pem = process.env.PEER_PUBLIC_KEY_PEM;
if (!pem) {
  console.error('PEER_PUBLIC_KEY_PEM is required');
  process.exit(2);
}
const keys = express();
keys.use(express.json());
keys.post('/auth/vendor', (_req, res) => res.json({ token: 'peer', expiresIn: 86400 }));
keys.get('/identity/resources/configurations/v1', (_req, res) => res.json({ publicKey: pem }));
const keyServer = await new Promise((ok) => {
  const s = keys.listen(0, '127.0.0.1', () => ok(s));
});

// The SDK reads its gateway URL when it is first imported.
process.env.FRONTEGG_API_GATEWAY_URL = `http://127.0.0.1:${keyServer.address().port}`;
process.env.FRONTEGG_LOG_LEVEL = 'error';
const { FronteggContext, IdentityClient, withAuthentication } = await import('@frontegg/client');
FronteggContext.init({ FRONTEGG_CLIENT_ID: 'peer', FRONTEGG_API_KEY: 'peer' });
await IdentityClient.getInstance().getPublicKey();

const app = express();
app.get('/orders/:id', withAuthentication({ permissions: ['app.read'] }), (req, res) => {
  res.set('x-user-id', req.frontegg.user.id).status(200).end();
});
const server = app.listen(0, '127.0.0.1', () => {
  console.log(`node sdk peer on http://127.0.0.1:${server.address().port}`);
});
server.keepAliveTimeout = 65_000;
