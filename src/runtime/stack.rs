//! Running work on a stack of a given size on the calling thread, so that a single call needs no
//! hand-off to a pool worker and still gets a worker's stack (the template recursion limit must
//! trigger before the stack runs out, whatever stack the caller's thread has).
//!
//! `stacker::grow` does this but maps and unmaps a fresh stack every time, and every page the
//! work touches faults in again: for a small conversation that costs a noticeable share of the
//! call. Here each thread keeps the stack it mapped and reuses it; pages touched once stay.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::null_mut;

/// A stack mapping with one inaccessible guard page below it (stacks grow down), unmapped on drop.
struct Stack {
    mapping: *mut libc::c_void,
    mapped_bytes: usize,
    guard_bytes: usize,
}

impl Stack {
    fn map(usable_bytes: usize) -> Option<Stack> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok().filter(|&p| p > 0)?;
        let mapped_bytes = usable_bytes.div_ceil(page).checked_add(1)?.checked_mul(page)?;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK;
        // SAFETY: a fresh anonymous mapping; nothing else refers to its address range.
        let mapping = unsafe { libc::mmap(null_mut(), mapped_bytes, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
        if mapping == libc::MAP_FAILED {
            return None;
        }
        let stack = Stack { mapping, mapped_bytes, guard_bytes: page };
        // SAFETY: the first page of the mapping just made; an overflow then faults instead of
        // writing into whatever lies below.
        if unsafe { libc::mprotect(mapping, page, libc::PROT_NONE) } != 0 {
            return None;
        }
        Some(stack)
    }

    /// The lowest usable address and the usable size.
    fn area(&self) -> (*mut u8, usize) {
        // SAFETY: `guard_bytes` < `mapped_bytes`, so the result stays inside the mapping.
        (unsafe { self.mapping.cast::<u8>().add(self.guard_bytes) }, self.mapped_bytes - self.guard_bytes)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, which no running code uses any more.
        unsafe { libc::munmap(self.mapping, self.mapped_bytes) };
    }
}

thread_local! {
    /// This thread's stack when no work is running on it (taken while in use, so a nested call
    /// maps another instead of reusing a stack that is live).
    static SPARE: Cell<Option<Stack>> = const { Cell::new(None) };
}

/// Runs `work` on the calling thread with at least `usable_bytes` of stack left: on the current
/// stack when that much remains (a pool worker with a stack of that size), else on this thread's
/// kept stack of `usable_bytes`. `slack_bytes`: how much of such a stack may already be in use.
pub fn with_stack<R>(usable_bytes: usize, slack_bytes: usize, work: impl FnOnce() -> R) -> R {
    if stacker::remaining_stack().is_some_and(|left| left >= usable_bytes - slack_bytes) {
        return work();
    }
    let Some(stack) =
        SPARE.with(Cell::take).filter(|s| s.area().1 >= usable_bytes).or_else(|| Stack::map(usable_bytes))
    else {
        // Could not map one (address space limits): `stacker` tries, and panics if it cannot.
        return stacker::grow(usable_bytes, work);
    };
    let (base, size) = stack.area();
    let mut work = Some(work);
    let mut output = None;
    // SAFETY: `base`/`size` describe a writable, page-aligned region owned by `stack`, which
    // outlives the call and is not in use by anything else (it was taken out of SPARE or just
    // mapped); the callback never unwinds out of `on_stack`, as psm requires: a panic is caught
    // inside and resumed on the original stack.
    let panic = unsafe {
        psm::on_stack(base, size, || {
            catch_unwind(AssertUnwindSafe(|| {
                if let Some(work) = work.take() {
                    output = Some(work());
                }
            }))
            .err()
        })
    };
    SPARE.with(|spare| spare.set(Some(stack)));
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
    output.unwrap_or_else(|| unreachable!("the work ran or panicked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n`, computed through `n` frames of about 4 KiB each.
    fn depth(n: usize) -> usize {
        let pad = std::hint::black_box([0u8; 4096]);
        if n == 0 {
            return usize::from(pad[0]);
        }
        1 + depth(n - 1) + usize::from(pad[n % 4096])
    }

    #[test]
    fn deep_work_fits_on_a_thread_with_a_small_stack() {
        // 8 MiB of frames on a 256 KiB thread: only the mapped stack can hold them.
        let levels = 2048;
        let joined = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                (with_stack(64 << 20, 1 << 20, || depth(levels)), with_stack(64 << 20, 1 << 20, || depth(levels)))
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(joined, (levels, levels));
    }

    #[test]
    fn a_panic_reaches_the_caller_and_the_stack_is_kept() {
        let result = catch_unwind(|| with_stack(64 << 20, 1 << 20, || panic!("inside")));
        assert!(result.is_err());
        assert!(SPARE.with(|spare| {
            let kept = spare.take();
            let present = kept.is_some();
            spare.set(kept);
            present
        }));
        assert_eq!(with_stack(64 << 20, 1 << 20, || 7), 7);
    }

    #[test]
    fn nested_calls_work() {
        let inner = with_stack(64 << 20, 1 << 20, || with_stack(64 << 20, 1 << 20, || depth(2048)));
        assert_eq!(inner, 2048);
    }
}
