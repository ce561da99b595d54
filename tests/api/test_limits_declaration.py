"""`fastmask.Limits` is built from the one declaration in the Rust core (`_core.LIMIT_FIELDS`):
same fields, defaults and docs, still a frozen dataclass, checked by the core."""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path

import pytest

import fastmask
from fastmask import _core

TEMPLATE = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"


@pytest.fixture(scope="module")
def word_level_json() -> str:
    from tokenizers import Tokenizer, models

    return Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")).to_str()


def test_fields_defaults_and_docs_are_the_cores():
    fields = dataclasses.fields(fastmask.Limits)
    assert [(f.name, f.default, f.metadata["doc"]) for f in fields] == [tuple(item) for item in _core.LIMIT_FIELDS]
    assert all(f.type in (int, "int") for f in fields)
    for name, _default, doc in _core.LIMIT_FIELDS:
        assert doc and "  " not in doc
        # The class docstring carries every field's doc (wrapped).
        assert f"{name}: {' '.join(doc.split()[:4])}" in " ".join(fastmask.Limits.__doc__.split())


def test_defaults_are_what_the_core_applies(word_level_json):
    # The core's own defaults, read through a tokenizer built without limits (a separate path).
    core = _core.ChatTokenizer(word_level_json, TEMPLATE)
    assert core.limits == dataclasses.asdict(fastmask.Limits())
    assert list(core.limits) == [f.name for f in dataclasses.fields(fastmask.Limits)]


def test_every_field_reaches_the_core(word_level_json):
    # A distinct value per field: a field wired to the wrong one in the declaration shows here.
    values = {f.name: 100 + i for i, f in enumerate(dataclasses.fields(fastmask.Limits))}
    limits = fastmask.Limits(**values)
    tok = fastmask.ChatTokenizer.from_parts(word_level_json, TEMPLATE, limits=limits)
    assert tok.limits == limits
    assert dataclasses.asdict(tok.limits) == values


def test_still_a_frozen_dataclass():
    limits = fastmask.Limits(fuel=1234)
    assert dataclasses.is_dataclass(limits)
    assert type(limits).__module__ == "fastmask._limits" and type(limits).__qualname__ == "Limits"
    assert repr(limits).startswith("Limits(fuel=1234, fuel_per_input_byte=")
    assert limits == fastmask.Limits(fuel=1234) != fastmask.Limits()
    assert hash(limits) == hash(fastmask.Limits(fuel=1234))
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.fuel = 1  # type: ignore[misc]
    replaced = dataclasses.replace(limits, input_depth=7)
    assert (replaced.fuel, replaced.input_depth) == (1234, 7)
    assert dataclasses.asdict(replaced) == {**dataclasses.asdict(fastmask.Limits()), "fuel": 1234, "input_depth": 7}
    assert pickle.loads(pickle.dumps(replaced)) == replaced
    assert fastmask.Limits(*[f.default for f in dataclasses.fields(fastmask.Limits)]) == fastmask.Limits()


def test_unknown_and_negative_are_refused(word_level_json):
    with pytest.raises(TypeError, match="nope"):
        fastmask.Limits(nope=1)  # type: ignore[call-arg]
    with pytest.raises(fastmask.InputError, match=r"^limits: fuel must be a non-negative int, got int$"):
        fastmask.ChatTokenizer.from_parts(word_level_json, TEMPLATE, limits=fastmask.Limits(fuel=-1))
    with pytest.raises(fastmask.InputError, match=r"^limits: input_depth must be a non-negative int, got str$"):
        fastmask.ChatTokenizer.from_parts(word_level_json, TEMPLATE, limits=fastmask.Limits(input_depth="7"))
    # The core checks the dict it is given, whoever built it.
    with pytest.raises(fastmask.InputError, match=r'^limits: unknown limit "nope"$'):
        _core.ChatTokenizer(word_level_json, TEMPLATE, limits={"nope": 1})
    with pytest.raises(fastmask.InputError, match=r"^limits: names must be strings$"):
        _core.ChatTokenizer(word_level_json, TEMPLATE, limits={1: 1})
    for recursion in (0, 501):
        with pytest.raises(fastmask.InputError, match=r"^limits: recursion must be between 1 and 500$"):
            fastmask.ChatTokenizer.from_parts(word_level_json, TEMPLATE, limits=fastmask.Limits(recursion=recursion))
    with pytest.raises(fastmask.InputError, match=r"^limits: fuel must be at least 1$"):
        fastmask.ChatTokenizer.from_parts(word_level_json, TEMPLATE, limits=fastmask.Limits(fuel=0))


def test_readme_table_names_every_limit():
    root = next(path for path in Path(__file__).resolve().parents if (path / "README.md").is_file())
    readme = (root / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Limits", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert listed == [f.name for f in dataclasses.fields(fastmask.Limits)]
