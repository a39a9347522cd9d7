//! How calls scale across threads: the same calls from 1, 2 and 4 threads at once, in
//! interleaved rounds, timed in CPU time per call (`benches/scaling.rs` and the peers'
//! scaling bench).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The thread counts of every round.
pub const THREADS: [usize; 3] = [1, 2, 4];

/// One thread's run: CPU time per call, and when it started and ended.
pub struct Run {
    cpu_per_call: f64,
    start: Instant,
    end: Instant,
}

/// This thread's CPU time.
pub(crate) fn cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or_default(),
        u32::try_from(time.tv_nsec).unwrap_or_default(),
    )
}

/// `threads` threads, each making `calls` calls at once. Each thread makes its own call with
/// `caller(thread)` and warms it with three calls, which must give `true`; then the threads
/// start together.
pub fn on_threads<C>(threads: usize, calls: usize, caller: impl Fn(usize) -> C + Sync) -> Vec<Run>
where
    C: FnMut() -> bool,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (caller, barrier) = (&caller, &barrier);
                scope.spawn(move || {
                    let mut call = caller(thread);
                    for _ in 0..3 {
                        assert!(call());
                    }
                    barrier.wait();
                    let (start, cpu) = (Instant::now(), cpu_time());
                    for _ in 0..calls {
                        black_box(call());
                    }
                    let (cpu, end) = (cpu_time() - cpu, Instant::now());
                    Run {
                        cpu_per_call: cpu.as_secs_f64() * 1e9 / calls as f64,
                        start,
                        end,
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Whether every thread overlapped all the others for at least 90 % of its own time.
fn ran_together(runs: &[Run]) -> bool {
    let latest_start = runs.iter().map(|run| run.start).max().unwrap();
    let earliest_end = runs.iter().map(|run| run.end).min().unwrap();
    let together = earliest_end.saturating_duration_since(latest_start);
    runs.iter()
        .all(|run| together.as_secs_f64() >= 0.9 * (run.end - run.start).as_secs_f64())
}

fn median_and_spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    (median, values[0], values[values.len() - 1])
}

/// The rounds and the calls per thread, from the command line's numbers (default 15 and
/// 200000).
pub fn args() -> (usize, usize) {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    (
        args.first().copied().unwrap_or(15),
        args.get(1).copied().unwrap_or(200_000),
    )
}

/// Runs `rounds` rounds, each every variant of `names` on each of [`THREADS`] threads
/// (`round(variant, threads, calls)`, with [`on_threads`]), and prints the table: per variant
/// and thread count, the CPU time per call (the mean over the threads; median and range over
/// the rounds) and the scaling, `threads × CPU(1) / CPU(n)`. A round with two threads counts
/// only if they ran together (each thread overlapping the others for 90 % of its time); four
/// threads on two cores take turns, and CPU time still counts each one's own work.
pub fn compare(
    rounds: usize,
    calls: usize,
    names: &[&str],
    round: impl Fn(usize, usize, usize) -> Vec<Run>,
) {
    // [variant][threads] → per round: mean CPU ns per call over the threads.
    let mut cpu: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); THREADS.len()]; names.len()];
    let mut dropped = vec![vec![0usize; THREADS.len()]; names.len()];
    for _ in 0..rounds {
        for v in 0..names.len() {
            for (t, &n) in THREADS.iter().enumerate() {
                let runs = round(v, n, calls);
                // Four threads on two cores take turns: CPU time still counts.
                if n > 2 || ran_together(&runs) {
                    let mean = runs.iter().map(|run| run.cpu_per_call).sum::<f64>() / n as f64;
                    cpu[v][t].push(mean);
                } else {
                    dropped[v][t] += 1;
                }
            }
        }
    }
    println!(
        "{rounds} interleaved rounds, {calls} calls per thread; CPU ns per call (median, min–max) \
         and scaling = threads × CPU(1) / CPU(n)"
    );
    println!("| variant | threads | CPU ns/call | min–max | scaling | rounds dropped |");
    println!("|---|---|---|---|---|---|");
    for (v, name) in names.iter().enumerate() {
        let (one, _, _) = median_and_spread(&mut cpu[v][0].clone());
        for (t, &n) in THREADS.iter().enumerate() {
            if cpu[v][t].is_empty() {
                println!("| {name} | {n} | – | – | – | {} |", dropped[v][t]);
                continue;
            }
            let (median, min, max) = median_and_spread(&mut cpu[v][t]);
            println!(
                "| {name} | {n} | {median:.0} | {min:.0}–{max:.0} | {:.2} | {} |",
                n as f64 * one / median,
                dropped[v][t]
            );
        }
    }
}
