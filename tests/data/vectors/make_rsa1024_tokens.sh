#!/usr/bin/env sh
# Regenerates rsa1024_tokens.json: one token per RSA algorithm signed with the 1024-bit test
# key (../keys/rsa1024_private.pem), which aws-lc-rs will not sign with. Used by
# tests/differential.rs: jsonwebtoken with aws-lc-rs accepts none of them, the crate refuses
# the key itself.
set -eu
cd "$(dirname "$0")"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
payload=$(printf '{"sub":"a","exp":4102444800}' | b64url)
echo "{" > rsa1024_tokens.json
first=1
# No PS512: a 1024-bit modulus has no room for its 64-byte salt and hash.
for alg in RS256 RS384 RS512 PS256 PS384; do
  bits=${alg#??}
  header=$(printf '{"alg":"%s"}' "$alg" | b64url)
  case $alg in
    PS*) pss="-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest" ;;
    *) pss="" ;;
  esac
  # shellcheck disable=SC2086
  signature=$(printf '%s.%s' "$header" "$payload" \
    | openssl dgst "-sha$bits" -sign ../keys/rsa1024_private.pem $pss | b64url)
  [ $first = 1 ] || echo "," >> rsa1024_tokens.json
  first=0
  printf '  "%s": "%s.%s.%s"' "$alg" "$header" "$payload" "$signature" >> rsa1024_tokens.json
done
printf '\n}\n' >> rsa1024_tokens.json
