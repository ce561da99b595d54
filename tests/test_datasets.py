"""Hugging Face datasets: ChatTokenizer pickles and fingerprints deterministically, and the map
function gives encode_batch's output with num_proc=2 and is served from the cache the second time."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import datasets
import pytest
from datasets.fingerprint import Hasher

import fastmask
from fastmask.datasets import EncodeMap, encode_map

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benches"))
import synth  # noqa: E402

from conftest import DEEPSEEK_EOS  # noqa: E402


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
    first = dataset.map(encode_map(build(deepseek_json, chatml_template), **options), batched=True, batch_size=8, num_proc=2)
    expected = build(deepseek_json, chatml_template).encode_batch(conversations, **options)
    for name, rows in expected.items():
        assert first[name] == rows
    assert first["id"] == list(range(40))

    def not_called(self, batch):
        raise AssertionError("a cached map must not run the function again")

    monkeypatch.setattr(EncodeMap, "__call__", not_called)
    second = dataset.map(encode_map(build(deepseek_json, chatml_template), **options), batched=True, batch_size=8, num_proc=2)
    assert second.cache_files == first.cache_files
    assert second["labels"] == expected["labels"]


def test_unbatched_map_is_refused(chat_tokenizer):
    dataset = datasets.Dataset.from_dict({"messages": synth.corpus(2, seed=1, tools=False)})
    with pytest.raises(TypeError, match="batched=True"):
        dataset.map(encode_map(chat_tokenizer))

