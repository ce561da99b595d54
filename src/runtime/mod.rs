//! Where the work runs: worker pools (one per thread count, rebuilt after `fork`), the large
//! stacks that template recursion needs, on pool workers and on the calling thread alike, and
//! values built in the background that a forked child still gets (`deferred`), memory a build
//! freed handed back at once (`memory`), and the time per phase of a batch (`phases`, for the
//! throughput harness).

pub mod deferred;
pub mod memory;
pub mod phases;
pub mod pool;
mod stack;

pub use pool::{Threads, NUM_THREADS_ENV};
