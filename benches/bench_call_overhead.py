"""Per-call cost of ChatTokenizer.encode / render on a two-message conversation, and per conversation
over the benchmark corpus: what a caller pays per call beyond the work itself.

    python benches/bench_call_overhead.py [--calls 2000] [--repeat 9] [--conversations 500]

Prints the best and the median of `--repeat` timings of `--calls` calls, in microseconds a call.
Needs the test extras (`make dev`): the Qwen2 vocabulary and TRL's templates, as bench_throughput.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests")]

import synth  # noqa: E402
from _support import tokenizer_zoo  # noqa: E402

TWO_MESSAGES = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


def microseconds_per_call(call, calls: int, repeat: int) -> tuple[float, float]:
    """(best, median) over `repeat` timings of `calls` calls."""
    call()  # warm-up: lazy state, the thread's stack
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        timings.append((time.perf_counter() - start) / calls * 1e6)
    return min(timings), statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--conversations", type=int, default=500)
    args = parser.parse_args()
    from _support.trl_templates import training_templates

    import fastmask

    template = dict(training_templates())["qwen2_5_training"]
    tok = fastmask.ChatTokenizer.from_pretrained(tokenizer_zoo.model_dir("qwen2"), chat_template=template)
    corpus = synth.corpus(args.conversations, seed=0)
    rows = [
        ("encode, two messages", lambda: tok.encode(TWO_MESSAGES), args.calls),
        ("render, two messages", lambda: tok.render(TWO_MESSAGES), args.calls),
        ("encode_batch of 2, two messages", lambda: tok.encode_batch([TWO_MESSAGES] * 2), args.calls),
    ]
    for label, call, calls in rows:
        best, median = microseconds_per_call(call, calls, args.repeat)
        print(f"{label:40s} best {best:8.1f} us  median {median:8.1f} us")
    position = iter(range(10**12))
    best, median = microseconds_per_call(lambda: tok.encode(corpus[next(position) % len(corpus)]), len(corpus), 3)
    print(f"{'encode, benchmark corpus':40s} best {best:8.1f} us  median {median:8.1f} us")


if __name__ == "__main__":
    main()
