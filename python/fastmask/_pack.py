"""`fastmask.pack`: encoded rows packed into fixed-capacity bins, as TRL 1.16's `pack_dataset`
forms them, for padding-free training. The core bins the rows and copies the token columns
(`_core.pack`); this module picks the token columns, carries every other column per bin, and
gives the result back in the kind it was given (lists, numpy, Arrow)."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping
from typing import Any

from fastmask import _arrow, _core
from fastmask._core import InputError

STRATEGIES = ("bfd", "bfd_split", "wrapped")

# Columns the core builds; an input column of one of these names would be overwritten.
_MADE = ("seq_lengths", "position_ids", "cu_seqlens", "segment_ids")


@dataclasses.dataclass(frozen=True)
class PackStats:
    """What a packing call did. `efficiency` is the share of bin capacity holding tokens (NeMo's
    packing efficiency); `trained_share` the share holding trained tokens (a label other than
    `ignore_index`)."""

    rows: int
    empty_rows: int
    untrained_rows: int
    sequences: int
    bins: int
    tokens: int
    truncated_tokens: int
    trained_tokens: int
    capacity_tokens: int

    @property
    def efficiency(self) -> float:
        return self.tokens / self.capacity_tokens if self.capacity_tokens else 0.0

    @property
    def trained_share(self) -> float:
        return self.trained_tokens / self.capacity_tokens if self.capacity_tokens else 0.0

    def __add__(self, other: PackStats) -> PackStats:
        return PackStats(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


def pack(
    encoded: Any,
    seq_length: int,
    *,
    strategy: str = "bfd",
    batch_size: int | None = 1000,
    truncate: bool = True,
    padding: bool = False,
    pad_token_id: int | None = None,
    ignore_index: int = -100,
    ignore_first_label: bool = False,
    drop_untrained: bool = False,
    seed: int | None = None,
    return_position_ids: bool = True,
    return_cu_seqlens: bool = False,
    return_segment_ids: bool = False,
    num_threads: int | None = None,
    return_stats: bool = False,
) -> Any:
    """Packs encoded rows into bins of at most `seq_length` tokens.

    `encoded` is what `ChatTokenizer.encode_batch` returns (a dict of lists, of numpy arrays or
    of pyarrow arrays), a pyarrow table or record batch, or any mapping of columns. Columns of
    integer lists (`input_ids`, `assistant_masks`, `labels`, ...) are token columns: each needs
    the row lengths of `input_ids` and is concatenated bin by bin in its own type. Every other
    per-row column (`conversation_index`, `turn_index`, `truncated_tokens`, text) becomes a
    list per bin, one entry per sequence in it. Added: `seq_lengths` (per bin, its sequences'
    lengths; not for `"wrapped"`, as in TRL), `position_ids` (restarting at 0 at each sequence),
    and on request `cu_seqlens` (per bin, 0 and each sequence's end, flash-attention's layout)
    and `segment_ids` (1, 2, ... per sequence, 0 on padding).

    With the defaults the bins are exactly TRL 1.16's `pack_dataset(dataset, seq_length,
    strategy)`: `strategy` `"bfd"` (best-fit decreasing, a row longer than `seq_length` cut to
    it), `"bfd_split"` (its overflow split into further sequences) or `"wrapped"` (rows end to
    end, cut every `seq_length` tokens); binned per `batch_size` rows as `datasets.map` batches
    them (1,000), or over every row at once with `batch_size=None` (fuller bins). Rows without
    tokens are left out, as TRL does.

    `truncate=False` makes a row longer than `seq_length` under `"bfd"` an error instead of a cut.
    `padding=True` pads each bin to `seq_length` (`input_ids` with `pad_token_id`, `labels` with
    `ignore_index`, other token columns with 0); the padding is a last sequence of its own in
    `seq_lengths`, `position_ids` and `cu_seqlens`, so they stay consistent with the tokens.
    `ignore_first_label=True` sets the label of each sequence's first token to `ignore_index`, as
    TRL's padding-free collator does. `drop_untrained=True` leaves out rows with no trained
    token (none with a label other than `ignore_index`, or without labels, no assistant mask of
    1), after the shuffle. `seed` shuffles the rows first, as `datasets.Dataset.shuffle(seed=...)`
    orders them (numpy's `default_rng(seed).permutation`), which SFTTrainer does before packing.

    Returns the packed columns in the kind given (a dict, or a table for a table; numpy input,
    which is rectangular, needs `padding=True` and gives `(bins, seq_length)` int64 arrays), and
    with `return_stats=True` a `(packed, PackStats)` pair.
    """
    seq_length = _positive_int(seq_length, "seq_length")
    if strategy not in STRATEGIES:
        raise InputError(f"strategy must be 'bfd', 'bfd_split' or 'wrapped', got {strategy!r}")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    if padding and pad_token_id is None:
        raise InputError("padding=True pads input_ids with pad_token_id: pass pad_token_id")
    columns, kind = _columns(encoded)
    tokens, per_row, passed = _split(columns, kind)
    rows = _row_count(tokens)
    for name, column in per_row.items():
        if len(column) != rows:
            raise InputError(f"column {name!r} has {len(column)} rows where input_ids has {rows}")
    if kind == "numpy":
        if not padding:
            raise InputError("numpy input gives (bins, seq_length) arrays: pass padding=True and pad_token_id")
        tokens = _numpy_as_arrow(tokens)
    order = None
    if seed is not None:
        import numpy as np

        order = np.random.default_rng(seed).permutation(rows).tolist()
    keywords = {
        "strategy": strategy,
        "batch_size": batch_size,
        "truncate": bool(truncate),
        "padding": bool(padding),
        "pad_token_id": None if pad_token_id is None else _int64(pad_token_id, "pad_token_id"),
        "ignore_index": _int64(ignore_index, "ignore_index"),
        "ignore_first_label": bool(ignore_first_label),
        "drop_untrained": bool(drop_untrained),
        "order": order,
        "return_position_ids": bool(return_position_ids),
        "return_cu_seqlens": bool(return_cu_seqlens),
        "return_segment_ids": bool(return_segment_ids),
        "num_threads": num_threads,
    }
    out = _core.pack(tokens, seq_length, keywords)
    stats = PackStats(**out.pop("stats"))
    packed = _finish(out, columns, per_row, passed, kind)
    return (packed, stats) if return_stats else packed


def _positive_int(value: Any, name: str) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise InputError(f"{name} must be an int, got {type(value).__name__}") from None
    if number < 1:
        raise InputError(f"{name} must be at least 1, got {number}")
    return number


def _int64(value: Any, name: str) -> int:
    number = operator.index(value)
    if not -(2**63) <= number < 2**63:
        raise InputError(f"{name} must fit in 64 bits, got {number}")
    return number


def _columns(encoded: Any) -> tuple[dict[str, Any], str]:
    """The columns by name, and the kind they come as: `"arrow"`, `"numpy"` or `"lists"`."""
    if hasattr(encoded, "column_names") and hasattr(encoded, "column"):
        columns = {name: encoded.column(name) for name in encoded.column_names}
        return columns, "arrow_table"
    if not isinstance(encoded, Mapping):
        raise InputError(f"pack takes a mapping of columns or a pyarrow table, got {type(encoded).__name__}")
    columns = dict(encoded)
    values = [value for name, value in columns.items() if name != "errors"]
    if any(_arrow.is_arrow(value) for value in values):
        return columns, "arrow"
    if any(type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 2 for value in values):
        return columns, "numpy"
    if any(type(value).__module__.startswith("torch") for value in values):
        raise InputError("pack takes lists, numpy or Arrow columns: pass return_tensors='np' (or call .numpy())")
    return columns, "lists"


def _split(columns: dict[str, Any], kind: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Token columns (`input_ids` first), per-row columns, and what passes through untouched
    (`errors`, encode_batch's list of failures)."""
    if "input_ids" not in columns:
        raise InputError(f"pack needs an input_ids column (columns: {', '.join(map(str, columns))})")
    tokens: dict[str, Any] = {"input_ids": None}
    per_row: dict[str, Any] = {}
    passed: dict[str, Any] = {}
    for name, column in columns.items():
        if name == "errors":
            passed[name] = column
        elif name in _MADE:
            raise InputError(f"column {name!r} is one pack makes: remove it from the input")
        elif name == "input_ids" or _is_token_column(column, kind):
            tokens[name] = column
        else:
            per_row[name] = column
    return tokens, per_row, passed


def _is_token_column(column: Any, kind: str) -> bool:
    if kind in ("arrow", "arrow_table"):
        import pyarrow as pa

        column = column if hasattr(column, "type") else pa.array(column)
        value_type = getattr(column.type, "value_type", None)
        return (
            value_type is not None and pa.types.is_integer(value_type) and not pa.types.is_fixed_size_list(column.type)
        )
    if kind == "numpy":
        return getattr(column, "ndim", 0) == 2
    if not _is_sized(column):
        return False
    first = next((row for row in column if _is_sized(row) and len(row) > 0), None)
    if first is None:  # only empty rows: token rows when they are lists at all
        return len(column) > 0 and all(row is None or _is_sized(row) for row in column)
    return isinstance(first[0], int)


def _is_sized(value: Any) -> bool:
    return hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes, dict))


def _row_count(tokens: dict[str, Any]) -> int:
    return len(tokens["input_ids"])


def _numpy_as_arrow(tokens: dict[str, Any]) -> dict[str, Any]:
    """2-D arrays as Arrow lists of each row's tokens: where `attention_mask` is 1 (either padding
    side), else the whole row."""
    import numpy as np
    import pyarrow as pa

    mask = tokens.get("attention_mask")
    keep = np.ones_like(tokens["input_ids"], dtype=bool) if mask is None else np.asarray(mask) != 0
    offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
    return {
        name: pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(np.asarray(column)[keep]))
        for name, column in tokens.items()
    }


def _finish(
    out: dict[str, Any], columns: dict[str, Any], per_row: dict[str, Any], passed: dict[str, Any], kind: str
) -> Any:
    """The packed columns in the input's column order, then the ones pack makes."""
    piece_rows = out.pop("piece_rows")
    arrow = kind in ("arrow", "arrow_table", "numpy")
    if arrow:
        import pyarrow as pa

        out = {name: pa.array(array) for name, array in out.items()}
        piece_rows = pa.array(piece_rows)
    packed: dict[str, Any] = {}
    for name in columns:
        if name in per_row:
            packed[name] = _per_bin(per_row[name], piece_rows, arrow)
        elif name in out:
            packed[name] = out.pop(name)
    packed.update((name, out[name]) for name in _MADE if name in out)
    if kind == "numpy":
        return _as_numpy(packed, [*columns_made(per_row, columns), "position_ids", "segment_ids"])
    if kind == "arrow_table":
        import pyarrow as pa

        return pa.table(packed)
    packed.update(passed)
    return packed


def _per_bin(column: Any, piece_rows: Any, arrow: bool) -> Any:
    """A per-row column as one list per bin: the value of each piece's row."""
    if not arrow:
        return [[column[row] for row in rows] for rows in piece_rows]
    import pyarrow as pa

    column = column if _arrow.is_arrow(column) else pa.array(column)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return pa.ListArray.from_arrays(piece_rows.offsets, column.take(piece_rows.flatten()))


def columns_made(per_row: dict[str, Any], columns: dict[str, Any]) -> list[str]:
    """The token columns among `columns`: those that are not per-row columns or passed through."""
    return [name for name in columns if name not in per_row and name != "errors"]


def _as_numpy(packed: dict[str, Any], rectangular: list[str]) -> dict[str, Any]:
    """Token columns and position/segment ids (padded to `seq_length`) as `(bins, seq_length)`
    int64 arrays; the others as lists per bin."""
    import numpy as np

    out: dict[str, Any] = {}
    for name, array in packed.items():
        if name in rectangular:
            out[name] = array.flatten().to_numpy().astype(np.int64).reshape(len(array), -1)
        else:
            out[name] = array.to_pylist()
    return out


# The columns of encode_batch that are one value per token, with the position ids pack adds.
_ENCODED_TOKENS = ("input_ids", "attention_mask", "assistant_masks", "labels", "position_ids")


def packed_encoding(out: dict[str, Any], options: Any, pad_token_id: int | None) -> dict[str, Any]:
    """`encode_batch(..., pack_length=N)`: the call's rows (lists, or Arrow for any tensors)
    packed over the whole call; `"np"`/`"pt"` give `(bins, N)` int64 arrays, padded."""
    errors = out.pop("errors", None)
    padded = options.return_tensors in ("np", "pt")
    if padded and pad_token_id is None:
        raise InputError(
            f"return_tensors={options.return_tensors!r} pads the bins to pack_length with the pad token, and this "
            "tokenizer has none: give it a pad_token, or use return_tensors=None or 'arrow'"
        )
    packed = pack(
        out,
        options.pack_length,
        strategy=options.pack_strategy,
        batch_size=None,
        padding=padded,
        pad_token_id=pad_token_id,
        ignore_index=options.ignore_index,
        num_threads=options.num_threads,
    )
    if padded:
        packed = _as_numpy(packed, [name for name in _ENCODED_TOKENS if name in packed])
        if options.return_tensors == "pt":
            import torch

            packed = {name: torch.from_numpy(v) if hasattr(v, "ndim") else v for name, v in packed.items()}
    return packed if errors is None else {**packed, "errors": errors}
