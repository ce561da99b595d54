//! mimalloc as the extension's allocator, and the options it runs with. The figures behind these
//! choices are in BENCHMARKS.md.

/// Conversations are converted on the calling thread and their results freed there after worker
/// threads built them, and a render allocates many small values: glibc's malloc spent a visible
/// share of a batch's serial part on cross-thread frees and consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc options by their index in `mi_option_t` of mimalloc v2 (Cargo.toml selects it); the
/// Rust bindings do not name these.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ARENA_PURGE_MULT: libmimalloc_sys::mi_option_t = 24;

/// How long memory the extension freed stays mapped for its next call before it goes back to
/// the OS: ten seconds, like jemalloc's default decay. With mimalloc's default (10 ms, 100 ms for
/// arenas) the previous call's output matrices went back to the OS while the next call was still
/// tokenizing, so every call paid a page fault per 4 KiB of output again. One-off work that frees
/// much more than it keeps (a tokenizer's engine build) hands its memory back at once instead
/// (`runtime::memory`).
const PURGE_DELAY_MS: i64 = 10_000;

/// Sets the allocator's options; called once, when the module is imported.
pub fn configure() {
    // Committing arenas eagerly made the process's RSS creep up by megabytes while the
    // allocator spread over a fresh arena (tests/hardening: the memory test); committing on use
    // costs nothing measurable.
    // SAFETY: sets a process-wide allocator option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    // SAFETY: as above. Arenas (where large blocks live) get the same delay, not ten times it.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_PURGE_MULT, 1);
    }
}
