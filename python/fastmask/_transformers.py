"""The drop-in for transformers' `apply_chat_template` (the parts read from a tokenizer object are
`fastmask._transformers_parts`).

`apply_chat_template(tokenizer, conversation, ...)` takes the arguments of transformers 5.24's
`tokenizer.apply_chat_template` and returns what it returns (a str, ids, or a `BatchEncoding`
with the same keys, shapes and tensor types), with rendering, tokenization and masks done by
fastmask's core. What the core cannot do raises `NotImplementedError` naming the argument; it
never falls back to transformers' own implementation.

transformers is imported lazily, inside functions: fastmask imports without it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import weakref
from collections.abc import Mapping
from inspect import isfunction, ismethod
from typing import Any

from fastmask._tokenizer import NOW_ENV, ChatTokenizer
from fastmask._transformers_parts import backend_json, fast_backend
from fastmask._transformers_parts import parts_from_transformers as parts_from_transformers

# `render_jinja_template`'s test for a template that can produce masks, and the warning it logs.
_GENERATION_TAG = re.compile(r"\{\%-?\s*generation\s*-?\%\}")
_NO_GENERATION_WARNING = (
    "return_assistant_tokens_mask==True but chat template does not contain `{% generation %}` keyword."
)
# The marker transformers appends to the message it continues, then cuts the render at.
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")

# Arguments transformers passes to `tokenizer.__call__` itself: the same key in `tokenizer_kwargs`
# collides with them and raises TypeError.
_CALL_ARGUMENTS = (
    "padding",
    "truncation",
    "max_length",
    "add_special_tokens",
    "return_tensors",
    "sanitize_control_tokens",
)
# `tokenizer_kwargs` that fastmask honours.
_SUPPORTED_TOKENIZER_KWARGS = ("padding_side", "return_attention_mask", "return_token_type_ids", "verbose")
# `tokenizer_kwargs` that are accepted only at the value that changes nothing.
_NEUTRAL_TOKENIZER_KWARGS: dict[str, Any] = {
    "stride": 0,
    "is_split_into_words": False,
    "pad_to_multiple_of": None,
    "return_overflowing_tokens": False,
    "return_special_tokens_mask": False,
    "return_offsets_mapping": False,
    "return_length": False,
    "split_special_tokens": False,
}
# Template variables `ChatTokenizer.encode_batch` would read as its own options.

# `_plain_messages`: the exact types that need no normalisation, and how many values it inspects.
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_PLAIN_CHECK_LIMIT = 1_000_000

# tokenizer -> {cache key: ChatTokenizer}; a few templates per tokenizer at most.
_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple, ChatTokenizer]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()
_CACHE_PER_TOKENIZER = 8


# -- the cached ChatTokenizer of a transformers tokenizer -------------------------------------------


def _chat_tokenizer(tokenizer: Any, template: str) -> ChatTokenizer:
    """The cached ChatTokenizer for (tokenizer, template), rebuilt when the tokenizer changed.

    Sides are passed per call, so only what is baked into the core is in the key: the template,
    the special tokens, the pad token and the backend (identity and size, which `add_tokens`
    changes). Replacing the backend's normalizer or model in place is not detected.
    """
    backend = fast_backend(tokenizer)
    special = dict(tokenizer.special_tokens_map)
    clock = os.environ.get(NOW_ENV, "")  # a pinned clock is compiled into the template
    key = (template, json.dumps(special, sort_keys=True), tokenizer.pad_token, id(backend), len(tokenizer), clock)
    with _CACHE_LOCK:
        held = _CACHE.get(tokenizer, {})
        if key in held:
            return held[key]
        # The same tokenizer with another template: share its loaded vocabulary.
        sibling = next((chat for other, chat in held.items() if other[1:] == key[1:]), None)
    if sibling is not None:
        chat = sibling.with_chat_template(template)
    else:
        chat = ChatTokenizer.from_parts(
            backend_json(backend), template, special_tokens=special, pad_token=tokenizer.pad_token
        )
    with _CACHE_LOCK:
        held = _CACHE.setdefault(tokenizer, {})
        while len(held) >= _CACHE_PER_TOKENIZER:
            del held[next(iter(held))]
        held[key] = chat
    return chat


# -- apply_chat_template ---------------------------------------------------------------------------


def apply_chat_template(
    tokenizer: Any,
    conversation: Any,
    tools: list[dict | Any] | None = None,
    documents: list[dict[str, str]] | None = None,
    chat_template: str | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool | str = False,
    tokenize: bool = True,
    sanitize_control_tokens: bool = False,
    padding: bool | str = False,
    truncation: bool = False,
    max_length: int | None = None,
    return_tensors: str | None = None,
    return_dict: bool = True,
    return_assistant_tokens_mask: bool = False,
    tokenizer_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """`tokenizer.apply_chat_template(...)` of transformers 5.24, computed by fastmask.

    Same parameters, errors and return value: the rendered str (or list of str) when
    `tokenize=False`; the ids when `return_dict=False`; otherwise a `transformers.BatchEncoding`
    with the keys the tokenizer returns (`input_ids`, `token_type_ids` if it is a model input,
    `attention_mask`) plus `assistant_masks` when asked. The BatchEncoding holds no
    `tokenizers.Encoding` objects, so `char_to_token` and `.encodings` are unavailable.

    Raises:
        NotImplementedError: `sanitize_control_tokens=True` with `continue_final_message`, a
            `tokenizer_kwargs` key fastmask does not support, a slow tokenizer, or a template
            variable named like an encoding option.
    """
    if not tokenize:
        return_dict = False
    if return_assistant_tokens_mask and not (return_dict and tokenize):
        raise ValueError("`return_assistant_tokens_mask=True` requires `return_dict=True` and `tokenize=True`")
    tokenizer_kwargs = {} if tokenizer_kwargs is None else tokenizer_kwargs
    template = tokenizer.get_chat_template(chat_template, tools)
    if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
        raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
    is_batched = _is_batched(conversation)
    given = conversation if is_batched else [conversation]
    conversations = [_normalized(chat, continue_final_message) for chat in given]
    if continue_final_message:
        _check_continue(add_generation_prompt, return_assistant_tokens_mask)
    if sanitize_control_tokens:
        _check_sanitize(tokenize, continue_final_message)
    _check_template_kwargs(kwargs)
    if return_assistant_tokens_mask and not _GENERATION_TAG.search(template):
        _warn_once(_NO_GENERATION_WARNING)

    chat = _chat_tokenizer(tokenizer, template)
    render = {
        "tools": _tool_schemas(tools),
        "documents": _checked_documents(documents),
        "template_kwargs": kwargs,
        **_transformers_masks(chat),
    }
    if continue_final_message:
        texts = _render_continued(chat, template, conversations, continue_final_message, render)
    elif not tokenize:
        rendered = chat.render_batch(conversations, add_generation_prompt=add_generation_prompt, **render)
        texts = [text for text, _ in rendered]
    if not tokenize:
        return texts if is_batched else texts[0]

    options = _call_options(tokenizer, tokenizer_kwargs, padding, truncation, max_length)
    native = _native_arrays(return_tensors, len(conversations), options)
    if continue_final_message:
        encoded = chat.encode_texts(texts, return_tensors=native, **options)
    else:
        if sanitize_control_tokens:
            # transformers' own choice of control tokens for this template, marked by the core's rule.
            render["sanitize_control_tokens"] = True
            render["control_tokens"] = tokenizer._get_control_tokens(template)
        encoded = chat.encode_batch(
            conversations, add_generation_prompt=add_generation_prompt, return_tensors=native, **options, **render
        )
    out = _batch_encoding(
        tokenizer, encoded, tokenizer_kwargs, return_assistant_tokens_mask, is_batched, return_tensors
    )
    return out if return_dict else out["input_ids"]


def _transformers_masks(chat: Any) -> dict[str, Any]:
    """transformers' semantics: spans from generation blocks only, none (all-zero masks) without them."""
    if chat.has_generation:
        return {"mask_source": "generation"}
    return {"mask_source": "turns", "train_roles": (), "train_key": None}


