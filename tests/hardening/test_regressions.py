"""Crashes found by fuzzing and review, each replayed in a child process so a crash fails only
its test, with the outcome jinja2 gives beside fastmask's where they differ."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

CHILD = """
import json, sys
import fastmask
from tokenizers import Tokenizer, models
tok = fastmask.ChatTokenizer.from_parts(
    Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")).to_str(), sys.argv[1])
try:
    print(json.dumps(["ok", tok.render([{"role": "user", "content": "x"}])[0]]))
except fastmask.FastmaskError as err:
    print(json.dumps([type(err).__name__, str(err)]))
"""


def fastmask_outcome(template: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, template], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, f"the process died ({run.returncode}): {run.stderr[-2000:]}"
    return json.loads(run.stdout)


def jinja2_render(template: str) -> str:
    return ImmutableSandboxedEnvironment().from_string(template).render(messages=[{"role": "user", "content": "x"}])


# Found by tests/hardening/test_fuzz.py (seed 5545683, a mutated Gemma 4 template): a namespace
# stored in itself and printed recursed until the stack overflowed; comparing or hashing two such
# namespaces did too. jinja2 prints the cycle; fastmask refuses to build it (a deliberate
# difference: minijinja compares and hashes namespaces by content, so a namespace inside itself
# can never be compared safely, and no real template stores a namespace in itself).
CYCLES = {
    "printed": "{%- set ns = namespace(result='') -%}{%- set ns.result = ns -%}{{ ns.result | trim }}",
    "compared": "{% set a = namespace(x=1) %}{% set b = namespace(x=1) %}{% set a.x = a %}{% set b.x = b %}{{ a == b }}",
    "hashed": "{% set a = namespace(x=1) %}{% set a.x = a %}{{ {a: 1} | length }}",
    "through_a_list_and_another_namespace": (
        "{% set a = namespace(x=1) %}{% set b = namespace(x=[a]) %}{% set a.x = {'k': b} %}{{ a }}"
    ),
}


@pytest.mark.parametrize("name", list(CYCLES))
def test_a_namespace_inside_itself_is_refused(name):
    template = CYCLES[name]
    jinja2_render(template)  # jinja2 renders it
    kind, message = fastmask_outcome(template)
    assert kind == "TemplateError", message
    assert "does not let a namespace hold itself" in message


def test_printing_an_acyclic_namespace_matches_jinja2():
    # (Attribute names in sorted order: minijinja's namespace keeps them sorted, jinja2's in
    # assignment order.)
    template = "{% set a = namespace(x=1) %}{% set b = namespace(l=[a, a]) %}{% set b.m = {'a': a} %}{{ b }}|{{ [b] }}|{{ '%r' % b }}"
    assert fastmask_outcome(template) == ["ok", jinja2_render(template)]


# Found in review: lists nested through a namespace 300,000 deep overflowed the stack in
# minijinja's recursive comparison; Python's own comparison fails near 1,000 (RecursionError).
DEEP = "{% set ns = namespace(a=[], b=[]) %}{% for j in range(DEPTH) %}{% set ns.a = [ns.a] %}{% set ns.b = [ns.b] %}{% endfor %}"


def test_values_stored_in_a_namespace_nest_at_most_a_thousand_deep():
    allowed = (
        DEEP.replace("DEPTH", "999") + "{{ ns.a == ns.b }}{{ ns.a < ns.b }}{{ [ns.a, ns.b] | unique | list | length }}"
    )
    kind, text = fastmask_outcome(allowed)
    assert kind == "TemplateError" and "unhashable type: 'list'" in text  # as jinja2's unique
    assert fastmask_outcome(DEEP.replace("DEPTH", "999") + "{{ ns.a == ns.b }}{{ ns.a < ns.b }}") == ["ok", "TrueFalse"]
    kind, message = fastmask_outcome(DEEP.replace("DEPTH", "100000") + "{{ ns.a == ns.b }}")
    assert kind == "LimitError" and "nested deeper than 1000" in message
