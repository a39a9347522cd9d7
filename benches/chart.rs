//! Reads the results `cargo bench --bench validation` left in `target/criterion`, prints the
//! tables of BENCHMARKS.md (each figure minus the no-op baseline, and its ratio to raw
//! jsonwebtoken) and draws `benches/validations.svg`: validations per second per algorithm,
//! cached and uncached, next to raw jsonwebtoken.
//!
//! Run with `cargo bench --bench chart` after the validation bench; it measures nothing.

use std::fmt::Write as _;
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
    const SERIES: [(&str, &str); 3] = [
        ("jsonwebtoken::decode", "#9e9e9e"),
        ("JwtAuthLayer, uncached", "#1f77b4"),
        ("JwtAuthLayer, cached", "#2ca02c"),
    ];
    let (left, top, bar, gap, width) = (90.0, 50.0, 16.0, 18.0, 560.0);
    // From 10^4 per second to the power of ten above the fastest bar.
    let fastest = figures
        .iter()
        .map(|figure| 1e9 / figure.raw.min(figure.cold).min(figure.cached))
        .fold(1e5, f64::max);
    let (min_exp, max_exp) = (4.0_f64, fastest.log10().ceil());
    let x = |per_second: f64| {
        left + width
            * ((per_second.max(1.0).log10() - min_exp) / (max_exp - min_exp)).clamp(0.0, 1.0)
    };
    let group_height = bar * 3.0 + gap;
    let height = top + group_height * figures.len() as f64 + 60.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="20" font-size="14" font-weight="bold">Token validations per second, one core (log scale; higher is better)</text>
"#,
        w = left + width + 150.0,
    );
    for exp in 4..=max_exp as i32 {
        let at = x(10f64.powi(exp));
        let bottom = height - 45.0;
        let _ = writeln!(
            out,
            r##"<line x1="{at}" y1="{top}" x2="{at}" y2="{bottom}" stroke="#ddd"/><text x="{at}" y="{}" text-anchor="middle">10^{exp}</text>"##,
            bottom + 15.0
        );
    }
    for (row, figure) in figures.iter().enumerate() {
        let y0 = top + group_height * row as f64;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end" font-weight="bold">{}</text>"#,
            left - 8.0,
            y0 + bar * 1.5 + 4.0,
            figure.alg
        );
        for (i, ((_, colour), nanos)) in SERIES
            .iter()
            .zip([figure.raw, figure.cold, figure.cached])
            .enumerate()
        {
            let per_second = 1e9 / nanos;
            let y = y0 + bar * i as f64;
            let end = x(per_second);
            let _ = writeln!(
                out,
                r#"<rect x="{left}" y="{y}" width="{}" height="{}" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
                end - left,
                bar - 2.0,
                end + 4.0,
                y + bar - 5.0,
                rate(per_second)
            );
        }
    }
    let legend_y = height - 18.0;
    for (i, (name, colour)) in SERIES.iter().enumerate() {
        let lx = left + 190.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{legend_y}">{name}</text>"#,
            legend_y - 10.0,
            lx + 16.0
        );
    }
    out.push_str("</svg>\n");
    out
}

fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else {
        format!("{:.0} k/s", per_second / 1e3)
    }
}
