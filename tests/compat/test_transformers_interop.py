"""`fastmask.apply_chat_template(hf, ...)` against `hf.apply_chat_template(...)` of transformers 5.24.

Differential: each call is made on both sides with the same arguments, and the results (type,
keys and their order, values, array shapes and dtypes) or the raised exceptions (type and
message) must be the same. Also `parts_from_transformers` / `ChatTokenizer.from_transformers`
and the per-tokenizer cache.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

transformers = pytest.importorskip("transformers")
np = pytest.importorskip("numpy")

from _support.deepseek import BOS, EOS, make_hf  # noqa: E402
from _support.deepseek import CHATML_TEMPLATE as TEMPLATE  # noqa: E402  (the template make_hf sets)

import fastmask  # noqa: E402
from fastmask import _transformers  # noqa: E402
from fastmask._transformers import apply_chat_template, parts_from_transformers  # noqa: E402

TOOL_TEMPLATE = "<|tool_use|>" + TEMPLATE

CONV = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2+2? Réponds « vite » 👋"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "It is 6, obviously.", "reasoning_content": "3 and 3 make 6"},
]
SHORT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there!"}]
BATCH = [CONV, SHORT, CONV[:3]]


def get_weather(city: str, unit: str = "celsius") -> str:
    """Get the current weather in a city.

    Args:
        city: The city, e.g. Paris.
        unit: The temperature unit.
    """
    return city


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_hf():
    return make_hf()


@pytest.fixture
def hf(shared_hf):
    """The module's tokenizer, with the attributes a test may change restored afterwards."""
    saved = {name: getattr(shared_hf, name) for name in ("padding_side", "truncation_side", "chat_template")}
    yield shared_hf
    for name, value in saved.items():
        setattr(shared_hf, name, value)


@pytest.fixture(autouse=True)
def _quiet_transformers():
    transformers.utils.logging.set_verbosity_error()


# -- comparison -----------------------------------------------------------------------------------


def assert_same(ours: Any, theirs: Any) -> None:
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(theirs, (transformers.BatchEncoding, dict)):
        assert list(ours.keys()) == list(theirs.keys())
        for key in theirs:
            assert_same(ours[key], theirs[key])
    elif isinstance(theirs, np.ndarray):
        assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape)
        if theirs.dtype == object:
            for mine, reference in zip(ours, theirs):
                assert_same(mine, reference)
        else:
            np.testing.assert_array_equal(ours, theirs)
    else:
        assert ours == theirs


