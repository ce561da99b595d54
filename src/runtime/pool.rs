//! The worker pools every batch runs on: one pool per thread count, rebuilt in a forked child,
//! with worker-sized stacks; work for one thread runs on the calling thread on a stack of the
//! same size (`runtime::stack`). Results keep the input order; a panic in one item becomes that
//! item's error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};

use rayon::prelude::*;

use crate::error::{catch_panic, Error, Result};

/// Worker stack size: minijinja's recursion limit must trigger long before the stack runs out.
/// Work run on the calling thread gets a stack of this size too (`with_worker_stack`).
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// How much of a worker's stack may already be in use when work starts on it (the pool's own
/// frames) without a fresh stack being mapped.
const STACK_SLACK_BYTES: usize = 1024 * 1024;

/// Environment variable that sets the number of worker threads (default: all cores).
pub const NUM_THREADS_ENV: &str = "FASTMASK_NUM_THREADS";

/// How many worker threads a call uses: `None` means `FASTMASK_NUM_THREADS`, else all cores.
pub type Threads = Option<usize>;

/// Maps `work` over `items` on the pool; the error of the lowest failing index wins, so the
/// report does not depend on scheduling.
pub(crate) fn run_indexed<T: Sync, R: Send>(
    items: &[T],
    threads: Threads,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    run_each(items, threads, work)?.into_iter().collect()
}

/// Maps `work` over `items` on the pool, one result per item. A panic in one item becomes that
/// item's `Internal` error; the other items are unaffected. Work for a single thread (one item,
/// or one thread asked for) runs on the calling thread instead: handing it to a pool worker and
/// waiting for it costs more than a small conversation takes.
pub(crate) fn run_each<T: Sync, R: Send>(
    items: &[T],
    threads: Threads,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<Result<R>>> {
    let threads = thread_count(threads)?;
    let task = |(index, item)| catch_panic(|| work(item)).map_err(|err: Error| err.in_conversation(index));
    if items.len() <= 1 || threads == 1 {
        // A stack that cannot be mapped panics in `stacker`: the call fails, the process does not.
        return catch_panic(|| Ok(with_worker_stack(|| items.iter().enumerate().map(task).collect())));
    }
    Ok(pool(threads)?.install(|| items.par_iter().enumerate().map(task).collect()))
}

/// [`run_each`] over the items `produce` makes on the calling thread: the pool's workers take each
/// item as it is made (through a channel), and the results are put back in order. Work for a
/// single thread runs on the calling thread after every item is made, as in `run_each`.
pub(crate) fn run_produced<T: Send + Sync, R: Send>(
    threads: Threads,
    count: usize,
    produce: impl FnOnce(&mut dyn FnMut(T)) -> Result<()>,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<Result<R>>> {
    let threads = thread_count(threads)?;
    if threads == 1 || count <= 1 {
        let mut items = Vec::new();
        produce(&mut |item| items.push(item))?;
        return run_each(&items, Some(threads), work);
    }
    let pool = pool(threads)?;
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, T)>();
    let mut indexed: Vec<(usize, Result<R>)> = Vec::new();
    let mut produced = Ok(());
    pool.in_place_scope(|scope| {
        let indexed = &mut indexed;
        let work = &work;
        scope.spawn(move |_| {
            *indexed = receiver
                .into_iter()
                .par_bridge()
                .map(|(index, item)| {
                    let result = catch_panic(|| work(&item)).map_err(|err: Error| err.in_conversation(index));
                    (index, result)
                })
                .collect();
        });
        let mut next = 0;
        produced = produce(&mut |item| {
            // The receiver lives until the sender is dropped below, so sending cannot fail.
            let _ = sender.send((next, item));
            next += 1;
        });
        drop(sender);
    });
    produced?;
    indexed.sort_unstable_by_key(|(index, _)| *index);
    Ok(indexed.into_iter().map(|(_, result)| result).collect())
}

/// Runs `work` inside the pool of `threads` workers, so that rayon's parallel iterators in it
/// use those workers (and not rayon's global pool).
pub(crate) fn install<R: Send>(threads: Threads, work: impl FnOnce() -> R + Send) -> Result<R> {
    let threads = thread_count(threads)?;
    Ok(pool(threads)?.install(work))
}

/// Runs `work` on the calling thread with a worker's stack, for work on untrusted input, such
/// as compiling a template, that must not depend on the caller's stack size.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub fn on_large_stack<R>(work: impl FnOnce() -> Result<R>) -> Result<R> {
    catch_panic(|| with_worker_stack(work))
}

/// Runs `work` with at least a worker's stack: on the current stack when that much is left (a
/// pool worker), else on a stack of that size the calling thread keeps for such work.
fn with_worker_stack<R>(work: impl FnOnce() -> R) -> R {
    super::stack::with_stack(WORKER_STACK_BYTES, STACK_SLACK_BYTES, work)
}

/// Pools by thread count, and the process they were built in: pools inherited through `fork`
/// have no threads, so a child process builds its own instead of waiting on workers that do not
/// exist there.
struct Pools {
    pid: u32,
    by_threads: HashMap<usize, Arc<rayon::ThreadPool>>,
}

static POOLS: Mutex<Option<Pools>> = Mutex::new(None);

/// The most threads one call may ask for; more only adds memory and contention.
const MAX_THREADS: usize = 1024;

/// The thread count a call asked for, or `FASTMASK_NUM_THREADS`, else all cores.
fn thread_count(threads: Threads) -> Result<usize> {
    match threads.or_else(threads_from_env) {
        Some(n) => check_thread_count(n),
        None => Ok(cores()),
    }
}

