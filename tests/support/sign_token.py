"""Signs JWT claims (JSON on stdin) with moto's Cognito key, so tests can present
tokens that are validly signed but expired, for another audience, and so on."""
import json
import sys

from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
claims = json.load(sys.stdin)
print(jwt.encode({"alg": "RS256", "kid": "dummy", "typ": "JWT"}, claims, key))
