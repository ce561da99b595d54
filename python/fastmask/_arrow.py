"""pyarrow in and out of `encode_batch`: conversations given as Arrow data, and outputs returned as
Arrow list arrays built on the core's buffers (no Python object per token)."""

from __future__ import annotations

from typing import Any

from fastmask._core import InputError

# Value type of each output column; the core's buffers have exactly these widths.
OUTPUT_TYPES = {"input_ids": "int32", "attention_mask": "int8", "assistant_masks": "int8", "labels": "int64"}


def is_arrow(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pyarrow"


def conversations_from_arrow(data: Any, messages_field: str = "messages") -> list:
    """The conversations of a `list<struct<role, content, ...>>` array, chunked array, record batch
    or table (its `messages_field` column, or its only column)."""
    if hasattr(data, "column_names"):
        names = data.column_names
        if messages_field in names:
            data = data.column(messages_field)
        elif len(names) == 1:
            data = data.column(0)
        else:
            raise InputError(f"the table has no {messages_field!r} column (columns: {', '.join(names)})")
    if not hasattr(data, "to_pylist"):
        raise InputError(f"conversations must be a list or a pyarrow array of conversations, got {type(data).__name__}")
    return data.to_pylist()


def collected(arrays: dict[str, Any], failed: list[int], count: int) -> dict[str, Any]:
    """Rows put back at their batch positions, with a null row where a conversation failed."""
    import pyarrow as pa

    failed_set, rows, positions = set(failed), iter(range(count)), []
    for index in range(count):
        positions.append(None if index in failed_set else next(rows))
    take = pa.array(positions, type=pa.int64())
    return {name: array.take(take) for name, array in arrays.items()}


def list_arrays(out: dict[str, Any]) -> dict[str, Any]:
    """`{name: (values, offsets, width)}` from the core -> `{name: pyarrow.ListArray}`, zero-copy,
    and `truncated_tokens` (int64 per row: how many tokens truncation removed)."""
    import pyarrow as pa

    truncated = out.pop("truncated_tokens")
    arrays = {}
    for name, (values, offsets, width) in out.items():
        value_type = getattr(pa, OUTPUT_TYPES[name])()
        offsets_array = pa.Array.from_buffers(pa.int32(), len(offsets) // 4, [None, pa.py_buffer(offsets)])
        values_array = pa.Array.from_buffers(value_type, len(values) // width, [None, pa.py_buffer(values)])
        arrays[name] = pa.ListArray.from_arrays(offsets_array, values_array)
    arrays["truncated_tokens"] = pa.Array.from_buffers(pa.int64(), len(truncated) // 8, [None, pa.py_buffer(truncated)])
    return arrays
