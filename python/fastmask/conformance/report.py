"""The conformance check: a template rendered and tokenized by transformers and by fastmask over
the corpus, compared case by case.

For every case, `tokenizer.apply_chat_template` (transformers, the reference) and
`fastmask.apply_chat_template` (the drop-in) are called with the same arguments: first
`tokenize=False` (the rendered text), then `tokenize=True, return_dict=True` (`input_ids`,
`attention_mask`, and `assistant_masks` when the template has `{% generation %}` blocks). A case
where both raise agrees; one raising and not the other is a difference. A template fastmask
refuses to compile is "unsupported", with the reason and line. The clock `strftime_now` reads is
pinned to the same instant in both engines.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastmask
from fastmask._tokenizer import NOW_ENV
from fastmask.conformance.corpus import CASES, PINNED_NOW, Case

IDENTICAL = "identical"
DIFFERS = "differs"
UNSUPPORTED = "unsupported"
# A case where both engines raise agrees (a template rejecting an input is behaviour too).
BOTH_RAISE = "both raise"

# The special tokens of the stand-in tokenizer used when no tokenizer is given.
STAND_IN_SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
_GENERATION_TAG = re.compile(r"\{\%-?\s*generation\s*-?\%\}")
_CONTEXT_CHARS = 30
_CONTEXT_TOKENS = 6


@dataclass(frozen=True)
class Difference:
    """The first place one case differs: what (`text`, `input_ids`, ..., or `error`) and where."""

    case: str
    what: str
    position: int | None
    transformers: str
    fastmask: str

    def describe(self) -> str:
        unit = "char" if self.what == "text" else "position"
        where = f" at {unit} {self.position}" if self.position is not None else ""
        return (
            f"case {self.case!r}: {self.what} differs{where}\n"
            f"      transformers: {self.transformers}\n"
            f"      fastmask:     {self.fastmask}"
        )


@dataclass(frozen=True)
class TemplateReport:
    """One template's result over the corpus."""

    name: str
    status: str  # IDENTICAL, DIFFERS or UNSUPPORTED
    cases: int = 0
    both_raised: int = 0
    differences: tuple[Difference, ...] = field(default=())
    reason: str = ""  # why fastmask refuses the template (UNSUPPORTED)

    def line(self) -> str:
        if self.status == UNSUPPORTED:
            return f"{self.status:<12} {self.name}: {self.reason}"
        summary = f"{self.cases} cases, {self.both_raised} raise in both engines"
        if self.status == IDENTICAL:
            return f"{self.status:<12} {self.name} ({summary})"
        first = self.differences[0].describe()
        return f"{self.status:<12} {self.name} ({len(self.differences)} of {summary}); first: {first}"


# -- tokenizers --------------------------------------------------------------------------------------


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2's `bytes_to_unicode`)."""
    visible = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = visible[:]
    extra = 0
    for byte in range(256):
        if byte not in visible:
            visible.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for _, code in sorted(zip(visible, codes))]


def stand_in_tokenizer_json(special_tokens: Mapping[str, str] = STAND_IN_SPECIAL_TOKENS) -> str:
    """A byte-level tokenizer.json with one token per byte and no merges: cheap to load, and it
    splits text at every byte, so masks are compared at the finest granularity."""
    vocab = {symbol: index for index, symbol in enumerate(_byte_symbols())}
    added = [
        {
            "id": 256 + i,
            "content": token,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, token in enumerate(dict.fromkeys(special_tokens.values()))
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return json.dumps(
        {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": byte_level,
            "post_processor": None,
            "decoder": byte_level,
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": vocab,
                "merges": [],
            },
        },
        ensure_ascii=False,
    )


def load_tokenizer(path: str | os.PathLike[str] | None) -> Any:
    """A transformers fast tokenizer: a model directory (or hub name), a tokenizer.json file, or,
    for None, the byte-level stand-in (rendering is then compared with its special tokens)."""
    import transformers

    if path is None:
        from tokenizers import Tokenizer

        return transformers.PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer.from_str(stand_in_tokenizer_json()), **STAND_IN_SPECIAL_TOKENS
        )
    location = Path(path)
    if location.is_file():
        if (location.parent / "tokenizer_config.json").is_file():
            return transformers.AutoTokenizer.from_pretrained(str(location.parent))
        return transformers.PreTrainedTokenizerFast(tokenizer_file=str(location))
    return transformers.AutoTokenizer.from_pretrained(str(path))


