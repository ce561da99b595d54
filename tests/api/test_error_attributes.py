"""Exceptions carry where they happened as attributes: `conversation` (the index in the batch) and
`message` (the index within the conversation), None where unknown. Their text is unchanged, and
callers (the CLI, the datasets helper) read the attributes rather than parsing it."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pyarrow as pa
import pytest

import fastmask
from fastmask.cli import main

TEMPLATE = (
    "{% for m in messages %}{% if m.content == 'no' %}{{ raise_exception('refused') }}{% endif %}"
    "<{{ m.role }}>{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}"
)
HI = {"role": "user", "content": "hi"}
OK = {"role": "assistant", "content": "ok"}


@pytest.fixture(scope="module")
def tok() -> fastmask.ChatTokenizer:
    from tokenizers import Tokenizer, models

    json_text = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")).to_str()
    return fastmask.ChatTokenizer.from_parts(json_text, TEMPLATE, limits=fastmask.Limits(input_bytes=100))


def raised(call, *args, **kwargs) -> fastmask.FastmaskError:
    with pytest.raises(fastmask.FastmaskError) as info:
        call(*args, **kwargs)
    return info.value


def where(error: BaseException) -> tuple:
    return type(error).__name__, error.conversation, error.message


def test_single_conversation(tok):
    error = raised(tok.render, [HI, "not a dict"])
    assert where(error) == ("InputError", 0, 1)
    assert str(error) == "conversation 0: message 1: must be a dict, got string"
    error = raised(tok.encode, [HI, {"role": "user", "content": "\ud800"}])
    assert where(error) == ("InputError", 0, 1)
    assert str(error).startswith('conversation 0: message 1: key "content": ')
    # A render error belongs to the conversation, not to a message.
    error = raised(tok.encode, [HI, {"role": "user", "content": "no"}])
    assert where(error) == ("TemplateError", 0, None)


def test_errors_outside_a_conversation_have_none(tok):
    assert where(raised(tok.encode_batch, [[HI]], padding="sideways")) == ("InputError", None, None)
    assert where(raised(tok.with_chat_template, "{% if %}")) == ("TemplateSyntaxError", None, None)
    assert where(raised(tok.encode_batch, [[HI]], tools=[{"x": "\ud800"}])) == ("InputError", None, None)
    # Exceptions raised by the Python layer, or by a caller, have the attributes too.
    assert where(fastmask.LimitError("x")) == ("LimitError", None, None)


def test_batch(tok):
    batch = [[HI, OK], [HI, OK], [HI, OK, "x"], [HI]]
    assert where(raised(tok.encode_batch, batch)) == ("InputError", 2, 2)
    refused = [[HI], [HI, {"role": "user", "content": "no"}]]
    assert where(raised(tok.render_batch, refused)) == ("TemplateError", 1, None)
    long = {"role": "user", "content": "x" * 200}
    error = raised(tok.encode_batch, [[HI], [HI], [HI, long]])
    assert where(error) == ("LimitError", 2, 1)
    assert str(error).startswith("conversation 2: message 1: input limit")


def test_arrow_input(tok):
    long = {"role": "user", "content": "x" * 200}
    column = pa.array([[HI], [HI, OK], [HI, OK, long]])
    error = raised(tok.encode_batch, column)
    assert where(error) == ("LimitError", 2, 2)
    assert str(error) == str(raised(tok.encode_batch, column.to_pylist()))


def test_turn_inference_names_the_message(tok):
    # A trained first message has no prefix to infer where it starts.
    error = raised(tok.encode_batch, [[HI, OK], [HI, OK]], mask_source="turns", train_roles=["user"])
    assert where(error) == ("InputError", 0, 0)
    assert str(error) == "conversation 0: message 0: a trained first message has no prefix to infer its start from"


@pytest.mark.parametrize("on_error", ["skip", "collect"])
def test_on_error_lists_carry_the_attributes(tok, on_error):
    batch = [
        [HI, OK],
        "not a conversation",
        [HI, OK],
        [HI, {"role": "user", "content": "\ud800"}],
        [HI, {"role": "user", "content": "no"}],
        [HI, 7],
    ]
    out = tok.encode_batch(batch, on_error=on_error)
    found = [(index, *where(error)) for index, error in out["errors"]]
    assert found == [
        (1, "InputError", 1, None),
        (3, "InputError", 3, 1),
        (4, "TemplateError", 4, None),
        (5, "InputError", 5, 1),
    ]
    for index, error in out["errors"]:
        assert re.match(rf"conversation {index}: ", str(error))


def test_attributes_survive_pickling(tok):
    error = raised(tok.encode_batch, [[HI], [HI, 7]])
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.conversation, copy.message) == (type(error), str(error), 1, 1)


def test_the_cli_reports_rows_from_the_attributes(tmp_path):
    """Chunk-local conversation indices become the file's row numbers, the message text kept whole
    (colons and all), the conversation prefix dropped exactly."""
    good = {"messages": [HI, OK]}
    rows = [good] * 12
    rows[5] = {"messages": [HI, {"role": "user", "content": "\ud800"}]}
    rows[11] = {"messages": [HI, {"role": "user", "content": [{"type": 7}]}, "x"]}
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out.parquet"
    assert main(["encode", str(source), "-o", str(out), "--on-error", "skip", "--chunk-size", "4", "--quiet"]) == 0
    report = [json.loads(line) for line in Path(f"{out}.errors.jsonl").read_text().splitlines()]
    assert [(entry["row"], entry["reason"]) for entry in report] == [(5, "InputError"), (11, "InputError")]
    assert report[0]["message"].startswith('message 1: key "content": string is not valid UTF-8')
    assert report[1]["message"] == "message 2: must be a dict, got string"


def test_no_module_parses_error_text():
    """Where an error happened is read from its attributes; nothing in the package takes it
    apart by its text (a regex on `conversation N`, or a split or partition on the first ': ')."""
    package = Path(fastmask.__file__).parent
    parsing = re.compile(r"""conversation \(?\\d|(split|partition)\(["']: ["']""")
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py") if parsing.search(path.read_text())]
    assert offenders == []
