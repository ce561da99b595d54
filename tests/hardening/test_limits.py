"""Limits: on by default, configurable, each reached as a LimitError naming it and the conversation."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastmask

CONV = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
TEMPLATE = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"


@pytest.fixture(scope="module")
def word_level_json(tmp_path_factory) -> Path:
    """A one-word tokenizer: these tests are about rendering, and it loads in no time."""
    from tokenizers import Tokenizer, models

    path = tmp_path_factory.mktemp("word_level") / "tokenizer.json"
    Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")).save(str(path))
    return path


def tok_with(word_level_json, template=TEMPLATE, **limits):
    return fastmask.ChatTokenizer.from_file(word_level_json, chat_template=template, limits=fastmask.Limits(**limits))


def render(tok, conversation=CONV):
    return tok.render(conversation, mask_source="turns", train_roles=())[0]


def test_defaults_are_on_and_exposed(word_level_json):
    tok = fastmask.ChatTokenizer.from_file(word_level_json, chat_template=TEMPLATE)
    assert tok.limits == fastmask.Limits()
    assert all(value > 0 for value in dataclasses.asdict(tok.limits).values())
    custom = tok_with(word_level_json, fuel=1234, input_depth=7)
    assert (custom.limits.fuel, custom.limits.input_depth) == (1234, 7)


def test_invalid_limits_are_refused(word_level_json):
    with pytest.raises(fastmask.InputError, match="recursion"):
        tok_with(word_level_json, recursion=501)
    with pytest.raises(fastmask.InputError, match="fuel"):
        tok_with(word_level_json, fuel=0)
    with pytest.raises(fastmask.InputError, match="Limits"):
        fastmask.ChatTokenizer.from_file(word_level_json, chat_template=TEMPLATE, limits={"fuel": 1})


def test_fuel(word_level_json):
    loop = "{% for m in messages %}{% for i in range(100000) %}{{ i }}{% endfor %}{% endfor %}"
    assert len(render(tok_with(word_level_json, loop), CONV[:1])) == sum(len(str(i)) for i in range(100000))
    with pytest.raises(fastmask.LimitError, match=r"^conversation 1: fuel limit"):
        tok_with(word_level_json, loop, fuel=10_000).render_batch([[], CONV], mask_source="turns", train_roles=())


@pytest.mark.parametrize(("expression", "length"), [("items + items", 200), ("items * 3", 300)])
def test_string_bytes_bound_the_lists_operators_build(word_level_json, expression, length):
    # 24 bytes a list item: 300 items need 7,200 bytes.
    template = "{% set items = range(100) | list %}{{ (" + expression + ") | length }}"
    assert render(tok_with(word_level_json, template, string_bytes=10_000)) == str(length)
    with pytest.raises(fastmask.LimitError, match=r"^conversation 0: string limit: . would build a list of"):
        render(tok_with(word_level_json, template, string_bytes=4_000))


def test_fuel_grows_with_the_input(word_level_json):
    # One step per character of every message: the cost a character-walking template (Gemma 4,
    # Idefics3) has. A base fuel too small for a long message is topped up by its size.
    walk = "{% for m in messages %}{% for c in m.content %}{{ c }}{% endfor %}{% endfor %}"
    long = [{"role": "user", "content": "x" * 20_000}]
    assert render(tok_with(word_level_json, walk, fuel=10_000, fuel_per_input_byte=100), long) == "x" * 20_000
    with pytest.raises(
        fastmask.LimitError, match=r"^conversation 0: fuel limit: the template ran more than 10000 steps"
    ):
        render(tok_with(word_level_json, walk, fuel=10_000, fuel_per_input_byte=0), long)
    # The budget reported is the one the render had: 100 per byte of text (content, keys, roles
    # and the tokenizer's special tokens).
    endless = "{% for m in messages %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endfor %}"
    with pytest.raises(fastmask.LimitError) as raised:
        render(tok_with(word_level_json, endless, fuel=10_000, fuel_per_input_byte=100), long)
    steps = int(re.search(r"ran more than (\d+) steps", str(raised.value)).group(1))
    assert 100 * (20_000 + len("rolecontentuser")) <= steps < 100 * 20_200


def test_output_bytes(word_level_json):
    tok = tok_with(word_level_json, "{{ 'x' * 1000 }}{{ messages[0].content }}", output_bytes=1002)
    assert render(tok) == "x" * 1000 + "Hi"
    with pytest.raises(fastmask.LimitError, match=r"^conversation 0: output limit"):
        render(tok, [{"role": "user", "content": "Hi!"}])


@pytest.mark.parametrize(
    "expression",
    [
        "x | indent(200)",
        "x | center(200)",
        "x | replace('a', 'aaaa')",
        "[x, x, x] | join",
        "x.join(['a', 'b', 'c'])",
        "'%200s' % x",
        "'%s%s' | format(x, x)",
        "'{:>200}'.format(x)",
        "x ~ x ~ x",
        "x.ljust(200)",
        "x.rjust(200)",
        "x.center(200)",
        "x.zfill(200)",
        "[x, x, x] | tojson",
        "x.replace('', '-')",
        "x + x",
        "x * 3",
        "[x, x, x] | string",
        "[x, x, x]",
    ],
)
def test_string_bytes_in_every_string_builder(word_level_json, expression):
    template = "{% set x = 'a' * 100 %}{{ " + expression + " }}"
    assert render(tok_with(word_level_json, template, string_bytes=10_000))
    with pytest.raises(fastmask.LimitError, match=r"^conversation 0: string limit"):
        render(tok_with(word_level_json, template, string_bytes=150))


def test_template_bytes(word_level_json):
    source = "x" * 2000
    assert render(tok_with(word_level_json, source, template_bytes=2000)) == source
    with pytest.raises(fastmask.LimitError, match="template limit"):
        tok_with(word_level_json, source, template_bytes=1999)


def test_recursion(word_level_json):
    template = "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}.{% endmacro %}{{ f(N) }}"
    # Each macro level takes a few of minijinja's depth units.
    tok = tok_with(word_level_json, template.replace("N", "10"), recursion=100)
    assert render(tok) == "." * 11
    with pytest.raises(fastmask.LimitError, match="recursion limit"):
        render(tok_with(word_level_json, template.replace("N", "40"), recursion=100))
    # The default recursion limit triggers before any stack overflows, on the worker threads.
    with pytest.raises(fastmask.LimitError, match="recursion limit"):
        render(tok_with(word_level_json, template.replace("N", "100000")))


# Single calls and one-thread batches run on the calling thread, on a stack of the workers' size
# mapped for them: the default recursion limit must still trigger before that stack runs out,
# even from a thread started with a small stack. A crash would kill the child, not the suite.
DEEP_RECURSION_CHILD = """
import sys, threading
import fastmask
from tokenizers import Tokenizer, models
tok = fastmask.ChatTokenizer.from_parts(
    Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")).to_str(),
    "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}.{% endmacro %}{{ f(100000) }}")
