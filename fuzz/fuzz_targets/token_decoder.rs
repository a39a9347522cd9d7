//! cargo-fuzz target: the token decoder (`Validator::validate_at`) on arbitrary input.
#![no_main]

use tower_jwt_auth_test_support::fuzz as harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::check(data);
});
