"""`Limits`: the safety limits a ChatTokenizer holds untrusted templates and inputs to.

The fields, their defaults and their docs are declared once, in the Rust core (`src/limits.rs`),
and exported as `_core.LIMIT_FIELDS`; this module builds the frozen dataclass from them. README.md
("Limits") gives each default's reason. Values are checked by the core when a tokenizer is built;
each field's doc is also in `dataclasses.fields(Limits)[i].metadata["doc"]`.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import TYPE_CHECKING, Any, ClassVar

from fastmask._core import LIMIT_FIELDS


def _docstring() -> str:
    lines = ["Limits per conversation; reaching one raises `fastmask.LimitError` naming it.", "", "Attributes:"]
    for name, _default, doc in LIMIT_FIELDS:
        lines.extend(textwrap.wrap(f"{name}: {doc}", width=96, initial_indent="    ", subsequent_indent="        "))
    return "\n".join(lines)


if TYPE_CHECKING:

    class Limits:
        """Limits per conversation (fields: `fastmask._core.LIMIT_FIELDS`)."""

        __dataclass_fields__: ClassVar[dict[str, Any]]

        def __init__(self, **limits: int) -> None: ...
        def __getattr__(self, name: str) -> int: ...

else:
    Limits = dataclasses.make_dataclass(
        "Limits",
        [(name, int, dataclasses.field(default=default, metadata={"doc": doc})) for name, default, doc in LIMIT_FIELDS],
        namespace={"__module__": __name__, "__doc__": _docstring()},
        frozen=True,
    )
