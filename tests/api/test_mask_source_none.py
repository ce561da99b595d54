"""mask_source="none": the text alone, for every conversation the template renders.

Text, ids and attention mask equal transformers' (render with `tokenize=False`, then the
tokenizer on that text); spans are empty, assistant masks all zero, labels all `ignore_index`.
Checked on a template with `{% generation %}` blocks (its spans are dropped), one without, one
that moves the system prompt (turns found by their contents), and one that rewrites an earlier
turn so that turn inference refuses it.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from _support import deepseek

import fastmask
from fastmask.cli import main

TAGGED = deepseek.CHATML_TEMPLATE
UNTAGGED = TAGGED.replace("{% generation %}", "").replace("{% endgeneration %}", "")
# Mistral v3's habit: the system prompt goes before the *last* user message, so earlier turns are
# rendered differently once later ones follow (turn inference finds the turns by their contents).
SYSTEM_LAST = (
    "{{- bos_token }}"
    "{%- set system = messages[0].content if messages[0].role == 'system' else '' %}"
    "{%- set chat = messages[1:] if messages[0].role == 'system' else messages %}"
    "{%- set ns = namespace(last_user=-1) %}"
    "{%- for m in chat %}{% if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}{% endfor %}"
    "{%- for m in chat %}"
    "{%- if m.role == 'user' %}[INST] {% if loop.index0 == ns.last_user and system %}{{ system }}\n\n{% endif %}"
    "{{- m.content }}[/INST]"
    "{%- else %}{{ m.content }}{{ eos_token }}{% endif %}"
    "{%- endfor %}"
)
# gpt-oss' habit: the last assistant turn ends with `<|return|>`, earlier ones with `<|end|>`, so
# an earlier turn is rewritten once a later message follows and turn inference refuses to train it.
END_CHANGES = (
    "{%- for m in messages %}<|{{ m.role }}|>{{ m.content }}"
    "{%- if m.role == 'assistant' and loop.last %}<|return|>{% else %}<|end|>{% endif %}"
    "{%- endfor %}"
)
TEMPLATES = {"tagged": TAGGED, "untagged": UNTAGGED, "system_last": SYSTEM_LAST, "end_changes": END_CHANGES}

CONVERSATIONS = [
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3 + 3?"},
        {"role": "assistant", "content": "6, of course."},
    ],
    [
        {"role": "system", "content": "You answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour !"},
    ],
    [{"role": "user", "content": "Only a question"}],
]


@pytest.fixture(scope="module")
def hf():
    return deepseek.make_hf()


@pytest.fixture(scope="module")
def base():
    return deepseek.chat_tokenizer(TAGGED)


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def case(request, base, hf):
    """(fastmask tokenizer, the texts transformers renders, their ids) for one template."""
    template = TEMPLATES[request.param]
    hf.chat_template = template
    texts = [hf.apply_chat_template(conversation, tokenize=False) for conversation in CONVERSATIONS]
    ids = [hf(text, add_special_tokens=False)["input_ids"] for text in texts]
    return base.with_chat_template(template), texts, ids


def test_render_is_transformers_text_without_spans(case):
    tok, texts, _ = case
    for conversation, text in zip(CONVERSATIONS, texts):
        assert tok.render(conversation, mask_source="none") == (text, [])
    assert tok.render_batch(CONVERSATIONS, mask_source="none") == [(text, []) for text in texts]


def test_encode_lists(case):
    tok, _, ids = case
    for conversation, expected in zip(CONVERSATIONS, ids):
        out = tok.encode(conversation, mask_source="none", ignore_index=-1)
        assert out["input_ids"] == expected
        assert out["attention_mask"] == [1] * len(expected)
        assert out["assistant_masks"] == [0] * len(expected)
        assert out["labels"] == [-1] * len(expected)


def test_numpy_arrow_and_lists_agree(case, hf):
    tok, _, ids = case
    options = fastmask.MaskOptions(mask_source="none", padding=True)
    lists = tok.encode_batch(CONVERSATIONS, options=options)
    longest = max(map(len, ids))
    assert lists["input_ids"] == [row + [hf.pad_token_id] * (longest - len(row)) for row in ids]
    assert lists["attention_mask"] == [[1] * len(row) + [0] * (longest - len(row)) for row in ids]
    arrays = tok.encode_batch(CONVERSATIONS, options=options, return_tensors="np")
    for name in ("input_ids", "attention_mask", "assistant_masks", "labels"):
        assert arrays[name].dtype == np.int64
        assert arrays[name].tolist() == lists[name]
    assert not arrays["assistant_masks"].any()
    assert (arrays["labels"] == -100).all()
    arrow = tok.encode_batch(CONVERSATIONS, options=options, return_tensors="arrow")
    for name in ("input_ids", "attention_mask", "assistant_masks", "labels"):
        assert isinstance(arrow[name], pa.Array)
        assert arrow[name].to_pylist() == lists[name]


def test_the_other_sources_on_these_templates(base):
    # What "none" is for: the untagged template refuses "generation", and turn inference refuses
    # to train the turn the template rewrites.
    with pytest.raises(fastmask.InputError, match="no \\{% generation %\\} blocks"):
        base.with_chat_template(UNTAGGED).render(CONVERSATIONS[0], mask_source="generation")
    with pytest.raises(fastmask.FastmaskError, match="expand_turns=True") as refused:
        base.with_chat_template(END_CHANGES).render(CONVERSATIONS[0])
    assert refused.value.message == 2
    text, spans = base.with_chat_template(SYSTEM_LAST).render(CONVERSATIONS[0])
    assert [text[start:end] for start, end in spans] == [
        "4.<｜end▁of▁sentence｜>",
        "6, of course.<｜end▁of▁sentence｜>",
    ]
    # and the tagged template's blocks are spans under "auto", dropped under "none"
    assert len(base.render(CONVERSATIONS[0])[1]) == 2


def test_mask_options_field_and_error_message():
    assert fastmask.MaskOptions(mask_source="none").mask_source == "none"
    assert fastmask.MaskOptions(mask_source="none") != fastmask.MaskOptions()
    expected = "^mask_source must be 'generation', 'turns', 'auto' or 'none', got \"nothing\"$"
    with pytest.raises(fastmask.InputError, match=expected):
        fastmask.MaskOptions(mask_source="nothing")


def test_cli_render_shows_the_text_when_spans_cannot_be_inferred(tmp_path, capsys, chat_tokenizer):
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps({"messages": c}) + "\n" for c in CONVERSATIONS[:2]), encoding="utf-8")
    template = tmp_path / "end_changes.jinja"
    template.write_text(END_CHANGES, encoding="utf-8")
    assert main(["render", str(data), "--chat-template", str(template), "--color", "never"]) == 0
    printed = capsys.readouterr().out
    tok = chat_tokenizer.with_chat_template(END_CHANGES)
    # Row 0 has two assistant turns and cannot be inferred; row 1 has one and can.
    first, second = printed.split("--- row 1 ")
    header, body = first.split("\n", 1)
    assert header.startswith("--- row 0 (text only: no assistant spans: ")
    assert "message 2" in header
    assert body.rstrip("\n") == tok.render(CONVERSATIONS[0], mask_source="none")[0].rstrip("\n")
    assert second.startswith("(assistant text in ⟦ ⟧)")
    assert "⟦" in second
