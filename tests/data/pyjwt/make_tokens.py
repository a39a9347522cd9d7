#!/usr/bin/env python3
"""Mints tokens in the FastAPI tutorial's format with PyJWT, an independent JWT implementation.

Usage:
  make_tokens.py fixtures        > tokens.json   # committed fixtures (exp in 2100, never expire)
  make_tokens.py live            # fresh tokens (exp = now + 10 min), printed as JSON

The tutorial signs with HS256 and the secret in APP_SECRET_STRING; the claims are
sub, iat, exp and scope ("access_token" or "refresh_token"). The asymmetric tokens use
the test keys in ../keys.
"""
import json
import os
import sys
import time

import jwt  # PyJWT

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "..", "keys")
SECRET = "tutorial-app-secret-string-of-at-least-32-bytes"


def key(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return f.read()


def main(mode):
    now = int(time.time())
    if mode == "fixtures":
        iat, exp = 1700000000, 4102444800  # 2023-11-14, 2100-01-01
    else:
        iat, exp = now, now + 600
    access = {"sub": "alice", "iat": iat, "exp": exp, "scope": "access_token"}
    refresh = {"sub": "alice", "iat": iat, "exp": exp, "scope": "refresh_token"}
    expired = {"sub": "alice", "iat": 1700000000, "exp": 1700001800, "scope": "access_token"}
    out = {
        "generator": f"PyJWT {jwt.__version__}",
        "secret": SECRET,
        "hs256_access": jwt.encode(access, SECRET, algorithm="HS256"),
        "hs256_refresh": jwt.encode(refresh, SECRET, algorithm="HS256"),
        "hs256_expired": jwt.encode(expired, SECRET, algorithm="HS256"),
        "hs256_wrong_secret": jwt.encode(access, SECRET + "-other", algorithm="HS256"),
        "hs512_access": jwt.encode(access, SECRET * 2, algorithm="HS512"),
        "rs256_access": jwt.encode(access, key("rsa_private.pem"), algorithm="RS256"),
        "ps256_access": jwt.encode(access, key("rsa_private.pem"), algorithm="PS256"),
        "es256_access": jwt.encode(access, key("ec256_private.pem"), algorithm="ES256"),
        "es384_access": jwt.encode(access, key("ec384_private.pem"), algorithm="ES384"),
        "eddsa_access": jwt.encode(access, key("ed25519_private.pem"), algorithm="EdDSA"),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