/// `threads` when a pool can have that many workers.
pub fn check_thread_count(threads: usize) -> Result<usize> {
    match threads {
        0 => Err(Error::input("num_threads must be at least 1")),
        n if n > MAX_THREADS => Err(Error::input(format!("num_threads must be at most {MAX_THREADS}"))),
        n => Ok(n),
    }
}

/// The cores this process may use, read once: `available_parallelism` reads cgroup files on
/// every call, a visible cost for a single small `encode`.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    let mut slot = lock_pools();
    if slot.as_ref().is_some_and(|pools| pools.pid != pid) {
        // Inherited through fork: dropping these pools would wake their (absent) threads through
        // rayon's locks, which a parent thread may have held at the fork, and hang. Leak them.
        std::mem::forget(slot.take());
    }
    let pools = slot.get_or_insert_with(|| Pools { pid, by_threads: HashMap::new() });
    if let Some(pool) = pools.by_threads.get(&threads) {
        return Ok(Arc::clone(pool));
    }
    let pool = Arc::new(build_pool(threads)?);
    pools.by_threads.insert(threads, Arc::clone(&pool));
    Ok(pool)
}

fn lock_pools() -> MutexGuard<'static, Option<Pools>> {
    static FORK_HANDLERS: Once = Once::new();
    FORK_HANDLERS.call_once(|| {
        // SAFETY: the handlers are plain functions that live as long as the process and only
        // lock and unlock POOLS on the forking thread (see `hold_pools_over_fork`).
        unsafe {
            libc::pthread_atfork(
                Some(hold_pools_over_fork),
                Some(release_pools_after_fork),
                Some(release_pools_after_fork),
            );
        }
    });
    lock_pools_now()
}

/// POOLS, also after a panic on another thread poisoned it (as before, the map is used as it is).
fn lock_pools_now() -> MutexGuard<'static, Option<Pools>> {
    POOLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

thread_local! {
    static HELD_OVER_FORK: RefCell<Option<MutexGuard<'static, Option<Pools>>>> = const { RefCell::new(None) };
}

/// Runs before `fork`, on the forking thread: waits until no other thread holds POOLS (building a
/// pool holds it for a while) and holds it over the fork. A child that inherited it locked by a
/// thread that does not exist in the child would wait for it forever on its first batch.
extern "C" fn hold_pools_over_fork() {
    let guard = lock_pools_now();
    let _ = HELD_OVER_FORK.try_with(|held| held.replace(Some(guard)));
}

/// Runs after `fork` in the parent and in the child (whose only thread is the forking one).
extern "C" fn release_pools_after_fork() {
    let _ = HELD_OVER_FORK.try_with(|held| held.take());
}

/// Test support: holds the pool registry for `duration`, as building a pool does, so a test can
/// fork while another thread holds it.
#[cfg(feature = "test-hooks")]
pub(crate) fn hold_pool_registry(duration: std::time::Duration) {
    let _guard = lock_pools();
    std::thread::sleep(duration);
}

fn threads_from_env() -> Option<usize> {
    std::env::var(NUM_THREADS_ENV).ok().and_then(|value| value.trim().parse::<usize>().ok()).filter(|&n| n > 0)
}

fn build_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(WORKER_STACK_BYTES)
        .thread_name(|index| format!("fastmask-{index}"))
        .build()
        .map_err(|err| Error::input(format!("cannot start {threads} worker threads: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_item_fails_alone() {
        let items: Vec<usize> = (0..1000).collect();
        let results = run_each(&items, Some(4), |&i| if i == 617 { panic!("injected") } else { Ok(i) }).unwrap();
        for (i, result) in results.iter().enumerate() {
            match result {
                Ok(value) => assert_eq!(*value, i),
                Err(err) => {
                    assert_eq!((i, err.kind, err.conversation), (617, crate::ErrorKind::Internal, Some(617)));
                }
            }
        }
        assert!(results[617].is_err());
        let err = run_indexed(&items, None, |&i| if i >= 900 { panic!("late") } else { Ok(i) }).unwrap_err();
        assert_eq!(err.conversation, Some(900));
    }

    /// `run_produced` makes items on the calling thread while the workers take them.
    fn produced(threads: usize, count: usize, fail_making_at: Option<usize>) -> Result<Vec<Result<usize>>> {
        run_produced(
            Some(threads),
            count,
            |send| {
                for i in 0..count {
                    if Some(i) == fail_making_at {
                        return Err(Error::input("cannot make it").in_conversation(i));
                    }
                    send(i);
                }
                Ok(())
            },
            |&i| match i {
                617 => panic!("injected"),
                i if i % 100 == 7 => Err(Error::input("odd")),
                i => Ok(i * 2),
            },
        )
    }

    #[test]
    fn produced_items_keep_their_order_and_their_own_results() {
        for threads in [1, 2, 4] {
            let results = produced(threads, 1000, None).unwrap();
            assert_eq!(results.len(), 1000);
            for (i, result) in results.iter().enumerate() {
                match (i, result) {
                    (617, Err(err)) => {
                        assert_eq!((err.kind, err.conversation), (crate::ErrorKind::Internal, Some(617)))
                    }
                    (i, Err(err)) if i % 100 == 7 => assert_eq!(err.conversation, Some(i)),
                    (i, Ok(value)) => assert_eq!(*value, i * 2),
                    (i, other) => panic!("item {i}: {other:?}"),
                }
            }
            assert_eq!(produced(threads, 1, None).unwrap().len(), 1);
            assert!(produced(threads, 0, None).unwrap().is_empty());
        }
    }

    #[test]
    fn an_item_that_cannot_be_made_is_the_error_of_the_call() {
        // Even though items made before it failed their work (index 7).
        for threads in [1, 2] {
            let err = produced(threads, 1000, Some(500)).unwrap_err();
            assert_eq!((err.conversation, err.message.as_str()), (Some(500), "cannot make it"));
        }
    }
}
