"""Arrow in and out of encode_batch: pyarrow conversations and return_tensors="arrow" give exactly
what the Python-object path gives."""

from __future__ import annotations

import pyarrow as pa
import pytest
import synth

import fastmask

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
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi", "name": "ann"},
            {"role": "assistant", "content": "Hello"},
        ],
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


# --- the Arrow C data interface: columns read in Rust equal their to_pylist() -------------------

# Every message as JSON (all keys in order, types, nulls), assistant ones in a block, so a
# rendered text shows exactly what the template saw.
DUMP_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'assistant' %}{% generation %}{{ m | tojson }}{% endgeneration %}{% else %}{{ m | tojson }}{% endif %}\n"
    "{% endfor %}"
)

FUNCTION = pa.struct([("name", pa.string()), ("arguments", pa.string())])
TOOL_CALL = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", FUNCTION)])
META = pa.struct([("n", pa.int8()), ("xs", pa.list_(pa.int64())), ("ok", pa.bool_())])
MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("tool_calls", pa.list_(TOOL_CALL)),
        ("name", pa.large_string()),
        ("weight", pa.float32()),
        ("score", pa.float64()),
        ("turn", pa.int16()),
        ("big", pa.uint64()),
        ("train", pa.bool_()),
        ("tags", pa.large_list(pa.string())),
        ("blob", pa.binary()),
        ("nothing", pa.null()),
        ("meta", META),
        ("label", pa.dictionary(pa.int32(), pa.string())),
    ]
)
PART = pa.struct([("type", pa.string()), ("text", pa.string()), ("image", pa.string())])
MULTIMODAL = pa.struct([("role", pa.string()), ("content", pa.list_(PART))])


def rich_rows(count: int) -> list:
    """Conversations that use every field, with nulls at every level, varied per row."""
    rows = []
    for i in range(count):
        call = {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "caf\u00e9 \u00fc"}' if i % 3 else None},
        }
        rows.append(
            [
                {
                    "role": "system",
                    "content": "Be brief." if i % 4 else None,
                    "meta": {"n": -i % 128, "xs": [i, 2**40], "ok": None},
                },
                {
                    "role": "user",
                    "content": f"question {i} \u4f60\u597d",
                    "name": "ann" if i % 2 else None,
                    "weight": 0.1,
                    "score": 1e-05 * i,
                    "turn": i,
                    "big": 2**64 - 1 - i,
                    "tags": ["a", None, "c"] if i % 2 else [],
                    "blob": b"\x00\xff",
                    "label": "x" if i % 2 else None,
                },
                {
                    "role": "assistant",
                    "content": None if i % 5 == 0 else f"answer {i}",
                    "tool_calls": [call] if i % 2 else None,
                    "train": bool(i % 2),
                    "meta": None,
                },
                {"role": "tool", "content": "42", "name": "lookup"},
                {"role": "assistant", "content": "done", "score": float(i)},
            ]
        )
    return rows


