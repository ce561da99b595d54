"""fastmask.pack against TRL 1.16's `trl.data_utils.pack_dataset` on the same rows with the same
`datasets.map` batch boundaries: the same bins in the same order, the same `seq_lengths`, the same
columns, for `"bfd"`, `"bfd_split"` and `"wrapped"`, given as lists and as Arrow."""

from __future__ import annotations

import random

import datasets
import pyarrow as pa
import pytest
import synth
from datasets.table import InMemoryTable
from trl.data_utils import pack_dataset

import fastmask

STRATEGIES = ["bfd", "bfd_split", "wrapped"]


def random_rows(count: int, seed: int, max_tokens: int) -> dict[str, list]:
    """Encoded-looking rows: ids, a mask with trained runs, labels from it, some empty rows and
    some longer than the bins."""
    rng = random.Random(seed)
    rows: dict[str, list] = {"input_ids": [], "attention_mask": [], "assistant_masks": [], "labels": []}
    for _ in range(count):
        length = 0 if rng.random() < 0.05 else rng.randint(1, max_tokens)
        ids = [rng.randrange(50_000) for _ in range(length)]
        start = rng.randint(0, length)
        mask = [int(i >= start) for i in range(length)]
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * length)
        rows["assistant_masks"].append(mask)
        rows["labels"].append([t if m else -100 for t, m in zip(ids, mask)])
    return rows


def arrow_table(rows: dict[str, list]) -> pa.Table:
    """The rows typed as `encode_batch(return_tensors="arrow")` types them."""
    types = {"input_ids": pa.int32(), "attention_mask": pa.int8(), "assistant_masks": pa.int8(), "labels": pa.int64()}
    return pa.table({name: pa.array(values, type=pa.list_(types[name])) for name, values in rows.items()})


def trl_packed(dataset: datasets.Dataset, seq_length: int, strategy: str, batch_size: int) -> pa.Table:
    packed = pack_dataset(dataset, seq_length, strategy, map_kwargs={"batch_size": batch_size})
    return packed.with_format("arrow")[:]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("seq_length", "batch_size"), [(64, 1000), (64, 37), (17, 50), (200, 13)])
def test_lists_match_trl(strategy, seq_length, batch_size):
    rows = random_rows(300, seed=seq_length * batch_size, max_tokens=90)
    expected = trl_packed(datasets.Dataset.from_dict(rows), seq_length, strategy, batch_size).to_pydict()
    got = fastmask.pack(rows, seq_length, strategy=strategy, batch_size=batch_size)
    assert {name: got[name] for name in expected} == expected
    assert ("seq_lengths" in got) == (strategy != "wrapped")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("seq_length", "batch_size"), [(128, 1000), (33, 64)])
def test_arrow_matches_trl(strategy, seq_length, batch_size):
    table = arrow_table(random_rows(500, seed=seq_length + batch_size, max_tokens=160))
    expected = trl_packed(datasets.Dataset(InMemoryTable(table)), seq_length, strategy, batch_size)
    got = fastmask.pack(table, seq_length, strategy=strategy, batch_size=batch_size)
    assert isinstance(got, pa.Table)
    assert got.select(expected.column_names).equals(expected)
    # A dict of arrays (what encode_batch returns) and a chunked table give the same.
    chunked = pa.concat_tables([table.slice(0, 123), table.slice(123)])
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    as_dict = fastmask.pack(columns, seq_length, strategy=strategy, batch_size=batch_size)
    assert fastmask.pack(chunked, seq_length, strategy=strategy, batch_size=batch_size).equals(got)
    assert all(as_dict[name].equals(got.column(name).combine_chunks()) for name in expected.column_names)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_encoded_conversations_match_trl(chat_tokenizer, strategy):
    """Real encode_batch output (Arrow), in 3 map batches, as SFTTrainer packs it."""
    encoded = chat_tokenizer.encode_batch(synth.corpus(60, seed=3), return_tensors="arrow")
    table = pa.table({name: encoded[name] for name in ("input_ids", "labels")})
    expected = trl_packed(datasets.Dataset(InMemoryTable(table)), 1024, strategy, 25)
    got = fastmask.pack(encoded, 1024, strategy=strategy, batch_size=25)
    for name in expected.column_names:
        assert got[name].equals(expected.column(name).combine_chunks()), name
    assert got["truncated_tokens"].type == pa.list_(pa.int64())


@pytest.mark.parametrize("strategy", ["bfd", "bfd_split"])
def test_seed_orders_rows_as_dataset_shuffle(strategy):
    rows = random_rows(250, seed=11, max_tokens=70)
    dataset = datasets.Dataset.from_dict(rows).shuffle(seed=42)
    expected = trl_packed(dataset, 100, strategy, 1000).to_pydict()
    got = fastmask.pack(rows, 100, strategy=strategy, seed=42)
    assert {name: got[name] for name in expected} == expected


def test_drop_untrained_is_a_filter_before_packing():
    rows = random_rows(400, seed=5, max_tokens=60)
    for labels in rows["labels"][::3]:
        labels[:] = [-100] * len(labels)
    keep = lambda row: any(label != -100 for label in row["labels"][:48])  # noqa: E731
    dataset = datasets.Dataset.from_dict(rows).filter(keep)
    expected = trl_packed(dataset, 48, "bfd", 100).to_pydict()
    got, stats = fastmask.pack(rows, 48, batch_size=100, drop_untrained=True, return_stats=True)
    assert {name: got[name] for name in expected} == expected
    assert stats.untrained_rows == 400 - len(dataset)
