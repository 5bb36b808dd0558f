// Frontegg's Node SDK (@frontegg/client, unmodified) validating tokens Tessera issued, as a
// backend does: it authenticates with the environment's client id and API key
// (POST /auth/vendor), fetches the public key (GET /identity/resources/configurations/v1)
// and verifies each token (RS256) with `validateIdentityOnToken`, optionally requiring roles.
//
// Input (environment): TESSERA_URL, TESSERA_CLIENT_ID, TESSERA_API_KEY, and TESSERA_TOKENS, a
// JSON list of {name, token, roles?}. Output: one line per token, `ok <name> <entity JSON>` or
// `refused <name> <error>`.

const base = process.env.TESSERA_URL;
// The SDK reads its gateway URL when it is first imported.
process.env.FRONTEGG_API_GATEWAY_URL = base;
process.env.FRONTEGG_LOG_LEVEL = 'error';
const { FronteggContext, IdentityClient } = await import('@frontegg/client');

FronteggContext.init({
  FRONTEGG_CLIENT_ID: process.env.TESSERA_CLIENT_ID,
  FRONTEGG_API_KEY: process.env.TESSERA_API_KEY,
});
const identity = IdentityClient.getInstance();
for (const { name, token, roles } of JSON.parse(process.env.TESSERA_TOKENS)) {
  try {
    const entity = await identity.validateIdentityOnToken(`Bearer ${token}`, roles ? { roles } : undefined);
    console.log(`ok ${name} ${JSON.stringify(entity)}`);
  } catch (e) {
    console.log(`refused ${name} ${e?.message ?? e}`);
  }
}
process.exit(0);
