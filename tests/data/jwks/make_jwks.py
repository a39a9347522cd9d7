#!/usr/bin/env python3
"""Writes JWKS documents shaped like those of three identity providers, from the test keys.

Run after ../keys/make_keys.sh. The shapes follow what the providers publish: Keycloak
(a signing key with alg, x5c, x5t and x5t#S256, plus an RSA-OAEP encryption key), Auth0
(alg RS256, use sig, x5c, x5t), Microsoft Entra ID (no alg, use sig, x5c, x5t, issuer).
Also short_rsa.json: the 1024-bit test key, which every loader must refuse.
Only standard library and the openssl command line.
"""
import base64
import hashlib
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "..", "keys")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_members(public_pem: str) -> dict:
    out = subprocess.run(
        ["openssl", "rsa", "-pubin", "-in", os.path.join(KEYS, public_pem), "-noout", "-modulus"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    modulus = bytes.fromhex(out.split("=", 1)[1])
    return {"kty": "RSA", "n": b64url(modulus), "e": "AQAB"}


def cert_members(cert_pem: str) -> dict:
    der = subprocess.run(
        ["openssl", "x509", "-in", os.path.join(KEYS, cert_pem), "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout
    return {
        "x5c": [base64.b64encode(der).decode()],
        "x5t": b64url(hashlib.sha1(der).digest()),
        "x5t#S256": b64url(hashlib.sha256(der).digest()),
    }


def write(name: str, keys: list) -> None:
    with open(os.path.join(HERE, name), "w") as out:
        json.dump({"keys": keys}, out, indent=2)
        out.write("\n")


rsa, rsa2 = rsa_members("rsa_public.pem"), rsa_members("rsa2_public.pem")
cert, cert2 = cert_members("rsa_cert.pem"), cert_members("rsa2_cert.pem")

write("keycloak.json", [
    {"kid": "kc-sig", "kty": "RSA", "alg": "RS256", "use": "sig", **rsa, **cert},
    {"kid": "kc-enc", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", **rsa2, **cert2},
])
auth0 = {k: v for k, v in cert.items() if k != "x5t#S256"}
auth0_2 = {k: v for k, v in cert2.items() if k != "x5t#S256"}
write("auth0.json", [
    {"kty": "RSA", "use": "sig", **rsa, "kid": "a0-1", **auth0, "alg": "RS256"},
    {"kty": "RSA", "use": "sig", **rsa2, "kid": "a0-2", **auth0_2, "alg": "RS256"},
])
entra = {k: v for k, v in cert.items() if k != "x5t#S256"}
entra_2 = {k: v for k, v in cert2.items() if k != "x5t#S256"}
issuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
write("entra.json", [
    {"kty": "RSA", "use": "sig", "kid": entra["x5t"], **entra, **rsa, "issuer": issuer},
    {"kty": "RSA", "use": "sig", "kid": entra_2["x5t"], **entra_2, **rsa2, "issuer": issuer},
])

write("short_rsa.json", [{"kty": "RSA", "kid": "short", **rsa_members("rsa1024_public.pem")}])
