"""Writing the encoded dataset: Parquet (streamed with one ParquetWriter) or JSONL, chosen by the
output's extension. Everything goes to a temporary file next to the output, renamed over it only
when the run completes, so an interrupted run never leaves a file that looks complete."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fastmask import InputError

FORMATS = ("parquet", "jsonl")


def detect_format(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InputError(
        f"cannot tell the output format of {path} from its name: use .parquet or .jsonl, or --output-format"
    )


class AtomicOutput:
    """A table sink written to `<dir>/.<name>.*.tmp` and renamed to `path` on `commit()`."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        if not path.parent.is_dir():
            raise InputError(f"{path.parent}: no such directory")
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        self.temp = Path(temp)
        self._writer: Any = None
        self._schema: Any = None
        self._jsonl: Any = None

    def write(self, table: Any) -> None:
        if self._schema is None:
            self._schema = table.schema
            self._open()
        elif table.schema != self._schema:
            table = conform(table, self._schema)
        if self.fmt == "parquet":
            self._writer.write_table(table)
        else:
            for row in table.to_pylist():
                self._jsonl.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _open(self) -> None:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self.temp, self._schema)
        else:
            self._jsonl = self.temp.open("w", encoding="utf-8")

    def commit(self, empty_schema: Any) -> None:
        """Closes and renames into place; with no rows written, an empty file of `empty_schema`."""
        if self._schema is None:
            self._schema = empty_schema
            self._open()
        self._close()
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        self._close()
        self.temp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            self.abort()


def conform(table: Any, schema: Any) -> Any:
    """A later chunk in the first chunk's schema: missing columns become nulls, types are cast."""
    import pyarrow as pa

    extra = [name for name in table.column_names if name not in schema.names]
    if extra:
        raise InputError(f"columns {extra} appear after the first chunk: make rows consistent or raise --chunk-size")
    columns = []
    for column in schema:
        if column.name not in table.column_names:
            columns.append(pa.nulls(len(table), column.type))
            continue
        try:
            columns.append(table.column(column.name).cast(column.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise InputError(
                f"column {column.name!r} changes type after the first chunk ({column.type} -> "
                f"{table.column(column.name).type}): make rows consistent or raise --chunk-size"
            ) from err
    return pa.Table.from_arrays(columns, schema=schema)
