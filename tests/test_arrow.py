"""Arrow in and out of encode_batch: pyarrow conversations and return_tensors="arrow" give exactly
what the Python-object path gives."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

import fastmask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benches"))
import synth  # noqa: E402

CONVERSATIONS = synth.corpus(40, seed=3, tools=False)


def test_arrow_output_equals_lists(chat_tokenizer):
    expected = chat_tokenizer.encode_batch(CONVERSATIONS, max_length=200, truncation=True)
    out = chat_tokenizer.encode_batch(CONVERSATIONS, max_length=200, truncation=True, return_tensors="arrow")
    types = {"input_ids": pa.int32(), "attention_mask": pa.int8(), "assistant_masks": pa.int8(), "labels": pa.int64()}
    for name, value_type in types.items():
        assert out[name].type == pa.list_(value_type)
        assert out[name].to_pylist() == expected[name]
    full = chat_tokenizer.encode_batch(CONVERSATIONS)
    assert out["truncated_tokens"].to_pylist() == [max(len(ids) - 200, 0) for ids in full["input_ids"]]


def test_arrow_input_equals_lists(chat_tokenizer):
    expected = chat_tokenizer.encode_batch(CONVERSATIONS)
    array = pa.array(CONVERSATIONS)
    assert pa.types.is_list(array.type) and pa.types.is_struct(array.type.value_type)
    for data in (array, pa.chunked_array([array[:10], array[10:]]), pa.table({"messages": array, "id": range(40)})):
        assert chat_tokenizer.encode_batch(data) == expected


def test_arrow_input_with_optional_fields(chat_tokenizer):
    # Messages with and without a field: Arrow fills the gap with null, which is dropped as
    # transformers drops None-valued keys.
    conversations = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi", "name": "ann"},
         {"role": "assistant", "content": "Hello"}],
        [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}],
    ]
    assert chat_tokenizer.encode_batch(pa.array(conversations)) == chat_tokenizer.encode_batch(conversations)


def test_collect_gives_null_rows(chat_tokenizer):
    batch = [CONVERSATIONS[0], "bad", CONVERSATIONS[1]]
    out = chat_tokenizer.encode_batch(batch, on_error="collect", return_tensors="arrow")
    expected = chat_tokenizer.encode_batch([CONVERSATIONS[0], CONVERSATIONS[1]])
    assert out["input_ids"].to_pylist() == [expected["input_ids"][0], None, expected["input_ids"][1]]
    assert [index for index, _ in out["errors"]] == [1]


def test_table_without_messages_column(chat_tokenizer):
    with pytest.raises(fastmask.InputError, match="no 'messages' column"):
        chat_tokenizer.encode_batch(pa.table({"a": [1], "b": [2]}))
