//! The clock the validator reads.

/// Seconds since the Unix epoch (0 if the clock is before it).
///
/// On Linux this reads the coarse wall clock, the time of the kernel's last
/// tick (a few milliseconds behind at most), which costs a fraction of a
/// precise read; token dates are whole seconds and checked with a leeway.
pub(crate) fn now() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        u64::try_from(now.tv_sec).unwrap_or(0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
