"""The `fastmask` command on real files: outputs equal transformers' / encode_batch's, bad rows,
pass-through columns, formats, truncation, atomic output, render and bench."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastmask
from fastmask.cli import encode as encode_command
from fastmask.cli import main
from fastmask.cli._defaults import DEFAULT_SPECIAL_TOKENS, chat_template, sample_conversations, tokenizer_json

SAMPLE = [json.loads(line)["messages"] for line in sample_conversations().read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text(
        "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def test_default_run_equals_transformers(tmp_path):
    """No input, no tokenizer: the bundled sample, DeepSeek's tokenizer and the ChatML template."""
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "sample.parquet"
    assert main(["encode", "-o", str(out), "--quiet", "--chunk-size", "4"]) == 0
    table = pq.read_table(out)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json()), **DEFAULT_SPECIAL_TOKENS)
    expected = hf.apply_chat_template(
        SAMPLE, chat_template=chat_template(), tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert table.column("input_ids").to_pylist() == expected["input_ids"]
    assert table.column("assistant_masks").to_pylist() == expected["assistant_masks"]
    labels = [
        [i if m else -100 for i, m in zip(ids, mask)]
        for ids, mask in zip(expected["input_ids"], expected["assistant_masks"])
    ]
    assert table.column("labels").to_pylist() == labels


def test_parquet_in_with_pass_through_columns(tmp_path, chat_tokenizer):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": list(range(6)), "messages": pa.array(SAMPLE), "source": ["s"] * 6}), source)
    out = tmp_path / "out.parquet"
    assert main(["encode", str(source), "-o", str(out), "--quiet", "--chunk-size", "4"]) == 0
    table = pq.read_table(out)
    assert table.column_names == ["id", "source", "input_ids", "assistant_masks", "labels"]
    assert table.column("id").to_pylist() == list(range(6))
    expected = chat_tokenizer.encode_batch(SAMPLE)
    assert table.column("input_ids").to_pylist() == expected["input_ids"]


def test_bad_rows_are_skipped_and_reported(tmp_path, chat_tokenizer, capsys):
    rows = [
        {"messages": SAMPLE[0], "id": 0},
        "{not json",
        {"id": 2},
        {"messages": SAMPLE[1], "id": 3},
        {"messages": [{"role": "user", "content": "\ud800"}], "id": 4},
        {"messages": SAMPLE[2], "id": 5},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    assert main(["encode", str(source), "-o", str(out), "--on-error", "skip", "--chunk-size", "2"]) == 0
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [0, 3, 5]
    assert table.column("input_ids").to_pylist() == chat_tokenizer.encode_batch(SAMPLE[:3])["input_ids"]
    report = [json.loads(line) for line in (tmp_path / "out.parquet.errors.jsonl").read_text().splitlines()]
    assert [entry["row"] for entry in report] == [1, 2, 4]
    assert report[2]["reason"] == "InputError" and "surrogate" in report[2]["message"]
    summary = capsys.readouterr().err
    assert "wrote 3 rows" in summary and "skipped rows: 3" in summary and "unreadable row: 2" in summary


def test_raise_stops_without_leaving_an_output(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"messages": SAMPLE[0]}, {"messages": 7}])
    out = tmp_path / "out.parquet"
    assert main(["encode", str(source), "-o", str(out), "--quiet"]) == 1
    assert "row 1:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [source]


