"""Counting what `fastmask encode` did, the progress bar, the closing summary and the error report."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

# The error report keeps the first errors only: enough to debug, small whatever the input size.
MAX_REPORTED_ERRORS = 1000


class Stats:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.rows_read = self.rows_written = self.tokens = self.assistant_tokens = self.truncated_rows = 0
        self.skipped: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []
        # --pack-length: the packing's counts (a fastmask.PackStats) and the bin length.
        self.pack: Any = None
        self.pack_length = 0

    def skip(self, row: int, reason: str, message: str) -> None:
        self.skipped[reason] += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"row": row, "reason": reason, "message": message[:500]})

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)

    def rates(self) -> str:
        return f"{self.rows_read / self.elapsed:,.0f} rows/s, {self.tokens / self.elapsed:,.0f} tokens/s"

    def write_report(self, path: Path) -> None:
        with path.open("w", encoding="utf-8") as report:
            for error in self.errors:
                report.write(json.dumps(error, ensure_ascii=False) + "\n")

    def print_summary(self, output: Path, report: Path | None, stream: TextIO | None = None) -> None:
        share = self.assistant_tokens / self.tokens if self.tokens else 0.0
        lines = [
            f"wrote {self.rows_written:,} rows to {output}",
            f"  tokens: {self.tokens:,} ({self.assistant_tokens:,} assistant, {share:.1%})",
            f"  truncated rows: {self.truncated_rows:,}",
            f"  skipped rows: {sum(self.skipped.values()):,}",
        ]
        lines += [f"    {reason}: {count:,}" for reason, count in self.skipped.most_common()]
        if self.pack is not None:
            from fastmask.cli._packing import summary_lines

            lines[0] = f"wrote {self.pack.bins:,} packed rows ({self.rows_written:,} encoded rows) to {output}"
            lines += summary_lines(self.pack, self.pack_length)
        if report is not None:
            capped = f" (first {MAX_REPORTED_ERRORS})" if sum(self.skipped.values()) > MAX_REPORTED_ERRORS else ""
            lines.append(f"  error report{capped}: {report}")
        lines.append(f"  {self.rows_read:,} rows in {self.elapsed:.2f} s: {self.rates()}")
        print("\n".join(lines), file=stream or sys.stderr)


def progress_bar(total: int | None, quiet: bool) -> Any:
    """tqdm on a terminal; nothing when quiet or when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, unit=" rows", disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True)
