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
