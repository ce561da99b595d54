"""Hugging Face `datasets` integration: a map function for `Dataset.map(..., batched=True)`.

    from fastmask.datasets import encode_map
    encoded = dataset.map(encode_map(tokenizer, max_length=4096, truncation=True), batched=True, num_proc=4)

The function pickles (for `num_proc`) and hashes deterministically (so a second identical map is
served from the datasets cache): it holds only the tokenizer, which pickles as the parts it was
built from, and plain options.

On a dataset formatted as Arrow (`dataset.with_format("arrow").map(...)`) the conversations go to
the core as the Arrow column, read without a Python object per message.

`on_error`:
- `"raise"` (default): the first failing conversation fails the map.
- `"skip"`: failing rows are dropped (the batch comes back shorter, with every column filtered).
- `"collect"`: every row is kept; `error_column` holds `None` for good rows and
  `"ExceptionName: message"` for failed ones, whose outputs are empty lists (so the columns keep
  their list types; `dataset.filter(lambda row: row["error"] is None)` drops them later).

`expand_turns=True` makes one row per trained turn, so a batch comes back with a different number
of rows: every column of the batch is repeated for each row its conversation makes (datasets
accepts a batch of another length only when no input column keeps the old one), plus
`conversation_index` (the input row: the dataset's index with `map(..., with_indices=True)`, else
the index within the batch) and `turn_index` (the trained message's index). A conversation with
no trained turn makes no row. `on_error="skip"` drops a failing conversation's rows; `"collect"`
is refused (a conversation has no one row to keep).

`pack_length=N` (with `pack_strategy`, `"bfd"` by default) packs each map batch's rows into bins
of at most N tokens, as TRL's `pack_dataset` does per batch (`fastmask.pack`): the outputs are
concatenated per bin, with `seq_lengths` and `position_ids`, and every other column of the batch
becomes a list per bin (one entry per sequence). Bad rows are skipped with `on_error="skip"`;
`"collect"` is refused. A larger `batch_size` in `map` gives fuller bins.
"""

from __future__ import annotations

from typing import Any

from fastmask import __version__
from fastmask._core import InputError, MaskOptions
from fastmask._on_error import error_detail
from fastmask._pack import pack
from fastmask._tokenizer import ChatTokenizer

OUTPUTS = ("input_ids", "attention_mask", "assistant_masks", "labels")


class EncodeMap:
    """`batch -> {input_ids, attention_mask, assistant_masks, labels}` for `Dataset.map(batched=True)`."""

    def __init__(
        self,
        tokenizer: ChatTokenizer,
        *,
        messages_field: str = "messages",
        outputs: tuple[str, ...] = OUTPUTS,
        on_error: str = "raise",
        error_column: str = "error",
        **options: Any,
    ) -> None:
        MaskOptions(on_error=on_error)  # checks the policy's name
        given = options.get("options")
        expand_turns = bool(options.get("expand_turns", given is not None and given.expand_turns))
        if expand_turns and on_error == "collect":
            raise InputError(
                "on_error='collect' keeps one row per conversation, but expand_turns=True gives a conversation "
                "one row per trained turn: use on_error='skip'"
            )
        # Packing carries the batch's other columns per bin, so it happens here, not in encode_batch.
        pack_length = options.pop("pack_length", getattr(given, "pack_length", None))
        pack_strategy = options.pop("pack_strategy", getattr(given, "pack_strategy", "bfd"))
        MaskOptions(pack_length=pack_length, pack_strategy=pack_strategy, on_error=on_error)  # checks them
        if given is not None and given.pack_length is not None:
            options["pack_length"] = None
        self.pack = None if pack_length is None else {"seq_length": pack_length, "strategy": pack_strategy}
        # Part of the pickled (so hashed) state: a new fastmask version does not reuse old cache files.
        self.version = __version__
        self.tokenizer = tokenizer
        self.messages_field = messages_field
        self.outputs = tuple(outputs)
        self.on_error = on_error
        self.error_column = error_column
        self.options = dict(sorted(options.items()))
        self.expand_turns = expand_turns

    def __call__(self, batch: Any, indices: list[int] | None = None) -> Any:
        conversations = self._conversations(batch)
        policy = "raise" if self.on_error == "raise" else "skip"
        out = self.tokenizer.encode_batch(conversations, return_tensors="arrow", on_error=policy, **self.options)
        errors = dict(out.get("errors", ()))
        count = len(conversations)
        good = [index for index in range(count) if index not in errors]
        outputs: dict[str, Any] = {name: out[name] for name in self.outputs}
        if self.expand_turns:
            import pyarrow as pa

            rows = out["conversation_index"].to_pylist()
            origins = [indices[row] for row in rows] if indices is not None else rows
            outputs["conversation_index"] = pa.array(origins, type=pa.int64())
            outputs["turn_index"] = out["turn_index"]
            if self.pack is not None:
                return self._packed(_take_rows(batch, rows), outputs)
            return _joined(_take_rows(batch, rows), outputs, every_column=True)
        if self.pack is not None:
            return self._packed(_take_rows(batch, good), outputs)
        if self.on_error == "collect":
            outputs = {name: _with_empty_rows(array, good, count) for name, array in outputs.items()}
            outputs[self.error_column] = [
                _error_text(errors[index]) if index in errors else None for index in range(count)
            ]
        elif errors:
            # Skipping: datasets takes a shorter batch only when no column keeps the old length.
            return _joined(_take_rows(batch, good), outputs, every_column=True)
        return _joined(batch, outputs, every_column=False)

    def _packed(self, batch: Any, outputs: dict[str, Any]) -> Any:
        """The batch's rows packed into bins (as TRL packs each map batch): the outputs
        concatenated per bin, the batch's other columns as lists per bin."""
        names = batch.column_names if hasattr(batch, "column_names") else list(batch)
        passed = {name: _column(batch, name) for name in names if name not in outputs}
        packed = pack({**passed, **outputs}, self.pack["seq_length"], strategy=self.pack["strategy"], batch_size=None)
        if hasattr(batch, "column_names"):
            import pyarrow as pa

            return pa.table(packed)
        return {name: values.to_pylist() for name, values in packed.items()}

    def _conversations(self, batch: Any) -> Any:
        if hasattr(batch, "column_names"):  # an Arrow-formatted dataset gives a pyarrow Table
            if self.messages_field not in batch.column_names:
                raise InputError(f"the batch has no {self.messages_field!r} column")
            return batch.column(self.messages_field)
        conversations = batch.get(self.messages_field)
        # Unbatched, the column holds one conversation: a list of message dicts.
        if not isinstance(conversations, list) or (conversations and isinstance(conversations[0], dict)):
            raise TypeError(
                f"EncodeMap is a batched function: use dataset.map(..., batched=True) "
                f"(and the conversations in column {self.messages_field!r})"
            )
        return conversations


