"""fastmask.pack: properties over generated rows (no token lost or duplicated unless truncated and
counted, masks and labels move with their tokens, positions restart at each sequence, no bin over
seq_length), its options, and its errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmask

ROW = 1000  # token id = row * ROW + position, so every packed token says where it came from


def rows_from(lengths: list[int], trained_from: list[int]) -> dict[str, list]:
    ids = [[row * ROW + pos for pos in range(n)] for row, n in enumerate(lengths)]
    masks = [[int(pos >= start) for pos in range(n)] for n, start in zip(lengths, trained_from)]
    labels = [[t if m else -100 for t, m in zip(row_ids, row_mask)] for row_ids, row_mask in zip(ids, masks)]
    return {
        "input_ids": ids,
        "assistant_masks": masks,
        "labels": labels,
        "conversation_index": list(range(len(lengths))),
    }


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), max_size=40),
    starts=st.lists(st.integers(0, 40), min_size=40, max_size=40),
    seq_length=st.integers(1, 48),
    strategy=st.sampled_from(["bfd", "bfd_split", "wrapped"]),
    batch_size=st.sampled_from([1, 3, 1000, None]),
    padding=st.booleans(),
)
def test_packing_properties(lengths, starts, seq_length, strategy, batch_size, padding):
    rows = rows_from(lengths, starts[: len(lengths)])
    packed, stats = fastmask.pack(
        rows,
        seq_length,
        strategy=strategy,
        batch_size=batch_size,
        padding=padding,
        pad_token_id=-1,
        return_cu_seqlens=True,
        return_segment_ids=True,
        return_stats=True,
    )
    tokens = [t for bin_ids in packed["input_ids"] for t in bin_ids if t != -1]
    kept = seq_length if strategy == "bfd" else None
    expected = [row * ROW + pos for row, n in enumerate(lengths) for pos in range(n)[:kept]]
    assert sorted(tokens) == expected  # nothing lost, nothing twice
    assert stats.truncated_tokens == sum(lengths) - len(expected)
    assert stats.tokens == len(expected) and stats.bins == len(packed["input_ids"])
    for b, bin_ids in enumerate(packed["input_ids"]):
        assert len(bin_ids) == seq_length if padding else 0 < len(bin_ids) <= seq_length
        mask, labels, positions = packed["assistant_masks"][b], packed["labels"][b], packed["position_ids"][b]
        for t, m, label in zip(bin_ids, mask, labels):
            real = t != -1
            assert m == (real and t % ROW >= starts[t // ROW])
            assert label == (t if m else -100)
        real = sum(t != -1 for t in bin_ids)
        wrapped = [real] + [len(bin_ids) - real] * (len(bin_ids) > real)  # the padding is a sequence
        sequences = packed["seq_lengths"][b] if strategy != "wrapped" else wrapped
        assert sum(sequences) == len(bin_ids)
        assert packed["cu_seqlens"][b] == list(np.cumsum([0, *sequences]))
        assert positions == [p for n in sequences for p in range(n)]
        if strategy != "wrapped":
            starts_at = np.cumsum([0, *sequences[:-1]])
            real_starts = [s for s in starts_at if bin_ids[s] != -1]
            # each sequence is one row's consecutive tokens, and the per-row column names that row
            assert packed["conversation_index"][b] == [bin_ids[s] // ROW for s in real_starts]
            for s, n in zip(starts_at, sequences):
                run = bin_ids[s : s + n]
                assert run == list(range(run[0], run[0] + n)) or set(run) == {-1}
            assert [segment for n, k in zip(sequences, range(1, len(sequences) + 1)) for segment in [k] * n] == [
                0 if t == -1 else s for t, s in zip(bin_ids, packed["segment_ids"][b])
            ] or padding


def test_ignore_first_label_and_drop_untrained():
    rows = rows_from([3, 2, 4], [0, 9, 1])  # row 1 has no trained token
    packed, stats = fastmask.pack(rows, 8, ignore_first_label=True, drop_untrained=True, return_stats=True)
    assert packed["input_ids"] == [[2000, 2001, 2002, 2003, 0, 1, 2]]
    assert packed["labels"] == [[-100, 2001, 2002, 2003, -100, 1, 2]]
    assert (stats.untrained_rows, stats.trained_tokens, stats.capacity_tokens) == (1, 6, 8)
    assert stats.efficiency == 7 / 8 and stats.trained_share == 6 / 8


def test_kinds_in_kinds_out():
    rows = rows_from([3, 5, 2], [0, 0, 0])
    from_lists = fastmask.pack(rows, 6, batch_size=None)
    arrow = {name: pa.array(values) for name, values in rows.items()}
    from_arrow = fastmask.pack(arrow, 6, batch_size=None)
    assert {name: from_arrow[name].to_pylist() for name in from_lists} == from_lists
    matrix = {
        "input_ids": np.array([[1, 2, 0], [3, 0, 0]]),
        "attention_mask": np.array([[1, 1, 0], [0, 0, 1]]),
        "conversation_index": np.array([7, 8]),
    }
    packed = fastmask.pack(matrix, 4, padding=True, pad_token_id=9)
    assert packed["input_ids"].tolist() == [[1, 2, 0, 9]]
    assert packed["attention_mask"].tolist() == [[1, 1, 1, 0]]
    assert packed["conversation_index"] == [[7, 8]]


def test_large_lists_stay_large():
    table = pa.table({"input_ids": pa.array([[1, 2], [3]], type=pa.large_list(pa.int16()))})
    assert fastmask.pack(table, 4).column("input_ids").type == pa.large_list(pa.int16())


@pytest.mark.parametrize(
    ("encoded", "options", "message"),
    [
        ({"input_ids": [[1]]}, {"seq_length": 0}, "seq_length must be at least 1, got 0"),
        ({"input_ids": [[1]]}, {"seq_length": "8"}, "seq_length must be an int, got str"),
        (
            {"input_ids": [[1]]},
            {"seq_length": 8, "strategy": "ffd"},
            "strategy must be 'bfd', 'bfd_split' or 'wrapped'",
        ),
        ({"input_ids": [[1, 2]], "labels": [[1]]}, {"seq_length": 8}, 'column "labels", row 0: 1 values'),
        ({"input_ids": [[1, 2]], "labels": [[1, 2], [3]]}, {"seq_length": 8}, 'column "labels" has 2 rows'),
        ({"input_ids": [[1, 2]], "source": ["a", "b"]}, {"seq_length": 8}, "column 'source' has 2 rows"),
        ({"input_ids": [[1, 2, 3]]}, {"seq_length": 2, "truncate": False}, "row 0 has 3 tokens, more than seq_length"),
        ({"input_ids": [[1]]}, {"seq_length": 2, "padding": True}, "pass pad_token_id"),
        ({"labels": [[1]]}, {"seq_length": 2}, "needs an input_ids column"),
        ({"input_ids": [[1, "x"]]}, {"seq_length": 2}, 'column "input_ids", row 0: packing needs a list of ints'),
        ({"input_ids": [[1]], "position_ids": [[0]]}, {"seq_length": 2}, "'position_ids' is one pack makes"),
        (
            {"input_ids": [[1]], "labels": [[-100]]},
            {"seq_length": 2, "drop_untrained": False, "padding": True, "pad_token_id": 300, "ignore_index": 10**20},
            "ignore_index must fit in 64 bits",
        ),
    ],
)
def test_bad_input_is_a_clear_error(encoded, options, message):
    with pytest.raises(fastmask.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fastmask.pack(encoded, **options)


def test_padding_value_must_fit_the_column():
    table = {"input_ids": pa.array([[1]], type=pa.list_(pa.int8()))}
    with pytest.raises(fastmask.InputError, match="300 does not fit"):
        fastmask.pack(table, 2, padding=True, pad_token_id=300)


def test_encode_batch_pack_length_is_pack_over_the_call(chat_tokenizer):
    import synth

    conversations = synth.corpus(30, seed=8)
    encoded = chat_tokenizer.encode_batch(conversations, expand_turns=True, return_tensors="arrow")
    for strategy in ("bfd", "bfd_split", "wrapped"):
        expected = fastmask.pack(encoded, 1500, strategy=strategy, batch_size=None)
        got = chat_tokenizer.encode_batch(
            conversations, expand_turns=True, return_tensors="arrow", pack_length=1500, pack_strategy=strategy
        )
        assert list(got) == list(expected) and all(got[name].equals(expected[name]) for name in expected)
        lists = chat_tokenizer.encode_batch(conversations, expand_turns=True, pack_length=1500, pack_strategy=strategy)
        assert lists["input_ids"] == expected["input_ids"].to_pylist()
    arrays = chat_tokenizer.encode_batch(conversations, pack_length=1500, return_tensors="np")
    assert arrays["input_ids"].shape == (len(arrays["seq_lengths"]), 1500)
    assert (arrays["labels"][arrays["input_ids"] == chat_tokenizer.pad_token_id] == -100).all()
    options = fastmask.MaskOptions(pack_length=1500, pack_strategy="wrapped")
    assert "seq_lengths" not in chat_tokenizer.encode_batch(conversations, options=options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pack_length": 0}, "pack_length must be None or a number of tokens from 1"),
        ({"pack_length": 8, "padding": True}, "padding must be False"),
        ({"pack_strategy": "first_fit"}, "pack_strategy must be 'bfd', 'bfd_split' or 'wrapped', got 'first_fit'"),
        ({"pack_length": 8, "on_error": "collect"}, "use 'skip'"),
    ],
)
def test_pack_options_are_checked(options, message):
    with pytest.raises(fastmask.InputError, match=message):
        fastmask.MaskOptions(**options)
