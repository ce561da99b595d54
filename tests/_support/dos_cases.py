"""Denial-of-service templates, run by `tests/hardening/test_dos.py` in a child process.

Run as a script: `python dos_cases.py` renders every case once and prints one
JSON line per case with its outcome and time, so a hang or an abort fails the test instead of
freezing the suite, and the test process is never at risk.
"""

from __future__ import annotations

import json
import sys
import time

import fastmask

CONV = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
NESTED = "[" * 10_000 + "]" * 10_000

# name -> (template, expected outcome: "LimitError", "TemplateSyntaxError" or "ok")
CASES: dict[str, tuple[str, str]] = {
    "nested_loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "LimitError",
    ),
    "nested_loops_printing": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}",
        "LimitError",
    ),
    "string_times_1e9": ("{{ 'a' * 10**9 }}", "LimitError"),
    "doubling_concat": (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
        "LimitError",
    ),
    "doubling_list_plus": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|list|length }}",
        "LimitError",
    ),
    "doubling_list_times": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l * 2 %}{% endfor %}{{ ns.l|length }}",
        "LimitError",
    ),
    "list_times_1e9": ("{{ ([1, 2] * 10**9)|length }}", "LimitError"),
    "shared_list_printed": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(18) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}"
        "{% for i in range(100000) %}{{ ns.l|string|length }}{% endfor %}",
        "LimitError",
    ),
    "shared_list_stored": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}",
        "LimitError",
    ),
    "deep_list_compared": (
        "{% set ns = namespace(a=[], b=[]) %}{% for j in range(10) %}{% for i in range(100000) %}"
        "{% set ns.a = [ns.a] %}{% set ns.b = [ns.b] %}{% endfor %}{% endfor %}{{ ns.a == ns.b }}",
        "LimitError",
    ),
    "deep_list_printed": (
        "{% set ns = namespace(l=[]) %}{% for i in range(999) %}{% set ns.l = [ns.l] %}{% endfor %}{{ [[ns.l]] }}",
        "LimitError",
    ),
    "deep_list_tojson": (
        "{% set ns = namespace(l=[]) %}{% for i in range(999) %}{% set ns.l = [ns.l] %}{% endfor %}{{ [[ns.l]]|tojson }}",
        "LimitError",
    ),
    "indent_width": ("{{ 'a\\nb\\nc' | indent(10**9) }}", "LimitError"),
    "indent_many_lines": ("{{ ('\\n' * 50000000) | indent(100) }}", "LimitError"),
    "center_width": ("{{ 'x' | center(10**9) }}", "LimitError"),
    "percent_width": ("{{ '%1000000000s' % 'x' }}", "LimitError"),
    "percent_precision": ("{{ '%.900000000f' % 1.5 }}", "LimitError"),
    "percent_many_fields": ("{{ ('%60000000s' * 40) % (('x',) * 40) }}", "LimitError"),
    "format_filter_width": ("{{ '%900000000d' | format(1) }}", "LimitError"),
    "str_format_width": ("{{ '{:>1000000000}'.format('x') }}", "LimitError"),
    "str_format_many_fields": ("{{ ('{:>60000000}' * 40).format(*(['x'] * 40)) }}", "LimitError"),
    "ljust": ("{{ 'x'.ljust(10**9) }}", "LimitError"),
    "rjust_fill": ("{{ 'x'.rjust(10**9, '\U0001f600') }}", "LimitError"),
    "zfill": ("{{ '1'.zfill(10**9) }}", "LimitError"),
    "expandtabs": ("{{ ('\\t' * 1000).expandtabs(10**6) }}", "LimitError"),
    "replace_growth": ("{{ ('a' * 1000000) | replace('a', 'b' * 1000) }}", "LimitError"),
    "replace_method_empty": ("{{ ('a' * 1000000).replace('', 'c' * 1000) }}", "LimitError"),
    "join_filter": ("{{ (['y' * 10000000] * 100) | join }}", "LimitError"),
    "join_method": ("{{ ''.join(['y' * 10000000] * 100) }}", "LimitError"),
    "tilde": ("{% set s = 'a' * 40000000 %}{{ s ~ s ~ s }}", "LimitError"),
    "tojson_indent": (f"{{{{ {'[' * 30}1{']' * 30} | tojson(indent=10**6) }}}}", "LimitError"),
    "strftime_width": ("{{ strftime_now('%1000000000d') }}", "LimitError"),
    "self_recursive_macro": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "LimitError"),
    "branching_macro": ("{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "LimitError"),
    "recursive_loop": (
        "{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}",
        "LimitError",
    ),
    "nested_parentheses": ("{{ " + "(" * 10_000 + "1" + ")" * 10_000 + " }}", "TemplateSyntaxError"),
    "nested_lists": ("{{ " + NESTED + " }}", "TemplateSyntaxError"),
    "nested_ifs": ("{% if true %}" * 5_000 + "x" + "{% endif %}" * 5_000, "TemplateSyntaxError"),
    "long_operator_chain": ("{{ " + " + ".join(["1"] * 100_000) + " }}", "ok"),
    "long_filter_chain": ("{{ 'x'" + " | upper" * 20_000 + " }}", "ok"),
    "long_not_chain": ("{{ " + "not " * 20_000 + "true }}", "ok"),
    "ten_mb_template": ("x" * 10_000_000, "LimitError"),
    "dict_update": (
        "{% set d = {} %}{% for i in range(100000) %}{% set _ = d.update({i: i}) %}{% endfor %}",
        "TemplateError",
    ),
}


# Rendering is what is under attack: a one-word tokenizer keeps construction instant.
TOKENIZER_JSON = json.dumps(
    {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"},
    }
)


def run(names: list[str]) -> None:
    for name in names or CASES:
        template = CASES[name][0]
        started = time.perf_counter()
        try:
            tok = fastmask.ChatTokenizer.from_parts(TOKENIZER_JSON, template)
            text, _ = tok.render(CONV, mask_source="turns", train_roles=())
            outcome, detail = "ok", str(len(text))
        except fastmask.FastmaskError as err:
            outcome, detail = type(err).__name__, str(err)[:300]
        elapsed = time.perf_counter() - started
        print(json.dumps({"name": name, "outcome": outcome, "detail": detail, "seconds": elapsed}), flush=True)


if __name__ == "__main__":
    run(sys.argv[1:])
