//! Memory a one-off piece of work freed, handed back to the OS at once.
//!
//! The extension's allocator (mimalloc, `python/allocator.rs`) keeps freed memory mapped for ten
//! seconds so that one call's output matrices serve the next call. A tokenizer's engine build
//! frees far more than it keeps (tokenizers 1.0 parses the whole tokenizer.json); kept mapped,
//! that memory would stay resident under the calls that follow and add to the process's peak.

/// Hands back to the OS what this thread freed and its allocator still holds (nothing without
/// the Python extension's allocator).
pub fn release_freed() {
    // SAFETY: `mi_collect` takes no argument but the flag; it walks this thread's own heap and
    // purges its free pages, which no other thread uses.
    #[cfg(feature = "python")]
    unsafe {
        libmimalloc_sys::mi_collect(true)
    };
}
