# Frontegg's Python SDK (frontegg 3.0.4 from PyPI, unmodified) validating tokens Tessera
# issued, as a backend does: it authenticates with the environment's client id and API key
# (POST /auth/vendor/), fetches the public key (GET /identity/resources/configurations/v1/)
# and verifies each token (PyJWT, RS256) with `validate_identity_on_token`, optionally
# requiring roles — the path its Flask and FastAPI guards take.
#
# Input (environment): TESSERA_URL, TESSERA_CLIENT_ID, TESSERA_API_KEY, and TESSERA_TOKENS, a
# JSON list of {name, token, roles?}. Output: one line per token, `ok <name> <entity JSON>` or
# `refused <name> <error>` (the same protocol as backend-sdk.mjs).

import json
import os

# The SDK reads its gateway URL when it is first imported.
os.environ["FRONTEGG_API_GATEWAY_URL"] = os.environ["TESSERA_URL"]

from frontegg.common import FronteggAuthenticator  # noqa: E402
from frontegg.common.identity_mixin import IdentityClientMixin  # noqa: E402


class Identity(IdentityClientMixin):
    def __init__(self, authenticator):
        IdentityClientMixin.__init__(self, authenticator)


identity = Identity(
    FronteggAuthenticator(os.environ["TESSERA_CLIENT_ID"], os.environ["TESSERA_API_KEY"])
)
for t in json.loads(os.environ["TESSERA_TOKENS"]):
    options = {"roles": t["roles"]} if t.get("roles") else None
    try:
        entity = identity.validate_identity_on_token("Bearer " + t["token"], options)
        print("ok", t["name"], json.dumps(entity), flush=True)
    except Exception as e:  # the SDK raises bare and typed exceptions alike
        print("refused", t["name"], type(e).__name__, str(e), flush=True)
