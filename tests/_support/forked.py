"""What a function returns in a forked child: for tests of state a fork must not break (worker
pools, a build under way in another thread)."""

from __future__ import annotations

import multiprocessing
from typing import Any, Callable


def result_in_forked_child(function: Callable[..., Any], *args: Any, timeout: float = 120) -> Any:
    """`function(*args)` run in a child forked now; a child that deadlocks or dies fails the test
    (its exit code is checked) instead of hanging it."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_put_result, args=(queue, function, args), daemon=True)
    child.start()
    try:
        result = queue.get(timeout=timeout)
        child.join(timeout=60)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    return result


def _put_result(queue: Any, function: Callable[..., Any], args: tuple) -> None:
    queue.put(function(*args))
