//! The parallel pipeline: one task per conversation renders, tokenizes and aligns, on a pool this
//! module owns. Results keep the input order; the first failing conversation is reported.

use std::collections::HashMap;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};

use minijinja::value::Value;
use rayon::prelude::*;

use crate::encode::{encode_rendered, pad_batch, EncodeOptions, Encoded};
use crate::error::{catch_panic, Error, Result};
use crate::input::{RenderInputs, ToConversation};
use crate::template::{ChatTemplate, Rendered};
use crate::tokenize::Tokenizer;
use crate::turns::MaskPlan;

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

/// Renders every conversation.
pub fn render_batch(
    template: &ChatTemplate,
    conversations: &[impl ToConversation],
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    plan: &MaskPlan,
    threads: Threads,
) -> Result<Vec<Rendered>> {
    inputs.validate()?;
    run_indexed(conversations, threads, |conversation| {
        plan.render(template, &conversation.to_conversation(), inputs, special_tokens)
    })
}

/// Renders, tokenizes, truncates, masks and pads every conversation; the first failing one fails
/// the batch.
#[allow(clippy::too_many_arguments)]
pub fn encode_batch(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    conversations: &[impl ToConversation],
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    options: &EncodeOptions,
    plan: &MaskPlan,
    threads: Threads,
) -> Result<Vec<Encoded>> {
    // The error of the lowest failing index wins, so the report does not depend on scheduling.
    encode_each(template, tokenizer, conversations, inputs, special_tokens, options, plan, threads)?.into_iter().collect()
}

/// `encode_batch` that keeps going past failures: one result per conversation, each error
/// naming its index, and padding computed over the conversations that succeeded. Errors in the
/// options still fail the whole call.
#[allow(clippy::too_many_arguments)]
pub fn encode_each(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    conversations: &[impl ToConversation],
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    options: &EncodeOptions,
    plan: &MaskPlan,
    threads: Threads,
) -> Result<Vec<Result<Encoded>>> {
    let context = EncodeContext {
        template,
        tokenizer,
        inputs,
        special_tokens,
        options,
    };
    context.validate()?;
    let results = run_each(conversations, threads, |c| context.encode(plan, c))?;
    pad_good(results, options)
}

/// What encoding a conversation takes besides the conversation and its mask plan.
pub struct EncodeContext<'a> {
    pub template: &'a ChatTemplate,
    pub tokenizer: &'a Tokenizer,
    pub inputs: &'a RenderInputs,
    pub special_tokens: &'a [(String, Value)],
    pub options: &'a EncodeOptions,
}

impl EncodeContext<'_> {
    fn validate(&self) -> Result<()> {
        self.inputs.validate()?;
        self.options.validate()
    }

    fn encode(&self, plan: &MaskPlan, conversation: &impl ToConversation) -> Result<Encoded> {
        let rendered = plan.render(
            self.template,
            &conversation.to_conversation(),
            self.inputs,
            self.special_tokens,
        )?;
        encode_rendered(&rendered, self.tokenizer, self.options)
    }
}

/// `encode_batch` of conversations that `produce` makes one by one on the calling thread, in
/// order, while the pool already encodes those it made. Converting Python objects holds the
/// interpreter, so it cannot run in parallel; overlapping it with the parallel work keeps it from
/// being a serial phase before all of it (on 2 threads it was about a tenth of a numpy
/// `encode_batch`). An error of `produce` is the call's error, as if every conversation had been
/// converted first; otherwise the error of the lowest failing index wins. `count` is how many
/// conversations `produce` makes.
pub fn encode_produced<C: ToConversation + Send + Sync>(
    context: &EncodeContext<'_>,
    plan: &MaskPlan,
    threads: Threads,
    count: usize,
    produce: impl FnOnce(&mut dyn FnMut(C)) -> Result<()>,
) -> Result<Vec<Encoded>> {
    context.validate()?;
    let results = run_produced(threads, count, produce, |c: &C| context.encode(plan, c))?;
    pad_good(results, context.options)?.into_iter().collect()
}

/// Pads the results that succeeded among themselves.
fn pad_good(
    mut results: Vec<Result<Encoded>>,
    options: &EncodeOptions,
) -> Result<Vec<Result<Encoded>>> {
    let mut good: Vec<Encoded> = results
        .iter_mut()
        .filter_map(|r| r.as_mut().ok().map(std::mem::take))
        .collect();
    pad_batch(&mut good, options)?;
    for (slot, encoded) in results.iter_mut().filter_map(|r| r.as_mut().ok()).zip(good) {
        *slot = encoded;
    }
    Ok(results)
}

/// Tokenizes already-rendered texts (no assistant spans), with the same truncation and padding.
pub fn encode_texts(tokenizer: &Tokenizer, texts: &[String], options: &EncodeOptions, threads: Threads) -> Result<Vec<Encoded>> {
    options.validate()?;
    let mut batch = run_indexed(texts, threads, |text| {
        encode_rendered(&Rendered { text: text.clone(), spans: Vec::new() }, tokenizer, options)
    })?;
    pad_batch(&mut batch, options)?;
    Ok(batch)
}