# -- one template ------------------------------------------------------------------------------------


@contextlib.contextmanager
def pinned_clock(now: datetime.datetime) -> Iterator[None]:
    """Pins `strftime_now` in both engines: transformers reads `datetime.now()` from its
    chat_template_utils module; fastmask reads `FASTMASK_NOW`."""
    from transformers.utils import chat_template_utils

    class PinnedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime.datetime:
            return now

    saved_module, saved_env = chat_template_utils.datetime, os.environ.get(NOW_ENV)
    chat_template_utils.datetime = PinnedDatetime
    os.environ[NOW_ENV] = now.replace(tzinfo=None).isoformat()
    try:
        yield
    finally:
        chat_template_utils.datetime = saved_module
        if saved_env is None:
            os.environ.pop(NOW_ENV, None)
        else:
            os.environ[NOW_ENV] = saved_env


def _call(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, Exception | None]:
    try:
        return function(*args, **kwargs), None
    except Exception as err:  # noqa: BLE001 - either engine's failure is a result here
        return None, err


def _error_text(err: Exception | None) -> str:
    return "returned a result" if err is None else f"raised {type(err).__name__}: {str(err)[:200]}"


def _text_difference(case: str, expected: str, actual: str) -> Difference:
    index = next((i for i, (x, y) in enumerate(zip(expected, actual)) if x != y), min(len(expected), len(actual)))
    lo, hi = max(0, index - _CONTEXT_CHARS), index + _CONTEXT_CHARS
    return Difference(case, "text", index, repr(expected[lo:hi]), repr(actual[lo:hi]))


def _list_difference(case: str, name: str, expected: Sequence[Any], actual: Sequence[Any]) -> Difference | None:
    expected, actual = _plain(expected), _plain(actual)
    if expected == actual:
        return None
    index = next((i for i, (x, y) in enumerate(zip(expected, actual)) if x != y), min(len(expected), len(actual)))
    lo, hi = max(0, index - _CONTEXT_TOKENS), index + _CONTEXT_TOKENS
    return Difference(case, name, index, str(expected[lo:hi]), str(actual[lo:hi]))


def _plain(value: Any) -> list:
    value = value.tolist() if hasattr(value, "tolist") else value
    return [_plain(item) if isinstance(item, (list, tuple)) else item for item in value]


def compare_case(tokenizer: Any, source: str, case: Case, *, masks: bool) -> Difference | str:
    """Compares one case: its first Difference, or IDENTICAL, or BOTH_RAISE."""
    conversation, kwargs = case.fresh()
    expected, expected_error = _call(
        tokenizer.apply_chat_template, conversation, chat_template=source, tokenize=False, **kwargs
    )
    conversation, kwargs = case.fresh()
    actual, actual_error = _call(
        fastmask.apply_chat_template, tokenizer, conversation, chat_template=source, tokenize=False, **kwargs
    )
    if expected_error is not None or actual_error is not None:
        if expected_error is not None and actual_error is not None:
            return BOTH_RAISE
        return Difference(case.name, "error", None, _error_text(expected_error), _error_text(actual_error))
    if expected != actual:
        return _text_difference(case.name, expected, actual)

    masks = masks and not case.continues_final_message  # transformers refuses masks there
    call = {"chat_template": source, "tokenize": True, "return_dict": True, "return_assistant_tokens_mask": masks}
    conversation, kwargs = case.fresh()
    expected, expected_error = _call(tokenizer.apply_chat_template, conversation, **call, **kwargs)
    conversation, kwargs = case.fresh()
    actual, actual_error = _call(fastmask.apply_chat_template, tokenizer, conversation, **call, **kwargs)
    if expected_error is not None or actual_error is not None:
        return Difference(case.name, "error", None, _error_text(expected_error), _error_text(actual_error))
    for name in ("input_ids", "attention_mask", "assistant_masks"):
        if name in expected or name in actual:
            difference = _list_difference(case.name, name, expected.get(name, []), actual.get(name, []))
            if difference is not None:
                return difference
    return IDENTICAL


