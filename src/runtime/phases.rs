//! Where a batch's time goes: seconds per phase, summed over the threads that ran it (a phase that
//! is itself parallel, an Arrow read or a matrix fill, counts its wall time), for the throughput
//! harness's phase split (benches/bench_throughput.py `--phases`). Off unless switched on (a test
//! hook), and then only two clock reads per phase and conversation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The phases of `encode_batch`, in the order a conversation goes through them.
#[derive(Clone, Copy)]
pub enum Phase {
    /// Python objects or Arrow columns read into plain data (holds the interpreter for objects).
    Convert,
    /// Plain data made into the template's values, on the conversation's worker.
    Values,
    /// The template rendered, with its assistant spans.
    Render,
    /// Ids and byte offsets of the rendered text, truncation included.
    Tokenize,
    /// Offsets and spans made into the assistant mask, labels and attention mask.
    Mask,
    /// Rows written into the call's output layout (lists, matrices or Arrow arrays).
    Output,
}

pub const PHASE_NAMES: [&str; 6] = ["convert", "values", "render", "tokenize", "mask", "output"];

static ENABLED: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// Runs `work`, adding its time to `phase` when timing is on.
pub fn timed<R>(phase: Phase, work: impl FnOnce() -> R) -> R {
    if !ENABLED.load(Ordering::Relaxed) {
        return work();
    }
    let start = Instant::now();
    let result = work();
    let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    NANOS[phase as usize].fetch_add(nanos, Ordering::Relaxed);
    result
}

/// Switches timing on or off and returns the seconds summed since the last call, per phase in
/// the order of [`PHASE_NAMES`].
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub fn take_seconds(enable: bool) -> [f64; 6] {
    ENABLED.store(enable, Ordering::Relaxed);
    NANOS.each_ref().map(|nanos| nanos.swap(0, Ordering::Relaxed) as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_added_only_while_on() {
        take_seconds(false);
        timed(Phase::Render, || std::thread::sleep(std::time::Duration::from_millis(2)));
        assert_eq!(take_seconds(true)[Phase::Render as usize], 0.0);
        timed(Phase::Render, || std::thread::sleep(std::time::Duration::from_millis(2)));
        let seconds = take_seconds(false);
        // Other tests may run meanwhile and add to any phase; this one's sleep is at least there.
        assert!(seconds[Phase::Render as usize] >= 0.002, "{seconds:?}");
    }
}
