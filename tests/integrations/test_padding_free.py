"""fastmask's packed rows on transformers' padding-free path: `DataCollatorWithFlattening` run over
the sequences of each packed bin derives the same flattened ids, labels (first label of each
sequence -100), `position_ids`, flash-attention `cu_seq_lens` and sequence index as fastmask wrote."""

from __future__ import annotations

import numpy as np
import pytest
import synth
from transformers import DataCollatorWithFlattening

import fastmask


@pytest.mark.parametrize("strategy", ["bfd", "bfd_split"])
def test_flattening_collator_derives_what_pack_wrote(chat_tokenizer, strategy):
    encoded = chat_tokenizer.encode_batch(synth.corpus(40, seed=6), return_tensors="arrow")
    packed = fastmask.pack(
        encoded,
        2048,
        strategy=strategy,
        ignore_first_label=True,
        return_cu_seqlens=True,
        return_segment_ids=True,
    )
    collator = DataCollatorWithFlattening(return_tensors="np", return_flash_attn_kwargs=True, return_seq_idx=True)
    bins = {name: packed[name].to_pylist() for name in packed}
    assert len(bins["input_ids"]) > 1 and max(len(lengths) for lengths in bins["seq_lengths"]) > 1
    for b, lengths in enumerate(bins["seq_lengths"]):
        ends = np.cumsum(lengths)
        features = [
            {"input_ids": bins["input_ids"][b][end - n : end], "labels": encoded_labels}
            for n, end, encoded_labels in zip(
                lengths, ends, np.split(np.asarray(bins["labels"][b]), ends[:-1]), strict=True
            )
        ]
        batch = collator(features)
        assert batch["input_ids"].tolist() == [bins["input_ids"][b]]
        assert batch["labels"].tolist() == [bins["labels"][b]]
        assert batch["position_ids"].tolist() == [bins["position_ids"][b]]
        assert batch["cu_seq_lens_q"].tolist() == bins["cu_seqlens"][b]
        assert batch["max_length_q"] == max(lengths)
        assert (batch["seq_idx"][0] + 1).tolist() == bins["segment_ids"][b]
