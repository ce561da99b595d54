"""`fastmask render`: print conversations as the template renders them, with the assistant spans
(what the mask trains on) highlighted - colour on a terminal, ⟦ ⟧ markers otherwise. How users
debug a template's masks. A conversation whose spans cannot be made is shown as text alone, with a
note saying why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fastmask import FastmaskError
from fastmask.cli import _defaults, _input, _tokenizer_args

HIGHLIGHT, RESET = "\x1b[1;32m", "\x1b[0m"
OPEN, CLOSE = "⟦", "⟧"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "render", help="show rendered conversations with assistant spans highlighted", description=__doc__
    )
    parser.add_argument("input", nargs="?", type=Path, help="JSONL, JSON or Parquet (default: the bundled sample)")
    parser.add_argument("--row", type=int, action="append", help="row to show (repeatable; default: the first --limit)")
    parser.add_argument("--limit", type=int, default=10, help="rows shown without --row (default 10)")
    parser.add_argument("--input-format", choices=_input.FORMATS)
    parser.add_argument("--messages-field", help="default: messages, or conversations with --sharegpt")
    parser.add_argument("--sharegpt", action="store_true", help="conversations are ShareGPT turns ({from, value})")
    parser.add_argument("--add-generation-prompt", action="store_true")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    _tokenizer_args.add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source = args.input or _defaults.sample_conversations()
    tokenizer = _tokenizer_args.load_tokenizer(args)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    options = {"add_generation_prompt": args.add_generation_prompt, **_tokenizer_args.mask_options(args)}
    for row, conversation in selected_rows(source, args):
        try:
            text, spans = tokenizer.render(conversation, **options)
        except FastmaskError as err:
            if options["mask_source"] == "none":
                raise
            # The spans could not be made; the text alone still shows what the template renders (if
            # the template cannot render it at all, this raises that error instead).
            text, spans = tokenizer.render(conversation, **{**options, "mask_source": "none"})
            print(f"--- row {row} (text only: no assistant spans: {err})")
        else:
            print(f"--- row {row} (assistant text {'highlighted' if color else f'in {OPEN} {CLOSE}'})")
        print(highlighted(text, spans, color))
    return 0


def selected_rows(source: Path, args: argparse.Namespace) -> list[tuple[int, Any]]:
    wanted = set(args.row or [])
    limit = max(wanted) + 1 if wanted else args.limit
    fmt = _input.detect_format(source, args.input_format)
    field = args.messages_field or ("conversations" if args.sharegpt else "messages")
    rows = []
    chunks = _input.read_chunks(source, fmt, chunk_size=min(limit, 4096), messages_field=field, sharegpt=args.sharegpt)
    for chunk in chunks:
        for index, conversation in enumerate(chunk.conversations):
            row = chunk.first_row + index
            if row >= limit:
                return rows
            if not wanted or row in wanted:
                if index in chunk.bad:
                    print(f"--- row {row}: {chunk.bad[index]}", file=sys.stderr)
                else:
                    rows.append((row, conversation))
    return rows


def highlighted(text: str, spans: list[tuple[int, int]], color: bool) -> str:
    start_mark, end_mark = (HIGHLIGHT, RESET) if color else (OPEN, CLOSE)
    out, last = [], 0
    for start, end in sorted(spans):
        start = max(start, last)  # nested or overlapping spans are shown once
        out += [text[last:start], start_mark, text[start:end], end_mark]
        last = max(last, end)
    return "".join(out + [text[last:]])
