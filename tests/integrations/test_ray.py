"""Ray Data: map_batches with EncodeBatches on a local Ray instance equals the single-process output."""

from __future__ import annotations

import pyarrow as pa
import pytest
import ray
import synth

from fastmask.ray import EncodeBatches


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_map_batches_equals_single_process(local_ray, chat_tokenizer):
    conversations = synth.corpus(60, seed=11, tools=False)
    table = pa.table({"id": list(range(60)), "messages": pa.array(conversations)})
    options = {"max_length": 256, "truncation": True}
    dataset = ray.data.from_arrow([table.slice(start, 15) for start in range(0, 60, 15)])
    # Two actors of half a CPU each leave the other half-CPUs to Ray Data's own tasks.
    encoded = dataset.map_batches(
        EncodeBatches,
        fn_constructor_kwargs={"tokenizer": chat_tokenizer, **options},
        batch_format="pyarrow",
        batch_size=16,
        concurrency=2,
        num_cpus=0.5,
    )
    rows = sorted(encoded.take_all(), key=lambda row: row["id"])
    expected = chat_tokenizer.encode_batch(conversations, **options)
    assert [row["id"] for row in rows] == list(range(60))
    for name, values in expected.items():
        assert [list(row[name]) for row in rows] == values


def test_expand_turns_repeats_the_row_per_turn(chat_tokenizer):
    conversations = synth.corpus(10, seed=3, tools=False)
    table = pa.table({"id": list(range(10)), "messages": pa.array(conversations)})
    encoded = EncodeBatches(chat_tokenizer, expand_turns=True)(table)
    expected = chat_tokenizer.encode_batch(conversations, expand_turns=True)
    assert encoded.column("id").to_pylist() == expected["conversation_index"]
    for name, values in expected.items():
        assert encoded.column(name).to_pylist() == values


def test_pack_length_packs_each_batch_with_its_columns(chat_tokenizer):
    conversations = synth.corpus(10, seed=4, tools=False)
    table = pa.table({"id": list(range(10)), "messages": pa.array(conversations)})
    packed = EncodeBatches(chat_tokenizer, pack_length=2048, pack_strategy="bfd_split")(table)
    encoded = chat_tokenizer.encode_batch(conversations, pack_length=2048, pack_strategy="bfd_split")
    for name, values in encoded.items():
        assert packed.column(name).to_pylist() == values
    # Each bin lists the ids of the rows in it, in the order of their sequences.
    lengths = [len(ids) for ids in chat_tokenizer.encode_batch(conversations)["input_ids"]]
    for ids, seq_lengths in zip(packed.column("id").to_pylist(), packed.column("seq_lengths").to_pylist()):
        assert [lengths[i] for i in ids] == seq_lengths
