#!/usr/bin/env sh
# Regenerates the test keys in this folder. They are test-only keys: never use them anywhere else.
set -eu
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa_private.pem
openssl pkey -in rsa_private.pem -pubout -out rsa_public.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2_private.pem
openssl pkey -in rsa2_private.pem -pubout -out rsa2_public.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256_private.pem
openssl pkey -in ec256_private.pem -pubout -out ec256_public.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384_private.pem
openssl pkey -in ec384_private.pem -pubout -out ec384_public.pem
openssl genpkey -algorithm ED25519 -out ed25519_private.pem
openssl pkey -in ed25519_private.pem -pubout -out ed25519_public.pem
# A 1024-bit RSA key: too short, every loader must refuse it (tests/key_checks.rs).
openssl genrsa -out rsa1024_private.pem 1024
openssl rsa -in rsa1024_private.pem -pubout -out rsa1024_public.pem
openssl rsa -in rsa1024_private.pem -RSAPublicKey_out -out rsa1024_public_pkcs1.pem
# Self-signed certificates of the RSA keys, for the x5c members of ../jwks/*.json.
openssl req -x509 -key rsa_private.pem -subj "/CN=tower-jwt-auth test provider" -days 36500 -out rsa_cert.pem
openssl req -x509 -key rsa2_private.pem -subj "/CN=tower-jwt-auth test provider 2" -days 36500 -out rsa2_cert.pem
