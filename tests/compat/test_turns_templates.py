"""Turn inference on real stock templates beyond TRL's pairs (tests/data/templates/, see its README).

Each template renders a conversation identically in fastmask and in transformers' jinja2 path;
the spans fastmask infers in turns mode are then checked against the assistant messages located
independently, by finding each message's content in the rendered text: every assistant content
lies inside a span, each span holds exactly one of them, and no span holds any of the user or
system contents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fastmask

TEMPLATES = sorted((Path(__file__).resolve().parents[1] / "data" / "templates").glob("*.jinja"))
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}

SYSTEM = "You answer questions about birds in one sentence."
USERS = ("Which bird migrates the farthest?", "And which one dives the deepest?")
ASSISTANTS = ("The Arctic tern migrates farthest, pole to pole.", "The emperor penguin dives deepest, past 500 metres.")


def conversation(with_system: bool) -> list[dict[str, str]]:
    turns = [
        m
        for q, a in zip(USERS, ASSISTANTS)
        for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})
    ]
    return ([{"role": "system", "content": SYSTEM}] if with_system else []) + turns


@pytest.fixture(scope="module")
def byte_tokenizer() -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {symbol: i for i, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Tokenizer(models.BPE(vocab, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return tokenizer.to_str()


def jinja2_render(source: str, conv: list[dict[str, str]]) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(conversations=[conv], chat_template=source, **SPECIAL_TOKENS)
    return rendered[0]


def test_at_least_ten_templates():
    assert len(TEMPLATES) >= 10


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_turns_cover_the_assistant_messages(byte_tokenizer, path):
    source = path.read_text(encoding="utf-8")
    conv = conversation(with_system=True)
    try:
        expected = jinja2_render(source, conv)
    except Exception:  # a template that rejects system messages  # noqa: BLE001
        conv = conversation(with_system=False)
        expected = jinja2_render(source, conv)
    chat = fastmask.ChatTokenizer.from_parts(byte_tokenizer, source, special_tokens=SPECIAL_TOKENS)
    text, spans = chat.render(conv, mask_source="turns")
    assert text == expected
    located = []
    at = 0
    for message in conv:
        at = text.index(message["content"], at)
        located.append((message["role"], at, at + len(message["content"])))
        at += len(message["content"])
    assistants = [(s, e) for role, s, e in located if role == "assistant"]
    others = [(s, e) for role, s, e in located if role != "assistant"]
    assert len(spans) == len(assistants)
    for (span_start, span_end), (start, end) in zip(spans, assistants):
        assert span_start <= start and end <= span_end, (text[span_start:span_end], text[start:end])
        assert not any(span_start < e and s < span_end for s, e in others), text[span_start:span_end]
    out = chat.encode(conv, mask_source="turns")
    assert sum(out["assistant_masks"]) == sum(len(text[s:e].encode()) for s, e in spans)
