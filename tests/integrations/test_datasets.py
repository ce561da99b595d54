"""Hugging Face datasets: ChatTokenizer pickles and fingerprints deterministically, and the map
function gives encode_batch's output with num_proc=2 and is served from the cache the second time."""

from __future__ import annotations

import pickle

import datasets
import pytest
import synth
from _support.deepseek import EOS as DEEPSEEK_EOS
from datasets.fingerprint import Hasher

import fastmask
from fastmask.datasets import EncodeMap, encode_map


def build(deepseek_json, template, **options):
    return fastmask.ChatTokenizer.from_file(
        deepseek_json, chat_template=template, special_tokens={"pad_token": DEEPSEEK_EOS}, **options
    )


def test_pickle_round_trip(deepseek_json, chatml_template):
    tok = build(deepseek_json, chatml_template, truncation_side="left")
    again = pickle.loads(pickle.dumps(tok))
    conversations = synth.corpus(10, seed=5, tools=False)
    options = {"max_length": 64, "truncation": True, "padding": True}
    assert again.encode_batch(conversations, **options) == tok.encode_batch(conversations, **options)


def test_fingerprint_is_deterministic(deepseek_json, chatml_template):
    one, two = build(deepseek_json, chatml_template), build(deepseek_json, chatml_template)
    assert Hasher.hash(one) == Hasher.hash(two)
    assert Hasher.hash(encode_map(one, max_length=8)) == Hasher.hash(encode_map(two, max_length=8))
    assert Hasher.hash(one) != Hasher.hash(build(deepseek_json, chatml_template + " "))
    assert Hasher.hash(encode_map(one, max_length=8)) != Hasher.hash(encode_map(one, max_length=9))


def test_map_with_two_processes_then_from_cache(tmp_path, deepseek_json, chatml_template, monkeypatch):
    conversations = synth.corpus(40, seed=7, tools=False)
    datasets.Dataset.from_dict({"messages": conversations, "id": list(range(40))}).save_to_disk(str(tmp_path / "ds"))
    dataset = datasets.load_from_disk(str(tmp_path / "ds"))  # on disk, so map results are cached
    options = {"max_length": 300, "truncation": True}
    first = dataset.map(
        encode_map(build(deepseek_json, chatml_template), **options), batched=True, batch_size=8, num_proc=2
    )
    expected = build(deepseek_json, chatml_template).encode_batch(conversations, **options)
    for name, rows in expected.items():
        assert first[name] == rows
    assert first["id"] == list(range(40))

    def not_called(self, batch):
        raise AssertionError("a cached map must not run the function again")

    monkeypatch.setattr(EncodeMap, "__call__", not_called)
    second = dataset.map(
        encode_map(build(deepseek_json, chatml_template), **options), batched=True, batch_size=8, num_proc=2
    )
    assert second.cache_files == first.cache_files
    assert second["labels"] == expected["labels"]


def test_unbatched_map_is_refused(chat_tokenizer):
    dataset = datasets.Dataset.from_dict({"messages": synth.corpus(2, seed=1, tools=False)})
    with pytest.raises(TypeError, match="batched=True"):
        dataset.map(encode_map(chat_tokenizer))


def failing_rows(count: int, bad: set[int]) -> list:
    """Conversations where the rows in `bad` exceed a 300-byte input limit (a LimitError)."""
    return [
        [
            {"role": "user", "content": "x" * 400 if index in bad else f"question {index}?"},
            {"role": "assistant", "content": f"answer {index}."},
        ]
        for index in range(count)
    ]


def limited(deepseek_json, chatml_template):
    return build(deepseek_json, chatml_template, limits=fastmask.Limits(input_bytes=300))


def mapped_with(tok, rows, on_error, batch_size, arrow_format):
    """`rows` (with an `id` column) mapped with `on_error`: two processes on the Python-formatted
    dataset, one on the Arrow-formatted one (which takes the same code path per batch)."""
    dataset = datasets.Dataset.from_dict({"messages": rows, "id": list(range(len(rows)))})
    if arrow_format:
        dataset = dataset.with_format("arrow")
    return dataset.map(
        encode_map(tok, on_error=on_error), batched=True, batch_size=batch_size, num_proc=1 if arrow_format else 2
    ).with_format(None)


@pytest.mark.parametrize("arrow_format", [False, True])
def test_skip_drops_bad_rows_with_two_processes(deepseek_json, chatml_template, arrow_format):
    bad = {3, 9, 10, 17}
    rows = failing_rows(24, bad)
    tok = limited(deepseek_json, chatml_template)
    mapped = mapped_with(tok, rows, "skip", 5, arrow_format)
    good_ids = [index for index in range(24) if index not in bad]
    assert mapped["id"] == good_ids
    expected = tok.encode_batch([rows[index] for index in good_ids])
    for name in ("input_ids", "assistant_masks", "labels"):
        assert mapped[name] == expected[name]
    assert mapped["messages"] == datasets.Dataset.from_dict({"messages": rows}).select(good_ids)["messages"]


