"""The compiled core. Private: use `fastmask.ChatTokenizer`, which wraps `ChatTokenizer` here.

Checked against the built module by `mypy.stubtest` (`make lint`). The private test functions of a
`test-hooks` build (src/python/test_hooks.rs) are not API and not described here.
"""

import sys
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
]

NUM_THREADS_ENV: str
"""The environment variable that sets the worker count (default: all cores)."""

LIMIT_FIELDS: tuple[tuple[str, int, str], ...]
"""`(name, default, doc)` per safety limit, in declaration order: the one declaration
`fastmask.Limits` is built from (src/limits.rs)."""

_Side = Literal["left", "right"]

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
    """Which tokens `encode_batch` masks and `render_batch` reports as spans.

    Args:
        mask_source: `"generation"`: the template's `{% generation %}` blocks; `"turns"`: turns
            inferred by rendering conversation prefixes; `"auto"`: blocks when the template has
            them, else turns.
        train_roles: for inferred turns, the roles whose messages are trained (default
            `["assistant"]`).
        train_key: a message's boolean under this key overrides its role (default `"train"`;
            None: roles only).
        last_turn_only: keep only the last trained turn.
        mask_end_of_turn: include the end-of-turn marker after a trained turn.
        mask_separator: include the whitespace after that marker.
        turn_start: where an assistant turn starts: `"content"` (after the generation prompt),
            `"prefill"` (after the prompt's first line) or `"header"` (at the role header).
        mask_header_whitespace: also train the whitespace just before that start.

    Raises:
        InputError: `mask_source` or `turn_start` is not one of the names above.
    """

    def __new__(
        cls,
        *,
        mask_source: Literal["generation", "turns", "auto"] = "generation",
        train_roles: list[str] | None = None,
        train_key: str | None = ...,
        last_turn_only: bool = False,
        mask_end_of_turn: bool = True,
        mask_separator: bool = True,
        turn_start: Literal["content", "prefill", "header"] = "content",
        mask_header_whitespace: bool = False,
    ) -> MaskOptions: ...

@final
class ChatTokenizer:
    """A compiled chat template and a loaded tokenizer, immutable and shared across threads.

    Args:
        tokenizer_json: the text of a tokenizer.json.
        chat_template: the template source; `{% generation %}` blocks mark assistant text.
        special_tokens: template variables such as `bos_token` (kwargs of a call win over them).
        pad_token: the token padding uses.
        now: an ISO date-time that `strftime_now` reads instead of the local clock.
        backend: "auto" (the fast byte-level BPE when the tokenizer.json has a shape it
            reproduces exactly, else the `tokenizers` crate), "tokenizers", or "fast" (as auto,
            but an unsupported shape is an error). Both give identical ids and offsets.
        limits: limit names to values (`LIMIT_FIELDS` names); missing ones keep the default.

    Raises:
        TemplateSyntaxError: the template does not parse.
        LimitError: the template is longer than `limits["template_bytes"]`.
        TokenizerError: the JSON is not a tokenizer, `pad_token` is not in its vocabulary, or
            backend="fast" and the shape is unsupported.
        InputError: `backend` is not one of the names above, or a limit is unknown, negative
            or out of range.
    """

    def __new__(
        cls,
        tokenizer_json: str,
        chat_template: str,
        *,
        special_tokens: dict[str, Any] | None = None,
        pad_token: str | None = None,
        now: str | None = None,
        backend: Literal["auto", "tokenizers", "fast"] = "auto",
        limits: dict[str, int] | None = None,
    ) -> ChatTokenizer: ...
    def with_chat_template(self, chat_template: str, *, now: str | None = None) -> ChatTokenizer:
        """The same tokenizer (shared, not reloaded), special tokens and pad token with another template.

        Raises:
            TemplateSyntaxError: the template does not parse, or uses a construct fastmask refuses.
        """
    @property
    def has_generation(self) -> bool:
        """Whether the template has `{% generation %}` blocks."""
    @property
    def backend(self) -> str:
        """The backend that encodes: "fast" or "tokenizers"."""
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
        num_threads: int | None = None,
        masks: MaskOptions | None = None,
    ) -> list[tuple[str, list[tuple[int, int]]]]:
        """Renders each conversation.

        Args:
            conversations: a list of conversations, or an Arrow column of them (any object with
                `__arrow_c_array__` or `__arrow_c_stream__`), read in Rust; a column of a type
                the core does not read goes through its `to_pylist()`.
            masks: where the spans come from (default: `MaskOptions()`, generation blocks).

        Returns:
            (text, spans) per conversation; spans are generation blocks, or inferred turns, as
            character offsets.

        Raises:
            InputError, TemplateError, LimitError: with the first failing conversation's index.
        """
    def encode_batch(
        self,
        conversations: Any,
        *,
        add_generation_prompt: bool = False,
        tools: Any = None,
        documents: Any = None,
        template_kwargs: dict[str, Any] | None = None,
        max_length: int | None = None,
        truncation: bool = False,
        truncation_side: _Side = "right",
        padding: Literal["do_not_pad", "longest", "max_length"] = "do_not_pad",
        padding_side: _Side = "right",
        ignore_index: int = ...,
        as_arrays: bool = False,
        num_threads: int | None = None,
        masks: MaskOptions | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        as_arrow: bool = False,
        sanitize_control_tokens: bool = False,
    ) -> dict[str, Any]:
        """Renders, tokenizes, truncates, masks and pads each conversation.

        Args:
            conversations: as for `render_batch`.
            ignore_index: the label of untrained tokens and padding (default -100).
            masks: which tokens are masked (default: `MaskOptions()`).
            on_error: `"raise"`, or `"skip"`: failing conversations are left out and reported
                under `errors` as `(index, exception)` pairs; padding covers the others.
            as_arrow: return `ArrowArray`s instead of lists.
            sanitize_control_tokens: the inputs carry control tokens marked as text (see
                `fastmask._sanitize`), which are encoded as plain text.

        Returns:
            `input_ids`, `attention_mask`, `assistant_masks`, `labels`: lists of lists, or with
            `as_arrays` an `(Int64Buffer, (rows, columns))` per name (native-endian int64 values
            behind the buffer protocol, for `numpy.frombuffer` without a copy), or with
            `as_arrow` an `ArrowArray` per name (`list<int32>` ids, `list<int8>` masks,
            `list<int64>` labels) plus `truncated_tokens` (`int64`).

        Raises:
            InputError, TemplateError, TokenizerError, LimitError: with the first failing
                conversation's index.
        """
    def encode_texts(
        self,
        texts: list[str],
        *,
        max_length: int | None = None,
        truncation: bool = False,
        truncation_side: _Side = "right",
        padding: Literal["do_not_pad", "longest", "max_length"] = "do_not_pad",
        padding_side: _Side = "right",
        as_arrays: bool = False,
        num_threads: int | None = None,
    ) -> dict[str, Any]:
        """Tokenizes already-rendered texts; the same outputs as `encode_batch`, masks all zero."""
