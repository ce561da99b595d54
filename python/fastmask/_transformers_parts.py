"""The parts `ChatTokenizer.from_parts` takes, read from a transformers fast tokenizer.

Its own module so that both `ChatTokenizer.from_transformers` and the drop-in
`apply_chat_template` (`fastmask._transformers`, which builds ChatTokenizers) use it without
importing each other. transformers itself is not imported: the tokenizer object is duck-typed.
"""

from __future__ import annotations

import json
from typing import Any


def parts_from_transformers(tokenizer: Any, chat_template: str | None = None, *, tools: Any = None) -> dict[str, Any]:
    """What `ChatTokenizer.from_parts` needs, read from a transformers fast tokenizer.

    The template is chosen as `tokenizer.get_chat_template(chat_template, tools)` chooses it: a
    name among several held templates, a literal template, or the tokenizer's own (its
    "tool_use" template when `tools` is given). `special_tokens` is `special_tokens_map`, the
    named special tokens as strings, which transformers merges into the template variables.

    Raises:
        NotImplementedError: a slow (Python) tokenizer, or `split_special_tokens=True`.
        ValueError: no template can be chosen (transformers' message).
    """
    backend = fast_backend(tokenizer)
    return {
        "tokenizer_json": backend_json(backend),
        "chat_template": tokenizer.get_chat_template(chat_template, tools),
        "special_tokens": dict(tokenizer.special_tokens_map),
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "pad_token": tokenizer.pad_token,
    }


def fast_backend(tokenizer: Any) -> Any:
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is None:
        raise NotImplementedError(
            f"{type(tokenizer).__name__} is a slow (Python) tokenizer: fastmask tokenizes with the Rust "
            "`tokenizers` backend of a fast tokenizer; load one with AutoTokenizer.from_pretrained(..., use_fast=True)"
        )
    if getattr(tokenizer, "split_special_tokens", False):
        raise NotImplementedError(
            "split_special_tokens=True is not supported: fastmask encodes special tokens as tokens"
        )
    return backend


def backend_json(backend: Any) -> str:
    """The backend's tokenizer.json without the truncation and padding a previous call left set."""
    text = backend.to_str()
    if backend.truncation is None and backend.padding is None:
        return text
    data = json.loads(text)
    data["truncation"] = None
    data["padding"] = None
    return json.dumps(data, ensure_ascii=False)
