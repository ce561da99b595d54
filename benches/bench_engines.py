"""Tokenization alone, per engine and family: `encode_texts` of fastmask's renders of the synthetic corpus.

    FASTMASK_NUM_THREADS=1 python benches/bench_engines.py [qwen2 deepseek tekken mistral_spm ...]

For each zoo family, each backend that applies (`tokenizers1`, `fast`, `tokenizers`) encodes the
same rendered texts (TRL's qwen2_5_training template over `benches/synth.py`'s 2,000
conversations); ids are checked equal to the `tokenizers` backend's first. Best of 5 (1 for the
slow `tokenizers` backend), in this process, warm.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests")]
os.environ.setdefault("FASTMASK_NUM_THREADS", "1")

import synth  # noqa: E402
from _support import tokenizer_zoo  # noqa: E402
from _support.trl_templates import training_templates  # noqa: E402

import fastmask  # noqa: E402


def best_seconds(call, times: int) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main(families: list[str]) -> None:
    template = dict(training_templates())["qwen2_5_training"]
    conversations = synth.corpus(2000, seed=0)
    for family in families:
        toks = {}
        for backend in ("tokenizers1", "fast", "tokenizers"):
            with contextlib.suppress(fastmask.TokenizerError):  # the engine does not take this family
                toks[backend] = fastmask.ChatTokenizer.from_pretrained(
                    tokenizer_zoo.model_dir(family), chat_template=template, backend=backend
                )
        texts = [text for text, _ in toks["tokenizers"].render_batch(conversations)]
        reference = toks["tokenizers"].encode_texts(texts)["input_ids"]
        tokens = sum(map(len, reference))
        line = [family, f"{tokens} tokens"]
        for backend, tok in toks.items():
            assert tok.encode_texts(texts)["input_ids"] == reference, f"{family}: {backend} differs"
            seconds = best_seconds(
                lambda tok=tok, texts=texts: tok.encode_texts(texts), 1 if backend == "tokenizers" else 5
            )
            line.append(f"{backend} {seconds:.3f} s {tokens / seconds / 1e6:.2f} Mtok/s")
        print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["qwen2", "deepseek", "tekken", "mistral_spm"])
