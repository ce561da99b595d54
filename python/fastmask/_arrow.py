"""pyarrow in and out of `encode_batch`: conversations given as Arrow data, and outputs returned as
Arrow list arrays, both through the Arrow C data interface (no Python object per message or token)."""

from __future__ import annotations

from typing import Any

from fastmask._core import InputError


def is_arrow(data: Any) -> bool:
    """pyarrow data, or any object of the Arrow PyCapsule interface (polars, nanoarrow, ...)."""
    return (
        type(data).__module__.split(".")[0] == "pyarrow"
        or hasattr(data, "__arrow_c_stream__")
        or hasattr(data, "__arrow_c_array__")
    )


def conversations_column(data: Any, messages_field: str = "messages") -> Any:
    """The column of conversations of a table or record batch (its `messages_field` column, or its
    only column); an array or chunked array as it is. The core reads the column through the Arrow
    C data interface (a `list<struct<role, content, ...>>` without a Python object per message)."""
    if hasattr(data, "column_names"):
        names = data.column_names
        if messages_field in names:
            return data.column(messages_field)
        if len(names) == 1:
            return data.column(0)
        raise InputError(f"the table has no {messages_field!r} column (columns: {', '.join(names)})")
    return data


def conversations_from_arrow(data: Any, messages_field: str = "messages") -> list:
    """The conversations as Python objects, for the callers that edit them (sanitizing)."""
    column = conversations_column(data, messages_field)
    if not hasattr(column, "to_pylist"):
        raise InputError(f"conversations must be a list or a pyarrow array of conversations, got {type(data).__name__}")
    return column.to_pylist()


def collected(arrays: dict[str, Any], failed: list[int], count: int) -> dict[str, Any]:
    """Rows put back at their batch positions, with a null row where a conversation failed."""
    import pyarrow as pa

    failed_set, rows, positions = set(failed), iter(range(count)), []
    for index in range(count):
        positions.append(None if index in failed_set else next(rows))
    take = pa.array(positions, type=pa.int64())
    return {name: array.take(take) for name, array in arrays.items()}


def list_arrays(out: dict[str, Any]) -> dict[str, Any]:
    """The core's Arrow arrays (objects of the Arrow PyCapsule interface) as pyarrow arrays,
    imported without a copy: `{name: list array}` and `truncated_tokens` (int64 per row: how many
    tokens truncation removed)."""
    import pyarrow as pa

    return {name: pa.array(array) for name, array in out.items()}
