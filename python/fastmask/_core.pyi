"""The compiled core. Private: use `fastmask.ChatTokenizer`, which wraps `ChatTokenizer` here,
and `fastmask.MaskOptions`, which is `MaskOptions` here.

Checked against the built module by `mypy.stubtest` (`make lint`). The private test functions of a
`test-hooks` build (src/python/test_hooks.rs) are not API and not described here.
"""

import sys
from collections.abc import Iterable
from typing import Any, Literal, final

__all__ = [
    "LIMIT_FIELDS",
    "NUM_THREADS_ENV",
    "ArrowArray",
    "ChatTokenizer",
    "FastmaskError",
    "InputError",
    "Int64Buffer",
    "LimitError",
    "MaskOptions",
    "TemplateError",
    "TemplateSyntaxError",
    "TokenizerError",
    "call_options",
    "pack",
]

NUM_THREADS_ENV: str
"""The environment variable that sets the worker count (default: all cores)."""

LIMIT_FIELDS: tuple[tuple[str, int, str], ...]
"""`(name, default, doc)` per safety limit, in declaration order: the one declaration
`fastmask.Limits` is built from (src/limits.rs)."""

class FastmaskError(ValueError):
    """Base class of every error fastmask raises.

    Attributes:
        conversation: the index of the failing conversation in its batch, or None for an error
            outside any conversation (an option, the template source, the tokenizer).
        message: the index of the message within that conversation when the error names one
            (its text then continues `conversation N: message M: `), else None.
    """

    conversation: int | None
    message: int | None

class TemplateSyntaxError(FastmaskError):
    """The chat template does not parse; the message names the line."""

class TemplateError(FastmaskError):
    """The chat template failed while rendering, including `raise_exception(message)`."""

class InputError(FastmaskError):
    """A conversation or an option is malformed."""

class TokenizerError(FastmaskError):
    """The tokenizer could not be loaded or used."""

class LimitError(FastmaskError):
    """A safety limit was reached (fuel, sizes, nesting); see `fastmask.Limits`."""

@final
class Int64Buffer:
    """The int64 values of one output matrix, row-major, behind the (writable) buffer protocol:
    `numpy.frombuffer(buffer, dtype=numpy.int64)` wraps them without a copy."""

    def __len__(self) -> int:
        """The number of int64 values."""
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview:
            """The values as writable bytes; the view keeps this buffer alive."""

@final
class ArrowArray:
    """One output column as an Arrow array in Rust memory, exported through the Arrow PyCapsule
    interface: `pyarrow.array(obj)` imports it without a copy."""

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        """A fresh `(schema capsule, array capsule)` pair sharing this array's buffers."""
    def __len__(self) -> int:
        """The number of rows."""