def test_interrupted_run_leaves_no_output(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", [{"messages": c} for c in SAMPLE])
    real = encode_command.encode_chunk
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(encode_command, "encode_chunk", interrupted)
    assert main(["encode", str(source), "-o", str(tmp_path / "out.parquet"), "--quiet", "--chunk-size", "2"]) == 130
    assert list(tmp_path.iterdir()) == [source]


def test_sharegpt_json_to_jsonl_with_truncation(tmp_path, chat_tokenizer, capsys):
    speakers = {"user": "human", "assistant": "gpt", "system": "system"}
    rows = [{"conversations": [{"from": speakers[m["role"]], "value": m["content"]} for m in c]} for c in SAMPLE]
    source = tmp_path / "in.json"
    source.write_text(json.dumps(rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert (
        main(["encode", str(source), "-o", str(out), "--sharegpt", "--max-length", "30", "--truncation", "left"]) == 0
    )
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = chat_tokenizer.encode_batch(SAMPLE, max_length=30, truncation=True, truncation_side="left")
    assert [row["input_ids"] for row in written] == expected["input_ids"]
    assert [row["labels"] for row in written] == expected["labels"]
    longer = sum(len(ids) > 30 for ids in chat_tokenizer.encode_batch(SAMPLE)["input_ids"])
    assert f"truncated rows: {longer}" in capsys.readouterr().err


def test_model_directory_and_template_file(tmp_path, chat_tokenizer):
    model = tmp_path / "model"
    model.mkdir()
    (model / "tokenizer.json").write_bytes(tokenizer_json().read_bytes())
    (model / "tokenizer_config.json").write_text(json.dumps(DEFAULT_SPECIAL_TOKENS), encoding="utf-8")
    template = tmp_path / "t.jinja"
    template.write_text(chat_template(), encoding="utf-8")
    out = tmp_path / "out.parquet"
    assert main(["encode", "-o", str(out), "--quiet", "--tokenizer", str(model), "--chat-template", str(template)]) == 0
    assert pq.read_table(out).column("labels").to_pylist() == chat_tokenizer.encode_batch(SAMPLE)["labels"]


def test_bare_tokenizer_json_needs_a_template(tmp_path, capsys):
    bare = tmp_path / "tokenizer.json"
    bare.write_bytes(tokenizer_json().read_bytes())
    assert main(["encode", "-o", str(tmp_path / "o.parquet"), "--tokenizer", str(bare)]) == 1
    assert "--chat-template" in capsys.readouterr().err


def test_render_marks_assistant_spans(capsys, chat_tokenizer):
    assert main(["render", "--row", "1"]) == 0
    printed = capsys.readouterr().out
    text, spans = chat_tokenizer.render(SAMPLE[1])
    body = printed.split("\n", 1)[1]
    assert body.count("⟦") == len(spans) == 2
    assert body.replace("⟦", "").replace("⟧", "").rstrip("\n") == text.rstrip("\n")
    assert [part.split("⟧")[0] for part in body.split("⟦")[1:]] == [text[s:e] for s, e in spans]


def test_bench_checks_equality(capsys):
    assert main(["bench", "--rows", "12", "--repeat", "1"]) == 0
    assert "outputs identical" in capsys.readouterr().out


def test_conformance_subcommand_is_the_conformance_report(tmp_path, deepseek_json, capsys):
    from _support.trl_templates import template

    from fastmask import conformance

    (tmp_path / "qwen3_training.jinja").write_text(template("qwen3_training"), encoding="utf-8")
    argv = ["--templates", str(tmp_path), "--tokenizer", str(deepseek_json.parent), "--cases", "single_turn"]
    assert main(["conformance", *argv]) == 0
    through_cli = capsys.readouterr().out
    assert conformance.main(argv) == 0
    assert through_cli == capsys.readouterr().out
    assert through_cli.splitlines()[-1] == "1 templates: 1 identical, 0 differ, 0 unsupported"


def test_backend_option(tmp_path, monkeypatch, capsys):
    from _support.tokenizer_zoo import model_dir

    from fastmask.cli import _tokenizer_args

    loaded = []
    load = _tokenizer_args.load_tokenizer
    monkeypatch.setattr(_tokenizer_args, "load_tokenizer", lambda args: loaded.append(load(args)) or loaded[-1])
    tables = {}
    for backend in ("tokenizers", "fast", "tokenizers1", "auto"):
        out = tmp_path / f"{backend}.parquet"
        assert main(["encode", "-o", str(out), "--quiet", "--backend", backend]) == 0
        tables[backend] = pq.read_table(out)
    assert [tokenizer.backend for tokenizer in loaded] == ["tokenizers", "fast", "tokenizers1", "tokenizers1"]
    assert all(tables["tokenizers"].equals(tables[backend]) for backend in ("fast", "tokenizers1", "auto"))
    # WordPiece has no fast BPE: forcing it fails and says why.
    template = tmp_path / "t.jinja"
    template.write_text(chat_template(), encoding="utf-8")
    assert (
        main(
            [
                "encode",
                "-o",
                str(tmp_path / "bert.parquet"),
                "--tokenizer",
                str(model_dir("bert")),
                "--chat-template",
                str(template),
                "--backend",
                "fast",
            ]
        )
        == 1
    )
    assert "backend='fast'" in capsys.readouterr().err


def test_parquet_goes_to_the_core_as_arrow_chunk_by_chunk(tmp_path, monkeypatch, chat_tokenizer):
    import fastmask

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"messages": pa.array(SAMPLE), "id": list(range(len(SAMPLE)))}), source)
    seen = []
    real = fastmask.ChatTokenizer.encode_batch

    def spy(self, batch, **options):
        seen.append((type(batch).__name__, len(batch)))
        return real(self, batch, **options)

    monkeypatch.setattr(fastmask.ChatTokenizer, "encode_batch", spy)
    out = tmp_path / "out.parquet"
    assert main(["encode", str(source), "-o", str(out), "--quiet", "--chunk-size", "4"]) == 0
    sizes = [4] * (len(SAMPLE) // 4) + ([len(SAMPLE) % 4] if len(SAMPLE) % 4 else [])
    assert seen == [("ChunkedArray", size) for size in sizes]
    assert pq.read_table(out).column("labels").to_pylist() == real(chat_tokenizer, SAMPLE)["labels"]


def test_json_array_is_read_row_by_row(tmp_path):
    import fastmask
    from fastmask.cli import _input

    path = tmp_path / "broken.json"
    path.write_text('  [{"messages": [{"role": "user", "content": "a", "w": 0.5}]}, {"messages": [', encoding="utf-8")
    rows = _input._json_rows(path)
    # The first row comes before the parser reaches the broken tail: the file is not parsed whole.
    assert next(rows) == {"messages": [{"role": "user", "content": "a", "w": 0.5}]}
    with pytest.raises(fastmask.InputError, match="invalid JSON"):
        next(rows)
    path.write_text('{"messages": []}', encoding="utf-8")
    with pytest.raises(fastmask.InputError, match="top-level array"):
        next(_input._json_rows(path))


PEAK_SCRIPT = """
import json, sys
from pathlib import Path
from fastmask.cli import _input

def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

path, how = Path(sys.argv[1]), sys.argv[2]
before = peak_kib()
if how == "stream":
    rows = sum(1 for _ in _input._json_rows(path))
else:
    rows = len(json.loads(path.read_text(encoding="utf-8")))
print(rows, peak_kib() - before)
"""


def test_json_array_memory_does_not_grow_with_the_file(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "big.json"
    row = {
        "messages": [{"role": "user", "content": "question " * 40}, {"role": "assistant", "content": "answer " * 60}]
    }
    count = 40_000
    path.write_text("[" + ",".join([json.dumps(row)] * count) + "]", encoding="utf-8")
    size_kib = path.stat().st_size // 1024
    growth = {}
    for how in ("stream", "whole"):
        result = subprocess.run(
            [sys.executable, "-c", PEAK_SCRIPT, str(path), how], capture_output=True, text=True, check=True
        )
        rows, growth[how] = map(int, result.stdout.split())
        assert rows == count
    # Parsing whole holds every row (more than the file's size); streaming holds one row at a time.
    assert growth["whole"] > size_kib
    assert growth["stream"] < size_kib / 10, (growth, size_kib)


def test_expand_turns_writes_a_row_per_turn_with_its_origin(tmp_path, chat_tokenizer):
    out = tmp_path / "out.parquet"
    assert main(["encode", "-o", str(out), "--quiet", "--expand-turns", "--chunk-size", "2"]) == 0
    table = pq.read_table(out)
    expected = chat_tokenizer.encode_batch(SAMPLE, expand_turns=True)
    assert len(expected["input_ids"]) > len(SAMPLE)
    for name in ("input_ids", "assistant_masks", "labels", "conversation_index", "turn_index"):
        assert table.column(name).to_pylist() == expected[name]


def test_pack_length_writes_packed_rows_window_by_window(tmp_path, chat_tokenizer, capsys):
    out = tmp_path / "packed.parquet"
    args = ["encode", "-o", str(out), "--chunk-size", "2", "--pack-length", "1024", "--pack-window", "4"]
    assert main(args) == 0
    table = pq.read_table(out)
    encoded = chat_tokenizer.encode_batch(SAMPLE, return_tensors="arrow")
    columns = {name: encoded[name] for name in ("input_ids", "assistant_masks", "labels")}
    # Windows of 4 rows (two chunks of 2), each packed on its own.
    windows = [
        fastmask.pack({name: values[start : start + 4] for name, values in columns.items()}, 1024, batch_size=None)
        for start in range(0, len(SAMPLE), 4)
    ]
    for name in ("input_ids", "assistant_masks", "labels", "seq_lengths", "position_ids"):
        assert table.column(name).to_pylist() == [row for window in windows for row in window[name].to_pylist()]
    summary = capsys.readouterr().err
    assert f"wrote {len(table)} packed rows ({len(SAMPLE)} encoded rows)" in summary
    assert "efficiency" in summary and "dropped: 0 rows without tokens" in summary
