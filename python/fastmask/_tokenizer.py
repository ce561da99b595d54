"""`ChatTokenizer`: the public, immutable front of the compiled template + tokenizer."""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastmask import _arrow, _core, _model_dir, _on_error, _pack, _sanitize
from fastmask._core import InputError, MaskOptions
from fastmask._limits import Limits

OUTPUT_NAMES = ("input_ids", "attention_mask", "assistant_masks", "labels")


class ChatTokenizer:
    """A chat template and a tokenizer compiled once; safe to share across threads.

    Build one with `from_pretrained`, `from_file`, `from_transformers` or `from_parts`.
    """

    __slots__ = ("_core", "_parts", "_chat_template")

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("use ChatTokenizer.from_pretrained / from_file / from_transformers / from_parts")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ChatTokenizer is immutable")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_parts(
        cls,
        tokenizer_json: str,
        chat_template: str,
        *,
        special_tokens: Mapping[str, Any] | None = None,
        padding_side: str = "right",
        truncation_side: str = "right",
        pad_token: str | None = None,
        model_max_length: int | None = None,
        now: datetime.datetime | None = None,
        backend: str = "auto",
        limits: Limits | None = None,
    ) -> ChatTokenizer:
        """The low-level constructor: a serialized tokenizer.json and a template source.

        `special_tokens` become template variables (`bos_token`, ...); `pad_token` defaults to
        `special_tokens["pad_token"]`. `now` pins the clock `strftime_now` reads; without it the
        `FASTMASK_NOW` environment variable (an ISO date-time) does, else the local clock.
        `backend`: `"auto"` encodes with tokenizers 1.0's pipeline (offsets derived from its ids)
        where the tokenizer.json has a shape it takes, else with fastmask's byte-level BPE where it
        reproduces the shape exactly, else with the `tokenizers` 0.23 crate (ids and offsets are
        identical in all three); `"tokenizers"` forces 0.23; `"fast"` and `"tokenizers1"` force
        the engine of that name and refuse an unsupported shape. `limits`
        (a `fastmask.Limits`) replaces the default safety limits for templates and inputs.
        `padding_side`, `truncation_side` and `model_max_length` (10**20 and above: no limit) are
        what calls that do not say use, as transformers' tokenizer attributes of those names.
        """
        if not isinstance(chat_template, str):
            raise InputError(f"chat_template must be a string, got {type(chat_template).__name__}")
        special = dict(special_tokens or {})
        if pad_token is None and isinstance(special.get("pad_token"), str):
            pad_token = special["pad_token"]
        core = _core.ChatTokenizer(
            tokenizer_json,
            chat_template,
            special_tokens=special,
            pad_token=pad_token,
            now=_pinned_clock(now),
            backend=backend,
            limits=_limits_dict(limits),
            padding_side=padding_side,
            truncation_side=truncation_side,
            model_max_length=model_max_length,
        )
        self = object.__new__(cls)
        object.__setattr__(self, "_core", core)
        # What pickling rebuilds the tokenizer from (for multiprocessing, datasets' cache, Ray).
        object.__setattr__(
            self,
            "_parts",
            {
                "tokenizer_json": tokenizer_json,
                "chat_template": chat_template,
                "special_tokens": special,
                "padding_side": padding_side,
                "truncation_side": truncation_side,
                "pad_token": pad_token,
                "model_max_length": model_max_length,
                "now": now,
                "backend": backend,
                "limits": limits,
            },
        )
        object.__setattr__(self, "_chat_template", chat_template)
        return self

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickles as the parts it was built from, so two equal tokenizers pickle (and so
        fingerprint in `datasets`) identically and a worker process rebuilds the same one."""
        return _from_parts, (self._parts,)

    @classmethod
    def from_file(
        cls,
        tokenizer_json: str | os.PathLike[str],
        *,
        chat_template: str,
        special_tokens: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> ChatTokenizer:
        """A tokenizer.json file and a template given as text (or as a path to a .jinja file)."""
        template_path = Path(chat_template) if len(chat_template) < 4096 and "\n" not in chat_template else None
        if template_path is not None and template_path.suffix == ".jinja" and template_path.is_file():
            chat_template = template_path.read_text(encoding="utf-8")
        tokens = {name: _model_dir.token_text(value) or value for name, value in (special_tokens or {}).items()}
        return cls.from_parts(_read_text(Path(tokenizer_json)), chat_template, special_tokens=tokens, **options)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str], *, chat_template: str | None = None, **options: Any
    ) -> ChatTokenizer:
        """A local model directory as transformers saves it. Does not import transformers."""
        directory = Path(path)
        if not (directory / "tokenizer.json").is_file():
            raise InputError(f"{directory} has no tokenizer.json")
        config_path = directory / "tokenizer_config.json"
        config = _model_dir.read_json(config_path) if config_path.is_file() else {}
        map_path = directory / "special_tokens_map.json"
        special_map = _model_dir.read_json(map_path) if map_path.is_file() else {}
        template = _model_dir.choose_template(_model_dir.templates(directory, config), chat_template)
        options.setdefault("padding_side", config.get("padding_side", "right"))
        options.setdefault("truncation_side", config.get("truncation_side", "right"))
        max_length = config.get("model_max_length")
        options.setdefault("model_max_length", max_length if isinstance(max_length, int) else None)
        return cls.from_parts(
            _read_text(directory / "tokenizer.json"),
            template,
            special_tokens=_model_dir.special_tokens(config, special_map),
            **options,
        )

    @classmethod
    def from_transformers(cls, tokenizer: Any, *, chat_template: str | None = None, **options: Any) -> ChatTokenizer:
        """A transformers fast tokenizer: its backend, its (or the named) template, its special tokens."""
        from fastmask._transformers_parts import parts_from_transformers

        parts = parts_from_transformers(tokenizer, chat_template)
        options.setdefault("padding_side", parts["padding_side"])
        options.setdefault("truncation_side", parts["truncation_side"])
        options.setdefault("pad_token", parts["pad_token"])
        options.setdefault("model_max_length", getattr(tokenizer, "model_max_length", None))
        return cls.from_parts(
            parts["tokenizer_json"], parts["chat_template"], special_tokens=parts["special_tokens"], **options
        )

    def with_chat_template(self, chat_template: str, *, now: datetime.datetime | None = None) -> ChatTokenizer:
        """This tokenizer with another template: the vocabulary is shared, not loaded again, so
        checking many templates against one tokenizer costs one load. Sides, pad token, special
        tokens and `model_max_length` are kept; `now` pins `strftime_now` as in `from_parts`."""
        if not isinstance(chat_template, str):
            raise InputError(f"chat_template must be a string, got {type(chat_template).__name__}")
        other = object.__new__(type(self))
        object.__setattr__(other, "_core", self._core.with_chat_template(chat_template, now=_pinned_clock(now)))
        object.__setattr__(other, "_parts", {**self._parts, "chat_template": chat_template, "now": now})
        object.__setattr__(other, "_chat_template", chat_template)
        return other

    # -- properties ---------------------------------------------------------------------------

    @property
    def has_generation(self) -> bool:
        """Whether the template marks assistant text with `{% generation %}`."""
        return self._core.has_generation

    @property
    def limits(self) -> Limits:
        """The safety limits this tokenizer holds templates and inputs to."""
        return Limits(**self._core.limits)

    @property
    def pad_token_id(self) -> int | None:
        return self._core.pad_token_id

    @property
    def backend(self) -> str:
        """`"tokenizers1"` when tokenizers 1.0's pipeline encodes, `"fast"` when fastmask's
        byte-level BPE does (a text either cannot take exactly, such as one not in NFC under an NFC
        normalizer, still goes to `tokenizers` 0.23), else `"tokenizers"`. The engine is built in
        the background after construction: reading this waits for it."""
        return self._core.backend

    # -- rendering ----------------------------------------------------------------------------

    def render(
        self,
        conversation: Sequence[Mapping[str, Any]],
        *,
        add_generation_prompt: bool = False,
        tools: Sequence[Any] | None = None,
        documents: Sequence[Any] | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
        options: MaskOptions | None = None,
        **kwargs: Any,
    ) -> tuple[str, list[tuple[int, int]]]:
        """The rendered text and its assistant spans as (start, end) character offsets.

        Spans come from the template's `{% generation %}` blocks, or from turns inferred from the
        template (see `fastmask.MaskOptions`: `mask_source`, `train_roles`, ...). The mask options
        and `num_threads` are given as keywords, or as `options=MaskOptions(...)`, whose fields
        the keywords given as well replace. Other keywords are template variables; a variable
        whose name is an option (or `options`) goes in `template_kwargs`.
        """
        if _core.call_options("render_batch", options, kwargs)[0].expand_turns:
            raise InputError(
                "expand_turns=True makes one row per trained turn: use render_batch, which returns them all"
            )
        return self.render_batch(
            [_single(conversation)],
            add_generation_prompt=add_generation_prompt,
            tools=tools,
            documents=documents,
            template_kwargs=template_kwargs,
            options=options,
            **kwargs,
        )[0]

    def render_batch(
        self,
        conversations: Sequence[Sequence[Mapping[str, Any]]],
        *,
        add_generation_prompt: bool = False,
        tools: Sequence[Any] | None = None,
        documents: Sequence[Any] | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
        options: MaskOptions | None = None,
        **kwargs: Any,
    ) -> list[tuple[Any, ...]]:
        """`render` for many conversations, in parallel: `(text, spans)` per conversation.

        With `expand_turns=True`, one `(text, spans, conversation_index, turn_index)` per trained
        turn instead: the conversation up to and including message `turn_index` of conversation
        `conversation_index`, as the template renders it when that turn is last, with only that
        turn's spans.
        """
        options, variables = _core.call_options("render_batch", options, kwargs)
        return self._core.render_batch(
            _batch(conversations),
            add_generation_prompt=bool(add_generation_prompt),
            tools=_tools(tools),
            documents=documents,
            template_kwargs=_merged(template_kwargs, variables),
            options=options,
        )

    # -- encoding -----------------------------------------------------------------------------

    def encode(self, conversation: Sequence[Mapping[str, Any]], **options: Any) -> dict[str, Any]:
        """`encode_batch` for one conversation: the same keys, one row each (with
        `expand_turns=True`, the batch's form: a row per trained turn)."""
        if not options:
            # The defaults: the core's lists as they are (what `encode_batch` returns for them),
            # without its option handling, which is most of a short conversation's call.
            out = self._core.encode_batch([_single(conversation)], template_kwargs={}, options=_DEFAULT_OPTIONS)
            return {name: value[0] for name, value in out.items()}
        out = self.encode_batch([_single(conversation)], **options)
        if "turn_index" in out:
            return out
        return {name: value[0] for name, value in out.items()}

    def encode_batch(
        self,
        conversations: Sequence[Sequence[Mapping[str, Any]]],
        *,
        add_generation_prompt: bool = False,
        tools: Sequence[Any] | None = None,
        documents: Sequence[Any] | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
        options: MaskOptions | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Renders, tokenizes and masks every conversation in parallel.

        The options are the fields of `fastmask.MaskOptions` (masks, `max_length`, `truncation`,
        `padding`, their sides, `ignore_index`, `return_tensors`, `on_error`, `num_threads`,
        `sanitize_control_tokens`, `control_tokens`), given as keywords, or as
        `options=MaskOptions(...)`, whose fields the keywords given as well replace. Other
        keywords are template variables; a variable whose name is an option (or `options`) goes
        in `template_kwargs`.

        Returns `input_ids`, `attention_mask`, `assistant_masks` and `labels` (the ids where the
        mask is 1, `ignore_index` elsewhere and on padding), as lists, or as arrays with
        `return_tensors="np"` / `"pt"` (which need equal lengths, e.g. `padding=True`), or as
        pyarrow list arrays with `return_tensors="arrow"` (`input_ids` int32, masks int8, `labels`
        int64; plus `truncated_tokens`, an int64 array: how many tokens truncation removed), built
        in Rust and handed over through the Arrow C data interface. `conversations` may also be
        Arrow data: a pyarrow array or chunked array of `list<struct<role, content, ...>>`, a table
        or record batch with a `messages` column, or any object with `__arrow_c_array__` /
        `__arrow_c_stream__`; the core reads it without a Python object per message, with the
        values its `to_pylist()` would give. `on_error`: `"raise"`, `"skip"` or `"collect"`
        (see `fastmask._on_error`). `num_threads` overrides `FASTMASK_NUM_THREADS` (default: all cores) for this call.

        Masks come from the template's `{% generation %}` blocks (`mask_source="generation"`), from
        turns inferred by rendering conversation prefixes (`"turns"`), or from blocks when the
        template has them and turns otherwise (`"auto"`); `"none"` trains nothing (all-zero masks,
        every label `ignore_index`) and works for any conversation the template renders.
        `fastmask.MaskOptions` describes the options of inferred turns.

        `expand_turns=True` makes one row per trained turn (the conversation up to and including
        it, as the template renders it when that turn is last, only that turn trained) and adds
        `conversation_index` and `turn_index` (the trained message's index) per row, as lists,
        1-D int64 arrays or int64 Arrow arrays. Conversations with no trained turn make no row;
        padding is over all rows; `on_error="skip"` leaves out a failing conversation's rows
        (`"collect"` is refused: a conversation has no one row to put back).

        `pack_length=N` packs the rows into bins of at most N tokens, as `fastmask.pack` does over
        the whole call with `pack_strategy` (`"bfd"`, `"bfd_split"` or `"wrapped"`, TRL's
        strategies): `input_ids`, `attention_mask`, `assistant_masks` and `labels` per bin, with
        `seq_lengths` and `position_ids` (restarting at each conversation); `conversation_index`,
        `turn_index` and `truncated_tokens` become lists per bin. `return_tensors="np"`/`"pt"`
        pad every bin to N with the pad token (`(bins, N)` arrays).

        `sanitize_control_tokens=True` encodes the control tokens found in the caller's strings
        (messages, tools, documents, template variables; not dict keys) as plain text, so only
        the template's own control tokens are encoded as tokens: transformers' option of that
        name, here with assistant masks. Control tokens are the special added tokens plus the
        added tokens the template contains, or exactly `control_tokens` when given (plus the
        special ones, as transformers' `chat_control_tokens`).
        """
        options, variables = _core.call_options("encode_batch", options, kwargs)
        template_kwargs = _merged(template_kwargs, variables)
        if options.pack_length is not None:
            # Encoded (to Arrow for any tensors, else to lists), then packed over the whole call.
            arrow = options.return_tensors is not None
            unpacked, _ = _core.call_options(
                "encode_batch", options, {"pack_length": None, "return_tensors": "arrow" if arrow else None}
            )
            out = self.encode_batch(
                conversations,
                add_generation_prompt=add_generation_prompt,
                tools=tools,
                documents=documents,
                template_kwargs=template_kwargs,
                options=unpacked,
            )
            return _pack.packed_encoding(out, options, self.pad_token_id)
        batch = _batch(conversations)
        if options.sanitize_control_tokens:
            if not isinstance(batch, list):
                batch = _arrow.conversations_from_arrow(batch)
            pattern = _sanitize.control_tokens_pattern(self._control_tokens(options.control_tokens))
            depth = self.limits.input_depth + 1
            batch = [_sanitize.mark(conversation, pattern, depth) for conversation in batch]
            tools = _sanitize.mark(tools, pattern, depth)
            documents = _sanitize.mark(documents, pattern, depth)
            template_kwargs = _sanitize.mark(template_kwargs, pattern, depth)
        out = self._core.encode_batch(
            batch,
            add_generation_prompt=bool(add_generation_prompt),
            tools=_tools(tools),
            documents=documents,
            template_kwargs=template_kwargs,
            options=options,
        )
        errors = out.pop("errors", None)
        arrow = options.return_tensors == "arrow"
        out = _arrow.list_arrays(out) if arrow else _finish(out, options.return_tensors)
        if errors is None:
            return out
        if options.on_error == "collect":
            failed = [index for index, _ in errors]
            collect = _arrow.collected if arrow else _on_error.collected_lists
            out = collect(out, failed, len(batch))
        return {**out, "errors": errors}

    def encode_texts(
        self, texts: Sequence[str], *, options: MaskOptions | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Tokenizes already-rendered texts (no masks): `input_ids` and `attention_mask`.

        Takes the options `max_length`, `truncation`, `truncation_side`, `padding`,
        `padding_side`, `return_tensors` (not `"arrow"`) and `num_threads`, as keywords or from
        `options=MaskOptions(...)` as in `encode_batch`.
        """
        options, _ = _core.call_options("encode_texts", options, kwargs)
        out = self._core.encode_texts(list(texts), options=options)
        del out["assistant_masks"], out["labels"]
        return _finish(out, options.return_tensors)

    def _control_tokens(self, control_tokens: Sequence[str] | None) -> tuple[str, ...]:
        added = self._core.added_tokens
        if control_tokens is None:
            return _sanitize.default_control_tokens(added, self._chat_template)
        chosen = set(control_tokens)
        return tuple(content for content, special in added if special or content in chosen)

    def __repr__(self) -> str:
        return (
            f"ChatTokenizer(has_generation={self.has_generation}, pad_token_id={self.pad_token_id}, "
            f"backend={self.backend!r})"
        )


def _from_parts(parts: dict[str, Any]) -> ChatTokenizer:
    return ChatTokenizer.from_parts(**parts)


def _read_text(path: Path) -> str:
    # Decoded as a whole, without `read_text`'s newline translation, which took three times as
    # long on a large tokenizer.json; JSON holds a raw line break only as whitespace, where "\r\n"
    # and "\n" parse the same.
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        raise InputError(f"cannot read {path}: {err}") from err


# Pins `strftime_now` for every ChatTokenizer built without `now=` (reproducible preprocessing,
# and the drop-in `apply_chat_template`, which has no parameter for it).
NOW_ENV = "FASTMASK_NOW"


def _pinned_clock(now: datetime.datetime | None) -> str | None:
    """The ISO date-time the core pins `strftime_now` to, or None for the local clock."""
    if now is None:
        text = os.environ.get(NOW_ENV, "").strip()
        if not text:
            return None
        try:
            now = datetime.datetime.fromisoformat(text)
        except ValueError as err:
            raise InputError(f"{NOW_ENV} must be an ISO date-time such as 2025-03-14T15:09:26, got {text!r}") from err
    return now.replace(tzinfo=None).isoformat()


_DEFAULT_OPTIONS = MaskOptions()


def _batch(conversations: Any) -> Any:
    """A list of conversations, or an Arrow column of them (which the core reads itself)."""
    if _arrow.is_arrow(conversations):
        return _arrow.conversations_column(conversations)
    return _as_list(conversations)


def _as_list(conversations: Any) -> list:
    if isinstance(conversations, (list, tuple)):
        return list(conversations)
    raise InputError(f"conversations must be a list of conversations, got {type(conversations).__name__}")


def _single(conversation: Any) -> Any:
    """One conversation must have a message, as transformers requires of a single conversation
    (inside a batch an empty one is rendered, as transformers does)."""
    if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
        raise InputError("the conversation is empty; provide at least one message")
    return conversation


def _merged(template_kwargs: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**(template_kwargs or {}), **kwargs}


def _tools(tools: Any) -> Any:
    """Tools are JSON schemas, or Python functions/methods converted by transformers'
    `get_json_schema`; anything else is rejected, as transformers does."""
    if tools is None:
        return None
    if not isinstance(tools, (list, tuple)):
        raise InputError(f"tools must be a list, got {type(tools).__name__}")
    if all(isinstance(tool, dict) for tool in tools):
        return list(tools)  # transformers builds a list: a tuple of tools must not print as one
    import inspect

    converted = []
    for index, tool in enumerate(tools):
        if isinstance(tool, dict):
            converted.append(tool)
        elif inspect.isfunction(tool) or inspect.ismethod(tool):
            converted.append(_json_schema(tool, index))
        else:
            raise InputError(
                f"tools[{index}]: a tool must be a JSON schema dict or a function with type hints and a docstring, "
                f"got {type(tool).__name__}"
            )
    return converted


def _json_schema(function: Any, index: int) -> dict[str, Any]:
    """A function's JSON schema exactly as transformers derives it (its docstring and type hints)."""
    try:
        from transformers.utils import get_json_schema
    except ImportError as err:
        raise InputError(
            f"tools[{index}] is the function {getattr(function, '__name__', function)!r}: converting a function "
            "to a JSON schema uses transformers' get_json_schema, and transformers is not installed "
            "(pip install transformers, or pass the JSON schema dict instead)"
        ) from err
    return get_json_schema(function)


def _finish(out: dict[str, Any], return_tensors: str | None) -> dict[str, Any]:
    """Wraps the `(Int64Buffer, shape)` buffers from the core as int64 arrays without copying."""
    if return_tensors is None:
        return out
    import numpy as np

    arrays = {name: np.frombuffer(buffer, dtype=np.int64).reshape(shape) for name, (buffer, shape) in out.items()}
    if return_tensors == "pt":
        import torch

        return {name: torch.from_numpy(array) for name, array in arrays.items()}
    return arrays


def _limits_dict(limits: Limits | None) -> dict[str, int] | None:
    if limits is None:
        return None
    if not isinstance(limits, Limits):
        raise InputError(f"limits must be a fastmask.Limits, got {type(limits).__name__}")
    return dataclasses.asdict(limits)
