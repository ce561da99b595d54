"""The cost of inferring turns from a stock template against reading a template's generation tags.

    python benches/bench_turns.py [--conversations 2000] [--repeat 5] [--family qwen2]
                                  [--stock qwen2_5] [--threads 1]

Same conversations, same tokenizer: `mask_source="generation"` on TRL's `<stock>_training.jinja`
against `mask_source="turns"` on the stock `<stock>.jinja` (with the options under which the two
agree, from tests/api/test_turns.py). Before timing, both must give the same ids and masks on the
whole corpus. Reports the median of `--repeat` alternating runs of `encode_batch` (render,
tokenize, mask) and of `render_batch` (render and spans only), and the turns / generation ratio.
Needs the test extras (`make dev`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests"), str(ROOT / "tests" / "api")]  # api/: test_turns

import synth  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--family", default="qwen2")
    parser.add_argument("--stock", default="qwen2_5")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from _support import tokenizer_zoo
    from _support.trl_templates import template
    from test_turns import OPTIONS

    import fastmask

    hf = tokenizer_zoo.load_hf(args.family)
    conversations = synth.corpus(args.conversations, seed=args.seed)
    tagged = fastmask.ChatTokenizer.from_transformers(hf, chat_template=template(args.stock + "_training"))
    stock = fastmask.ChatTokenizer.from_transformers(hf, chat_template=template(args.stock))
    modes = {
        "generation": (tagged, {"mask_source": "generation"}),
        "turns": (stock, {"mask_source": "turns", **OPTIONS[args.stock]}),
    }
    outputs = [chat.encode_batch(conversations, num_threads=args.threads, **kw) for chat, kw in modes.values()]
    first, second = outputs
    if first["input_ids"] != second["input_ids"] or first["assistant_masks"] != second["assistant_masks"]:
        sys.exit("turns and generation modes disagree on this corpus; nothing to compare")
    tokens = sum(len(ids) for ids in outputs[0]["input_ids"])

    timings: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for call in ("encode_batch", "render_batch"):
            for mode, (chat, kw) in modes.items():
                started = time.perf_counter()
                getattr(chat, call)(conversations, num_threads=args.threads, **kw)
                timings.setdefault((call, mode), []).append(time.perf_counter() - started)

    print(
        f"{len(conversations)} conversations, {tokens} tokens, template {args.stock}, tokenizer {args.family}, "
        f"backend {getattr(stock, 'backend', 'tokenizers')}, {args.threads} thread(s), median of {args.repeat}"
    )
    print(f"{'call':<14}{'mode':<12}{'seconds':>9}{'conv/s':>9}{'turns/generation':>18}")
    for call in ("encode_batch", "render_batch"):
        base = statistics.median(timings[(call, "generation")])
        for mode in modes:
            seconds = statistics.median(timings[(call, mode)])
            ratio = f"{seconds / base:.2f}x" if mode == "turns" else ""
            print(f"{call:<14}{mode:<12}{seconds:>9.3f}{len(conversations) / seconds:>9.0f}{ratio:>18}")


if __name__ == "__main__":
    main()
