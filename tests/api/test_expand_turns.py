"""expand_turns=True: one row per trained turn, checked against transformers.

Each row is the conversation up to and including its trained turn: its text is transformers'
render of that prefix, its ids are transformers' `apply_chat_template(prefix, tokenize=True)`, and
its mask is transformers' overlap rule applied to the one span of the last turn. Run on ChatML
(with and without generation blocks) and on Qwen3's stock and training templates, which drop the
reasoning of past turns: each row keeps its own turn's reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pytest
from _support import deepseek
from _support.trl_templates import template

import fastmask

CHATML = deepseek.CHATML_TEMPLATE
TEMPLATES = {
    "chatml_tagged": CHATML,
    # `{{ '' }}` in place of the tag keeps the `{%-` after it from eating the header's newline.
    "chatml_untagged": CHATML.replace("{% generation %}", "{{ '' }}").replace("{% endgeneration %}", ""),
    "qwen3": template("qwen3"),
    "qwen3_training": template("qwen3_training"),
}

CONVERSATIONS = [
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4.", "reasoning_content": "Two and two make four."},
        {"role": "user", "content": "And 3 + 3?"},
        {"role": "assistant", "content": "6, of course.", "reasoning_content": "Three doubled."},
    ],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Not this one.", "train": False}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hello there!"}],
]
# (conversation_index, turn_index) of every row: conversation 1's only turn is marked untrained.
ORIGINS = [(0, 2), (0, 4), (2, 1)]


@pytest.fixture(scope="module")
def hf():
    return deepseek.make_hf()


@pytest.fixture(scope="module")
def base():
    return deepseek.chat_tokenizer(CHATML)


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def case(request, base, hf):
    """(fastmask tokenizer, transformers tokenizer) on one template."""
    hf.chat_template = TEMPLATES[request.param]
    return base.with_chat_template(TEMPLATES[request.param]), hf


def prefix(origin):
    conversation, turn = origin
    return CONVERSATIONS[conversation][: turn + 1]


def hf_ids(hf, messages):
    ids = hf.apply_chat_template(messages, tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, Mapping) else ids)


def test_rows_are_transformers_renders_of_each_prefix_with_only_the_last_turn_spanned(case):
    tok, hf = case
    rows = tok.render_batch(CONVERSATIONS, expand_turns=True)
    assert [(c, t) for _, _, c, t in rows] == ORIGINS
    for text, spans, *origin in rows:
        messages = prefix(origin)
        assert text == hf.apply_chat_template(messages, tokenize=False)
        # The one span lies after the prompt of the last turn and holds all of its content.
        prompt = hf.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        [(start, end)] = spans
        assert text.startswith(prompt) and start >= len(prompt)
        assert messages[-1]["content"] in text[start:end]


def test_each_row_keeps_its_own_reasoning_where_the_template_drops_past_reasoning(base):
    tok = base.with_chat_template(TEMPLATES["qwen3"])
    (first, first_spans, *_), (second, _, *_) = tok.render_batch(CONVERSATIONS[:1], expand_turns=True)
    start, end = first_spans[0]
    assert "Two and two make four." in first[start:end]
    assert "Two and two make four." not in second  # dropped from history, as at inference


def test_ids_and_masks_equal_transformers_on_each_prefix(case):
    tok, hf = case
    out = tok.encode_batch(CONVERSATIONS, expand_turns=True, ignore_index=-7)
    rows = tok.render_batch(CONVERSATIONS, expand_turns=True)
    assert list(zip(out["conversation_index"], out["turn_index"])) == ORIGINS
    for index, (text, [(start, end)], *origin) in enumerate(rows):
        ids = out["input_ids"][index]
        assert ids == hf_ids(hf, prefix(origin))
        offsets = hf(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        expected = [int(a < end and b > start) for a, b in offsets]  # transformers' overlap rule
        assert out["assistant_masks"][index] == expected
        assert out["labels"][index] == [i if m else -7 for i, m in zip(ids, expected)]


def test_lists_numpy_and_arrow_agree_with_padding_across_rows(case):
    tok, _ = case
    options = fastmask.MaskOptions(expand_turns=True, padding=True)
    lists = tok.encode_batch(CONVERSATIONS, options=options)
    assert len({len(row) for row in lists["input_ids"]}) == 1
    arrays = tok.encode_batch(CONVERSATIONS, options=options, return_tensors="np")
    arrow = tok.encode_batch(CONVERSATIONS, options=options, return_tensors="arrow")
    for name in ("input_ids", "attention_mask", "assistant_masks", "labels", "conversation_index", "turn_index"):
        assert arrays[name].dtype == np.int64
        assert arrays[name].tolist() == lists[name]
        assert arrow[name].to_pylist() == lists[name]
    for name in ("conversation_index", "turn_index"):
        assert arrays[name].shape == (len(ORIGINS),)
        assert arrow[name].type == pa.int64()


def test_last_turn_only_train_roles_and_single_conversation(base):
    rows = base.render_batch(CONVERSATIONS, expand_turns=True, last_turn_only=True)
    assert [(c, t) for _, _, c, t in rows] == [(0, 4), (2, 1)]
    assert base.render_batch(CONVERSATIONS, expand_turns=True, train_roles=("tool",), train_key=None) == []
    out = base.encode(CONVERSATIONS[0], expand_turns=True)
    assert out["conversation_index"] == [0, 0] and out["turn_index"] == [2, 4]
    assert out["input_ids"] == base.encode_batch(CONVERSATIONS[:1], expand_turns=True)["input_ids"]


def test_errors_stay_with_their_conversation(base):
    batch = [
        CONVERSATIONS[0],
        "not a conversation",
        CONVERSATIONS[2],
    ]
    out = base.encode_batch(batch, expand_turns=True, on_error="skip")
    assert [index for index, _ in out["errors"]] == [1]
    assert list(zip(out["conversation_index"], out["turn_index"])) == [(0, 2), (0, 4), (2, 1)]
    with pytest.raises(fastmask.InputError, match="conversation 1"):
        base.encode_batch(batch, expand_turns=True)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"on_error": "collect"}, "on_error='collect'"),
        ({"mask_source": "none"}, "mask_source='none'"),
        ({"add_generation_prompt": True}, "add_generation_prompt"),
    ],
)
def test_combinations_that_cannot_be_defined_are_refused(base, options, match):
    with pytest.raises(fastmask.InputError, match=match):
        base.encode_batch(CONVERSATIONS, expand_turns=True, **options)


def test_render_of_one_conversation_points_to_render_batch(base):
    with pytest.raises(fastmask.InputError, match="render_batch"):
        base.render(CONVERSATIONS[0], expand_turns=True)
    assert fastmask.MaskOptions(expand_turns=True).expand_turns


def test_a_rewritten_turn_is_refused_pointing_to_expansion_or_left_untrained(base, hf):
    """Qwen3.6's stock template drops the reasoning of turns before the last query: the first
    turn is not trained as its rewritten text, by default an error says expand_turns=True trains
    it, changed_turns="skip" trains only the last turn (as transformers' text has it)."""
    stock = base.with_chat_template(template("qwen3_6"))
    conversation = CONVERSATIONS[0]
    with pytest.raises(fastmask.TemplateError, match="expand_turns=True") as refused:
        stock.render(conversation)
    assert refused.value.message == 2 and refused.value.conversation == 0
    text, spans = stock.render(conversation, changed_turns="skip")
    hf.chat_template = template("qwen3_6")
    assert text == hf.apply_chat_template(conversation, tokenize=False)
    assert "Two and two make four." not in text  # dropped from the history, hence untrained
    # The generation prompt prefills `<think>\n`, so the trained turn starts after it.
    assert [text[start:end] for start, end in spans] == [text[text.index("Three doubled.") :]]
    rows = stock.render_batch([conversation], expand_turns=True)
    assert [row[3] for row in rows] == [2, 4]
    assert "Two and two make four." in rows[0][0][rows[0][1][0][0] : rows[0][1][0][1]]


def test_changed_turns_option_values():
    assert fastmask.MaskOptions(changed_turns="skip").changed_turns == "skip"
    assert fastmask.MaskOptions().changed_turns == "error"
    with pytest.raises(fastmask.InputError, match="^changed_turns must be 'error' or 'skip', got 'train'$"):
        fastmask.MaskOptions(changed_turns="train")
