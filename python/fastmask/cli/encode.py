"""`fastmask encode`: a dataset file of conversations -> a training-ready Parquet or JSONL file with
`input_ids`, `assistant_masks` and `labels` next to the input's other columns; with `--pack-length`,
packed into bins with `seq_lengths` and `position_ids`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fastmask import ChatTokenizer, InputError
from fastmask._on_error import error_detail
from fastmask.cli import _defaults, _input, _output, _tokenizer_args
from fastmask.cli._packing import Packer, packed_schema
from fastmask.cli._summary import Stats, progress_bar

OUTPUT_COLUMNS = ("input_ids", "assistant_masks", "labels")
# With --expand-turns: each row's input row (in the file) and the index of its trained message.
ORIGIN_COLUMNS = ("conversation_index", "turn_index")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "encode", help="encode a JSONL/JSON/Parquet file of conversations", description=__doc__
    )
    parser.add_argument("input", nargs="?", type=Path, help="JSONL, JSON or Parquet (default: the bundled sample)")
    parser.add_argument(
        "-o", "--output", type=Path, help="a .parquet or .jsonl file (default: INPUT_STEM.encoded.parquet here)"
    )
    parser.add_argument("--input-format", choices=_input.FORMATS, help="default: from the input's extension")
    parser.add_argument("--output-format", choices=_output.FORMATS, help="default: from the output's extension")
    parser.add_argument(
        "--messages-field",
        help="the column holding each conversation (default: messages, or conversations with --sharegpt)",
    )
    parser.add_argument("--sharegpt", action="store_true", help="conversations are ShareGPT turns ({from, value})")
    parser.add_argument("--max-length", type=_positive, help="truncate every conversation to N tokens")
    parser.add_argument("--truncation", choices=("left", "right"), default="right", help="side --max-length cuts")
    parser.add_argument("--ignore-index", type=int, default=-100, help="label of untrained tokens (default -100)")
    parser.add_argument("--num-threads", type=_positive, help="worker threads (default: all cores)")
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="stop at the first bad row (default), or skip bad rows and write OUTPUT.errors.jsonl",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive,
        default=1024,
        help="rows per chunk (default 1024): memory is bounded by one chunk's conversations and outputs",
    )
    parser.add_argument(
        "--expand-turns",
        action="store_true",
        help="one row per trained turn (the conversation up to it, only it trained), "
        "with conversation_index (the input row) and turn_index columns",
    )
    parser.add_argument(
        "--pack-length",
        type=_positive,
        help="pack the encoded rows into bins of at most N tokens (TRL's pack_dataset), with seq_lengths and "
        "position_ids; the other columns become lists per bin",
    )
    parser.add_argument(
        "--pack-strategy", choices=("bfd", "bfd_split", "wrapped"), default="bfd", help="how rows are packed (bfd)"
    )
    parser.add_argument(
        "--pack-window",
        type=_positive,
        default=10_000,
        help="rows binned together (default 10000; memory is bounded by one window, larger fills bins better)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    _tokenizer_args.add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source = args.input or _defaults.sample_conversations()
    output = args.output or Path(f"{source.name.split('.')[0]}.encoded.parquet")
    in_format = _input.detect_format(source, args.input_format)
    out_format = _output.detect_format(output, args.output_format)
    messages_field = args.messages_field or ("conversations" if args.sharegpt else "messages")
    tokenizer = _tokenizer_args.load_tokenizer(args)
    options = encode_options(args)
    stats = Stats()
    chunks = _input.read_chunks(
        source, in_format, chunk_size=args.chunk_size, messages_field=messages_field, sharegpt=args.sharegpt
    )
    rows = _input.row_count(source, in_format)
    packer = Packer(args.pack_length, args.pack_strategy, args.pack_window) if args.pack_length else None
    with _output.AtomicOutput(output, out_format) as sink, progress_bar(rows, args.quiet) as bar:
        for chunk in chunks:
            table = encode_chunk(tokenizer, chunk, options, stats, raise_on_error=args.on_error == "raise")
            for written in [table] if packer is None else packer.add(table):
                sink.write(written)
            bar.update(len(chunk))
            bar.set_postfix_str(f"{stats.tokens / stats.elapsed:,.0f} tokens/s", refresh=False)
        schema = output_schema(expand_turns=args.expand_turns)
        if packer is not None:
            for written in packer.flush():
                sink.write(written)
            stats.pack, stats.pack_length = packer.stats, args.pack_length
            schema = packed_schema(schema, args.pack_strategy)
        sink.commit(empty_schema=schema)
    report = None
    if stats.skipped:
        report = output.with_name(output.name + ".errors.jsonl")
        stats.write_report(report)
    if not args.quiet:
        stats.print_summary(output, report)
    return 0


def encode_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"ignore_index": args.ignore_index, "num_threads": args.num_threads}
    if args.max_length is not None:
        options.update(max_length=args.max_length, truncation=True, truncation_side=args.truncation)
    if args.expand_turns:
        options["expand_turns"] = True
    return {**options, **_tokenizer_args.mask_options(args)}


def encode_chunk(
    tokenizer: ChatTokenizer, chunk: _input.Chunk, options: dict[str, Any], stats: Stats, *, raise_on_error: bool
) -> Any:
    """One chunk -> its output table (good rows only); bad rows are counted, or raise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stats.rows_read += len(chunk)
    readable = [index for index in range(len(chunk)) if index not in chunk.bad]
    # An Arrow column (Parquet input) has no unreadable rows and goes to the core as it is.
    batch = [chunk.conversations[i] for i in readable] if chunk.bad else chunk.conversations
    out = tokenizer.encode_batch(batch, return_tensors="arrow", on_error="skip", **options)
    failures = [(chunk.first_row + index, "unreadable row", reason, InputError) for index, reason in chunk.bad.items()]
    failed = set()
    for position, error in out["errors"]:
        failed.add(position)
        # The error's conversation index is chunk-local: the report names the file's row instead.
        failures.append((chunk.first_row + readable[position], type(error).__name__, error_detail(error), type(error)))
    for row, reason, message, kind in sorted(failures, key=lambda failure: failure[0]):
        if raise_on_error:
            raise kind(f"row {row}: {message} (pass --on-error skip to skip bad rows)")
        stats.skip(row, reason, message)
    good = [row for position, row in enumerate(readable) if position not in failed]
    origins = {}
    if "turn_index" in out:  # --expand-turns: each row's conversation, as a row of the chunk
        good = [readable[position] for position in out["conversation_index"].to_pylist()]
        file_rows = pa.array([chunk.first_row + row for row in good], type=pa.int64())
        origins = {"conversation_index": file_rows, "turn_index": out["turn_index"]}
    # Pass-through columns (a re-encoded file's old outputs are replaced), then the outputs.
    outputs = {**{name: out[name] for name in OUTPUT_COLUMNS}, **origins}
    passed = chunk.columns.drop_columns([name for name in outputs if name in chunk.columns.column_names])
    kept = passed.take(pa.array(good, type=pa.int64())).columns if passed.num_columns else []
    table = pa.Table.from_arrays([*kept, *outputs.values()], names=[*passed.column_names, *outputs])
    stats.rows_written += len(table)
    stats.tokens += len(out["input_ids"].values)
    stats.assistant_tokens += pc.sum(out["assistant_masks"].values).as_py() or 0
    stats.truncated_rows += pc.sum(pc.greater(out["truncated_tokens"], 0)).as_py() or 0
    return table


def output_schema(*, expand_turns: bool = False) -> Any:
    import pyarrow as pa

    origins = [(name, pa.int64()) for name in ORIGIN_COLUMNS] if expand_turns else []
    return pa.schema(
        [
            ("input_ids", pa.list_(pa.int32())),
            ("assistant_masks", pa.list_(pa.int8())),
            ("labels", pa.list_(pa.int64())),
            *origins,
        ]
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
