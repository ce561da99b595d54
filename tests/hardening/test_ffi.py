"""The Python boundary under stress: panics, exception classes, threads, fork, batch order.

A Rust panic would reach Python as pyo3's PanicException, a BaseException that `except
Exception` misses and that kills a data-loading worker; every batch item is guarded so a panic
fails that item alone, as a FastmaskError.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
from _support.forked import result_in_forked_child

import fastmask
from fastmask import _core

GOOD = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def _conversation(i: int) -> list[dict]:
    return [
        {"role": "user", "content": f"question {i} " * (i % 7)},
        {"role": "assistant", "content": f"answer {i}" + "!" * (i % 5)},
    ]


def test_an_injected_panic_fails_only_its_item():
    results = _core._panic_in_batch(5000, 3217, num_threads=4)
    for i, result in enumerate(results):
        if i == 3217:
            assert type(result) is fastmask.FastmaskError
            assert isinstance(result, Exception)
            assert str(result).startswith("conversation 3217: internal error")
            assert "injected panic at item 3217" in str(result)
        else:
            assert result == i


def test_a_panic_is_catchable_as_exception_with_every_thread_count():
    for threads in (1, 2, 5):
        results = _core._panic_in_batch(64, 0, num_threads=threads)
        assert isinstance(results[0], fastmask.FastmaskError)
        assert results[1:] == list(range(1, 64))


def test_every_error_class_is_a_fastmask_error_and_an_exception():
    for name in ("TemplateSyntaxError", "TemplateError", "InputError", "TokenizerError", "LimitError"):
        cls = getattr(fastmask, name)
        assert issubclass(cls, fastmask.FastmaskError)
        assert issubclass(cls, Exception)
    assert issubclass(fastmask.FastmaskError, ValueError)


@pytest.mark.parametrize(
    "template, conversation",
    [
        ("{% if %}", GOOD),  # syntax
        ("{{ raise_exception('no') }}", GOOD),  # template
        ("{{ messages[0].content }}", [1]),  # input
        ("{% for i in range(10**6) %}{% for j in range(10**6) %}{% endfor %}{% endfor %}", GOOD),  # limit
    ],
)
def test_except_exception_catches_every_failure(deepseek_json, template, conversation):
    try:
        tok = fastmask.ChatTokenizer.from_file(deepseek_json, chat_template=template)
        tok.encode(conversation, mask_source="turns", train_roles=())
    except Exception as err:  # noqa: BLE001 - the point of the test
        assert isinstance(err, fastmask.FastmaskError)
    else:
        pytest.fail("expected an error")


def test_eight_threads_with_mixed_failures_match_a_sequential_run(chat_tokenizer):
    batches = [[_conversation(i + 13 * t) for i in range(40)] for t in range(8)]
    expected = [chat_tokenizer.encode_batch(batch, num_threads=1) for batch in batches]
    bad = [[{"role": "user", "content": "x"}, 5]]
    results: list = [None] * 8
    errors: list = [None] * 8

    def work(slot: int) -> None:
        for _ in range(3):
            try:
                chat_tokenizer.encode_batch(bad)
            except fastmask.InputError as err:
                errors[slot] = str(err)
            results[slot] = chat_tokenizer.encode_batch(batches[slot])

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == expected
    assert all(e is not None and e.startswith("conversation 0: message 1") for e in errors)


def test_outputs_do_not_depend_on_thread_count_or_batch_order(chat_tokenizer):
    batch = [_conversation(i) for i in range(60)]
    reference = chat_tokenizer.encode_batch(batch, num_threads=1)
    rows = [dict(zip(reference, values)) for values in zip(*reference.values())]
    for threads in (2, 3, 7):
        assert chat_tokenizer.encode_batch(batch, num_threads=threads) == reference
    order = list(range(len(batch)))
    random.Random(7).shuffle(order)
    shuffled = chat_tokenizer.encode_batch([batch[i] for i in order], num_threads=3)
    assert [dict(zip(shuffled, values)) for values in zip(*shuffled.values())] == [rows[i] for i in order]


def test_fork_while_other_threads_encode_does_not_deadlock(chat_tokenizer):
    batch = [_conversation(i) for i in range(50)]
    expected = chat_tokenizer.encode_batch(batch)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            chat_tokenizer.encode_batch(batch)

    workers = [threading.Thread(target=busy) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(3):
            assert _encode_in_forked_child(chat_tokenizer, batch, 3) == expected
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def test_many_forks_while_threads_render_encode_start_and_end(chat_tokenizer):
    # A lock held by another thread at the moment of fork stays held in the child, where no
    # thread will release it. Two such locks made children hang now and then (about one fork in
    # a hundred here): minijinja's around owned templates (taken by every render) and mimalloc
    # v3's around a thread's allocator heap (taken when a thread starts or ends). Many forks,
    # each child with new threads, while the parent renders, encodes and starts and ends threads.
    batch = [_conversation(i) for i in range(20)]
    large = [_conversation(i) * 30 for i in range(100)]
    expected = chat_tokenizer.encode_batch(batch, num_threads=2)
    stop = threading.Event()

    def encoding() -> None:
        while not stop.is_set():
            chat_tokenizer.encode_batch(large, num_threads=1, padding=True, return_tensors="np")

    def short_lived_threads() -> None:
        while not stop.is_set():
            thread = threading.Thread(target=chat_tokenizer.render_batch, args=(batch[:1],), kwargs={"num_threads": 1})
            thread.start()
            thread.join()

    busy = [threading.Thread(target=encoding), threading.Thread(target=short_lived_threads)]
    for thread in busy:
        thread.start()
    hung = failed = 0
    try:
        for _ in range(150):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = 0 if chat_tokenizer.encode_batch(batch, num_threads=2) == expected else 1
                finally:
                    os._exit(code)
            deadline = time.monotonic() + 20
            while (status := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            if status[0] == 0:
                hung += 1
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            elif os.waitstatus_to_exitcode(status[1]) != 0:
                failed += 1
    finally:
        stop.set()
        for thread in busy:
            thread.join()
    assert (hung, failed) == (0, 0)


def test_fork_while_another_thread_holds_the_pool_registry(chat_tokenizer):
    # Building a worker pool holds the registry of pools for a while. A child forked in that
    # window used to inherit it locked by a thread that does not exist in the child, and its
    # first batch waited forever; fork now waits for the registry and the child gets it unlocked.
    batch = [_conversation(i) for i in range(20)]
    expected = chat_tokenizer.encode_batch(batch, num_threads=3)
    holder = threading.Thread(target=_core._hold_pool_registry, args=(1.5,))
    holder.start()
    try:
        threading.Event().wait(0.3)  # the holder has the registry by now
        # A thread count no pool was built for yet, so the child must build one.
        assert _encode_in_forked_child(chat_tokenizer, batch, 5) == expected
    finally:
        holder.join()


def _encode_in_forked_child(tokenizer, batch, num_threads):
    """A forked child's encode_batch result; a deadlocked child fails the test, not hangs it."""
    return result_in_forked_child(_encode_with_threads, tokenizer, batch, num_threads, timeout=60)


def _encode_with_threads(tokenizer, batch, num_threads):
    return tokenizer.encode_batch(batch, num_threads=num_threads)