def _is_batched(conversation: Any) -> bool:
    return isinstance(conversation, (list, tuple)) and (
        isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
    )


def _normalized(conversation: Any, continue_final_message: bool | str) -> list:
    """transformers' `_normalize_chat_messages`, skipped for a list of plain JSON dicts.

    Those it would only copy without their None-valued keys, which the core drops as well.
    """
    if not continue_final_message and type(conversation) is list and _plain_messages(conversation):
        return conversation
    from transformers.utils.chat_template_utils import _normalize_chat_messages

    return _normalize_chat_messages(conversation)


def _plain_messages(messages: list) -> bool:
    """Whether every message is a dict built only of dicts, lists, tuples, str keys and JSON scalars."""
    if not all(type(message) is dict for message in messages):
        return False
    pending: list = list(messages)
    for _ in range(_PLAIN_CHECK_LIMIT):
        if not pending:
            return True
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            if not all(type(key) is str for key in value):
                return False
            pending.extend(value.values())
        elif kind is list or kind is tuple:
            pending.extend(value)
        elif kind not in _JSON_SCALARS:
            return False
    return False  # very large (or cyclic): let transformers' normalisation handle it


def _check_continue(add_generation_prompt: bool, return_assistant_tokens_mask: bool) -> None:
    if add_generation_prompt:
        raise ValueError(
            "continue_final_message and add_generation_prompt are not compatible. Use continue_final_message when "
            "you want the model to continue the final message, and add_generation_prompt when you want to add a "
            "header that will prompt it to start a new assistant message instead."
        )
    if return_assistant_tokens_mask:
        raise ValueError("continue_final_message is not compatible with return_assistant_tokens_mask.")


