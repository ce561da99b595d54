"""`fastmask encode` on generated conversations against `datasets.map` with transformers'
`apply_chat_template(..., return_assistant_tokens_mask=True)` on the same file.

    python benches/bench_cli.py [--sizes 25000,100000] [--reference-rows 100000] [--chunk-size 1024]

Writes `benches/synth.py` conversations (deterministic) to JSONL once per size, then runs each
engine in its own process: the CLI with its defaults (DeepSeek's tokenizer, the bundled ChatML
template) writing Parquet, and datasets (num_proc = cores) with transformers on the same tokenizer
and template, also writing Parquet. Reports rows/s, tokens/s and peak RSS (the CLI's process; for
datasets the largest of the main process and each worker's own peak, measured from a reset of its
high-water mark, since a forked worker otherwise inherits its parent's). The CLI streams in chunks, so its peak
RSS should not grow with the input size: compare the sizes. Needs the test extras (`make dev`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import synth  # noqa: E402


def write_corpus(path: Path, rows: int) -> None:
    rng = random.Random(0)  # the sequence synth.corpus(rows, seed=0) gives, one conversation at a time
    with path.open("w", encoding="utf-8") as out:
        for index in range(rows):
            row = {"id": index, "messages": synth.conversation(rng, tools=False)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def in_worker(*args: str) -> str:
    """Runs this script's worker mode in a child process and returns its stdout. Everything that
    holds data runs in a child: Linux carries a process's peak RSS across fork+exec, so a parent
    holding a corpus would inflate the peak measured for every engine it starts."""
    done = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def run_measured(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of that one process (from its own rusage), and its stdout."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        if status != 0:
            raise SystemExit(f"{command[:4]} failed:\n{stderr.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, stdout.read().decode()


def count_tokens(parquet: str) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for batch in pq.ParquetFile(parquet).iter_batches(columns=["input_ids"], batch_size=4096):
        total += int(pc.sum(pc.list_value_length(batch.column(0))).as_py() or 0)
    return total


def own_peak_reset(peaks: Path) -> None:
    """In a `datasets` worker, once: reset the process's peak RSS (VmHWM). A forked child starts
    with its parent's peak (the mm's high-water mark is copied at fork), so without the reset every
    worker would report at least the main process's peak, not its own."""
    marker = peaks / f"{os.getpid()}.reset"
    if not marker.exists():
        Path("/proc/self/clear_refs").write_text("5")
        marker.touch()


def own_peak_record(peaks: Path) -> None:
    (peaks / f"{os.getpid()}.peak").write_text(str(peak_rss_kib()))


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def reference_worker(source: str, output: str, rows: int) -> None:
    """datasets.map + transformers on the first `rows` rows; prints each worker's own peak RSS."""
    import datasets
    from transformers import PreTrainedTokenizerFast

    from fastmask.cli._defaults import DEFAULT_SPECIAL_TOKENS, chat_template, tokenizer_json

    datasets.disable_caching()
    hf = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json()), **DEFAULT_SPECIAL_TOKENS)
    template = chat_template()
    peaks = Path(output).parent / f"peaks_{os.getpid()}"
    peaks.mkdir()

    def encode(batch: dict) -> dict:
        own_peak_reset(peaks)
        out = hf.apply_chat_template(
            batch["messages"],
            chat_template=template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        labels = [
            [i if m else -100 for i, m in zip(ids, mask)] for ids, mask in zip(out["input_ids"], out["assistant_masks"])
        ]
        own_peak_record(peaks)
        return {"input_ids": out["input_ids"], "assistant_masks": out["assistant_masks"], "labels": labels}

    dataset = datasets.load_dataset("json", data_files=source, split="train", cache_dir=str(Path(output).parent / "hf"))
    dataset = dataset.select(range(min(rows, len(dataset))))
    encoded = dataset.map(encode, batched=True, num_proc=os.cpu_count() or 1, remove_columns=["messages"])
    encoded.to_parquet(output)
    workers = {
        path.stem: int(path.read_text()) / 1024 for path in peaks.glob("*.peak") if int(path.stem) != os.getpid()
    }
    print(json.dumps({"workers_rss_mib": workers}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,100000", help="conversation counts, comma-separated")
    parser.add_argument(
        "--reference-rows", type=int, default=100_000, help="rows given to datasets+transformers (0: skip it)"
    )
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument(
        "--pack-length", type=int, default=0, help="also run the CLI with --pack-length N (bfd) on each size"
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "corpus":
            write_corpus(Path(rest[0]), int(rest[1]))
        elif kind == "tokens":
            print(count_tokens(rest[0]))
        else:
            reference_worker(rest[0], rest[1], int(rest[2]))
        return

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'engine':28} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'tokens/s':>10} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as folder:
        for size in sorted({int(s) for s in args.sizes.split(",")}):
            source = Path(folder) / f"synth_{size}.jsonl"
            in_worker("corpus", str(source), str(size))
            output = Path(folder) / f"cli_{size}.parquet"
            command = [
                sys.executable,
                "-m",
                "fastmask.cli",
                "encode",
                str(source),
                "-o",
                str(output),
                "--quiet",
                "--chunk-size",
                str(args.chunk_size),
            ]
            runs = [("fastmask encode (CLI)", command)]
            if args.pack_length:
                runs.append(
                    (f"  with --pack-length {args.pack_length}", [*command, "--pack-length", str(args.pack_length)])
                )
            for label, run in runs:
                seconds, rss, _ = run_measured(run)
                tokens = int(in_worker("tokens", str(output)))
                rates = f"{size / seconds:>8.0f} {tokens / seconds:>10.0f}"
                print(f"{label:28} {size:>8} {seconds:>8.1f} {rates} {rss:>13.0f}")
            if args.reference_rows > 0 and size == max(int(s) for s in args.sizes.split(",")):
                rows = min(args.reference_rows, size)
                reference = Path(folder) / f"hf_{size}.parquet"
                seconds, main_rss, stdout = run_measured(
                    [sys.executable, __file__, "--worker", "reference", str(source), str(reference), str(rows)]
                )
                workers = json.loads(stdout.strip().splitlines()[-1])["workers_rss_mib"]
                if not workers:
                    raise SystemExit("the reference ran no worker process: its per-worker peak RSS is missing")
                tokens = int(in_worker("tokens", str(reference)))
                print(
                    f"{'datasets.map + transformers':28} {rows:>8} {seconds:>8.1f} {rows / seconds:>8.0f} "
                    f"{tokens / seconds:>10.0f} {max(main_rss, *workers.values()):>13.0f}"
                )
                print(
                    f"  (peak RSS per process, MiB: main {main_rss:.0f}, "
                    f"workers {', '.join(f'{peak:.0f}' for peak in sorted(workers.values()))})"
                )
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
