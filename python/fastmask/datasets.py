"""Hugging Face `datasets` integration: a map function for `Dataset.map(..., batched=True)`.

    from fastmask.datasets import encode_map
    encoded = dataset.map(encode_map(tokenizer, max_length=4096, truncation=True), batched=True, num_proc=4)

The function pickles (for `num_proc`) and hashes deterministically (so a second identical map is
served from the datasets cache): it holds only the tokenizer, which pickles as the parts it was
built from, and plain options.
"""

from __future__ import annotations

from typing import Any

from fastmask import __version__
from fastmask._tokenizer import ChatTokenizer

OUTPUTS = ("input_ids", "attention_mask", "assistant_masks", "labels")


class EncodeMap:
    """`batch -> {input_ids, attention_mask, assistant_masks, labels}` for `Dataset.map(batched=True)`."""

    def __init__(self, tokenizer: ChatTokenizer, *, messages_field: str = "messages", outputs: tuple[str, ...] = OUTPUTS,
                 **options: Any) -> None:
        # Part of the pickled (so hashed) state: a new fastmask version does not reuse old cache files.
        self.version = __version__
        self.tokenizer = tokenizer
        self.messages_field = messages_field
        self.outputs = tuple(outputs)
        self.options = dict(sorted(options.items()))

    def __call__(self, batch: Any) -> dict[str, Any]:
        conversations = batch.get(self.messages_field)
        # Unbatched, the column holds one conversation: a list of message dicts.
        if not isinstance(conversations, list) or (conversations and isinstance(conversations[0], dict)):
            raise TypeError(f"EncodeMap is a batched function: use dataset.map(..., batched=True) "
                            f"(and the conversations in column {self.messages_field!r})")
        out = self.tokenizer.encode_batch(conversations, return_tensors="arrow", **self.options)
        # datasets adds a returned dict's columns to the batch's (a returned table would replace
        # them), and takes numpy arrays there: one array view per row, not a Python int per token.
        return {name: out[name].to_numpy(zero_copy_only=False) for name in self.outputs}


def encode_map(tokenizer: ChatTokenizer, *, messages_field: str = "messages", **options: Any) -> EncodeMap:
    """A function for `dataset.map(..., batched=True)` that adds `input_ids`, `attention_mask`,
    `assistant_masks` and `labels`; `options` are `ChatTokenizer.encode_batch`'s."""
    return EncodeMap(tokenizer, messages_field=messages_field, **options)