def _joined(batch: Any, outputs: dict[str, Any], *, every_column: bool) -> Any:
    """What `map` takes back. From an Arrow-formatted batch (a Table): the batch's columns and the
    outputs as one table (datasets replaces the batch with a returned table). Otherwise a dict of
    the outputs as numpy arrays (one array view per row, not a Python int per token), which
    datasets adds to the batch's columns, plus with `every_column` the batch's own columns."""
    import pyarrow as pa

    if hasattr(batch, "column_names"):
        table = batch.drop_columns([name for name in outputs if name in batch.column_names])
        for name, values in outputs.items():
            table = table.append_column(
                name, values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=pa.string())
            )
        return table
    columns = {
        name: values.to_numpy(zero_copy_only=False) if isinstance(values, pa.Array) else values
        for name, values in outputs.items()
    }
    kept = {name: values for name, values in batch.items() if name not in columns} if every_column else {}
    return {**kept, **columns}


def _column(batch: Any, name: str) -> Any:
    return batch.column(name) if hasattr(batch, "column_names") else batch[name]


def _take_rows(batch: Any, rows: list[int]) -> Any:
    if hasattr(batch, "column_names"):
        import pyarrow as pa

        return batch.take(pa.array(rows, type=pa.int64()))
    return {name: [values[row] for row in rows] for name, values in batch.items()}


def _with_empty_rows(column: Any, good: list[int], count: int) -> Any:
    """`column` (a list array, one row per good row) spread over `count` rows, an empty list where
    a row failed: new offsets over the same values."""
    import numpy as np
    import pyarrow as pa

    lengths = np.zeros(count, dtype=np.int32)
    lengths[good] = column.value_lengths().to_numpy()
    offsets = np.concatenate([np.zeros(1, dtype=np.int32), np.cumsum(lengths, dtype=np.int32)])
    return pa.ListArray.from_arrays(pa.array(offsets), column.flatten())


def _error_text(error: BaseException) -> str:
    # The error's conversation index counts within the batch, not the dataset: leave it out.
    return f"{type(error).__name__}: {error_detail(error)}"


def encode_map(tokenizer: ChatTokenizer, *, messages_field: str = "messages", **options: Any) -> EncodeMap:
    """A function for `dataset.map(..., batched=True)` that adds `input_ids`, `attention_mask`,
    `assistant_masks` and `labels`; `options` are `ChatTokenizer.encode_batch`'s, plus `on_error`
    (`"raise"`, `"skip"`, `"collect"`) and `error_column` (see the module's doc)."""
    return EncodeMap(tokenizer, messages_field=messages_field, **options)
