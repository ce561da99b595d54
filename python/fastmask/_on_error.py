"""`encode_batch(on_error=...)`: what a batch does with conversations that fail.

- `"raise"` (default): the first failing conversation raises, its index in the message.
- `"skip"`: failing conversations are left out of the outputs.
- `"collect"`: every conversation keeps its row, `None` (a null with `return_tensors="arrow"`)
  where it failed.

With `"skip"` and `"collect"` the result also has `errors`: `(index, exception)` pairs in index
order, each exception of the class `"raise"` would have raised, with the same attributes
(`conversation`, the index again, and `message`, the message's index or None). The core runs
`"collect"` as `"skip"` (and refuses it with array outputs, which cannot hold a None row); the
rows are put back here.
"""

from __future__ import annotations

from typing import Any


def error_detail(error: BaseException) -> str:
    """The error's text without the `conversation N: ` that its `conversation` attribute adds (a
    batch index, which callers that re-number rows replace with their own)."""
    text = str(error)
    index = getattr(error, "conversation", None)
    return text.removeprefix(f"conversation {index}: ") if index is not None else text


def collected_lists(out: dict[str, Any], failed: list[int], count: int) -> dict[str, Any]:
    """Rows put back at their batch positions, `None` where a conversation failed."""
    failed_set = set(failed)
    collected = {}
    for name, rows in out.items():
        good = iter(rows)
        collected[name] = [None if index in failed_set else next(good) for index in range(count)]
    return collected
