"""Packing encoded rows: fastmask.pack against TRL 1.16's `pack_dataset` and a bare numpy copy.

    python benches/bench_pack.py                       # 100,000 rows, seq_length 4096 and 8192
    python benches/bench_pack.py --rows 1000000 --columns input_ids,labels --skip-trl

Rows have realistic chat lengths (lognormal, mean about 530 tokens, a few over 8192) and the
columns `encode_batch(return_tensors="arrow")` returns (`input_ids` int32, `attention_mask` and
`assistant_masks` int8, `labels` int64), as one Arrow table. Each engine runs in its own process,
so its peak memory (max RSS above the process's once it holds the table) is its own:
- `trl`: `pack_dataset` on a `datasets.Dataset` of the same table (per `map` batch of 1,000 rows);
- `fastmask`: `fastmask.pack(table, ...)` per batch of 1,000 rows (TRL's bins) and over all rows
  (`batch_size=None`);
- `floor`: one numpy copy of every column's values (the bytes packing must write at least).
Times are the best of `--repeat` runs. Efficiency: tokens / (bins * seq_length).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import pyarrow as pa

TYPES = {"input_ids": pa.int32(), "attention_mask": pa.int8(), "assistant_masks": pa.int8(), "labels": pa.int64()}


def make_table(rows: int, columns: list[str], seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    # Lognormal with sigma 0.9 and mean 530: most chats a few hundred tokens, a tail past 8192.
    sigma = 0.9
    lengths = np.maximum(8, rng.lognormal(np.log(530) - sigma**2 / 2, sigma, rows).astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    total = int(offsets[-1])
    ids = rng.integers(0, 150_000, total, dtype=np.int32)
    # Each row: an untrained prompt, then a trained reply (20-80% of the row).
    untrained = (lengths * rng.uniform(0.2, 0.8, rows)).astype(np.int64)
    runs = np.stack([untrained, lengths - untrained], axis=1).ravel()
    mask = np.repeat(np.tile(np.array([0, 1], dtype=np.int8), rows), runs)
    values = {
        "input_ids": lambda: ids,
        "attention_mask": lambda: np.ones(total, dtype=np.int8),
        "assistant_masks": lambda: mask,
        "labels": lambda: labels_of(ids, mask),
    }
    arrow_offsets = pa.array(offsets)
    return pa.table({name: pa.ListArray.from_arrays(arrow_offsets, pa.array(values[name]())) for name in columns})


def labels_of(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    labels = ids.astype(np.int64)
    labels[mask == 0] = -100  # in place: a 1,000,000-row table is large
    return labels


def best(function: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        result = None  # the previous run's output is freed first, as a training loop would
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (resource.getpagesize() // 1024)


def run_engine(engine: str, data: str, seq_length: int, columns: list[str], repeat: int) -> dict[str, Any]:
    # Read from the file the parent wrote, so the process holds the table and nothing else yet.
    with pa.OSFile(data) as source:
        table = pa.ipc.open_file(source).read_all()
    tokens = len(table.column("input_ids").combine_chunks().values)
    baseline_kib = rss_kib()
    if engine == "trl":
        import datasets
        from datasets.table import InMemoryTable
        from trl.data_utils import pack_dataset

        datasets.disable_progress_bars()
        dataset = datasets.Dataset(InMemoryTable(table))
        seconds, packed = best(lambda: pack_dataset(dataset, seq_length, "bfd").with_format("arrow")[:], repeat)
        bins = len(packed)
        placed = len(packed.column("input_ids").combine_chunks().values)
    elif engine == "floor":
        flat = [table.column(name).combine_chunks().values.to_numpy() for name in columns]
        seconds, _ = best(lambda: [np.concatenate([v[: len(v) // 2], v[len(v) // 2 :]]) for v in flat], repeat)
        bins, placed = 0, tokens
    else:
        import fastmask

        batch_size = 1000 if engine == "fastmask" else None
        seconds, (packed, stats) = best(
            lambda: fastmask.pack(table, seq_length, batch_size=batch_size, return_stats=True), repeat
        )
        bins, placed = stats.bins, stats.tokens
    peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kib) / 1024  # above the table
    efficiency = placed / (bins * seq_length) if bins else None
    return {"engine": engine, "seconds": seconds, "bins": bins, "efficiency": efficiency, "peak_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seq-lengths", default="4096,8192")
    parser.add_argument("--columns", default=",".join(TYPES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--seq-length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    columns = args.columns.split(",")
    if args.engine:
        print(json.dumps(run_engine(args.engine, args.data, args.seq_length, columns, args.repeat)))
        return
    table = make_table(args.rows, columns)
    tokens = len(table.column("input_ids").combine_chunks().values)
    nbytes = table.nbytes
    mean = tokens / args.rows
    print(f"{args.rows:,} rows, {tokens:,} tokens (mean {mean:.0f}), columns {columns}, {nbytes / 2**20:,.0f} MiB")
    with tempfile.TemporaryDirectory() as directory:
        data = os.path.join(directory, "rows.arrow")
        with pa.OSFile(data, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        del table
        engines = ["floor", "fastmask", "fastmask_global"] + ([] if args.skip_trl else ["trl"])
        for seq_length in map(int, args.seq_lengths.split(",")):
            results = {}
            for engine in engines:
                command = [
                    sys.executable,
                    __file__,
                    "--engine",
                    engine,
                    "--data",
                    data,
                    "--seq-length",
                    str(seq_length),
                ]
                command += ["--columns", args.columns, "--repeat", str(args.repeat)]
                output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                results[engine] = json.loads(output)
            print_results(seq_length, results)


def print_results(seq_length: int, results: dict[str, Any]) -> None:
    floor = results["floor"]["seconds"]
    trl = results.get("trl", {}).get("seconds")
    print(f"\nseq_length {seq_length}")
    print(f"{'engine':<18}{'seconds':>9}{'x floor':>9}{'TRL / it':>10}{'bins':>10}{'efficiency':>12}{'peak MiB':>10}")
    for engine, result in results.items():
        seconds = result["seconds"]
        speedup = f"{trl / seconds:.1f}" if trl else "-"
        efficiency = f"{result['efficiency']:.4f}" if result["efficiency"] else "-"
        print(
            f"{engine:<18}{seconds:>9.3f}{seconds / floor:>9.2f}{speedup:>10}{result['bins']:>10,}"
            f"{efficiency:>12}{result['peak_mib']:>10,.0f}"
        )


if __name__ == "__main__":
    main()
