"""Signs JWT claims (JSON on stdin) with moto's Cognito key, so tests can present
tokens that are validly signed but expired, for another audience, under another
key id, and so on."""
import json
import sys

from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
claims = json.load(sys.stdin)
# "__header" (optional) overrides header fields, e.g. a kid the JWKS lacks.
header = {"alg": "RS256", "kid": "dummy", "typ": "JWT", **claims.pop("__header", {})}
print(jwt.encode(header, claims, key))
