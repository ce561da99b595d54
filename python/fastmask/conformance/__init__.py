"""Conformance check: does fastmask render and tokenize your chat templates exactly like transformers?

    python -m fastmask.conformance [--templates DIR] [--tokenizer PATH_OR_DIR] [--cases NAME,...]

renders every `*.jinja` template of DIR (default: TRL's `chat_templates` folder, when TRL is
installed) with transformers and with fastmask over the conversation corpus
(`fastmask.conformance.corpus`), and prints per template: identical, differs (the case, and the
first differing position with a short context), or unsupported (fastmask refuses the template at
compile time, with the reason). Token ids, attention masks and, for templates with generation
blocks, assistant masks are compared too, with the given tokenizer or a byte-level stand-in.
The exit status is 1 when any template differs. Needs transformers.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence

from fastmask.conformance.corpus import BY_NAME, CASES, PINNED_NOW, Case
from fastmask.conformance.report import (
    DIFFERS,
    IDENTICAL,
    UNSUPPORTED,
    Difference,
    TemplateReport,
    check_template,
    format_report,
    run_conformance,
)

__all__ = [
    "CASES",
    "DIFFERS",
    "IDENTICAL",
    "PINNED_NOW",
    "UNSUPPORTED",
    "Case",
    "Difference",
    "TemplateReport",
    "check_template",
    "format_report",
    "main",
    "run_conformance",
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fastmask.conformance",
        description="Compare fastmask with transformers on every *.jinja chat template of a folder.",
    )
    parser.add_argument(
        "--templates", metavar="DIR", help="folder of *.jinja templates (default: TRL's chat_templates)"
    )
    parser.add_argument(
        "--tokenizer",
        metavar="PATH_OR_DIR",
        help="a model directory, a tokenizer.json or a hub name (default: a byte-level stand-in tokenizer)",
    )
    parser.add_argument("--cases", metavar="NAME,...", help="only these corpus cases (default: all)")
    parser.add_argument(
        "--now",
        metavar="ISO",
        default=PINNED_NOW.isoformat(),
        help=f"the instant strftime_now reads in both engines (default: {PINNED_NOW.isoformat()})",
    )
    parser.add_argument("--all-differences", action="store_true", help="list every differing case, not only the first")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: prints the report; returns 0, 1 when a template differs, 2 on bad usage."""
    parser = _parser()
    args = parser.parse_args(argv)
    cases = None
    if args.cases:
        names = [name.strip() for name in args.cases.split(",") if name.strip()]
        unknown = [name for name in names if name not in BY_NAME]
        if unknown:
            parser.error(f"unknown cases {unknown}; known: {', '.join(BY_NAME)}")
        cases = [BY_NAME[name] for name in names]
    try:
        now = datetime.datetime.fromisoformat(args.now)
    except ValueError:
        parser.error(f"--now must be an ISO date-time, got {args.now!r}")
    try:
        reports = run_conformance(args.templates, tokenizer=args.tokenizer, cases=cases, now=now)
    except ImportError as err:
        print(f"error: the conformance check needs transformers ({err})", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(reports, all_differences=args.all_differences))
    return 1 if any(report.status == DIFFERS for report in reports) else 0