conversation = [{"role": "user", "content": "x"}]
calls = [lambda: tok.encode(conversation), lambda: tok.render(conversation),
         lambda: tok.encode_batch([conversation] * 3, num_threads=1)]
outcomes = []
def run():
    for call in calls:
        try:
            call()
            outcomes.append("no error")
        except fastmask.LimitError as err:
            outcomes.append("limit" if "recursion limit" in str(err) else str(err))
run()
threading.stack_size(256 * 1024)
thread = threading.Thread(target=run)
thread.start()
thread.join()
print(outcomes)
"""


def test_recursion_on_the_calling_thread_hits_the_limit_not_the_stack():
    run = subprocess.run(
        [sys.executable, "-c", DEEP_RECURSION_CHILD], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == str(["limit"] * 6)


def test_input_bytes_per_conversation(word_level_json):
    tok = tok_with(word_level_json, input_bytes=150)  # keys count too: 115 bytes fit, 155 do not
    fits = [{"role": "user", "content": "a" * 40}, {"role": "assistant", "content": "b" * 40}]
    assert render(tok, fits)
    too_big = [{"role": "user", "content": "a" * 60}, {"role": "assistant", "content": "b" * 60}]
    with pytest.raises(fastmask.LimitError, match=r"^conversation 1: message 1: .*input limit"):
        tok.render_batch([fits, too_big], mask_source="turns", train_roles=())
    with pytest.raises(fastmask.LimitError, match="tools: .*input limit"):
        tok.render(fits, tools=[{"x": "y" * 200}], mask_source="turns", train_roles=())


def test_input_depth_and_cycles(word_level_json):
    tok = tok_with(word_level_json, input_depth=5)
    shallow = {"a": [[1]]}
    assert render(tok, [{"role": "user", "content": "x", "extra": shallow}])
    deep: list = []
    node = deep
    for _ in range(10_000):
        node.append([])
        node = node[0]
    with pytest.raises(fastmask.LimitError, match="nested deeper than 5 levels"):
        render(tok, [{"role": "user", "content": deep}])
    cyclic: dict = {"role": "user", "content": "x"}
    cyclic["self"] = cyclic
    with pytest.raises(fastmask.LimitError, match="contains itself"):
        render(fastmask.ChatTokenizer.from_file(word_level_json, chat_template=TEMPLATE), [cyclic])
    shared = ["same"]
    # The same list twice is not a cycle.
    assert render(tok, [{"role": "user", "content": "x", "a": shared, "b": shared}])