def _refusal(source: str) -> str | None:
    """Why fastmask refuses to compile `source`, or None when it compiles."""
    try:
        fastmask.ChatTokenizer.from_parts(_stand_in_json(), source)
    except (fastmask.TemplateSyntaxError, fastmask.TemplateError) as err:
        return str(err)
    return None


_STAND_IN_JSON: list[str] = []


def _stand_in_json() -> str:
    if not _STAND_IN_JSON:
        _STAND_IN_JSON.append(stand_in_tokenizer_json())
    return _STAND_IN_JSON[0]


def _jinja2_refusal(source: str) -> str | None:
    from transformers.utils import chat_template_utils

    try:
        chat_template_utils._compile_jinja_template(source)
    except Exception as err:  # noqa: BLE001 - any compile failure
        return f"{type(err).__name__}: {err}"
    return None


def check_template(name: str, source: str, tokenizer: Any, cases: Iterable[Case] = CASES) -> TemplateReport:
    """One template over `cases` (the clock must already be pinned, see `pinned_clock`)."""
    refusal = _refusal(source)
    if refusal is not None:
        jinja2_refusal = _jinja2_refusal(source)
        if jinja2_refusal is not None:
            refusal += f" (jinja2 rejects it too: {jinja2_refusal})"
        return TemplateReport(name, UNSUPPORTED, reason=" ".join(refusal.split()))
    masks = bool(_GENERATION_TAG.search(source))
    differences: list[Difference] = []
    count = both_raised = 0
    for case in cases:
        count += 1
        result = compare_case(tokenizer, source, case, masks=masks)
        if result == BOTH_RAISE:
            both_raised += 1
        elif isinstance(result, Difference):
            differences.append(result)
    status = DIFFERS if differences else IDENTICAL
    return TemplateReport(name, status, count, both_raised, tuple(differences))


# -- many templates ----------------------------------------------------------------------------------


def run_conformance(
    templates: str | os.PathLike[str] | Mapping[str, str] | None = None,
    *,
    tokenizer: Any = None,
    cases: Iterable[Case] | None = None,
    now: datetime.datetime = PINNED_NOW,
) -> list[TemplateReport]:
    """Checks every template of a folder (default: TRL's) or a {name: source} mapping.

    `tokenizer` is a transformers tokenizer, a path (model directory or tokenizer.json), or None
    for the byte-level stand-in. Returns one report per template, sorted by name.
    """
    from transformers.utils import logging as transformers_logging

    from fastmask.conformance.templates import read_templates, trl_template_dir

    if templates is None:
        templates = trl_template_dir()
        if templates is None:
            raise fastmask.InputError("no template folder given and TRL is not installed (pass --templates DIR)")
    sources = dict(templates) if isinstance(templates, Mapping) else read_templates(templates)
    if not sources:
        raise fastmask.InputError(f"no *.jinja templates in {templates}")
    is_object = tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike))
    hf = tokenizer if is_object else load_tokenizer(tokenizer)
    chosen = list(CASES if cases is None else cases)
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        with pinned_clock(now):
            return [check_template(name, sources[name], hf, chosen) for name in sorted(sources)]
    finally:
        transformers_logging.set_verbosity(verbosity)


def format_report(reports: Sequence[TemplateReport], *, all_differences: bool = False) -> str:
    """One line per template (plus every differing case with `all_differences`) and a summary."""
    lines = []
    for report in reports:
        lines.append(report.line())
        if all_differences:
            lines.extend("    " + difference.describe() for difference in report.differences[1:])
    counts = {status: sum(r.status == status for r in reports) for status in (IDENTICAL, DIFFERS, UNSUPPORTED)}
    lines.append(
        f"{len(reports)} templates: {counts[IDENTICAL]} identical, {counts[DIFFERS]} differ, "
        f"{counts[UNSUPPORTED]} unsupported"
    )
    return "\n".join(lines)
