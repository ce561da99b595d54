"""What `expand_turns=True` costs against one `encode_batch` of the same conversations.

    python benches/bench_expand.py [--conversations 500] [--turns 10] [--repeat 5] [--threads 2]

Conversations of `--turns` user/assistant exchanges (text from benches/synth.py), TRL's
`qwen2_5_training` template on Qwen2's vocabulary, `mask_source="generation"`. Expansion makes one
row per assistant turn, each the conversation up to that turn, so it renders and tokenizes about
`turns / 2` times the text of the single pass: the report gives both times, their ratio, and the
rows and tokens each produced. Before timing, the last expanded row of every conversation must
equal that conversation's single row (the same text when the last turn is trained). Medians of
`--repeat` alternating runs. Needs the test extras (`make dev`).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests")]

import synth  # noqa: E402


def conversations(count: int, turns: int, seed: int) -> list[list[dict]]:
    rng = random.Random(seed)
    return [
        [
            {"role": role, "content": synth._text(rng, rng.randint(1, 4))}
            for _ in range(turns)
            for role in ("user", "assistant")
        ]
        for _ in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from _support import tokenizer_zoo
    from _support.trl_templates import template

    import fastmask

    hf = tokenizer_zoo.load_hf("qwen2")
    chat = fastmask.ChatTokenizer.from_transformers(hf, chat_template=template("qwen2_5_training"))
    batch = conversations(args.conversations, args.turns, args.seed)
    modes = {
        "single": fastmask.MaskOptions(mask_source="generation", num_threads=args.threads),
        "expand_turns": fastmask.MaskOptions(mask_source="generation", expand_turns=True, num_threads=args.threads),
    }
    single = chat.encode_batch(batch, options=modes["single"])
    expanded = chat.encode_batch(batch, options=modes["expand_turns"])
    last_rows = {index: row for row, index in enumerate(expanded["conversation_index"])}
    for index, ids in enumerate(single["input_ids"]):
        if expanded["input_ids"][last_rows[index]] != ids:
            sys.exit(f"conversation {index}: its last expanded row differs from its single row")

    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.repeat):
        for mode, options in modes.items():
            started = time.perf_counter()
            chat.encode_batch(batch, options=options)
            timings[mode].append(time.perf_counter() - started)

    outputs = {"single": single, "expand_turns": expanded}
    print(
        f"{len(batch)} conversations of {args.turns} exchanges, template qwen2_5_training, tokenizer qwen2, "
        f"{args.threads} thread(s), median of {args.repeat}"
    )
    print(f"{'mode':<14}{'rows':>8}{'tokens':>11}{'seconds':>9}{'Mtok/s':>8}{'vs single':>11}")
    base = statistics.median(timings["single"])
    for mode, out in outputs.items():
        seconds = statistics.median(timings[mode])
        tokens = sum(len(ids) for ids in out["input_ids"])
        rows = len(out["input_ids"])
        print(f"{mode:<14}{rows:>8}{tokens:>11}{seconds:>9.3f}{tokens / seconds / 1e6:>8.2f}{seconds / base:>10.2f}x")


if __name__ == "__main__":
    main()
