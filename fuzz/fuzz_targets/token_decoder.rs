//! cargo-fuzz target: the token decoder (`Validator::validate_at`) on arbitrary input.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::check(data);
});
