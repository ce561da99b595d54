"""Reading a model directory as transformers saves it, without importing transformers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastmask._core import InputError

# The named special tokens transformers merges into the template variables (`special_tokens_map`).
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def token_text(token: Any) -> str | None:
    """A special token given as a string or as a serialized AddedToken dict."""
    if isinstance(token, str):
        return token
    if isinstance(token, dict) and isinstance(token.get("content"), str):
        return token["content"]
    return None


def read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a JSON object")
    return data


def special_tokens(config: dict, special_map: dict) -> dict[str, str]:
    """`special_tokens_map` as transformers builds it: named tokens, special_tokens_map.json winning."""
    tokens: dict[str, str] = {}
    for source in (config, special_map):
        for name in SPECIAL_TOKEN_NAMES:
            text = token_text(source.get(name))
            if text is not None:
                tokens[name] = text
        extra = source.get("extra_special_tokens")
        if isinstance(extra, dict):
            for name, token in extra.items():
                text = token_text(token)
                if text is not None:
                    tokens[name] = text
    return tokens


def templates(directory: Path, config: dict) -> dict[str, str]:
    """Every chat template the directory holds, by name ("default" for the unnamed one)."""
    found: dict[str, str] = {}
    stored = config.get("chat_template")
    if isinstance(stored, str):
        found["default"] = stored
    elif isinstance(stored, list):
        for entry in stored:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                found[entry["name"]] = entry.get("template", "")
    json_file = directory / "chat_template.json"
    if json_file.is_file():
        template = read_json(json_file).get("chat_template")
        if isinstance(template, str):
            found["default"] = template
    jinja_file = directory / "chat_template.jinja"
    if jinja_file.is_file():
        found["default"] = jinja_file.read_text(encoding="utf-8")
    templates_dir = directory / "additional_chat_templates"
    if templates_dir.is_dir():
        for path in sorted(templates_dir.glob("*.jinja")):
            found[path.stem] = path.read_text(encoding="utf-8")
    return found


def choose_template(held: dict[str, str], chat_template: str | None) -> str:
    """transformers' `get_chat_template`: a name picks a held template, other text is the template."""
    if chat_template is not None:
        return held.get(chat_template, chat_template)
    if "default" in held:
        return held["default"]
    if len(held) == 1:
        return next(iter(held.values()))
    if not held:
        raise InputError("this tokenizer has no chat template; pass chat_template=")
    raise InputError(
        f"this tokenizer holds several chat templates ({', '.join(sorted(held))}); pass chat_template= with one name"
    )
