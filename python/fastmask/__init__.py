"""fastmask: chat conversations to token ids and assistant-token masks, identical to
transformers' ``apply_chat_template(..., return_assistant_tokens_mask=True)``, from a Rust core."""

from fastmask._core import (
    FastmaskError,
    InputError,
    LimitError,
    MaskOptions,
    TemplateError,
    TemplateSyntaxError,
    TokenizerError,
)
from fastmask._limits import Limits
from fastmask._pack import PackStats, pack
from fastmask._tokenizer import ChatTokenizer
from fastmask._transformers import apply_chat_template

__version__ = "0.1.0"

__all__ = [
    "ChatTokenizer",
    "FastmaskError",
    "InputError",
    "LimitError",
    "Limits",
    "MaskOptions",
    "PackStats",
    "TemplateError",
    "TemplateSyntaxError",
    "TokenizerError",
    "__version__",
    "apply_chat_template",
    "pack",
]