@final
class MaskOptions:
    """Every per-call option of `ChatTokenizer.render`, `encode`, their batch forms and `encode_texts`.

    Build it once, `MaskOptions(mask_source="turns", padding=True, max_length=2048)`, and pass it
    as `options=`; keywords given in the call as well replace its fields for that call. A call
    uses the fields that apply to it and ignores the others. Invalid values raise `InputError`
    here, with the message the keyword would give. Immutable, hashable and picklable: equal
    options compare, hash and pickle equal. Fields read back normalized (`padding=True` reads
    `"longest"`, `train_roles` a tuple).

    Masks (`render`, `encode`):
        mask_source: `"generation"` (the template's `{% generation %}` blocks; a template without
            them is an error), `"turns"` (turns inferred by rendering conversation prefixes),
            `"auto"` (the default: blocks when the template has them, else turns), or `"none"`
            (the text alone: no spans, all-zero masks, every label `ignore_index`; works for any
            conversation the template renders).
        train_roles: the roles whose inferred turns are trained; default `("assistant",)`.
        train_key: a message key whose boolean value overrides `train_roles` for that message
            (default `"train"`); None: no key.
        last_turn_only: train only the last trained turn of each conversation.
        mask_end_of_turn: keep the end-of-turn marker (such as `<|im_end|>`) in the span (default True).
        mask_separator: keep the whitespace after the end-of-turn marker (default True).
        turn_start: where an assistant turn starts: `"content"` (after the generation prompt, the
            default), `"prefill"` (after the prompt's first line, so a prefilled `<think>` is
            trained), or `"header"` (at the role header).
        mask_header_whitespace: also train the whitespace just before that start (as TRL's
            Qwen2.5 training template does).
        changed_turns: what happens to a trained turn the template renders differently once
            later messages follow (it drops the turn's reasoning, or ends it with another token):
            `"error"` (the default; the error points to `expand_turns=True`) or `"skip"` (such
            turns are left untrained). Never trained as rewritten.
        expand_turns (`render_batch`, `encode`): one row per trained turn: the conversation up to
            and including that turn, rendered as the template renders it when the turn is the
            last message, with only that turn trained; conversations with no trained turn make
            no row. Rows carry `conversation_index` and `turn_index` (the trained message's
            index). Not with `on_error="collect"`, `mask_source="none"` or
            `add_generation_prompt=True`.

    Tokenization (`encode`, `encode_texts`):
        max_length: what truncation cuts to and `padding="max_length"` pads to; None: no limit,
            or the tokenizer's `model_max_length` where one is needed.
        truncation: True, `"longest_first"` or `"only_first"` cut to `max_length`.
        truncation_side, padding_side: `"left"` or `"right"`; None: the tokenizer's.
        padding: False or `"do_not_pad"`, True or `"longest"`, `"max_length"`, or transformers'
            `PaddingStrategy`.
        ignore_index (`encode`): the label of tokens outside the mask and of padding (default -100).
        sanitize_control_tokens (`encode`): encode the control tokens found in the caller's
            strings as plain text (transformers' option of that name, here with masks).
        control_tokens (`encode`): exactly these control tokens (plus the special ones) instead
            of the special added tokens and the added tokens the template contains; needs
            `sanitize_control_tokens=True`.

    Outputs (`encode`, `encode_texts`; `num_threads` for every call):
        return_tensors: None (lists), `"np"` or `"pt"` (int64 arrays, which need equal lengths),
            or `"arrow"` (pyarrow list arrays; `encode` only).
        on_error (`encode`): `"raise"`, `"skip"` or `"collect"` (see `fastmask._on_error`).
        num_threads: worker threads for the call; None: `FASTMASK_NUM_THREADS`, else all cores.

    Packing (`encode`):
        pack_length: pack the call's rows into bins of this many tokens (`fastmask.pack` over the
            whole call): `seq_lengths` and `position_ids` per bin, other per-row columns as lists
            per bin; `"np"`/`"pt"` pad every bin to it. Rows are packed unpadded, so `padding`
            must be False; not with `on_error="collect"`.
        pack_strategy: `"bfd"` (the default), `"bfd_split"` or `"wrapped"`, as TRL's `pack_dataset`.

    Raises:
        InputError: a value an option does not take, or options no call can run together
            (`control_tokens` without `sanitize_control_tokens`, `on_error="collect"` with
            `return_tensors="np"` or `"pt"`, `num_threads=0`).
        TypeError: an unknown keyword.
    """

    def __new__(
        cls,
        *,
        mask_source: Literal["generation", "turns", "auto", "none"] = "auto",
        train_roles: Iterable[str] = ("assistant",),
        train_key: str | None = "train",
        last_turn_only: bool = False,
        mask_end_of_turn: bool = True,
        mask_separator: bool = True,
        turn_start: Literal["content", "prefill", "header"] = "content",
        mask_header_whitespace: bool = False,
        changed_turns: Literal["error", "skip"] = "error",
        expand_turns: bool = False,
        max_length: int | None = None,
        truncation: bool | str = False,
        truncation_side: Literal["left", "right"] | None = None,
        padding: bool | str | None = False,
        padding_side: Literal["left", "right"] | None = None,
        ignore_index: int = -100,
        sanitize_control_tokens: bool = False,
        control_tokens: Iterable[str] | None = None,
        return_tensors: Literal["np", "pt", "arrow"] | None = None,
        num_threads: int | None = None,
        on_error: Literal["raise", "skip", "collect"] = "raise",
        pack_length: int | None = None,
        pack_strategy: Literal["bfd", "bfd_split", "wrapped"] = "bfd",
    ) -> MaskOptions: ...
    @property
    def mask_source(self) -> str: ...
    @property
    def train_roles(self) -> tuple[str, ...]: ...
    @property
    def train_key(self) -> str | None: ...
    @property
    def last_turn_only(self) -> bool: ...
    @property
    def mask_end_of_turn(self) -> bool: ...
    @property
    def mask_separator(self) -> bool: ...
    @property
    def turn_start(self) -> str: ...
    @property
    def mask_header_whitespace(self) -> bool: ...
    @property
    def changed_turns(self) -> str: ...
    @property
    def expand_turns(self) -> bool: ...
    @property
    def max_length(self) -> int | None: ...
    @property
    def truncation(self) -> bool: ...
    @property
    def truncation_side(self) -> str | None: ...
    @property
    def padding(self) -> str:
        """`"do_not_pad"`, `"longest"` or `"max_length"`."""
    @property
    def padding_side(self) -> str | None: ...
    @property
    def ignore_index(self) -> int: ...
    @property
    def sanitize_control_tokens(self) -> bool: ...
    @property
    def control_tokens(self) -> tuple[str, ...] | None: ...
    @property
    def return_tensors(self) -> str | None: ...
    @property
    def num_threads(self) -> int | None: ...
    @property
    def on_error(self) -> str: ...
    @property
    def pack_length(self) -> int | None: ...
    @property
    def pack_strategy(self) -> str:
        """`"bfd"`, `"bfd_split"` or `"wrapped"`."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, Any]]:
        """The keywords that build these options: the fields that differ from the defaults."""

def call_options(
    call: Literal["render_batch", "encode_batch", "encode_texts"],
    options: MaskOptions | None,
    keywords: dict[str, Any],
) -> tuple[MaskOptions, dict[str, Any]]:
    """The options of one call: `options` (or the defaults) with the keywords that are options of
    `call` in place of its fields, and the other keywords (the call's template variables).

    Raises:
        InputError: `options` is not a MaskOptions, or a keyword's value is invalid.
        TypeError: a keyword of `encode_texts` that is not one of its options.
    """

def pack(columns: dict[str, Any], seq_length: int, options: dict[str, Any]) -> dict[str, Any]:
    """Packs the token columns `columns` (`{name: list of lists of ints | Arrow list array}`, all
    of one kind, `input_ids` first) into bins of `seq_length` tokens (`fastmask.pack` checks and
    documents the keywords, given here as the dict `options`). Returns the packed columns in the
    kind given, `position_ids`, `seq_lengths`, `cu_seqlens` and `segment_ids` as asked,
    `piece_rows` (per bin, the input row of each piece) and `stats` (a dict of counts).

    Raises:
        InputError: ragged columns, a row over `seq_length` with truncation refused, a value
            that does not fit its column, or Arrow data of another type.
    """

@final
class ChatTokenizer:
    """A compiled chat template and a loaded tokenizer, immutable and shared across threads.

    Args:
        tokenizer_json: the text of a tokenizer.json.
        chat_template: the template source; `{% generation %}` blocks mark assistant text.
        special_tokens: template variables such as `bos_token` (kwargs of a call win over them).
        pad_token: the token padding uses.
        now: an ISO date-time that `strftime_now` reads instead of the local clock.
        backend: "auto" (tokenizers 1.0's pipeline, with byte offsets derived from its ids, when
            the tokenizer.json has a shape it takes; else the fast byte-level BPE when it has a
            shape that reproduces exactly; else the `tokenizers` 0.23 crate), "tokenizers" (0.23
            always), "fast" (the fast byte-level BPE; an unsupported shape is an error) or
            "tokenizers1" (tokenizers 1.0; an unsupported shape is an error). All give identical
            ids and offsets: a text an engine cannot take exactly goes to `tokenizers` 0.23.
            The engine is built on a background thread after construction; the first call that
            encodes waits for it, and rendering never does.
        limits: limit names to values (`LIMIT_FIELDS` names); missing ones keep the default.
        padding_side, truncation_side: what calls that do not give a side use.
        model_max_length: the length truncation and `padding="max_length"` fall back to when a
            call gives no `max_length`; None, or 10**20 and above: no limit.

    Raises:
        TemplateSyntaxError: the template does not parse.
        LimitError: the template is longer than `limits["template_bytes"]`.
        TokenizerError: the JSON is not a tokenizer, `pad_token` is not in its vocabulary, or
            backend="fast" or "tokenizers1" and the shape is unsupported.
        InputError: `backend` is not one of the names above, a side is not "left" or "right",
            `model_max_length` is not a non-negative int, or a limit is unknown, negative or out
            of range.
    """

    def __new__(
        cls,
        tokenizer_json: str,
        chat_template: str,
        *,
        special_tokens: dict[str, Any] | None = None,
        pad_token: str | None = None,
        now: str | None = None,
        backend: Literal["auto", "tokenizers", "fast", "tokenizers1"] = "auto",
        limits: dict[str, int] | None = None,
        padding_side: Literal["left", "right"] = "right",
        truncation_side: Literal["left", "right"] = "right",
        model_max_length: int | None = None,
    ) -> ChatTokenizer: ...
    def with_chat_template(self, chat_template: str, *, now: str | None = None) -> ChatTokenizer:
        """The same tokenizer (shared, not reloaded), special tokens, pad token, sides and
        `model_max_length` with another template.

        Raises:
            TemplateSyntaxError: the template does not parse, or uses a construct fastmask refuses.
        """
    @property
    def has_generation(self) -> bool:
        """Whether the template has `{% generation %}` blocks."""
    @property
    def backend(self) -> str:
        """The backend that encodes: "tokenizers1", "fast" or "tokenizers"; waits for the engine.

        Raises:
            TokenizerError: backend="tokenizers1" and tokenizers 1.0 failed on the whole file
                although it ran a stub of it at construction.
        """
    @property
    def limits(self) -> dict[str, int]:
        """The limits templates and inputs are held to, by `LIMIT_FIELDS` name."""
    @property
    def added_tokens(self) -> list[tuple[str, bool]]:
        """The tokenizer's added tokens as (content, special), in id order."""
    @property
    def pad_token_id(self) -> int | None:
        """The id padding uses, or None."""
    def render_batch(
        self,
        conversations: Any,
        *,
        add_generation_prompt: bool = False,
        tools: Any = None,
        documents: Any = None,
        template_kwargs: dict[str, Any] | None = None,
        options: MaskOptions | None = None,
    ) -> list[tuple[Any, ...]]:
        """Renders each conversation, with the assistant spans `options` asks for.

        Args:
            conversations: a list of conversations, or an Arrow column of them (any object with
                `__arrow_c_array__` or `__arrow_c_stream__`), read in Rust; a column of a type
                the core does not read goes through its `to_pylist()`.
            options: the mask options and `num_threads` (the others are ignored); None: the defaults.

        Returns:
            (text, spans) per conversation; spans are assistant spans as character offsets. With
            `expand_turns`: (text, spans, conversation_index, turn_index) per trained turn.

        Raises:
            InputError, TemplateError, LimitError: naming the first failing conversation; InputError also
                for `mask_source="generation"` with a template without `{% generation %}` blocks.
        """
    def encode_batch(
        self,
        conversations: Any,
        *,
        add_generation_prompt: bool = False,
        tools: Any = None,
        documents: Any = None,
        template_kwargs: dict[str, Any] | None = None,
        options: MaskOptions | None = None,
    ) -> dict[str, Any]:
        """Renders, tokenizes, truncates, masks and pads each conversation.

        Args:
            conversations: as for `render_batch`.
            options: every option of the call; None: the defaults. Its `on_error`: `"raise"`, or
                `"skip"` / `"collect"`: failing conversations are left out and reported under
                `errors` as `(index, exception)` pairs; padding covers the others (the caller
                puts `"collect"`'s rows back). Its `control_tokens` are the caller's to mark.

        Returns:
            `input_ids`, `attention_mask`, `assistant_masks`, `labels`: lists of lists, or with
            `return_tensors="np"` / `"pt"` an `(Int64Buffer, (rows, columns))` per name
            (native-endian int64 values behind the buffer protocol, for `numpy.frombuffer`
            without a copy), or with `return_tensors="arrow"` an `ArrowArray` per name
            (`list<int32>` ids, `list<int8>` masks, `list<int64>` labels) plus
            `truncated_tokens` (`int64`). With `expand_turns`, one row per trained turn, and
            `conversation_index` and `turn_index` per row: a list of ints, an
            `(Int64Buffer, (rows,))`, or an `int64` `ArrowArray`.

        Raises:
            InputError, TemplateError, TokenizerError, LimitError: naming the first failing conversation;
                InputError also for options this tokenizer cannot run (padding without a pad
                token, `padding="max_length"` without a length, `mask_source="generation"`
                with a template without `{% generation %}` blocks).
        """
    def encode_texts(self, texts: list[str], *, options: MaskOptions | None = None) -> dict[str, Any]:
        """Tokenizes already-rendered texts; the same outputs as `encode_batch`, masks all zero.

        Uses `options`' tokenization, `return_tensors` (not `"arrow"`) and `num_threads`.
        """