def _check_sanitize(tokenize: bool, continue_final_message: bool | str) -> None:
    """transformers' refusal without `tokenize`; unlike transformers, masks are allowed."""
    if not tokenize:
        raise ValueError(
            "`sanitize_control_tokens=True` requires `tokenize=True` and is not compatible with "
            "`return_assistant_tokens_mask=True`."
        )
    if continue_final_message:
        raise NotImplementedError(
            "sanitize_control_tokens=True with continue_final_message is not supported by fastmask"
        )


def _check_template_kwargs(kwargs: dict[str, Any]) -> None:
    """Template variables that transformers rejects."""
    for name in ("conversations", "messages"):
        if name in kwargs:
            raise TypeError(f"render_jinja_template() got multiple values for keyword argument {name!r}")


def _warn_once(message: str) -> None:
    from transformers.utils import logging

    logging.get_logger("transformers.utils.chat_template_utils").warning_once(message)


def _tool_schemas(tools: Any) -> list | None:
    """JSON schemas as given, Python functions converted by `get_json_schema`, as transformers does."""
    if tools is None:
        return None
    from transformers.utils import get_json_schema

    schemas = []
    for tool in tools:
        if isinstance(tool, dict):
            schemas.append(tool)
        elif isfunction(tool) or ismethod(tool):
            schemas.append(get_json_schema(tool))
        else:
            raise ValueError(
                "Tools should either be a JSON schema, or a callable function with type hints "
                "and a docstring suitable for auto-conversion to a schema."
            )
    return schemas


def _checked_documents(documents: Any) -> Any:
    for document in documents if documents is not None else ():
        if not isinstance(document, dict):
            raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
    return documents


# -- continue_final_message ------------------------------------------------------------------------


def _render_continued(
    chat: ChatTokenizer, template: str, conversations: list, continue_final_message: bool | str, render: dict
) -> list[str]:
    """Each conversation rendered with its final message left open, in transformers' order of errors."""
    field = continue_final_message if isinstance(continue_final_message, str) else "content"
    texts = []
    for conversation in conversations:
        messages, final_message = _tag_final_message(conversation, field, template)
        text, _ = chat.render(messages, **render)
        texts.append(_cut_at_tag(text, final_message))
    return texts


def _tag_final_message(conversation: list, field: str, template: str) -> tuple[list, str]:
    """A copy of the conversation with the continue tag appended to the final message's `field`."""
    from transformers.utils.chat_template_utils import _alias_reasoning_fields, _plain_template_data

    messages = _alias_reasoning_fields(_plain_template_data(conversation))
    if not messages:
        raise ValueError("continue_final_message is set but the conversation is empty!")
    if (final_message := messages[-1].get(field)) is None:
        raise ValueError(f'continue_final_message is set but the final message has no "{field}" to continue!')
    fields = [field]
    if field in _REASONING_FIELDS:
        fields = [name for name in _REASONING_FIELDS if messages[-1].get(name) == final_message]
    if not any(name in template for name in fields):
        raise ValueError(
            f'continue_final_message is set to "{field}" but this is not an accepted field in the chat_template'
        )
    if isinstance(final_message, (list, tuple)):
        return messages, _tag_last_text_block(final_message)
    for name in fields:
        messages[-1][name] = messages[-1][name] + _CONTINUE_TAG
    return messages, final_message


def _tag_last_text_block(blocks: list | tuple) -> str:
    for block in reversed(blocks):
        if "text" in block:
            text = block["text"]
            block["text"] = text + _CONTINUE_TAG
            return text
    raise ValueError("continue_final_message is set but we could not find any text to continue in the final message!")


