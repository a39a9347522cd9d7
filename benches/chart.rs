//! Reads the results `cargo bench --bench validation` left in `target/criterion`, prints the
//! tables of BENCHMARKS.md (each figure minus the no-op baseline, and its ratio to raw
//! jsonwebtoken) and draws `benches/validations.svg`: validations per second per algorithm,
//! cached and uncached, next to raw jsonwebtoken.
//!
//! Run with `cargo bench --bench chart` after the validation bench; it measures nothing.

use std::path::{Path, PathBuf};

const ALGORITHMS: [&str; 4] = ["HS256", "RS256", "ES256", "EdDSA"];

/// The estimate criterion printed (the middle figure of `time:`), in nanoseconds.
fn estimate(dir: &Path, group: &str, bench: &str) -> Option<f64> {
    let path = dir.join(group).join(bench).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let slope = &json["slope"]["point_estimate"];
    slope
        .as_f64()
        .or_else(|| json["mean"]["point_estimate"].as_f64())
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("criterion")
}

fn ns(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} µs", value / 1000.0)
    } else {
        format!("{value:.0} ns")
    }
}

struct Figures {
    alg: &'static str,
    raw: f64,
    cold: f64,
    cached: f64,
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here is a measurement.
    let dir = criterion_dir();
    let mut figures = Vec::new();
    println!(
        "| Algorithm | jsonwebtoken | no-op service | layer, cold | cold / jsonwebtoken | layer, cached | cached / jsonwebtoken |"
    );
    println!("|---|---|---|---|---|---|---|");
    for alg in ALGORITHMS {
        let get = |bench: &str| estimate(&dir, alg, bench);
        let (Some(raw), Some(noop), Some(cold), Some(cached)) = (
            get("jsonwebtoken"),
            get("noop"),
            get("accept_cold"),
            get("accept_cached"),
        ) else {
            eprintln!(
                "{alg}: no results in {}; run `cargo bench --bench validation` first",
                dir.display()
            );
            continue;
        };
        let (cold, cached) = (cold - noop, cached - noop);
        println!(
            "| {alg} | {} | {} | {} | {:.2} | {} | {:.3} |",
            ns(raw),
            ns(noop),
            ns(cold),
            cold / raw,
            ns(cached),
            cached / raw
        );
        figures.push(Figures {
            alg,
            raw,
            cold,
            cached,
        });
    }
    println!();
    println!(
        "| Algorithm | reject: garbage | garbage / cold accept | bad signature | expired | missing |"
    );
    println!("|---|---|---|---|---|---|");
    for alg in ALGORITHMS {
        let get = |bench: &str| estimate(&dir, alg, bench);
        let (Some(noop), Some(cold)) = (get("noop"), get("accept_cold")) else {
            continue;
        };
        let less = |bench: &str| get(bench).map_or(f64::NAN, |value| value - noop);
        let garbage = less("reject_garbage");
        println!(
            "| {alg} | {} | {:.3} | {} | {} | {} |",
            ns(garbage),
            garbage / (cold - noop),
            ns(less("reject_bad_signature")),
            ns(less("reject_expired")),
            ns(less("reject_missing"))
        );
    }
    let get = |bench: &str| estimate(&dir, "HS256", bench);
    if let (Some(noop), Some(cold), Some(floor), Some(miss), Some(raw_bad), Some(bad)) = (
        get("noop"),
        get("accept_cold"),
        get("floor"),
        get("accept_miss"),
        get("jsonwebtoken_bad_signature"),
        get("reject_bad_signature"),
    ) {
        println!();
        println!(
            "HS256: floor {}, layer cold / floor {:.2}; cache miss (new token each call) {}; \
             bad signature {} = {:.2} × jsonwebtoken's bad signature ({}) = {:.2} × the floor",
            ns(floor),
            (cold - noop) / floor,
            ns(miss - noop),
            ns(bad - noop),
            (bad - noop) / raw_bad,
            ns(raw_bad),
            (bad - noop) / floor
        );
    }
    if let (Some(accept), Some(garbage), Some(bad)) = (
        get("verdict_accept"),
        get("verdict_garbage"),
        get("verdict_bad_signature"),
    ) {
        println!(
            "HS256 verdict alone (Validator::validate): accept {}, garbage {} ({:.3} of accept), \
             bad signature {}",
            ns(accept),
            ns(garbage),
            garbage / accept,
            ns(bad)
        );
    }
    if figures.is_empty() {
        return;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/validations.svg");
    match std::fs::write(&path, svg(&figures)) {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(err) => eprintln!("{}: {err}", path.display()),
    }
}

/// Grouped horizontal bars on a log scale: validations per second (one core).
fn svg(figures: &[Figures]) -> String {
    let groups: Vec<(&str, Vec<f64>)> = figures
        .iter()
        .map(|figure| {
            let per_second = [figure.raw, figure.cold, figure.cached].map(|nanos| 1e9 / nanos);
            (figure.alg, per_second.to_vec())
        })
        .collect();
    support::chart::Bars {
        title: "Token validations per second, one core (log scale; higher is better)",
        series: &[
            ("jsonwebtoken::decode", "#9e9e9e"),
            ("JwtAuthLayer, uncached", "#1f77b4"),
            ("JwtAuthLayer, cached", "#2ca02c"),
        ],
        groups: &groups,
        label: rate,
    }
    .svg()
}

fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else {
        format!("{:.0} k/s", per_second / 1e3)
    }
}
