//! A value built once, on a background thread or by the first caller that needs it, that a forked
//! child process still gets.
//!
//! A tokenizer's encoding engine takes about as long to build as the tokenizer takes to load, and
//! calls that only render never need it: it is built off the constructing thread, and the first
//! call that encodes waits for what remains. Users fork worker processes (multiprocessing,
//! `datasets.map`), and a child forked mid-build has no builder thread, while any lock that thread
//! held would stay held in the child forever. So the state is atomics only: the value is
//! published with one pointer store, and the builder's process id tells a forked child that the
//! build under way is not its own, so it builds the value itself.

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

type Build<T> = Box<dyn Fn() -> T + Send + Sync>;

pub struct Deferred<T: Send + Sync + 'static> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    /// The value once built (a leaked `Box`), else null.
    value: AtomicPtr<T>,
    /// The process whose thread is building the value; 0 before any build.
    builder: AtomicU32,
    /// What builds the value (it owns the inputs, such as the JSON text); freed once the value
    /// is published, so a large input is not held for the process's lifetime.
    build: AtomicPtr<Build<T>>,
}

impl<T: Send + Sync + 'static> Deferred<T> {
    /// A value `build` makes when it is first needed, or on the thread [`Deferred::start`] spawns.
    pub fn new(build: impl Fn() -> T + Send + Sync + 'static) -> Self {
        let build: Box<Build<T>> = Box::new(Box::new(build));
        let shared = Shared {
            value: AtomicPtr::new(std::ptr::null_mut()),
            builder: AtomicU32::new(0),
            build: AtomicPtr::new(Box::into_raw(build)),
        };
        Deferred { shared: Arc::new(shared) }
    }

    /// A value that is already there.
    pub fn ready(value: T) -> Self {
        let shared = Shared {
            value: AtomicPtr::new(Box::into_raw(Box::new(value))),
            builder: AtomicU32::new(std::process::id()),
            build: AtomicPtr::new(std::ptr::null_mut()),
        };
        Deferred { shared: Arc::new(shared) }
    }

    /// Starts building the value on a background thread, unless it is built or being built in
    /// this process. If no thread can be spawned, the first [`Deferred::get`] builds it.
    pub fn start(&self) {
        if self.built().is_some() || !self.shared.claim() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let spawned =
            std::thread::Builder::new().name("fastmask-load".into()).spawn(move || shared.build_and_publish());
        if spawned.is_err() {
            self.shared.builder.store(0, Ordering::Release);
        }
    }

    /// The value, once built; never waits.
    pub fn built(&self) -> Option<&T> {
        // SAFETY: a non-null pointer is a published `Box` that lives as long as `self.shared`.
        unsafe { self.shared.value.load(Ordering::Acquire).as_ref() }
    }

    /// The value: waits for the build under way in this process, or builds it on this thread.
    pub fn get(&self) -> &T {
        let mut pause = Duration::from_micros(50);
        loop {
            if let Some(value) = self.built() {
                return value;
            }
            if self.shared.claim() {
                self.shared.build_and_publish();
                continue;
            }
            // Polled rather than waited on with a lock or condition variable, which a child forked
            // at the wrong moment could inherit held; the builds take tenths of seconds.
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }
}

impl<T> Shared<T> {
    /// Makes this process the builder, unless a thread of this process already is; a builder
    /// recorded under another process id was the parent's before a fork, and has no thread here.
    fn claim(&self) -> bool {
        let pid = std::process::id();
        let builder = self.builder.load(Ordering::Acquire);
        builder != pid && self.builder.compare_exchange(builder, pid, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Runs on the one thread that claimed the build in this process. A panic gives the build
    /// back (the next caller retries, and fails with it) rather than leaving callers waiting.
    fn build_and_publish(&self) {
        struct GiveBack<'a>(&'a AtomicU32);
        impl Drop for GiveBack<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.store(0, Ordering::Release);
                }
            }
        }
        let _give_back = GiveBack(&self.builder);
        #[cfg(feature = "test-hooks")]
        std::thread::sleep(Duration::from_micros(BUILD_DELAY_MICROS.load(Ordering::Acquire)));
        // SAFETY: `build` is freed only after the value is published, and only the claiming
        // thread of a process reads it, so it is live until this thread publishes.
        let Some(build) = (unsafe { self.build.load(Ordering::Acquire).as_ref() }) else { return };
        let value = Box::into_raw(Box::new(build()));
        self.value.store(value, Ordering::Release);
        let build = self.build.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: the pointer came from `Box::into_raw` and was swapped out, so it is freed once.
        drop(unsafe { Box::from_raw(build) });
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        let value = self.value.load(Ordering::Acquire);
        if !value.is_null() {
            // SAFETY: published by `build_and_publish` or `ready` from `Box::into_raw`.
            drop(unsafe { Box::from_raw(value) });
        }
        let build = self.build.load(Ordering::Acquire);
        if !build.is_null() {
            // SAFETY: from `Box::into_raw` in `new`, not yet freed (it is nulled when freed).
            drop(unsafe { Box::from_raw(build) });
        }
    }
}

/// Test support: every build from now on first sleeps `duration`, so a test can fork, or call,
/// while a build is under way.
#[cfg(feature = "test-hooks")]
pub(crate) fn delay_builds(duration: Duration) {
    BUILD_DELAY_MICROS.store(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX), Ordering::Release);
}

#[cfg(feature = "test-hooks")]
static BUILD_DELAY_MICROS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A deferred value that counts its builds, each taking `pause`.
    fn counted(pause: Duration) -> (Deferred<String>, Arc<AtomicUsize>) {
        let builds = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&builds);
        let deferred = Deferred::new(move || {
            std::thread::sleep(pause);
            counter.fetch_add(1, Ordering::SeqCst);
            "built".to_string()
        });
        (deferred, builds)
    }

    #[test]
    fn built_once_by_the_first_caller_without_start() {
        let (deferred, builds) = counted(Duration::ZERO);
        assert!(deferred.built().is_none());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| assert_eq!(deferred.get(), "built"));
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn started_builds_in_the_background_and_get_waits() {
        let (deferred, builds) = counted(Duration::from_millis(100));
        deferred.start();
        deferred.start();
        assert!(deferred.built().is_none(), "start returned before the build finished");
        assert_eq!(deferred.get(), "built");
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(Deferred::ready(7).get(), &7);
    }

    #[test]
    fn a_panicking_build_is_retried_by_the_next_caller() {
        let attempts = AtomicUsize::new(0);
        let attempts = Arc::new(attempts);
        let counter = Arc::clone(&attempts);
        let deferred = Deferred::new(move || {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first build fails");
            }
            1
        });
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *deferred.get()));
        assert!(first.is_err());
        assert_eq!(*deferred.get(), 1);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    /// A child forked while the parent's builder thread is mid-build has no such thread: it builds
    /// the value itself rather than waiting forever, and the parent still gets its own.
    #[test]
    fn a_child_forked_mid_build_builds_it_itself() {
        let (deferred, builds) = counted(Duration::from_millis(300));
        deferred.start();
        // SAFETY: the child only reads the deferred value (building it on its one thread, with
        // allocations glibc keeps fork-safe) and leaves with `_exit`, running no destructors.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let ok = deferred.get() == "built" && builds.load(Ordering::SeqCst) == 1;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
        assert_eq!(deferred.get(), "built");
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }
}