def both(hf: Any, conversation: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(fastmask's result, transformers' result) of the same call."""
    return apply_chat_template(hf, conversation, **kwargs), hf.apply_chat_template(conversation, **kwargs)


def check(hf: Any, conversation: Any, **kwargs: Any) -> Any:
    ours, theirs = both(hf, conversation, **kwargs)
    assert_same(ours, theirs)
    return ours


def check_raises(hf: Any, conversation: Any, **kwargs: Any) -> BaseException:
    with pytest.raises(Exception) as reference:
        hf.apply_chat_template(conversation, **kwargs)
    with pytest.raises(type(reference.value)) as ours:
        apply_chat_template(hf, conversation, **kwargs)
    if isinstance(reference.value, TypeError) and "got multiple values" in str(reference.value):
        # Python names the callable by its repr there, which for a tokenizer lists its whole vocabulary.
        tail = " got multiple values"
        assert str(ours.value).partition(tail)[1:] == str(reference.value).partition(tail)[1:]
    else:
        assert str(ours.value) == str(reference.value)
    return ours.value


# -- outputs: single vs batch, tokenize, return_dict, masks, tensors -------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize(
    "options",
    [
        {"tokenize": False},
        {"tokenize": False, "add_generation_prompt": True},
        {},
        {"return_dict": False},
        {"return_assistant_tokens_mask": True},
        {"return_tensors": "np"},
        {"return_tensors": "np", "return_dict": False},
        {"return_tensors": "np", "return_assistant_tokens_mask": True},
        {"return_tensors": "np", "return_assistant_tokens_mask": True, "padding": True},
    ],
    ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items()) or "defaults",
)
def test_outputs_match(hf, batched, options):
    check(hf, BATCH if batched else CONV, **options)


def test_returns_batch_encoding_with_exact_keys(hf):
    out = check(hf, CONV, return_assistant_tokens_mask=True)
    assert isinstance(out, transformers.BatchEncoding)
    assert list(out) == ["input_ids", "attention_mask", "assistant_masks"]
    assert 1 in out["assistant_masks"]


def test_tuple_conversations_and_batch_of_one(hf):
    check(hf, tuple(CONV), return_assistant_tokens_mask=True)
    check(hf, [CONV], return_assistant_tokens_mask=True)
    check(hf, (CONV, SHORT), return_assistant_tokens_mask=True)


def test_ragged_numpy_batch_is_an_object_array(hf):
    out = check(hf, BATCH, return_tensors="np", return_assistant_tokens_mask=True)
    assert out["input_ids"].dtype == object


def test_pytorch_tensors(hf):
    pytest.importorskip("torch")
    check(hf, CONV, return_tensors="pt", return_assistant_tokens_mask=True)
    check(hf, BATCH, return_tensors="pt", padding=True, return_assistant_tokens_mask=True)
    check_raises(hf, BATCH, return_tensors="pt")


def test_token_type_ids_when_the_model_takes_them():
    hf = make_hf(model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    out = check(hf, BATCH, padding=True, return_assistant_tokens_mask=True)
    assert list(out) == ["input_ids", "token_type_ids", "attention_mask", "assistant_masks"]
    check(hf, BATCH, padding=True, return_tensors="np")
    check(hf, CONV, tokenizer_kwargs={"return_token_type_ids": False})


def test_return_attention_mask_false(hf):
    check(hf, BATCH, tokenizer_kwargs={"return_attention_mask": False}, return_assistant_tokens_mask=True)


# -- padding and truncation ------------------------------------------------------------------------


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("truncation_side", ["left", "right"])
@pytest.mark.parametrize(
    "options",
    [
        {"padding": True},
        {"padding": "longest", "return_tensors": "np"},
        {"padding": "max_length", "max_length": 80},
        {"padding": "max_length", "max_length": 20},
        {"padding": "max_length", "max_length": 20, "truncation": True, "return_tensors": "np"},
        {"truncation": True, "max_length": 15},
        {"truncation": "only_first", "max_length": 15, "padding": True},
        {"max_length": 15},
        {"padding": True, "max_length": 15},
    ],
    ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items()),
)
def test_padding_and_truncation(hf, padding_side, truncation_side, options):
    hf.padding_side, hf.truncation_side = padding_side, truncation_side
    check(hf, BATCH, return_assistant_tokens_mask=True, **options)
    check(hf, CONV, return_assistant_tokens_mask=True, **options)


def test_sides_changed_between_calls_are_honoured(hf):
    for side in ("left", "right", "left"):
        hf.padding_side = hf.truncation_side = side
        check(hf, BATCH, padding=True, truncation=True, max_length=25, return_assistant_tokens_mask=True)


def test_padding_side_in_tokenizer_kwargs(hf):
    check(hf, BATCH, padding=True, tokenizer_kwargs={"padding_side": "left"}, return_assistant_tokens_mask=True)


def test_padding_without_pad_token():
    hf = make_hf(pad_token=None)
    check_raises(hf, BATCH, padding=True)
    check(hf, BATCH, return_assistant_tokens_mask=True)


def test_model_max_length_is_the_default_max_length():
    hf = make_hf(model_max_length=12)
    check(hf, BATCH, truncation=True, return_assistant_tokens_mask=True)
    check(hf, BATCH, padding="max_length", return_assistant_tokens_mask=True)


def test_invalid_padding_and_truncation_values(hf):
    check_raises(hf, CONV, padding="sideways")
    check_raises(hf, CONV, truncation="sideways")


def test_only_second_truncation_of_a_single_sequence(hf):
    with pytest.raises(Exception, match="Second sequence not provided"):
        hf.apply_chat_template(CONV, truncation="only_second", max_length=5)
    with pytest.raises(ValueError, match="Second sequence not provided"):
        apply_chat_template(hf, CONV, truncation="only_second", max_length=5)


# -- template inputs --------------------------------------------------------------------------------


def test_tools_given_as_functions(hf):
    check(hf, CONV, tools=[get_weather], tokenize=False)
    schema = {"type": "function", "function": {"name": "noop"}}
    check(hf, CONV, tools=[get_weather, schema], return_assistant_tokens_mask=True)


def test_tool_that_is_neither_schema_nor_function(hf):
    check_raises(hf, CONV, tools=["get_weather"])


def test_documents(hf):
    documents = [{"title": "Paris", "text": "Capital of France."}, {"title": "Tokyo", "text": "東京"}]
    check(hf, CONV, documents=documents, return_assistant_tokens_mask=True)
    check_raises(hf, CONV, documents=["just text"])


def test_special_tokens_are_template_variables_and_kwargs_win(hf):
    check(hf, CONV, tokenize=False)
    check(hf, CONV, eos_token="<END>", return_assistant_tokens_mask=True)
    check(hf, BATCH, bos_token="", tokenize=False, custom_flag=True)


def test_special_tokens_changed_between_calls(hf):
    hf2 = make_hf()
    check(hf2, CONV, tokenize=False)
    hf2.bos_token = "<BOS>"
    check(hf2, CONV, tokenize=False, return_dict=False)


def test_plain_and_rich_inputs_take_the_same_path(hf):
    # Plain dicts skip transformers' normalisation; nested objects and tuples go through it.
    @dataclasses.dataclass
    class ToolCall:
        name: str
        arguments: dict

    call = {"role": "assistant", "content": "", "tool_calls": [ToolCall("get_weather", {"city": "Paris"})]}
    hf.chat_template = TEMPLATE.replace("{{ eos_token }}", "{{ m.tool_calls | tojson if m.tool_calls }}{{ eos_token }}")
    check(hf, CONV + [call], return_assistant_tokens_mask=True)
    check(hf, [tuple(CONV), CONV + [call], SHORT], tokenize=False)


def test_message_objects_and_none_values(hf):
    @dataclasses.dataclass
    class Message:
        role: str
        content: str
        reasoning_content: str | None = None

    objects = [Message(**message) for message in CONV]
    check(hf, objects, return_assistant_tokens_mask=True)
    check(hf, [objects, SHORT], tokenize=False)
    with_none = [dict(message, tool_calls=None) for message in CONV]
    check(hf, with_none, return_assistant_tokens_mask=True)


def test_reasoning_aliases(hf):
    for name in ("thinking", "reasoning"):
        conversation = CONV[:-1] + [{"role": "assistant", "content": "6", name: "three plus three"}]
        check(hf, conversation, return_assistant_tokens_mask=True)


# -- continue_final_message -------------------------------------------------------------------------

PREFILL = SHORT[:1] + [{"role": "assistant", "content": "Hello the"}]


@pytest.mark.parametrize("options", [{"tokenize": False}, {}, {"return_tensors": "np"}, {"return_dict": False}])
def test_continue_final_message(hf, options):
    out = check(hf, PREFILL, continue_final_message=True, **options)
    if options == {"tokenize": False}:
        assert out.endswith("Hello the")
    check(hf, [PREFILL, CONV], continue_final_message=True, **options)


def test_continue_final_message_trailing_space_and_trimmed_templates(hf):
    spaced = PREFILL[:1] + [{"role": "assistant", "content": "Hello the   "}]
    check(hf, spaced, continue_final_message=True, tokenize=False)
    hf.chat_template = TEMPLATE.replace("{{ m.content }}{% else %}", "{{ m.content | trim }}{% else %}")
    check(hf, spaced, continue_final_message=True, tokenize=False)


def test_continue_final_message_on_a_named_field(hf):
    conversation = SHORT[:1] + [{"role": "assistant", "content": "", "reasoning_content": "Let me thi"}]
    out = check(hf, conversation, continue_final_message="reasoning_content", tokenize=False)
    assert out.endswith("<think>Let me thi")
    thinking = SHORT[:1] + [{"role": "assistant", "content": "", "thinking": "Let me thi"}]
    check(hf, thinking, continue_final_message="thinking", tokenize=False)
    check(hf, thinking, continue_final_message="thinking")


def test_continue_final_message_on_content_parts(hf):
    blocks = [{"type": "text", "text": "A"}, {"type": "text", "text": "B b"}]
    parts = SHORT[:1] + [{"role": "assistant", "content": blocks}]
    out = check(hf, parts, continue_final_message=True, tokenize=False)
    assert out.endswith("AB b")
    check_raises(hf, SHORT[:1] + [{"role": "assistant", "content": [{"type": "image"}]}], continue_final_message=True)


def test_continue_final_message_padding(hf):
    hf.padding_side = "left"
    check(hf, [PREFILL, CONV], continue_final_message=True, padding=True, return_tensors="np")


@pytest.mark.parametrize(
    "conversation, field",
    [
        (PREFILL, "missing_field"),  # the final message has no such field
        (PREFILL[:1] + [{"role": "assistant", "content": "x", "extra": "y"}], "extra"),  # not read by the template
        ([PREFILL, []], True),  # an empty conversation in a batch
    ],
    ids=["no-field", "field-not-in-template", "empty-in-batch"],
)
def test_continue_final_message_errors(hf, conversation, field):
    check_raises(hf, conversation, continue_final_message=field, tokenize=False)


def test_continue_final_message_deleted_by_the_template(hf):
    hf.chat_template = "{% for m in messages %}{{ m.role }}{% endfor %}"
    check_raises(hf, PREFILL, continue_final_message=True, tokenize=False)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "conversation, options",
    [
        ([], {}),
        ((), {"tokenize": False}),
        (CONV, {"return_assistant_tokens_mask": True, "tokenize": False}),
        (CONV, {"return_assistant_tokens_mask": True, "return_dict": False}),
        (CONV, {"continue_final_message": True, "add_generation_prompt": True}),
        (CONV, {"continue_final_message": True, "return_assistant_tokens_mask": True}),
        (CONV, {"sanitize_control_tokens": True, "tokenize": False}),
        (CONV + ["not a message"], {}),
        ([CONV, [1]], {"tokenize": False}),
        (CONV, {"return_tensors": "tf"}),
        (CONV, {"tokenizer_kwargs": {"padding": True}}),
    ],
    ids=[
        "empty",
        "empty-tuple",
        "mask-without-tokenize",
        "mask-without-dict",
        "continue-with-prompt",
        "continue-with-mask",
        "sanitize-without-tokenize",
        "non-dict-message",
        "non-dict-in-batch",
        "bad-tensor-type",
        "tokenizer-kwargs-collision",
    ],
)
def test_errors_match(hf, conversation, options):
    error = check_raises(hf, conversation, **options)
    if "tokenizer_kwargs" in options:
        assert isinstance(error, TypeError)


def test_empty_conversation_inside_a_batch(hf):
    check(hf, [SHORT, []], tokenize=False)


def test_template_raise_exception(hf):
    hf.chat_template = "{{ raise_exception('no system messages') if messages[0].role == 'system' }}x"
    with pytest.raises(Exception, match="no system messages"):
        hf.apply_chat_template(CONV)
    with pytest.raises(fastmask.TemplateError, match="no system messages"):
        apply_chat_template(hf, CONV)


def test_no_template(hf):
    hf.chat_template = None
    check_raises(hf, CONV)


# sanitize_control_tokens (with and without masks): tests/hardening/test_sanitize.py.


@pytest.mark.parametrize(
    "tokenizer_kwargs",
    [
        {"pad_to_multiple_of": 8},
        {"return_offsets_mapping": True},
        {"stride": 2},
        {"truncation_side": "left"},
        {"foo": 1},
    ],
)
def test_unsupported_tokenizer_kwargs(hf, tokenizer_kwargs):
    key = next(iter(tokenizer_kwargs))
    with pytest.raises(NotImplementedError, match=key):
        apply_chat_template(hf, CONV, tokenizer_kwargs=tokenizer_kwargs)
    # Not tokenizing, transformers ignores them, and so does fastmask.
    check(hf, CONV, tokenize=False, tokenizer_kwargs=tokenizer_kwargs)


def test_neutral_tokenizer_kwargs_are_accepted(hf):
    check(hf, CONV, tokenizer_kwargs={"pad_to_multiple_of": None, "return_length": False, "verbose": False})


def test_template_variable_named_like_an_encode_option(hf):
    # Template variables travel apart from encode options, so these names reach the template.
    hf.chat_template = "{{ ignore_index }}|{{ padding_side }}|{{ messages[0].content }}"
    for tokenize in (False, True):
        check(hf, CONV, tokenize=tokenize, ignore_index=0, padding_side="x")


def test_slow_tokenizer_is_not_implemented():
    class SlowTokenizer:
        is_fast = False
        chat_template = TEMPLATE

    with pytest.raises(NotImplementedError, match="slow"):
        parts_from_transformers(SlowTokenizer())


def test_split_special_tokens_is_not_implemented():
    hf = make_hf(split_special_tokens=True)
    with pytest.raises(NotImplementedError, match="split_special_tokens"):
        apply_chat_template(hf, CONV)


# -- parts, named templates, cache -------------------------------------------------------------------


def test_parts_from_transformers(hf):
    hf.padding_side = "left"
    # A tokenizing call leaves truncation and padding set on the backend; the parts must not carry them.
    hf.apply_chat_template(BATCH, padding="max_length", truncation=True, max_length=9)
    assert hf.backend_tokenizer.truncation is not None
    parts = parts_from_transformers(hf)
    data = json.loads(parts["tokenizer_json"])
    assert data["truncation"] is None and data["padding"] is None
    assert parts["chat_template"] == TEMPLATE
    assert parts["special_tokens"] == hf.special_tokens_map == {"bos_token": BOS, "eos_token": EOS, "pad_token": EOS}
    assert (parts["padding_side"], parts["truncation_side"], parts["pad_token"]) == ("left", "right", EOS)
    assert parts_from_transformers(hf, "{{ 'literal' }}")["chat_template"] == "{{ 'literal' }}"


def test_named_templates(hf):
    hf.chat_template = {"default": TEMPLATE, "tool_use": TOOL_TEMPLATE}
    assert parts_from_transformers(hf)["chat_template"] == TEMPLATE
    assert parts_from_transformers(hf, "tool_use")["chat_template"] == TOOL_TEMPLATE
    assert parts_from_transformers(hf, tools=[get_weather])["chat_template"] == TOOL_TEMPLATE
    check(hf, CONV, tokenize=False)
    check(hf, CONV, chat_template="tool_use", return_assistant_tokens_mask=True)
    check(hf, CONV, tools=[get_weather], tokenize=False)
    hf.chat_template = {"tool_use": TOOL_TEMPLATE, "rag": TEMPLATE}
    check_raises(hf, CONV)
    check(hf, CONV, tools=[get_weather], tokenize=False)


def test_from_transformers_picks_a_named_template(hf):
    hf.chat_template = {"default": TEMPLATE, "tool_use": TOOL_TEMPLATE}
    chat = fastmask.ChatTokenizer.from_transformers(hf, chat_template="tool_use")
    text, spans = chat.render(CONV)
    assert text == hf.apply_chat_template(CONV, chat_template="tool_use", tokenize=False)
    assert text.startswith("<|tool_use|>") and spans
    default, _ = fastmask.ChatTokenizer.from_transformers(hf).render(CONV)
    assert default == hf.apply_chat_template(CONV, tokenize=False)
    encoded = chat.encode(CONV)
    reference = hf.apply_chat_template(CONV, chat_template="tool_use", return_assistant_tokens_mask=True)
    assert encoded["input_ids"] == reference["input_ids"]
    assert encoded["assistant_masks"] == reference["assistant_masks"]


def test_chat_tokenizer_is_cached_per_tokenizer_and_template(hf):
    template = hf.get_chat_template()
    first = _transformers._chat_tokenizer(hf, template)
    hf.padding_side = "left"  # sides are per call: same core
    assert _transformers._chat_tokenizer(hf, template) is first
    assert _transformers._chat_tokenizer(hf, TOOL_TEMPLATE) is not first
    assert _transformers._chat_tokenizer(hf, template) is first


def test_cache_notices_new_pad_token_and_added_tokens():
    hf = make_hf()
    template = hf.get_chat_template()
    first = _transformers._chat_tokenizer(hf, template)
    hf.pad_token = BOS
    assert _transformers._chat_tokenizer(hf, template) is not first
    check(hf, BATCH, padding=True, return_assistant_tokens_mask=True)
    hf.add_tokens(["<|im_start|>", "<|im_end|>"])
    check(hf, BATCH, padding=True, return_assistant_tokens_mask=True)


def test_cache_does_not_keep_tokenizers_alive():
    import gc
    import weakref

    hf = make_hf()
    apply_chat_template(hf, CONV, tokenize=False)
    assert hf in _transformers._CACHE
    cached_before = len(_transformers._CACHE)
    alive = weakref.ref(hf)
    del hf
    gc.collect()
    # Other tests' tokenizers may be cached too; this one must be gone, with its entry.
    assert alive() is None
    assert len(_transformers._CACHE) == cached_before - 1