def multimodal_rows(count: int) -> list:
    return [
        [
            {
                "role": "user",
                "content": [{"type": "image", "image": f"img{i}.png"}, {"type": "text", "text": f"what is {i}?"}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": f"a picture {i}"}] if i % 3 else None},
        ]
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def dump_tokenizer(chat_tokenizer):
    return chat_tokenizer.with_chat_template(DUMP_TEMPLATE)


class PylistCounter:
    """An Arrow column behind the PyCapsule interface only, counting `to_pylist()` calls: shows
    whether the core read the Arrow data itself or fell back to Python objects."""

    def __init__(self, column, stream: bool = False):
        self.column, self.calls = column, 0
        if stream:
            self.__arrow_c_stream__ = column.__arrow_c_stream__
        else:
            self.__arrow_c_array__ = column.__arrow_c_array__

    def __len__(self):
        return len(self.column)

    def to_pylist(self):
        self.calls += 1
        return self.column.to_pylist()


def assert_same_as_pylist(tokenizer, column, expected_rows=None):
    rows = column.to_pylist() if expected_rows is None else expected_rows
    assert tokenizer.render_batch(column) == tokenizer.render_batch(rows)
    assert tokenizer.encode_batch(column) == tokenizer.encode_batch(rows)


def test_rich_column_equals_its_pylist(dump_tokenizer):
    rows = rich_rows(12)
    array = pa.array(rows, type=pa.list_(MESSAGE))
    assert array.to_pylist()[1][1]["big"] == 2**64 - 2
    assert_same_as_pylist(dump_tokenizer, array, rows_as_arrow_sees(rows))
    text = dump_tokenizer.render_batch(array)[1][0]
    # What to_pylist() gives and transformers sees: every field, nulls in nested dicts kept, the
    # message's own null fields dropped, float32 widened, bytes as a placeholder.
    assert '"big": 18446744073709551614' in text and '"weight": 0.10000000149011612' in text
    assert '"meta": {"n": 127, "xs": [1, 1099511627776], "ok": null}' in text
    assert '"blob": "<bytes>"' in text and '"nothing"' not in text
    assert '"arguments": null' not in text.split("\n")[0]


def rows_as_arrow_sees(rows):
    return pa.array(rows, type=pa.list_(MESSAGE)).to_pylist()


def test_multimodal_parts_equal_their_pylist(dump_tokenizer):
    array = pa.array(multimodal_rows(7), type=pa.list_(MULTIMODAL))
    assert_same_as_pylist(dump_tokenizer, array)


@pytest.mark.parametrize("layout", ["large_list", "list_view", "large_list_view", "string_view", "large_string"])
def test_list_and_string_layouts(dump_tokenizer, layout):
    base = pa.array(multimodal_rows(5), type=pa.list_(MULTIMODAL))
    part = pa.struct([("type", pa.string()), ("text", pa.string()), ("image", pa.string())])
    if layout in ("string_view", "large_string"):
        text = getattr(pa, layout)()
        part = pa.struct([("type", text), ("text", text), ("image", text)])
    message = pa.struct([("role", pa.string()), ("content", pa.list_(part))])
    column = base.cast(pa.large_list(message) if layout == "large_list" else pa.list_(message))
    if layout.endswith("list_view"):
        view = pa.LargeListViewArray if layout.startswith("large") else pa.ListViewArray
        offset_type = pa.int64() if layout.startswith("large") else pa.int32()
        # Views in reverse order over the same values: offsets need not ascend.
        ends = column.offsets.to_pylist()
        starts, sizes = ends[:-1][::-1], [end - start for start, end in zip(ends[:-1], ends[1:])][::-1]
        column = view.from_arrays(pa.array(starts, offset_type), pa.array(sizes, offset_type), column.values)
        base = pa.array(base.to_pylist()[::-1], type=base.type)
    counter = PylistCounter(column)
    assert dump_tokenizer.render_batch(counter) == dump_tokenizer.render_batch(base.to_pylist())
    assert counter.calls == 0


def test_fixed_size_lists_fall_back_to_python_objects(dump_tokenizer):
    rows = [[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}] for i in range(4)]
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    column = pa.array(rows, type=pa.list_(message, 2))[1:]
    assert pa.types.is_fixed_size_list(column.type)
    counter = PylistCounter(column)
    assert dump_tokenizer.render_batch(counter) == dump_tokenizer.render_batch(rows[1:])
    assert counter.calls == 1


def test_chunks_and_slices_keep_their_offsets(dump_tokenizer, chat_tokenizer):
    rows = rich_rows(20)
    array = pa.array(rows, type=pa.list_(MESSAGE))
    chunked = pa.chunked_array([array[:3], array[3:4], array[4:4], array[4:13], array[13:]])
    assert chunked.num_chunks == 5
    for column in (array[5:17], chunked, chunked[2:15], pa.chunked_array([array[7:9], array[1:6]])):
        assert_same_as_pylist(dump_tokenizer, column)
    plain = pa.array(CONVERSATIONS)
    sliced = pa.chunked_array([plain[25:], plain[3:20]])
    assert (
        chat_tokenizer.encode_batch(sliced, return_tensors="arrow")["input_ids"].to_pylist()
        == chat_tokenizer.encode_batch(CONVERSATIONS[25:] + CONVERSATIONS[3:20])["input_ids"]
    )


def test_parquet_round_trip(dump_tokenizer, tmp_path):
    import pyarrow.parquet as pq

    rows = rich_rows(30)
    table = pa.table({"id": range(30), "messages": pa.array(rows, type=pa.list_(MESSAGE))})
    path = tmp_path / "rich.parquet"
    pq.write_table(table, path, row_group_size=7)
    read = pq.read_table(path)
    assert read.column("messages").num_chunks > 1 or read.num_rows == 30
    expected = rows_as_arrow_sees(rows)
    assert_same_as_pylist(dump_tokenizer, read, expected)
    # Batches within row groups: pyarrow cannot read a nested dictionary field across them.
    for batch in pq.ParquetFile(path).iter_batches(batch_size=7):
        assert dump_tokenizer.render_batch(batch) == dump_tokenizer.render_batch(batch.column("messages").to_pylist())


def test_arrow_is_read_without_python_objects(chat_tokenizer):
    array = pa.array(CONVERSATIONS)
    expected = chat_tokenizer.encode_batch(CONVERSATIONS)
    for counter in (PylistCounter(array), PylistCounter(pa.chunked_array([array[:9], array[9:]]), stream=True)):
        assert chat_tokenizer.encode_batch(counter) == expected
        assert chat_tokenizer.encode_batch(counter, on_error="skip")["input_ids"] == expected["input_ids"]
        assert counter.calls == 0


@pytest.mark.parametrize(
    "field_type, value",
    [
        (pa.date32(), __import__("datetime").date(2024, 5, 1)),
        (pa.decimal128(5, 2), __import__("decimal").Decimal("1.25")),
        (pa.map_(pa.string(), pa.int32()), [("k", 1)]),
        (pa.timestamp("s"), __import__("datetime").datetime(2024, 5, 1, 12)),
    ],
)
def test_other_types_fall_back_to_python_objects(dump_tokenizer, field_type, value):
    message = pa.struct([("role", pa.string()), ("content", pa.string()), ("extra", field_type)])
    rows = [[{"role": "user", "content": "hi", "extra": value}, {"role": "assistant", "content": "yo", "extra": None}]]
    column = pa.array(rows, type=pa.list_(message))
    counter = PylistCounter(column)
    assert dump_tokenizer.render_batch(counter) == dump_tokenizer.render_batch(column.to_pylist())
    assert counter.calls == 1


def test_errors_name_the_row_across_chunks(chat_tokenizer):
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    good = pa.array(CONVERSATIONS[:3], type=pa.list_(message))
    bad = pa.array([CONVERSATIONS[3], None, CONVERSATIONS[4]], type=pa.list_(message))
    column = pa.chunked_array([good, bad])
    with pytest.raises(
        fastmask.InputError, match="conversation 4: a conversation must be a list of messages, got NoneType"
    ):
        chat_tokenizer.encode_batch(column)
    with pytest.raises(fastmask.InputError, match="conversation 4: .*NoneType"):
        chat_tokenizer.encode_batch(column.to_pylist())
    out = chat_tokenizer.encode_batch(column, on_error="collect", return_tensors="arrow")
    assert [index for index, _ in out["errors"]] == [4]
    assert out["input_ids"].null_count == 1 and out["input_ids"][4].as_py() is None
    skipped = chat_tokenizer.encode_batch(column, on_error="skip")
    assert skipped["input_ids"] == chat_tokenizer.encode_batch(CONVERSATIONS[:5])["input_ids"]


def test_a_null_message_is_not_a_dict(chat_tokenizer):
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    column = pa.array([CONVERSATIONS[0], [{"role": "user", "content": "x"}, None]], type=pa.list_(message))
    with pytest.raises(fastmask.InputError) as arrow_error:
        chat_tokenizer.encode_batch(column)
    with pytest.raises(fastmask.InputError) as list_error:
        chat_tokenizer.encode_batch(column.to_pylist())
    assert str(arrow_error.value) == str(list_error.value)
    assert "conversation 1: message 1" in str(arrow_error.value)


def test_input_limits_apply_to_arrow(deepseek_json, chatml_template):
    tokenizer = fastmask.ChatTokenizer.from_file(
        deepseek_json, chat_template=chatml_template, limits=fastmask.Limits(input_bytes=100)
    )
    rows = [[{"role": "user", "content": "x" * 20}], [{"role": "user", "content": "x" * 200}]]
    column = pa.array(rows)
    with pytest.raises(fastmask.LimitError) as arrow_error:
        tokenizer.encode_batch(column)
    with pytest.raises(fastmask.LimitError) as list_error:
        tokenizer.encode_batch(rows)
    assert str(arrow_error.value) == str(list_error.value)
    assert str(arrow_error.value).startswith("conversation 1: message 0: input limit")


def test_invalid_utf8_from_a_producer_is_an_input_error(chat_tokenizer):
    # A producer that skips validation: the core checks offsets and UTF-8 before reading.
    content = pa.Array.from_buffers(
        pa.string(), 1, [None, pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00"), pa.py_buffer(b"\xff\xfe")]
    )
    role = pa.array(["user"])
    messages = pa.StructArray.from_arrays([role, content], names=["role", "content"])
    column = pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), messages)
    with pytest.raises(fastmask.InputError, match="conversation|invalid Arrow data"):
        chat_tokenizer.encode_batch(column)


def test_arrow_output_goes_through_the_c_data_interface(chat_tokenizer):
    out = chat_tokenizer._core.encode_batch(CONVERSATIONS[:4], options=fastmask.MaskOptions(return_tensors="arrow"))
    ids = out["input_ids"]
    assert hasattr(ids, "__arrow_c_array__") and len(ids) == 4
    first = pa.Array._import_from_c_capsule(*ids.__arrow_c_array__())
    second = pa.array(ids)
    assert first.type == pa.list_(pa.int32()) and first.equals(second)
    assert first.to_pylist() == chat_tokenizer.encode_batch(CONVERSATIONS[:4])["input_ids"]
    assert pa.array(out["truncated_tokens"]).type == pa.int64()
    # A capsule pair that is never imported is released with its capsules.
    ids.__arrow_c_array__()


def test_render_batch_reads_tables(chat_tokenizer):
    table = pa.table({"messages": pa.array(CONVERSATIONS[:6]), "id": range(6)})
    assert chat_tokenizer.render_batch(table) == chat_tokenizer.render_batch(CONVERSATIONS[:6])
