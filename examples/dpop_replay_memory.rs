//! The memory bound of DPoP's replay cache under a flood of distinct proofs: a cache of each
//! capacity gets four times its capacity of distinct `jti`s within one window, and the
//! resident memory of the process is read before and after (Linux, `/proc/self/status`).
//!
//! ```sh
//! cargo run --release --example dpop_replay_memory
//! ```
//!
//! Prints, per capacity: the entries held, the `jti`s refused as the cache was full, the
//! growth of the resident set, and that growth per entry held. Each capacity is measured in
//! a process of its own (the tool runs itself with the capacity as its argument), so that no
//! memory freed by one measurement is counted by the next. Every loop is bounded.

use std::time::{Duration, Instant};

use tower_jwt_auth::dpop::{ReplayCache, ReplayError};

/// The resident set of this process, in bytes; `None` off Linux.
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Fills a cache of `capacity` and prints its row.
fn measure(capacity: usize) -> Result<(), Box<dyn std::error::Error>> {
    let before = resident();
    let cache = ReplayCache::new(capacity, Duration::from_secs(66))?;
    let sent = capacity * 4;
    let now = 1_000_000;
    let mut refused = 0usize;
    let started = Instant::now();
    for n in 0..sent {
        // Distinct for each n; the cache keeps a hash, so the length does not matter.
        match cache.insert(&format!("flood-{n:016x}"), now) {
            Ok(()) => {}
            Err(ReplayError::Full) => refused += 1,
            Err(_) => return Err("distinct jtis were replays".into()),
        }
    }
    let per_insert = started.elapsed().as_nanos() / sent as u128;
    let after = resident();
    let held = cache.len();
    assert!(held <= cache.capacity());
    let growth = after
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before));
    println!(
        "| {} | {sent} | {held} | {refused} | {} | {} | {per_insert} |",
        cache.capacity(),
        growth.map_or("-".to_owned(), |bytes| format!(
            "{:.1} MiB",
            bytes as f64 / 1_048_576.0
        )),
        growth.map_or("-".to_owned(), |bytes| format!(
            "{:.0} B",
            bytes as f64 / held as f64
        )),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(capacity) = std::env::args().nth(1) {
        return measure(capacity.parse()?);
    }
    println!(
        "| capacity | jtis sent | held | refused (full) | resident growth | per entry held | ns per insert |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let me = std::env::current_exe()?;
    for capacity in [16_384, 131_072, 1_048_576] {
        let status = std::process::Command::new(&me)
            .arg(capacity.to_string())
            .status()?;
        if !status.success() {
            return Err(format!("the measurement of {capacity} failed").into());
        }
    }
    Ok(())
}
