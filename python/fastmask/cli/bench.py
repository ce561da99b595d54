"""`fastmask bench`: fastmask against transformers' `apply_chat_template(...,
return_assistant_tokens_mask=True)` on the same conversations (the bundled sample by default),
after checking that both give the same ids and masks. Needs transformers."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fastmask import InputError
from fastmask.cli import _defaults, _input, _tokenizer_args


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench", help="time fastmask against transformers on the same data", description=__doc__
    )
    parser.add_argument("input", nargs="?", type=Path, help="JSONL, JSON or Parquet (default: the bundled sample)")
    parser.add_argument(
        "--rows", type=int, default=2000, help="conversations timed: the input repeated up to N (default 2000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the best is shown (default 3)")
    parser.add_argument("--messages-field", default="messages")
    _tokenizer_args.add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("fastmask bench compares against transformers, which is not installed: pip install transformers")
        return 2
    conversations = load_conversations(args)
    ours = _tokenizer_args.load_tokenizer(args)
    reference, template = reference_tokenizer(args)
    options = _tokenizer_args.mask_options(args)

    def transformers_run() -> Any:
        return reference.apply_chat_template(
            conversations, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )

    def fastmask_run() -> Any:
        return ours.encode_batch(conversations, **options)

    expected, got = transformers_run(), fastmask_run()
    same = expected["input_ids"] == got["input_ids"] and expected["assistant_masks"] == got["assistant_masks"]
    tokens = sum(len(ids) for ids in got["input_ids"])
    print(f"{len(conversations):,} conversations, {tokens:,} tokens; outputs {'identical' if same else 'DIFFER'}")
    timings = {
        name: best_seconds(call, args.repeat)
        for name, call in (("transformers", transformers_run), ("fastmask", fastmask_run))
    }
    for name, seconds in timings.items():
        print(
            f"  {name:<13} {seconds * 1000:9.1f} ms  {len(conversations) / seconds:10,.0f} conv/s  "
            f"{tokens / seconds:12,.0f} tokens/s  x{timings['transformers'] / seconds:.1f}"
        )
    return 0 if same else 1


def load_conversations(args: argparse.Namespace) -> list[Any]:
    source = args.input or _defaults.sample_conversations()
    fmt = _input.detect_format(source, None)
    chunks = _input.read_chunks(source, fmt, chunk_size=4096, messages_field=args.messages_field, sharegpt=False)
    rows = [
        conversation
        for chunk in chunks
        for index, conversation in enumerate(chunk.conversations)
        if index not in chunk.bad
    ]
    if not rows:
        raise InputError(f"{source} has no readable conversations")
    return [rows[i % len(rows)] for i in range(max(args.rows, 1))]


def reference_tokenizer(args: argparse.Namespace) -> tuple[Any, str | None]:
    """transformers' tokenizer for the same files, and the template it is given."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    template = args.chat_template.read_text(encoding="utf-8") if args.chat_template is not None else None
    if args.tokenizer is None:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_file=str(_defaults.tokenizer_json()), **_defaults.DEFAULT_SPECIAL_TOKENS
        )
        return tokenizer, template or _defaults.chat_template()
    path = args.tokenizer if args.tokenizer.is_dir() else args.tokenizer.parent
    if args.tokenizer.is_dir() or (path / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(path)), template
    return PreTrainedTokenizerFast(tokenizer_file=str(args.tokenizer)), template


def best_seconds(call: Any, repeat: int) -> float:
    call()  # warm-up: pools, caches, lazy imports
    best = float("inf")
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best
