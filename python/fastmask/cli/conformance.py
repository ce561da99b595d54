"""`fastmask conformance`: renders a folder of templates with transformers and fastmask over the
conversation corpus and reports where they differ (`python -m fastmask.conformance`; its options
are passed through unchanged)."""

from __future__ import annotations

from typing import Any

# The arguments go to fastmask.conformance's own parser, not to the `fastmask` one.
PASS_THROUGH = True


def add_parser(commands: Any) -> None:
    commands.add_parser("conformance", help="compare templates' output with transformers (see --help)", add_help=False)


def main(argv: list[str]) -> int:
    from fastmask import conformance

    return conformance.main(argv)
