"""`Limits`: the safety limits a ChatTokenizer holds untrusted templates and inputs to.

The defaults live in the Rust core (`src/limits.rs`); README.md ("Limits") gives each one's reason.
"""

from __future__ import annotations

import dataclasses

from fastmask._core import DEFAULT_LIMITS


@dataclasses.dataclass(frozen=True)
class Limits:
    """Limits per conversation; reaching one raises `fastmask.LimitError` naming it.

    Attributes:
        fuel: template steps per render (about one per instruction, plus one per 64 bytes of
            data the template builds); bounds a render's time and memory.
        fuel_per_input_byte: fuel per byte of a render's input text, used instead of `fuel`
            when it gives more, so long conversations keep the headroom short ones have.
        recursion: nesting of macro calls and loops (at most 500, minijinja's ceiling).
        output_bytes: bytes of rendered text.
        string_bytes: bytes of any one string a filter, method or operator builds (`indent`,
            `center`, `join`, `replace`, `format`, `%`, `~`, `tojson`, `ljust`, widths).
        template_bytes: bytes of the template source (checked when the tokenizer is built).
        input_bytes: bytes of text in one conversation (and in `tools`, `documents`, kwargs).
        input_depth: nesting of lists and dicts in the input; a dict or list that contains
            itself is refused whatever this is.
    """

    fuel: int = DEFAULT_LIMITS["fuel"]
    fuel_per_input_byte: int = DEFAULT_LIMITS["fuel_per_input_byte"]
    recursion: int = DEFAULT_LIMITS["recursion"]
    output_bytes: int = DEFAULT_LIMITS["output_bytes"]
    string_bytes: int = DEFAULT_LIMITS["string_bytes"]
    template_bytes: int = DEFAULT_LIMITS["template_bytes"]
    input_bytes: int = DEFAULT_LIMITS["input_bytes"]
    input_depth: int = DEFAULT_LIMITS["input_depth"]
