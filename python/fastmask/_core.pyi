"""The compiled core. Private: use `fastmask.ChatTokenizer`, which wraps `ChatTokenizer` here."""

from typing import Any

NUM_THREADS_ENV: str
DEFAULT_LIMITS: dict[str, int]

class FastmaskError(ValueError):
    """Base class of every error fastmask raises."""

class TemplateSyntaxError(FastmaskError):
    """The chat template does not parse; the message names the line."""

class TemplateError(FastmaskError):
    """The chat template failed while rendering, including `raise_exception(message)`."""

class InputError(FastmaskError):
    """A conversation or an option is malformed; the message names the conversation index."""

class TokenizerError(FastmaskError):
    """The tokenizer could not be loaded or used."""

class LimitError(FastmaskError):
    """A safety limit was reached (fuel, sizes, nesting); see `fastmask.Limits`."""

def _panic_in_batch(items: int, panic_at: int, *, num_threads: int | None = None) -> list[Any]:
    """Test support: runs `items` tasks on the batch pool, one panicking; values or exceptions."""

class Int64Buffer:
    """The int64 values of one output matrix, row-major, behind the (writable) buffer protocol:
    `numpy.frombuffer(buffer, dtype=numpy.int64)` wraps them without a copy."""

    def __len__(self) -> int: ...

class ArrowArray:
    """One output column as an Arrow array in Rust memory, exported through the Arrow PyCapsule
    interface: `pyarrow.array(obj)` imports it without a copy."""

    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]:
        """A fresh `(schema capsule, array capsule)` pair sharing this array's buffers."""
    def __len__(self) -> int: ...

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
        limits: limit names to values (`fastmask.Limits` fields); missing ones keep the default.

    Raises:
        TemplateSyntaxError: the template does not parse.
        LimitError: the template is longer than `limits["template_bytes"]`.
        TokenizerError: the JSON is not a tokenizer, `pad_token` is not in its vocabulary, or
            backend="fast" and the shape is unsupported.
        InputError: `backend` is not one of the names above.
    """

    def __new__(
        cls,
        tokenizer_json: str,
        chat_template: str,
        *,
        special_tokens: dict[str, Any] | None = None,
        pad_token: str | None = None,
        now: str | None = None,
        backend: str = "auto",
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
        """The limits templates and inputs are held to."""
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
    ) -> list[tuple[str, list[tuple[int, int]]]]:
        """Renders each conversation.

        Args:
            conversations: a list of conversations, or an Arrow column of them (any object with
                `__arrow_c_array__` or `__arrow_c_stream__`), read in Rust; a column of a type
                the core does not read goes through its `to_pylist()`.

        Returns:
            (text, spans) per conversation; spans are generation blocks as character offsets.

        Raises:
            InputError, TemplateError: naming the first failing conversation.
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
        truncation_side: str = "right",
        padding: str = "do_not_pad",
        padding_side: str = "right",
        ignore_index: int = -100,
        as_arrays: bool = False,
        num_threads: int | None = None,
        masks: Any = None,
        on_error: str = "raise",
        as_arrow: bool = False,
        sanitize_control_tokens: bool = False,
    ) -> dict[str, Any]:
        """Renders, tokenizes, truncates, masks and pads each conversation.

        Args:
            on_error: `"raise"`, or `"skip"`: failing conversations are left out and reported
                under `errors` as `(index, exception)` pairs; padding covers the others.
            conversations: as for `render_batch`.
            as_arrow: return `ArrowArray`s instead of lists.

        Returns:
            `input_ids`, `attention_mask`, `assistant_masks`, `labels`: lists of lists, or with
            `as_arrays` an `(Int64Buffer, (rows, columns))` per name (native-endian int64 values
            behind the buffer protocol, for `numpy.frombuffer` without a copy), or with
            `as_arrow` an `ArrowArray` per name (`list<int32>` ids, `list<int8>` masks,
            `list<int64>` labels) plus `truncated_tokens` (`int64`).

        Raises:
            InputError, TemplateError, TokenizerError: naming the first failing conversation.
        """
    def encode_texts(
        self,
        texts: list[str],
        *,
        max_length: int | None = None,
        truncation: bool = False,
        truncation_side: str = "right",
        padding: str = "do_not_pad",
        padding_side: str = "right",
        as_arrays: bool = False,
        num_threads: int | None = None,
    ) -> dict[str, Any]:
        """Tokenizes already-rendered texts; the same outputs as `encode_batch`, masks all zero."""
