"""`fastmask encode --pack-length N`: encoded chunks packed window by window, so memory stays
bounded by one window of rows whatever the input size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastmask._pack import PackStats, pack


class Packer:
    """Collects encoded tables until `window_rows` rows, then packs them as one batch."""

    def __init__(self, seq_length: int, strategy: str, window_rows: int) -> None:
        self.seq_length, self.strategy, self.window_rows = seq_length, strategy, window_rows
        self.pending: list[Any] = []
        self.rows = 0
        self.stats: PackStats | None = None

    def add(self, table: Any) -> Iterator[Any]:
        self.pending.append(table)
        self.rows += len(table)
        if self.rows >= self.window_rows:
            yield from self.flush()

    def flush(self) -> Iterator[Any]:
        import pyarrow as pa

        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        self.pending, self.rows = [], 0
        packed, stats = pack(table, self.seq_length, strategy=self.strategy, batch_size=None, return_stats=True)
        self.stats = stats if self.stats is None else self.stats + stats
        yield packed


def packed_schema(schema: Any, strategy: str) -> Any:
    """The schema of packed output: every column a list per bin, plus what packing adds."""
    import pyarrow as pa

    fields = [
        pa.field(field.name, field.type if pa.types.is_list(field.type) else pa.list_(field.type)) for field in schema
    ]
    made = [("seq_lengths", pa.list_(pa.int32()))] if strategy != "wrapped" else []
    return pa.schema([*fields, *made, ("position_ids", pa.list_(pa.int32()))])


def summary_lines(stats: PackStats, seq_length: int) -> list[str]:
    return [
        f"  packed into {stats.bins:,} bins of {seq_length:,} tokens: efficiency {stats.efficiency:.2%} "
        f"(trained tokens {stats.trained_share:.2%} of capacity), {stats.sequences:,} sequences",
        f"  dropped: {stats.empty_rows:,} rows without tokens, {stats.truncated_tokens:,} tokens cut from rows "
        f"longer than {seq_length:,}",
    ]
