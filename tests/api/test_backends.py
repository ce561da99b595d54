"""The tokenizer backends: tokenizers 1.0's pipeline (src/tokenizer/pipeline) and fastmask's
byte-level BPE (src/tokenizer/bpe) are chosen where their shape applies and change nothing. For
every zoo family, `backend="auto"` and each engine that applies, forced, give exactly what the
forced `backend="tokenizers"` (0.23) gives on the differential corpus, untruncated and truncated
from either side; the `backend` property says which one encodes.

The ids and offsets of the engines themselves are proven against the `tokenizers` crate by
tests/compat/test_pipeline_engine.py and tests/compat/test_bpe_backend.py; this checks the wiring
(choice, per-call fallback, truncation, masks).
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from _support.corpus import CASES
from _support.forked import result_in_forked_child
from _support.tokenizer_zoo import FAMILIES, model_dir
from _support.trl_templates import training_templates

import fastmask

# Byte-level BPE families can take either engine, `auto` the pipeline; SentencePiece BPE only the
# pipeline; WordPiece neither.
FAST_FAMILIES = ("qwen2", "qwen3", "deepseek", "tekken")
PIPELINE_FAMILIES = (*FAST_FAMILIES, "mistral_spm")
TOKENIZERS_FAMILIES = ("bert",)
TEMPLATE = "qwen3_training"  # tool calls, reasoning, content parts: many shapes of rendered text
OPTIONS = (
    {},
    {"truncation": True, "max_length": 37, "truncation_side": "right", "padding": True, "return_tensors": "np"},
    {"truncation": True, "max_length": 37, "truncation_side": "left"},
)


def test_families_cover_the_zoo() -> None:
    assert sorted(PIPELINE_FAMILIES + TOKENIZERS_FAMILIES) == sorted(FAMILIES)


def chat_tokenizers(family: str, backend: str) -> tuple[fastmask.ChatTokenizer, fastmask.ChatTokenizer]:
    template = dict(training_templates())[TEMPLATE]
    return tuple(  # type: ignore[return-value]
        fastmask.ChatTokenizer.from_pretrained(model_dir(family), chat_template=template, backend=name)
        for name in (backend, "tokenizers")
    )


def engine_cases() -> list[tuple[str, str]]:
    cases = [(family, "auto") for family in FAMILIES]
    cases += [(family, "tokenizers1") for family in PIPELINE_FAMILIES]
    return cases + [(family, "fast") for family in FAST_FAMILIES]


def outcome(call: Any) -> Any:
    try:
        out = call()
    except fastmask.FastmaskError as err:
        return ("error", type(err).__name__, str(err))
    return {name: value.tolist() if hasattr(value, "tolist") else value for name, value in out.items()}


@pytest.mark.parametrize(("family", "backend"), engine_cases())
def test_each_engine_and_the_forced_tokenizers_backend_are_identical(family: str, backend: str) -> None:
    auto, forced = chat_tokenizers(family, backend)
    expected = {"auto": "tokenizers1" if family in PIPELINE_FAMILIES else "tokenizers"}.get(backend, backend)
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
    with pytest.raises(fastmask.TokenizerError, match="backend='tokenizers1'"):
        fastmask.ChatTokenizer.from_pretrained(model_dir("bert"), chat_template=template, backend="tokenizers1")
    with pytest.raises(fastmask.InputError, match="backend must be"):
        fastmask.ChatTokenizer.from_pretrained(model_dir("qwen2"), chat_template=template, backend="bpe")


# -- the engine is built after construction ----------------------------------------------------------
# Construction loads only tokenizers 0.23 and starts building the engine on a background thread
# (src/runtime/deferred.rs); calls that encode wait for it, calls that render never do. The test
# hooks hold every build for a while, so each test runs while the build is under way.

CONVERSATIONS = [
    [{"role": "user", "content": "Hi, 你好 👍"}, {"role": "assistant", "content": "Hello there.\n\n```py\nx = 1\n```"}],
    [{"role": "user", "content": "  spaces   and\ttabs "}, {"role": "assistant", "content": "ok"}],
]


@pytest.fixture
def held_builds() -> Any:
    from fastmask import _core

    _core._delay_engine_builds(1.0)
    yield _core
    _core._delay_engine_builds(0)


def test_rendering_never_waits_for_the_engine(held_builds: Any) -> None:
    auto, forced = chat_tokenizers("qwen2", "auto")
    assert auto.render_batch(CONVERSATIONS) == forced.render_batch(CONVERSATIONS)
    assert not held_builds._engine_is_built(auto._core), "rendering waited for the engine"
    # The masks come from the offsets: equal masks on text the template marks mean equal offsets.
    assert auto.encode_batch(CONVERSATIONS) == forced.encode_batch(CONVERSATIONS)
    assert held_builds._engine_is_built(auto._core)
    assert auto.backend == "tokenizers1"


def test_a_child_forked_mid_build_builds_the_engine_itself(held_builds: Any) -> None:
    auto, forced = chat_tokenizers("qwen2", "auto")
    assert not held_builds._engine_is_built(auto._core)
    # The child has no builder thread: it must build the engine itself, not wait for the parent's.
    result = result_in_forked_child(_encode_and_name_backend, auto)
    expected = forced.encode_batch(CONVERSATIONS)
    assert result == (expected, "tokenizers1")
    assert (auto.encode_batch(CONVERSATIONS), auto.backend) == result


def _encode_and_name_backend(tokenizer: fastmask.ChatTokenizer) -> tuple:
    return tokenizer.encode_batch(CONVERSATIONS), tokenizer.backend
