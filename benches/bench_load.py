"""Construction time: `fastmask.ChatTokenizer.from_file` against tokenizers 0.23's own `Tokenizer.from_file`.

    python benches/bench_load.py [--families qwen2,qwen3_6] [--repeat 5]

Each load runs in a fresh process (nothing cached, the same file read from the page cache), the
engines alternate within each repetition, and the table shows medians. `qwen3_6` is Qwen3.5/3.6's
248k vocabulary (converted as tests/compat/test_bpe_backend.py converts it); the others are
tokenizer-zoo families. fastmask is timed per backend, since each builds a different engine.

`seconds` is construction. fastmask builds its encoding engine on a background thread after it,
so `1st encode` also times, from the same start, until a first one-message encode returns (for
`tokenizers`, `encode` of the same text): what a caller that encodes right away waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests")]

TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"
ENGINES = ("tokenizers_from_file", "fastmask_auto", "fastmask_fast", "fastmask_tokenizers")
KEYS = ("seconds", "first_encode")


def tokenizer_path(family: str) -> Path:
    if family == "qwen3_6":
        from _support import rust_differential

        return rust_differential.qwen3_5_dir() / "tokenizer.json"
    from _support import tokenizer_zoo

    return tokenizer_zoo.model_dir(family) / "tokenizer.json"


TEXT = "Hello, world."


def worker(engine: str, path: str) -> None:
    if engine == "tokenizers_from_file":
        import tokenizers

        start = time.perf_counter()
        tok = tokenizers.Tokenizer.from_file(path)
        seconds = time.perf_counter() - start
        tok.encode(TEXT, add_special_tokens=False)
        first = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "first_encode": first, "backend": "tokenizers 0.23"}))
        return
    import fastmask

    backend = engine.removeprefix("fastmask_")
    start = time.perf_counter()
    try:
        chat = fastmask.ChatTokenizer.from_file(path, chat_template=TEMPLATE, backend=backend)
    except fastmask.TokenizerError:
        print(json.dumps({"seconds": None, "backend": "refused"}))
        return
    seconds = time.perf_counter() - start
    chat.encode([{"role": "user", "content": TEXT}])
    first = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "first_encode": first, "backend": chat.backend}))


def run(engine: str, path: Path) -> dict:
    command = [sys.executable, __file__, "--worker", engine, "--path", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="qwen2,qwen3_6")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.path)
        return
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = f"{'family':12} {'engine':22} {'backend':16} {'seconds':>8} {'vs from_file':>13}"
    print(f"{header} {'1st encode':>11} {'vs from_file':>13}")
    for family in args.families.split(","):
        path = tokenizer_path(family)
        results: dict[str, list[dict]] = {engine: [] for engine in ENGINES}
        for _ in range(args.repeat):
            for engine in ENGINES:
                results[engine].append(run(engine, path))
        base = {key: statistics.median(r[key] for r in results["tokenizers_from_file"]) for key in KEYS}
        for engine, runs in results.items():
            if runs[0]["seconds"] is None:
                print(f"{family:12} {engine:22} {'refused':16}")
                continue
            row = f"{family:12} {engine:22} {runs[0]['backend']:16}"
            for key in KEYS:
                seconds = statistics.median(r[key] for r in runs)
                row += f" {seconds:>{8 if key == 'seconds' else 11}.3f} {seconds / base[key]:>12.2f}x"
            print(row)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