/// Maps `work` over `items` on the pool; the error of the lowest failing index wins, so the
/// report does not depend on scheduling.
fn run_indexed<T: Sync, R: Send>(items: &[T], threads: Threads, work: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
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
fn run_produced<T: Send + Sync, R: Send>(
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
                    let result = catch_panic(|| work(&item))
                        .map_err(|err: Error| err.in_conversation(index));
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
    crate::stack::with_stack(WORKER_STACK_BYTES, STACK_SLACK_BYTES, work)
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
        Some(0) => Err(Error::input("num_threads must be at least 1")),
        Some(n) if n > MAX_THREADS => Err(Error::input(format!("num_threads must be at most {MAX_THREADS}"))),
        Some(n) => Ok(n),
        None => Ok(cores()),
    }
}

/// The cores this process may use, read once: `available_parallelism` reads cgroup files on
/// every call, which cost a single `encode` call about a tenth of its time.
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
            libc::pthread_atfork(Some(hold_pools_over_fork), Some(release_pools_after_fork), Some(release_pools_after_fork));
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
#[cfg_attr(not(feature = "python"), allow(dead_code))]
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
    use crate::environment::Clock;
    use crate::input::Conversation;

    /// A word-level tokenizer: "a"=0, "b"=1, "[UNK]"=2.
    const WORD_LEVEL: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
        "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"a":0,"b":1,"[UNK]":2},"unk_token":"[UNK]"}}"#;

    fn message(role: &str, content: &str) -> Value {
        Value::from_pairs([("role", Value::from(role)), ("content", Value::from(content))])
    }

    #[test]
    fn first_failing_index_is_reported() {
        let template = ChatTemplate::compile(
            "{% for m in messages %}{% if m.content == 'bad' %}{{ raise_exception('bad turn') }}{% endif %}{{ m.content }}{% endfor %}",
            Clock::Local,
        )
        .unwrap();
        let conversations: Vec<Conversation> = ["ok", "bad", "ok", "bad"]
            .iter()
            .map(|c| Conversation { messages: vec![message("user", c)] })
            .collect();
        let err = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), None).unwrap_err();
        assert_eq!(err.to_string(), "conversation 1: bad turn");
    }

    #[test]
    fn each_conversation_keeps_its_own_result() {
        let template = ChatTemplate::compile(
            "{% for m in messages %}{% if m.content == 'bad' %}{{ raise_exception('bad turn') }}{% endif %}{{ m.content }}{% endfor %}",
            Clock::Local,
        )
        .unwrap();
        let tokenizer = Tokenizer::from_json(WORD_LEVEL, crate::tokenize::Backend::Auto).unwrap();
        let conversations: Vec<Conversation> = ["a", "bad", "a b", "bad"]
            .iter()
            .map(|c| Conversation { messages: vec![message("user", c)] })
            .collect();
        let options = EncodeOptions { padding: crate::encode::PaddingStrategy::Longest, pad_id: Some(0), ..Default::default() };
        let each = encode_each(&template, &tokenizer, &conversations, &RenderInputs::default(), &[], &options, &MaskPlan::default(), None)
            .unwrap();
        let failed: Vec<String> = each.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
        assert_eq!(failed, ["conversation 1: bad turn", "conversation 3: bad turn"]);
        // Padding is computed over the successes only: both reach the longest success.
        let lengths: Vec<usize> = each.iter().filter_map(|r| r.as_ref().ok().map(|e| e.input_ids.len())).collect();
        assert_eq!(lengths.len(), 2);
        assert!(lengths.iter().all(|&n| n == lengths[0]));
        let raised = encode_batch(&template, &tokenizer, &conversations, &RenderInputs::default(), &[], &options, &MaskPlan::default(), None);
        assert_eq!(raised.unwrap_err().to_string(), "conversation 1: bad turn");
    }

    #[test]
    fn results_keep_input_order() {
        let template = ChatTemplate::compile("{{ messages[0].content }}", Clock::Local).unwrap();
        let conversations: Vec<Conversation> =
            (0..200).map(|i| Conversation { messages: vec![message("user", &i.to_string())] }).collect();
        let rendered = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), None).unwrap();
        assert!(rendered.iter().enumerate().all(|(i, r)| r.text == i.to_string()));
    }

    #[test]
    fn any_thread_count_gives_the_same_result() {
        let template = ChatTemplate::compile("{{ messages[0].content }}", Clock::Local).unwrap();
        let conversations: Vec<Conversation> =
            (0..50).map(|i| Conversation { messages: vec![message("user", &i.to_string())] }).collect();
        let one = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), Some(1)).unwrap();
        let three = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), Some(3)).unwrap();
        assert_eq!(one, three);
        assert!(render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), Some(0)).is_err());
    }

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

    #[test]
    fn deep_recursion_hits_the_limit_not_the_stack() {
        let template = ChatTemplate::compile("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", Clock::Local).unwrap();
        let conversations = vec![Conversation { messages: vec![message("user", "x")] }];
        let err = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), None).unwrap_err();
        assert!(err.message.contains("recursion"), "{}", err.message);
    }

    /// `run_produced` makes items on the calling thread while the workers take them.
    fn produced(
        threads: usize,
        count: usize,
        fail_making_at: Option<usize>,
    ) -> Result<Vec<Result<usize>>> {
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
                    (617, Err(err)) => assert_eq!(
                        (err.kind, err.conversation),
                        (crate::ErrorKind::Internal, Some(617))
                    ),
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
            assert_eq!(
                (err.conversation, err.message.as_str()),
                (Some(500), "cannot make it")
            );
        }
    }
}
