"""The tokenizer backend: fastmask's byte-level BPE (src/bpe) is chosen where its shape applies
and changes nothing. For every zoo family, `backend="auto"` gives exactly what the forced
`backend="tokenizers"` gives on the differential corpus, untruncated and truncated from either
side; the `backend` property says which one encodes.

The ids and offsets of the fast BPE itself are proven against the `tokenizers` crate by
tests/compat/test_bpe_backend.py; this checks the wiring (choice, per-call fallback, truncation, masks).
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from _support.corpus import CASES
from _support.tokenizer_zoo import FAMILIES, model_dir
from _support.trl_templates import training_templates

import fastmask

# Byte-level BPE families take the fast backend; SentencePiece (byte fallback) and WordPiece do not.
FAST_FAMILIES = ("qwen2", "qwen3", "deepseek", "tekken")
TOKENIZERS_FAMILIES = ("mistral_spm", "bert")
TEMPLATE = "qwen3_training"  # tool calls, reasoning, content parts: many shapes of rendered text
OPTIONS = (
    {},
    {"truncation": True, "max_length": 37, "truncation_side": "right", "padding": True, "return_tensors": "np"},
    {"truncation": True, "max_length": 37, "truncation_side": "left"},
)


def test_families_cover_the_zoo() -> None:
    assert sorted(FAST_FAMILIES + TOKENIZERS_FAMILIES) == sorted(FAMILIES)


def chat_tokenizers(family: str) -> tuple[fastmask.ChatTokenizer, fastmask.ChatTokenizer]:
    template = dict(training_templates())[TEMPLATE]
    return tuple(  # type: ignore[return-value]
        fastmask.ChatTokenizer.from_pretrained(model_dir(family), chat_template=template, backend=backend)
        for backend in ("auto", "tokenizers")
    )


def outcome(call: Any) -> Any:
    try:
        out = call()
    except fastmask.FastmaskError as err:
        return ("error", type(err).__name__, str(err))
    return {name: value.tolist() if hasattr(value, "tolist") else value for name, value in out.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_auto_and_forced_tokenizers_backends_are_identical(family: str) -> None:
    auto, forced = chat_tokenizers(family)
    expected = "fast" if family in FAST_FAMILIES else "tokenizers"
    assert (auto.backend, forced.backend) == (expected, "tokenizers")
    # One case at a time: a case the template rejects must be rejected alike, without hiding the rest.
    for case in CASES:
        for options in OPTIONS:
            conversation, kwargs = case.fresh()
            got = outcome(lambda: auto.encode_batch([conversation], **options, **kwargs))
            want = outcome(lambda: forced.encode_batch([conversation], **options, **kwargs))
            assert got == want, f"{family} {case.name} {options}"
    texts = [text for case in CASES for text in outcome_texts(forced, case)]
    for options in OPTIONS:
        assert outcome(lambda: auto.encode_texts(texts, **options)) == outcome(
            lambda: forced.encode_texts(texts, **options)
        )


def outcome_texts(tok: fastmask.ChatTokenizer, case: Any) -> list[str]:
    conversation, kwargs = case.fresh()
    try:
        return [tok.render(conversation, **kwargs)[0]]
    except fastmask.FastmaskError:
        return []


def test_forcing_fast_on_an_unsupported_shape_is_an_error() -> None:
    template = dict(training_templates())[TEMPLATE]
    with pytest.raises(fastmask.TokenizerError, match="backend='fast'"):
        fastmask.ChatTokenizer.from_pretrained(model_dir("bert"), chat_template=template, backend="fast")
    assert (
        fastmask.ChatTokenizer.from_pretrained(model_dir("qwen2"), chat_template=template, backend="fast").backend
        == "fast"
    )
    forced = fastmask.ChatTokenizer.from_pretrained(model_dir("qwen2"), chat_template=template, backend="tokenizers")
    assert pickle.loads(pickle.dumps(forced)).backend == "tokenizers"
    with pytest.raises(fastmask.InputError, match="backend must be"):
        fastmask.ChatTokenizer.from_pretrained(model_dir("qwen2"), chat_template=template, backend="bpe")
