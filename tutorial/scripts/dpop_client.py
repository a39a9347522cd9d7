"""Log in to the tutorial's server with DPoP (RFC 9449) and call /secret with the bound token.

    pip install PyJWT cryptography
    python3 dpop_client.py [BASE_URL] [USERNAME] [PASSWORD]
"""
import base64, hashlib, json, sys, time, uuid
import urllib.error, urllib.request

import jwt  # PyJWT
from cryptography.hazmat.primitives.asymmetric import ec

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"  # the server's PUBLIC_URL
USERNAME, PASSWORD = sys.argv[2:4] if len(sys.argv) > 3 else ("alice", "correct horse")

key = ec.generate_private_key(ec.SECP256R1())  # the client's key: it never leaves this process
jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))


def proof(method, path, access_token=None):
    """A fresh DPoP proof for one request, signed by the client's key."""
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": BASE + path, "iat": int(time.time())}
    if access_token:  # ath: the token's SHA-256, base64url without padding
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})


def call(method, path, headers, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data, headers, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


# Log in with a proof: both tokens are bound to the key (token_type "DPoP").
status, tokens = call("POST", "/login", {"DPoP": proof("POST", "/login")},
                      {"username": USERNAME, "password": PASSWORD})
print("login:", status, tokens.get("token_type"))
access = tokens["access_token"]

# Each request: Authorization: DPoP <token>, and a new proof naming the token.
status, body = call("POST", "/secret",
                    {"Authorization": "DPoP " + access, "DPoP": proof("POST", "/secret", access)})
print("secret with a proof:", status, body)

# Without the key, the token is worth nothing: as a bearer token it is refused.
status, body = call("POST", "/secret", {"Authorization": "Bearer " + access})
print("secret as bearer:", status, body)

# Refreshing needs a proof by the same key; the new tokens are bound to it too.
status, tokens = call("POST", "/refresh", {"DPoP": proof("POST", "/refresh")},
                      {"refresh_token": tokens["refresh_token"]})
print("refresh:", status, tokens.get("token_type"))
