"""Reading a dataset file in chunks: JSONL, JSON (a list of rows, streamed) and Parquet.

Each chunk carries the conversations (Python lists of messages, or for Parquet the Arrow column
itself, which the core reads without Python objects), the other columns as an Arrow table (passed
through to the output untouched), and the rows that could not even be read as a conversation, with
the reason. Every format is read a chunk at a time, so memory stays bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastmask import InputError

FORMATS = ("jsonl", "json", "parquet")

# ShareGPT speaker names -> chat roles (the `from` of each `conversations` item).
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
}


class RowError(Exception):
    """A row that is not a conversation (bad JSON, missing field, unknown ShareGPT speaker)."""


@dataclass
class Chunk:
    first_row: int
    """Index of the chunk's first row in the whole input."""
    conversations: Any
    """One per row (a list, or an Arrow column); None where the row is in `bad`."""
    columns: Any
    """pyarrow Table of the pass-through columns, one row per input row."""
    bad: dict[int, str] = field(default_factory=dict)
    """Chunk-local row index -> why it is not a conversation."""

    def __len__(self) -> int:
        return len(self.conversations)


def detect_format(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    suffixes = [s.lower() for s in path.suffixes]
    for fmt, endings in (("parquet", (".parquet", ".pq")), ("jsonl", (".jsonl", ".ndjson")), ("json", (".json",))):
        if any(s in endings for s in suffixes):
            return fmt
    raise InputError(f"cannot tell the format of {path} from its name: pass --input-format {'|'.join(FORMATS)}")


def row_count(path: Path, fmt: str) -> int | None:
    """Rows in the input when known without reading it (Parquet metadata)."""
    if fmt != "parquet":
        return None
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def read_chunks(path: Path, fmt: str, *, chunk_size: int, messages_field: str, sharegpt: bool) -> Iterator[Chunk]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if fmt == "parquet":
        yield from _parquet_chunks(path, chunk_size, messages_field, sharegpt)
        return
    rows = _jsonl_rows(path) if fmt == "jsonl" else _json_rows(path)
    first_row, pending = 0, []
    for row in rows:
        pending.append(row)
        if len(pending) == chunk_size:
            yield _rows_chunk(first_row, pending, messages_field, sharegpt)
            first_row, pending = first_row + len(pending), []
    if pending:
        yield _rows_chunk(first_row, pending, messages_field, sharegpt)


def _jsonl_rows(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                yield RowError(f"line {number}: invalid JSON: {err}")


def _json_rows(path: Path) -> Iterator[Any]:
    """The rows of a JSON array, parsed one at a time (ijson), so memory holds one row, not the
    file. A syntax error stops the input where it is: rows after it cannot be told apart."""
    import ijson

    with path.open("rb") as file:
        if _first_byte(file) != b"[":
            raise InputError(f"{path}: a JSON input must be a list of rows (a top-level array)")
        file.seek(0)
        # use_float: numbers as Python floats, as json.load gives them (ijson's default is Decimal).
        rows = ijson.items(file, "item", use_float=True)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except ijson.JSONError as err:
                raise InputError(f"{path}: invalid JSON: {err}") from err
            yield row


def _first_byte(file: Any) -> bytes:
    """The first byte that is not whitespace."""
    while chunk := file.read(4096):
        head = chunk.lstrip()
        if head:
            return head[:1]
    return b""


def _rows_chunk(first_row: int, rows: list[Any], messages_field: str, sharegpt: bool) -> Chunk:
    import pyarrow as pa

    conversations: list[Any] = []
    others: list[dict] = []
    bad: dict[int, str] = {}
    for index, row in enumerate(rows):
        try:
            if isinstance(row, RowError):
                raise row
            if not isinstance(row, dict):
                raise RowError(f"a row must be a JSON object, got {type(row).__name__}")
            conversations.append(conversation_of(row, messages_field, sharegpt))
            others.append({key: value for key, value in row.items() if key != messages_field})
        except RowError as err:
            bad[index] = str(err)
            conversations.append(None)
            kept = {key: value for key, value in row.items() if key != messages_field} if isinstance(row, dict) else {}
            others.append(kept)
    # Columns are the union of every row's keys (a row without one gets null there).
    names = list(dict.fromkeys(key for row in others for key in row))
    try:
        columns = (
            pa.table({name: [row.get(name) for row in others] for name in names}) if names else _no_columns(len(rows))
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(
            f"rows {first_row}-{first_row + len(rows) - 1}: the other columns do not form a table: {err}"
        ) from err
    return Chunk(first_row, conversations, columns, bad)


def _no_columns(rows: int) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array([{}] * rows, type=pa.struct([])))])


def _parquet_chunks(path: Path, chunk_size: int, messages_field: str, sharegpt: bool) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    if messages_field not in file.schema_arrow.names:
        raise InputError(f"{path} has no {messages_field!r} column (columns: {', '.join(file.schema_arrow.names)})")
    first_row = 0
    for batch in file.iter_batches(batch_size=chunk_size):
        table = pa.Table.from_batches([batch])
        column = table.column(messages_field)
        if sharegpt:
            conversations, bad = _mapped(column.to_pylist(), messages_field)
        else:
            # The Arrow column itself: the core reads it through the C data interface.
            conversations, bad = column, {}
        yield Chunk(first_row, conversations, table.drop_columns([messages_field]), bad)
        first_row += len(table)


def _mapped(values: list[Any], messages_field: str) -> tuple[list[Any], dict[int, str]]:
    """ShareGPT turns -> messages, row by row; a row that does not map is bad, not fatal."""
    conversations: list[Any] = []
    bad: dict[int, str] = {}
    for index, value in enumerate(values):
        try:
            conversations.append(conversation_of({messages_field: value}, messages_field, True))
        except RowError as err:
            bad[index] = str(err)
            conversations.append(None)
    return conversations, bad


def conversation_of(row: dict, messages_field: str, sharegpt: bool) -> Any:
    if messages_field not in row:
        raise RowError(f"no {messages_field!r} field")
    messages = row[messages_field]
    return sharegpt_messages(messages) if sharegpt else messages


def sharegpt_messages(turns: Any) -> list[dict]:
    """ShareGPT `[{"from": "human", "value": ...}, ...]` -> chat messages; other keys are kept."""
    if not isinstance(turns, list):
        raise RowError(f"ShareGPT conversations must be a list, got {type(turns).__name__}")
    messages = []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise RowError(f"ShareGPT turn {index}: needs 'from' and 'value'")
        role = SHAREGPT_ROLES.get(turn["from"])
        if role is None:
            raise RowError(
                f"ShareGPT turn {index}: unknown speaker {turn['from']!r} (known: {', '.join(SHAREGPT_ROLES)})"
            )
        rest = {key: value for key, value in turn.items() if key not in ("from", "value")}
        messages.append({"role": role, "content": turn["value"], **rest})
    return messages
