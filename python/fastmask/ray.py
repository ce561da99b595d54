"""Ray Data integration: encode a dataset of conversations across processes and machines.

    import ray
    from fastmask.ray import EncodeBatches

    ds = ray.data.read_parquet("s3://bucket/conversations/")            # shards on shared storage
    ds = ds.map_batches(EncodeBatches, fn_constructor_kwargs={"tokenizer": tok, "max_length": 4096,
                        "truncation": True}, batch_format="pyarrow", concurrency=8)
    ds.write_parquet("s3://bucket/encoded/")

With `expand_turns=True` each trained turn is a row: the input row's columns are repeated for each
row its conversation makes, followed by `conversation_index` (the row's index within its batch) and
`turn_index` (the trained message's index).

With `pack_length=N` (and `pack_strategy`) each batch is packed into bins of at most N tokens
(`fastmask.pack` over the batch): the outputs concatenated per bin with `seq_lengths` and
`position_ids`, every other column a list per bin.

Passed as the class, each Ray actor builds the tokenizer once (it pickles as its parts); an
instance works too (`map_batches(EncodeBatches(tok), ...)`) but is unpickled per task.
"""

from __future__ import annotations

from typing import Any

from fastmask import _arrow
from fastmask._core import MaskOptions
from fastmask._pack import pack
from fastmask._tokenizer import ChatTokenizer

OUTPUTS = ("input_ids", "attention_mask", "assistant_masks", "labels")


class EncodeBatches:
    """`pyarrow.Table -> pyarrow.Table` with `input_ids`, `attention_mask`, `assistant_masks` and
    `labels` appended (replacing columns of those names); the other columns are kept."""

    def __init__(
        self,
        tokenizer: ChatTokenizer,
        *,
        messages_field: str = "messages",
        outputs: tuple[str, ...] = OUTPUTS,
        **options: Any,
    ) -> None:
        self.tokenizer = tokenizer
        self.messages_field = messages_field
        self.outputs = tuple(outputs)
        # Packing carries the table's other columns per bin, so it happens here, after encoding.
        self.pack_length = options.pop("pack_length", None)
        self.pack_strategy = options.pop("pack_strategy", "bfd")
        MaskOptions(pack_length=self.pack_length, pack_strategy=self.pack_strategy)  # checks them
        self.options = options

    def __call__(self, table: Any) -> Any:
        conversations = _arrow.conversations_column(table, self.messages_field)
        out = self.tokenizer.encode_batch(conversations, return_tensors="arrow", **self.options)
        names = self.outputs
        if "turn_index" in out:  # expand_turns: a row per trained turn
            table = table.take(out["conversation_index"])
            names = (*names, "conversation_index", "turn_index")
        table = table.drop_columns([name for name in names if name in table.column_names])
        for name in names:
            table = table.append_column(name, out[name])
        if self.pack_length is None:
            return table
        return pack(table, self.pack_length, strategy=self.pack_strategy, batch_size=None)
