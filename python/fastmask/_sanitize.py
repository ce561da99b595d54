"""`sanitize_control_tokens`: mark the control tokens in the caller's data, as transformers does.

Every control token found in a string of the messages, tools, documents or template variables is
wrapped in the private-use markers U+F0000 … U+F0001 (markers already in the string are removed
first, so they cannot forge a marked token); dict keys are left alone. The core then encodes each
marked token as plain text (`src/sanitize.rs`). This is transformers 5.24's
`mark_control_tokens`, which fastmask combines with assistant masks.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

START = "\U000f0000"
END = "\U000f0001"


@functools.lru_cache(maxsize=64)
def control_tokens_pattern(control_tokens: tuple[str, ...]) -> re.Pattern:
    """Any of the tokens, longer ones first so a token wins over the tokens inside it."""
    longest_first = sorted(control_tokens, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, longest_first)) or "(?!)")


def default_control_tokens(added_tokens: Iterable[tuple[str, bool]], chat_template: str) -> tuple[str, ...]:
    """Special added tokens, plus the other added tokens the template writes (not whitespace ones).

    transformers looks for the latter in the template's literal text and string constants; the
    template source as a whole is used here, which differs only for a token written in a comment
    or spelled with escapes. Pass `control_tokens=` to be exact.
    """
    return tuple(
        content for content, special in added_tokens if special or (content in chat_template and not content.isspace())
    )


def mark(value: Any, pattern: re.Pattern, max_depth: int, depth: int = 0) -> Any:
    """`value` with every control token in its strings wrapped in the markers.

    Deeper (or self-referencing) data is left for the core's conversion to refuse with its
    LimitError, rather than recursing without end here.
    """
    if isinstance(value, str):
        value = value.replace(START, "").replace(END, "")
        return pattern.sub(f"{START}\\g<0>{END}", value)
    if depth > max_depth:
        return value
    if isinstance(value, dict):
        return {key: mark(item, pattern, max_depth, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mark(item, pattern, max_depth, depth + 1) for item in value]
    return value
