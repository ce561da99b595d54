//! Where the work runs: worker pools (one per thread count, rebuilt after `fork`) and the large
//! stacks that template recursion needs, on pool workers and on the calling thread alike.

pub mod phases;
pub mod pool;
mod stack;

pub use pool::{Threads, NUM_THREADS_ENV};