@pytest.mark.parametrize("arrow_format", [False, True])
def test_collect_keeps_rows_with_an_error_column(deepseek_json, chatml_template, arrow_format):
    bad = {0, 7, 8}
    rows = failing_rows(16, bad)
    tok = limited(deepseek_json, chatml_template)
    mapped = mapped_with(tok, rows, "collect", 6, arrow_format)
    assert mapped["id"] == list(range(16))
    errors = mapped["error"]
    assert [index for index, error in enumerate(errors) if error is not None] == sorted(bad)
    assert all(errors[index].startswith("LimitError: message 0: input limit") for index in bad)
    good = tok.encode_batch([row for index, row in enumerate(rows) if index not in bad])
    for name in ("input_ids", "attention_mask", "assistant_masks", "labels"):
        column = mapped[name]
        assert [column[index] for index in bad] == [[] for _ in bad]
        assert [row for index, row in enumerate(column) if index not in bad] == good[name]
    assert mapped.features["input_ids"] == datasets.Sequence(datasets.Value("int32")) or mapped.features[
        "input_ids"
    ] == datasets.List(datasets.Value("int32"))


def test_arrow_formatted_dataset_reads_the_column_in_rust(deepseek_json, chatml_template, monkeypatch):
    conversations = synth.corpus(12, seed=4, tools=False)
    dataset = datasets.Dataset.from_dict({"messages": conversations}).with_format("arrow")
    tok = build(deepseek_json, chatml_template)
    seen = []
    real = fastmask.ChatTokenizer.encode_batch

    def spy(self, batch, **options):
        seen.append(type(batch).__name__)
        return real(self, batch, **options)

    monkeypatch.setattr(fastmask.ChatTokenizer, "encode_batch", spy)
    mapped = dataset.map(EncodeMap(tok), batched=True, batch_size=5).with_format(None)
    assert set(seen) == {"ChunkedArray"}
    assert mapped["input_ids"] == real(tok, conversations)["input_ids"]


def test_unknown_on_error_is_refused(chat_tokenizer):
    with pytest.raises(fastmask.InputError, match="on_error"):
        encode_map(chat_tokenizer, on_error="ignore")


def test_expand_turns_makes_a_row_per_turn(deepseek_json, chatml_template):
    conversations = synth.corpus(12, seed=11, tools=False)
    tok = build(deepseek_json, chatml_template)
    dataset = datasets.Dataset.from_dict({"messages": conversations, "id": [f"c{i}" for i in range(12)]})
    expected = tok.encode_batch(conversations, expand_turns=True)
    assert len(expected["input_ids"]) > len(conversations)
    for formatted in (dataset, dataset.with_format("arrow")):
        function = encode_map(tok, expand_turns=True)
        mapped = formatted.map(function, batched=True, batch_size=5, with_indices=True).with_format(None)
        for name in ("input_ids", "attention_mask", "assistant_masks", "labels", "conversation_index", "turn_index"):
            assert mapped[name] == expected[name]
        # Each row keeps its conversation's other columns.
        assert mapped["id"] == [f"c{index}" for index in expected["conversation_index"]]
    # Without indices, conversation_index counts within each batch.
    within = dataset.map(encode_map(tok, expand_turns=True), batched=True, batch_size=5)
    assert within["conversation_index"] == [index % 5 for index in expected["conversation_index"]]
    with pytest.raises(fastmask.InputError, match="collect"):
        encode_map(tok, expand_turns=True, on_error="collect")


def test_pack_length_packs_each_map_batch_as_trl_does(deepseek_json, chatml_template):
    from trl.data_utils import pack_dataset

    conversations = synth.corpus(12, seed=2, tools=False)
    tok = build(deepseek_json, chatml_template)
    dataset = datasets.Dataset.from_dict({"messages": conversations, "id": [f"c{i}" for i in range(12)]})
    encoded = dataset.map(encode_map(tok), batched=True, batch_size=5, remove_columns=["messages", "id"])
    expected = pack_dataset(encoded, 1500, "bfd", map_kwargs={"batch_size": 5})
    for formatted in (dataset, dataset.with_format("arrow")):
        mapped = formatted.map(
            encode_map(tok, pack_length=1500), batched=True, batch_size=5, remove_columns=["messages"]
        ).with_format(None)
        for name in expected.column_names:
            assert mapped[name] == expected[name], name
        lengths = [len(ids) for ids in encoded["input_ids"]]
        assert [[lengths[int(i[1:])] for i in ids] for ids in mapped["id"]] == mapped["seq_lengths"]
    with pytest.raises(fastmask.InputError, match="collect"):
        encode_map(tok, pack_length=100, on_error="collect")