def _cut_at_tag(rendered: str, final_message: str) -> str:
    if final_message.strip() not in rendered or _CONTINUE_TAG.strip() not in rendered:
        raise ValueError(
            "continue_final_message is set but the final message does not appear in the chat after "
            "applying the chat template! This can happen if the chat template deletes portions of "
            "the final message. Please verify the chat template and final message in your chat to "
            "ensure they are compatible."
            f"Final message to continue: {final_message.strip()}\nRendered chat:\n{rendered}"
        )
    tag_start = rendered.rindex(_CONTINUE_TAG.strip())
    if rendered[tag_start : tag_start + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
        return rendered[:tag_start]
    return rendered[:tag_start].rstrip()


# -- tokenization options and output ---------------------------------------------------------------


def _call_options(
    tokenizer: Any, tokenizer_kwargs: Mapping[str, Any], padding: Any, truncation: Any, max_length: Any
) -> dict[str, Any]:
    """The padding and truncation `tokenizer.__call__` would apply, as encode options."""
    from transformers.tokenization_utils_base import TruncationStrategy
    from transformers.utils import PaddingStrategy

    _check_tokenizer_kwargs(tokenizer, tokenizer_kwargs)
    padding_strategy, truncation_strategy, max_length, _ = tokenizer._get_padding_truncation_strategies(
        padding=padding, truncation=truncation, max_length=max_length, verbose=tokenizer_kwargs.get("verbose", True)
    )
    if truncation_strategy == TruncationStrategy.ONLY_SECOND:
        # What the tokenizers backend raises for a single sequence (as ValueError, not a bare Exception).
        raise ValueError("Truncation error: Second sequence not provided")
    truncate = truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE
    pads = padding_strategy != PaddingStrategy.DO_NOT_PAD
    return {
        "max_length": max_length if truncate or padding_strategy == PaddingStrategy.MAX_LENGTH else None,
        "truncation": truncate,
        "truncation_side": tokenizer.truncation_side,
        "padding": padding_strategy.value if pads else False,
        "padding_side": tokenizer_kwargs.get("padding_side") or tokenizer.padding_side,
    }


def _check_tokenizer_kwargs(tokenizer: Any, tokenizer_kwargs: Mapping[str, Any]) -> None:
    for key, value in tokenizer_kwargs.items():
        if key in _CALL_ARGUMENTS:
            raise TypeError(f"{type(tokenizer).__name__}.__call__() got multiple values for keyword argument {key!r}")
        if key in _SUPPORTED_TOKENIZER_KWARGS:
            continue
        if key in _NEUTRAL_TOKENIZER_KWARGS and value == _NEUTRAL_TOKENIZER_KWARGS[key]:
            continue
        raise NotImplementedError(f"tokenizer_kwargs[{key!r}]={value!r} is not supported by fastmask")


def _native_arrays(return_tensors: Any, n_rows: int, options: Mapping[str, Any]) -> str | None:
    """`return_tensors` for the core when every row has the same length, else None (lists).

    Ragged rows go through `BatchEncoding`, which makes NumPy object arrays or raises for torch,
    as transformers does.
    """
    if return_tensors is None:
        return None
    from transformers.utils import TensorType

    kind = TensorType(return_tensors)
    if kind not in (TensorType.NUMPY, TensorType.PYTORCH):
        return None
    padding = options["padding"]
    equal = n_rows == 1 or padding == "longest" or (padding == "max_length" and options["truncation"])
    return kind.value if equal else None


def _batch_encoding(
    tokenizer: Any,
    encoded: Mapping[str, Any],
    tokenizer_kwargs: Mapping[str, Any],
    with_masks: bool,
    is_batched: bool,
    return_tensors: Any,
) -> Any:
    """The BatchEncoding transformers builds: its keys, in its order, single rows unwrapped."""
    from transformers import BatchEncoding

    names = tokenizer.model_input_names
    data = {"input_ids": encoded["input_ids"]}
    if _flag(tokenizer_kwargs.get("return_token_type_ids"), "token_type_ids" in names):
        data["token_type_ids"] = _token_type_ids(encoded["attention_mask"], tokenizer.pad_token_type_id)
    if _flag(tokenizer_kwargs.get("return_attention_mask"), "attention_mask" in names):
        data["attention_mask"] = encoded["attention_mask"]
    if with_masks:
        data["assistant_masks"] = encoded["assistant_masks"]
    if return_tensors is not None:
        return BatchEncoding(data, tensor_type=return_tensors)
    if not is_batched:
        data = {name: rows[0] for name, rows in data.items()}
    return BatchEncoding(data)


def _flag(asked: bool | None, default: bool) -> bool:
    return default if asked is None else bool(asked)


def _token_type_ids(attention_mask: Any, pad_type_id: int) -> Any:
    """Zeros for a single sequence without special tokens; `pad_token_type_id` on padding."""
    if isinstance(attention_mask, list):
        return [[0 if bit else pad_type_id for bit in row] for row in attention_mask]
    zeros = attention_mask * 0
    return zeros if pad_type_id == 0 else zeros + (1 - attention_mask) * pad_type_id
