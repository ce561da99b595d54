"""Focused differential tests: small templates rendered by transformers' own jinja2 environment and
by fastmask, one behaviour each. The output must be identical; when jinja2 raises, fastmask must
raise a `FastmaskError`. The cases cover the places where minijinja and jinja2 differ (issue 3):
`tojson`, Python str/dict/list methods, Python printing of values, `%` and `str.format`, tests,
filters, loops, literals, whitespace control, and constructs jinja2 rejects.

Constructs fastmask cannot reproduce are checked at the end: fastmask must refuse them with a
clear error instead of rendering something different.
"""

from __future__ import annotations

import datetime
import itertools
import json
import logging
import re
from pathlib import Path

import pytest

import fastmask

chat_template_utils = pytest.importorskip("transformers.utils.chat_template_utils")

MESSAGES = [{"role": "user", "content": "hi"}]
NOW = datetime.datetime(2024, 7, 5, 9, 3, 7)

logging.getLogger("transformers").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def tokenizer_json(deepseek_json: Path) -> str:
    """DeepSeek's tokenizer.json with its vocabulary cut to the 256 byte symbols and no merges.

    These tests only render, and loading the full 128k vocabulary for each of the ~500 templates
    would take minutes; normalizer, pre-tokenizer and special tokens are DeepSeek's own.
    """
    from tokenizers import pre_tokenizers

    data = json.loads(deepseek_json.read_text(encoding="utf-8"))
    data["model"]["vocab"] = {symbol: i for i, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    data["model"]["merges"] = []
    for offset, token in enumerate(data["added_tokens"]):
        token["id"] = 1000 + offset
    return json.dumps(data)


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """transformers' `strftime_now` reads `datetime.now()` from its module: pin it to NOW."""

    class PinnedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW

    monkeypatch.setattr(chat_template_utils, "datetime", PinnedDatetime)


def jinja2_render(source: str, variables: dict) -> tuple[str, str]:
    try:
        template = chat_template_utils._compile_jinja_template(source)
        variables = chat_template_utils._plain_template_data(variables)
        return "ok", template.render(
            messages=MESSAGES, tools=None, documents=None, add_generation_prompt=False, **variables
        )
    except Exception as err:  # noqa: BLE001 - any jinja2 failure is "raises"
        return "error", f"{type(err).__name__}: {err}"


def fastmask_render(tokenizer_json: str, source: str, variables: dict) -> tuple[str, str]:
    try:
        tokenizer = fastmask.ChatTokenizer.from_parts(tokenizer_json, source, now=NOW)
        return "ok", tokenizer.render(MESSAGES, template_kwargs=variables)[0]
    except fastmask.FastmaskError as err:
        return "error", f"{type(err).__name__}: {err}"


def check(tokenizer_json: str, source: str, variables: dict | None = None) -> None:
    variables = variables or {}
    expected = jinja2_render(source, variables)
    actual = fastmask_render(tokenizer_json, source, variables)
    if expected[0] == "error":
        assert actual[0] == "error", f"jinja2 raised {expected[1]!r}; fastmask rendered {actual[1]!r}"
    else:
        assert actual == expected


def cases(*items):
    """`(template, variables)` pairs as pytest params with readable ids."""
    return [pytest.param(src, variables, id=src[:60]) for src, variables in items]


NESTED = {"a": [1, 0.1, 1e-05, 1e16, 1.0, -0.0, 2**70, None, True, False], "b": "é😀<>&'\"\n\x01\\", "c": {}, "d": []}

TOJSON = cases(
    ("{{ x|tojson }}", {"x": NESTED}),
    ("{{ x|tojson(ensure_ascii=true) }}", {"x": NESTED}),
    ("{{ x|tojson(true) }}", {"x": "é"}),
    ("{{ x|tojson(indent=2) }}", {"x": NESTED}),
    ("{{ x|tojson(indent='\\t') }}|{{ x|tojson(indent=0) }}|{{ x|tojson(indent=-1) }}", {"x": {"a": [1, {"b": []}]}}),
    ("{{ x|tojson(separators=(',', ':')) }}{{ x|tojson(separators=[',', ':'], indent=1) }}", {"x": {"a": [1, 2]}}),
    ("{{ x|tojson(sort_keys=true) }}", {"x": {"b": 1, "a": {"d": 1, "c": 2}}}),
    ("{{ x|tojson(indent=none, separators=none, sort_keys=false) }}", {"x": {"b": [1]}}),
    ("{{ {2: 'a', 10: 'b'}|tojson(sort_keys=true) }}", {}),
    ("{{ {1: 'a', 'b': 2}|tojson(sort_keys=true) }}", {}),
    ("{{ {1: 'a', 'b': 2, none: 1, true: 2, 1.5: 3}|tojson }}", {}),
    ("{{ x|tojson }}", {"x": float("inf")}),
    ("{{ x|tojson }}", {"x": float("nan")}),
    ("{{ (1, 'a')|tojson }}", {}),
    ("{{ undefined_thing|tojson }}", {}),
    ("{{ namespace(a=1)|tojson }}", {}),
    ("{{ {'a': 1}.items()|tojson }}", {}),
    ("{{ x|tojson }}", {"x": [2**63, -(2**63), 2**100]}),
    ("{{ range(3)|tojson }}", {}),
    ("{{ (xs|groupby('a'))|tojson }}", {"xs": [{"a": 1}]}),
)

# jinja2's map/select/reject/selectattr/rejectattr return generators: iterated once, always true,
# without a length, not JSON serializable.
GENERATORS = cases(
    ("{{ xs|map(attribute='a')|tojson }}", {"xs": [{"a": 1}]}),
    ("{{ xs|selectattr('a')|tojson }}", {"xs": [{"a": 1}]}),
    ("{{ xs|map(attribute='a')|list|tojson }}", {"xs": [{"a": 1}, {"a": 2}]}),
    ("{% if xs|selectattr('a', 'none') %}T{% else %}F{% endif %}", {"xs": [{"a": 1}]}),
    ("{% set g = xs|map('upper') %}{{ g|join }}/{{ g|join }}/{{ g|list }}", {"xs": ["a", "b"]}),
    ("{{ xs|map('upper')|length }}", {"xs": ["a"]}),
    ("{{ xs|select|count }}", {"xs": ["a"]}),
    ("{{ xs|reject|last }}", {"xs": ["", "a"]}),
    ("{{ xs|reject|first }}{{ (xs|map('upper'))[0] }}|", {"xs": ["", "a"]}),
    ("{{ xs|map('upper') is sequence }}{{ xs|map('upper') is iterable }}{{ 'A' in xs|map('upper') }}", {"xs": ["a"]}),
    ("{% for x in xs|rejectattr('a') %}{{ loop.length }}{{ loop.last }}{% endfor %}", {"xs": [{"a": 0}, {"a": 0}]}),
    (
        "{{ xs|map('upper')|reverse|list }}{{ xs|map('upper')|sort }}{{ xs|map('upper')|unique|list }}",
        {"xs": ["a", "b"]},
    ),
    ("{{ xs|map('upper')|batch(1)|list }}{{ xs|map('upper')|join(',') }}", {"xs": ["a", "b"]}),
)

FLOATS_AND_PRINTING = cases(
    (
        "{{ 0.1 }} {{ 1e-05 }} {{ 1e16 }} {{ 1.0 }} {{ -0.0 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 10/2 }} {{ 2**70 }} {{ 2**0.5 }}",
        {},
    ),
    ("{{ x }} {{ y }} {{ z }} {{ w }}", {"x": 1e16, "y": 1e-05, "z": 123456789012345678.0, "w": 1.5e-7}),
    ("{{ x }}{{ y }}{{ z }}", {"x": float("inf"), "y": float("nan"), "z": float("-inf")}),
    ("{{ 1e308 * 10 }}", {}),
    ("{{ [0.1, 1e-05, 1e16] }} {{ {'a': 1e16} }} {{ x|string }}", {"x": 1e16}),
    ("{{ 'a' ~ 1e-05 }} {{ 0.1 ~ '' }} {{ x ~ y }} {{ 1e300 ~ '' }} {{ '' ~ 2**70 }}", {"x": 1e16, "y": 1e-05}),
    ("{{ '' ~ ['a'] }}|{{ '' ~ [1e-05] }}|{{ '' ~ {'a': 'b'} }}|{{ '' ~ ('a',) }}|{{ none ~ true ~ 1.0 }}", {}),
    ("{{ [1.0, none, true, 'a']|join(',') }}{{ [1e-05]|join(',') }}", {}),
    ("{{ none }}{{ None }}|{{ null }}|{{ true }}{{ True }}{{ false }}{{ False }}", {}),
    ("{{ [none, None, true, True] }}", {}),
    ("{{ x|string }}{{ [1.0]|string }}{{ none|string }}|{{ u|string }}|{{ 1e-05|string }}", {"x": 0.1}),
    ("{{ (1,) + (2,) }}{{ (1,) }}{{ () }}{{ (1, 'a') }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (1, 2) %}{{ c }}", {}),
    ("{{ [m.missing] }}{{ xs|map(attribute='z')|list }}", {"m": {}, "xs": [{"a": 1}]}),
    ("{{ 'it\\'s' }} {{ ['it\\'s', 'say \"x\"', 'both \\' \"'] }}", {}),
    ("{{ ['\\n\\t\\x01\\x7f\\u200d\\xa0é😀'] }}", {}),
)

STR_METHODS = cases(
    (
        "{{ '  a  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a '.lstrip() }}|{{ 'xa'.lstrip('x') }}|{{ ' a '.rstrip() }}|{{ 'ax'.rstrip('x') }}|{{ 'abc'.strip('') }}|{{ ' a '.strip(none) }}",
        {},
    ),
    ("{{ s.strip() }}|{{ s.split() }}|{{ s.rsplit(None, 1) }}", {"s": "\x1c a b \u3000\x1f"}),
    (
        "{{ 'a,b,c'.split(',') }}{{ 'a,b,c'.split(',', 1) }}{{ 'a b  c'.split() }}{{ 'a b c'.split(none, 1) }}{{ 'a,b,c'.split(sep=',', maxsplit=1) }}{{ ''.split(',') }}{{ ''.split() }}",
        {},
    ),
    (
        "{{ 'a,b,c'.rsplit(',') }}{{ 'a,b,c'.rsplit(',', 1) }}{{ 'a b  c'.rsplit() }}{{ 'a,b,c'.rsplit(sep=',', maxsplit=1) }}{{ 'a,b'.rsplit(',', -1) }}{{ ' a  b '.rsplit(None, 0) }}",
        {},
    ),
    ("{{ 'a'.split('') }}", {}),
    ("{{ 'a'.rsplit('') }}", {}),
    (
        "{{ 'a\\nb\\r\\nc\\n'.splitlines() }}{{ 'a\\nb'.splitlines(true) }}{{ 'a\\nb'.splitlines(keepends=true) }}{{ ''.splitlines() }}{{ 'a\\x1eb\\x85c'.splitlines() }}",
        {},
    ),
    (
        "{{ 'abc'.startswith('a') }}{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abc'.startswith('b', 1) }}{{ 'abc'.endswith('b', 0, 2) }}{{ 'abc'.startswith('', 5) }}{{ 'abc'.endswith('c', -1) }}",
        {},
    ),
    ("{{ 'abc'.startswith(['a']) }}", {}),
    ("{{ 'abc'.startswith(('a', 1)) }}", {}),
    (
        "{{ 'aaa'.replace('a', 'b') }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'abc'.replace('', '-') }}{{ 'abc'.replace('', '-', 2) }}{{ 'aaa'.replace('a', 'b', -1) }}{{ 'aaa'.replace('a', 'b', 0) }}",
        {},
    ),
    (
        "{{ 'abcabc'.find('c') }}{{ 'abcabc'.rfind('c') }}{{ 'abc'.find('z') }}{{ 'abcabc'.find('c', 3) }}{{ 'abcabc'.index('b') }}{{ 'abcabc'.rindex('b') }}{{ 'héllo'.find('l') }}{{ 'abc'.find('') }}{{ 'abc'.find('', 9) }}{{ 'abcabc'.rfind('a', 0, 3) }}",
        {},
    ),
    ("{{ 'abc'.index('z') }}", {}),
    ("{{ 'abc'.rindex('z') }}", {}),
    (
        "{{ 'k=v=w'.partition('=') }}{{ 'k=v=w'.rpartition('=') }}{{ 'abc'.partition('x') }}{{ 'abc'.rpartition('x') }}{% set a, b, c = 'k=v'.partition('=') %}{{ a }}{{ c }}",
        {},
    ),
    ("{{ 'abc'.partition('') }}", {}),
    (
        "{{ 'prefix-x'.removeprefix('prefix-') }}{{ 'x.py'.removesuffix('.py') }}{{ 'x'.removesuffix('') }}{{ 'ab'.removeprefix('b') }}",
        {},
    ),
    ("{{ '-42'.zfill(5) }}{{ '7'.zfill(3) }}{{ '+7'.zfill(3) }}{{ 'abc'.zfill(2) }}{{ ''.zfill(2) }}", {}),
    (
        "{{ 'hello world'.title() }}|{{ \"they're bill's\".title() }}|{{ 'hELLO wORLD'.capitalize() }}|{{ 'aBc'.upper() }}{{ 'aBc'.lower() }}{{ 'aBc'.swapcase() }}|{{ 'ß'.upper() }}|{{ 'a1b'.title() }}|{{ 'ÉCOLE'.lower() }}",
        {},
    ),
    (
        "{{ 'aaa'.count('a') }}{{ 'aaa'.count('aa') }}{{ 'abc'.count('') }}{{ 'aaa'.count('a', 1) }}{{ 'aaa'.count('a', 0, 2) }}",
        {},
    ),
    ("{{ ','.join(['a', 'b']) }}{{ ''.join('abc') }}{{ '-'.join([]) }}{{ ', '.join(d) }}", {"d": {"x": 1, "y": 2}}),
    ("{{ ','.join([1, 2]) }}", {}),
    (
        "{{ '{} {}'.format(1, 'a') }}{{ '{0}{1}{0}'.format('a', 'b') }}{{ '{x}'.format(x=1.0) }}{{ '{:>5}'.format('a') }}{{ '{!r}'.format('a') }}{{ '{:.2f}'.format(3.14159) }}{{ '{}'.format(none) }}{{ '{}'.format([1, 'a']) }}",
        {},
    ),
    (
        "{{ '{:,}|{:_x}|{:08.3f}|{:+d}|{:#b}|{:%}|{:e}|{:g}|{:^9}|{:*<4}'.format(1234567, 65535, -3.14159, 5, 5, 0.25, 12345.678, 1e-05, 'mid', 'a') }}",
        {},
    ),
    (
        "{{ '{0[k]}-{0.k}-{1[0]}'.format(d, [7]) }}{{ '{{literal}}'.format() }}{{ '{:{}}'.format('a', 3) }}",
        {"d": {"k": "v"}},
    ),
    (
        "{{ '{}'.format(1e16) }}|{{ '{:.3}'.format(1234.0) }}|{{ '{:.3}'.format(1.0) }}|{{ '{:5}'.format(true) }}|{{ '{}'.format(true) }}",
        {},
    ),
    ("{{ '{'.format(1) }}", {}),
    ("{{ '{0}{}'.format(1, 2) }}", {}),
    ("{{ '{:d}'.format('a') }}", {}),
    ("{{ '{:>3}'.format(none) }}", {}),
    ("{{ '{x}'.format_map({'x': 1}) }}", {}),
    (
        "{{ '12'.isdigit() }}{{ 'a1'.isdigit() }}{{ 'ab'.isalpha() }}{{ ' \\t'.isspace() }}{{ ''.isspace() }}{{ 'a1'.isalnum() }}{{ 'ab'.islower() }}{{ 'AB'.isupper() }}{{ '12'.isnumeric() }}{{ '12'.isdecimal() }}{{ 'Ab Cd'.istitle() }}{{ 'abc'.isidentifier() }}{{ 'é'.isascii() }}{{ ''.isdigit() }}{{ '²'.isdigit() }}{{ '²'.isdecimal() }}{{ 'a\\x01'.isprintable() }}",
        {},
    ),
    (
        "{{ 'abc'.center(7) }}|{{ 'abc'.center(8, '*') }}|{{ 'ab'.center(5) }}|{{ 'abc'.ljust(5) }}|{{ 'abc'.rjust(5, '0') }}|{{ 'a\\tb\\n\\tc'.expandtabs(4) }}|{{ 'a\\tb'.expandtabs() }}|{{ 'Straße'.casefold() }}",
        {},
    ),
    ("{{ 'abc'.center(5, 'ab') }}", {}),
    (
        "{{ 'ab'[0] }}{{ 'abc'[1:] }}{{ 'abc'[:-1] }}{{ 'abc'[::-1] }}{{ [1, 2, 3][1:] }}{{ [1, 2, 3][::2] }}{{ 'abc'[-1] }}{{ [1, 2, 3][-2:] }}{{ 'abc'[5:] }}{{ 'hello'[None:2] }}{{ [1, 2, 3][3:1:-1] }}{{ 'abcdef'[::3] }}",
        {},
    ),
    ("{{ 'abc'[5] }}|", {}),
    ("{{ s.upper() }}{{ s.unknown_method() }}", {"s": "a"}),
)

CONTAINER_METHODS = cases(
    ("{{ d.items() }}|{{ d.keys() }}|{{ d.values() }}", {"d": {"a": 1, "b": [2]}}),
    (
        "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 'def') }}{{ d.get('z', default='x') }}{{ d.keys()|list }}{{ d.values()|list }}{{ d.items()|list }}{{ d.items()|length }}",
        {"d": {"a": 1, "b": [2]}},
    ),
    (
        "{{ 'a' in d.keys() }}{{ 1 in d.values() }}{{ d.keys() is sequence }}{{ d.keys() is iterable }}{{ d.items()|first }}",
        {"d": {"a": 1}},
    ),
    (
        "{{ d.copy() }}{{ [1, 2].index(2) }}{{ [1, 2, 2].count(2) }}{{ (1, 2).index(2) }}{{ [1, 2].copy() }}{{ dict.fromkeys(['a', 'b'], 0) }}{{ d.fromkeys('xy') }}",
        {"d": {"a": 1}},
    ),
    ("{{ [1, 2].index(5) }}", {}),
    ("{{ d.update({'b': 2}) }}", {"d": {"a": 1}}),
    ("{{ d.pop('a') }}", {"d": {"a": 1}}),
    ("{{ d.setdefault('b', 2) }}", {"d": {"a": 1}}),
    ("{{ l.append(2) }}", {"l": [1]}),
    ("{{ l.sort() }}", {"l": [2, 1]}),
    (
        "{{ m.content }}|{{ m['content'] }}|{{ m.get('content') }}|{{ m.missing }}|{{ m['missing'] }}|{{ m.get('missing') }}",
        {"m": {"content": "c"}},
    ),
    (
        "{{ m.missing is defined }}{{ m['missing'] is defined }}{{ m.content is defined }}{{ m.missing is none }}{{ m.get('missing') is none }}{{ m.x.y is defined }}",
        {"m": {"content": "c", "x": {}}},
    ),
    ("{{ m.missing.x }}", {"m": {}}),
    ("{{ none.x }}|{{ 'abc'.x }}|{{ [1].x }}|", {}),
    ("{{ u.x }}", {}),
    # jinja2 reads attributes before items: a dict key named like a dict method is hidden by it.
    (
        "{{ p.items is defined }}{{ p['items'] }}{{ p.items.type is defined }}{% if p.items %}method{% endif %}{{ p.keys is callable }}{{ p.update is defined }}{{ p.title }}",
        {"p": {"items": {"type": "string"}, "title": "T", "keys": 1, "update": 2}},
    ),
    ("{% for k, v in p.items() %}{{ k }}{% endfor %}{{ p.get('items').type }}", {"p": {"items": {"type": "string"}}}),
    ("{{ s.upper is callable }}{{ s.upper() }}{{ l.count is defined }}{{ l.append is defined }}", {"s": "a", "l": [1]}),
    (
        "{{ d|attr('a') }}|{{ 'upper'|attr('x') }}|{{ d|attr('items') is callable }}|{{ namespace(a=1)|attr('a') }}",
        {"d": {"a": 1}},
    ),
)

PERCENT = cases(
    ("{{ '%s' % 'x' }}", {}),
    (
        "{{ '%d' % 3 }}|{{ '%.2f' % 3.14159 }}|{{ '%s %s' % ('a', 'b') }}|{{ '%s' % none }}|{{ '%s' % [1, 'a'] }}|{{ '%r' % 'a' }}",
        {},
    ),
    ("{{ '%5d|%-5d|%05d|%+d|% d|%.3d' % (1, 2, 3, 4, 5, 6) }}", {}),
    ("{{ '%x %o %X %#x %#o %e %E %g %G %f %F' % (255, 8, 255, 255, 8, 12345.678, 0.5, 0.0001, 1e-10, 1.5, 2.5) }}", {}),
    (
        "{{ '%%' % () }}|{{ '%(a)s-%(b)d' % {'a': 1, 'b': 2} }}|{{ '%s' % 1.0 }}|{{ '%d' % 3.7 }}|{{ '%s' % true }}|{{ '%c%c' % (65, 'b') }}|{{ '%.1s' % 'abc' }}|{{ '%*d' % (4, 7) }}|{{ '%-*d|' % (4, 7) }}|{{ '%.*f' % (1, 2.25) }}",
        {},
    ),
    (
        "{{ '%s' % 1e16 }}|{{ '%s' % [1e-05] }}|{{ '%r' % {'a': none} }}|{{ '%a' % 'é' }}|{{ '%s' % d }}|{{ 'x' % [] }}|{{ 'x' % {} }}",
        {"d": {"k": 1}},
    ),
    ("{{ fmt % x }}", {"fmt": "<%s>", "x": 5}),
    ("{{ fmt % args }}", {"fmt": "%s and %s", "args": ["a", "b"]}),
    (
        "{% set s = '%s=%s' % ('k', 'v') %}{{ s }}{{ ('%s' % 'a') ~ 'b' }}{{ '%s' % 'a' ~ 'b' }}{{ '%s-%s' % (1, 2) | length }}",
        {},
    ),
    ("{{ '%s %s' % 'a' }}", {}),
    ("{{ '%d' % 'a' }}", {}),
    ("{{ 'x' % 5 }}", {}),
    ("{{ '%x' % 1.5 }}", {}),
    ("{{ '%' % 1 }}", {}),
    ("{{ '%(a)s' % ('a',) }}", {}),
    ("{{ '%(z)s' % {'a': 1} }}", {}),
    (
        "{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7.5 % 2 }} {{ 7.5 % -2 }} {{ 6 % 3.0 }} {{ true % 2 }}{% for i in range(4) %}{{ i % 2 }}{% endfor %}",
        {},
    ),
    ("{{ 1 % 0 }}", {}),
    ("{{ 1.5 % 0 }}", {}),
    ("{{ [1] % 2 }}", {}),
    ("{{ u % 2 }}", {}),
    (
        "{{ '%s-%s'|format(1, 2) }}{{ '%.1f'|format(2.25) }}{{ '%(a)s'|format(a=1e-05) }}{{ 'a'|format() }}{{ '%s'|format(1e-05) }}",
        {},
    ),
    ("{{ '%s %s'|format(1) }}", {}),
)

OPERATORS = cases(
    (
        "{{ 7//2 }} {{ -7//2 }} {{ 7.5 // 2 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 ** 16 }} {{ 2 ** 70 }}",
        {},
    ),
    (
        "{{ 1 + 1.5 }}{{ 3 - 1.0 }}{{ 2 * 1.5 }}{{ 3 / 1 }}{{ 4 // 1.0 }}{{ 2.0 ** 2 }}{{ 1e3 }}{{ 0.5e1 }}{{ 1 + true }}{{ true + true }}",
        {},
    ),
    ("{{ 1/0 }}", {}),
    ("{{ 1//0 }}", {}),
    ("{{ 3 * 'ab' }}{{ 'ab' * 3 }}{{ [1] * 3 }}{{ 'a' + 'b' }}{{ [1] + [2] }}{{ 'abc' * -1 }}|{{ 'a' * true }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ 'a' * 1.5 }}", {}),
    ("{{ {'a': 1} + {'b': 2} }}", {}),
    (
        "{{ 'a' in 'cat' }}{{ 1 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}{{ 1 in [1.0] }}{{ true in [1] }}{{ none in [none] }}{{ 'x' in u }}{{ '' in 'x' }}{{ ['a'] in [['a']] }}{{ not 'a' in 'b' }}",
        {},
    ),
    ("{{ 'k' in d }}{{ 'z' in d }}{{ 'k' not in d }}", {"d": {"k": None}}),
    ("{{ 'x' in none }}", {}),
    ("{{ 1 in 'abc' }}", {}),
    ("{{ 1 not in 'abc' }}", {}),
    ("{{ 1 in 5 }}", {}),
    (
        "{{ 1 < 2 }}{{ 1 < 1.5 }}{{ 'a' < 'b' }}{{ 'B' < 'a' }}{{ [1, 2] < [1, 3] }}{{ [1] < [1, 0] }}{{ (1, 2) <= (1, 2) }}{{ true < 2 }}{{ 3 >= 3 }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 < 2 == 2 }}",
        {},
    ),
    (
        "{{ 1 == '1' }}{{ 1 == 1.0 }}{{ true == 1 }}{{ false == 0 }}{{ 'a' != 'b' }}{{ none == none }}{{ [1] == [1] }}",
        {},
    ),
    ("{{ 1 < 'a' }}", {}),
    ("{{ none < 1 }}", {}),
    ("{{ 'a' >= none }}", {}),
    ("{{ [1] < (1,) }}", {}),
    ("{{ {} < {} }}", {}),
    ("{{ u < 1 }}", {}),
    ("{{ 1 < 2 < 'a' }}", {}),
    ("{% if x > 0 %}pos{% endif %}", {"x": None}),
    (
        "{{ true and 'x' }}|{{ false or 'y' }}|{{ '' or none }}|{{ 0 and 1 }}|{{ [] or {} }}|{{ not 1 }}{{ not '' }}{{ -(3) }}{{ - 3 }}",
        {},
    ),
    ("{{ 'a' if true }}|{{ 'a' if false }}|{{ 'a' if false else 'b' }}|{{ x.y if x }}", {"x": None}),
)

TESTS = cases(
    *[
        (f"{{{{ {value} is {test} }}}}", {"x": {"a": 1}, "l": [1], "t": "s", "n": None})
        for test in (
            "sequence",
            "iterable",
            "mapping",
            "string",
            "number",
            "defined",
            "none",
            "boolean",
            "integer",
            "float",
            "callable",
        )
        for value in (
            "none",
            "'a'",
            "[1]",
            "{}",
            "1",
            "1.5",
            "true",
            "u",
            "x",
            "l",
            "t",
            "n",
            "(1, 2)",
            "range(2)",
            "namespace()",
            "x.items()",
            "dict",
            "loop",
        )
    ],
    (
        "{{ 'a' is lower }}{{ 'A' is upper }}{{ 3 is odd }}{{ 4 is even }}{{ 6 is divisibleby 3 }}{{ 6 is divisibleby(4) }}{{ 1 is eq 1 }}{{ 1 is sameas 1 }}{{ none is sameas none }}{{ true is true }}{{ 1 is true }}{{ none is false }}{{ 0 is false }}{{ 'a' is in 'abc' }}{{ 'a' is escaped }}{{ 'a'|e is escaped }}{{ 'abc' is filter }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ 1 is lt 2 }}{{ 2 is ge 2 }}{{ 1 is ne 1 }}",
        {},
    ),
    ("{{ 1 is not none }}{{ u is not defined }}{{ 'a' is not string }}", {}),
    ("{{ 'a' is safe }}", {}),
    ("{{ 1 is int }}", {}),
    ("{{ 'ab' is startingwith('a') }}", {}),
    ("{% if false %}{{ 'ab' is startingwith('a') }}{% endif %}ok", {}),
)

FILTERS = cases(
    (
        "{{ u|upper }}|{{ u|trim }}|{{ u|length }}|{{ u|list }}|{{ u|first }}|{{ u|join(',') }}|{{ u|default('x') }}|{{ u|int }}|{{ u|string }}|{{ u|items|list }}|{{ u|selectattr('x')|list }}|{{ u|map('upper')|list }}|{{ u|sort }}|{{ u|unique|list }}",
        {},
    ),
    (
        "{{ none|upper }}|{{ none|trim }}|{{ none|string }}|{{ none|replace('N', 'n') }}|{{ none|default('x') }}|{{ none|int }}|{{ none|float }}|{{ none|e }}",
        {},
    ),
    ("{{ none|join(',') }}", {}),
    ("{{ [{'a': 1}]|unique|list }}", {}),
    ("{{ [[1], [1]]|unique|list }}", {}),
    ("{{ [(1, 2), (1, 2)]|unique|list }}{{ xs|unique(attribute='a')|list }}", {"xs": [{"a": 1}, {"a": 1, "b": 2}]}),
    ("{{ none|list }}", {}),
    ("{{ none|first }}", {}),
    ("{{ none|sort }}", {}),
    ("{{ none|tojson }}{{ none|lower }}{{ none|capitalize }}{{ none|title }}", {}),
    ("{{ undefined_var|length }}{{ 'abc'|length }}{{ [1]|length }}{{ {'a': 1}|length }}{{ 'é'|count }}", {}),
    ("{{ 5|length }}", {}),
    ("{{ none|length }}", {}),
    (
        "{{ [1, 2]|join }}{{ ['a', 'b']|join(', ') }}{{ 'abc'|join('-') }}{{ xs|join(',', attribute='a') }}{{ xs|join(d='|', attribute='a') }}{{ u|join(',') }}",
        {"xs": [{"a": 1}, {"a": 2.0}]},
    ),
    (
        "{{ xs|map(attribute='a')|list }}{{ xs|selectattr('a')|list }}{{ xs|selectattr('a', 'equalto', 2)|list }}{{ xs|rejectattr('a')|list }}{{ xs|map(attribute='a', default=0)|list }}",
        {"xs": [{"a": 0}, {"a": 2}, {"b": 1}]},
    ),
    (
        "{{ [1, 2]|select('odd')|list }}{{ [1, 2]|reject('odd')|list }}{{ [1, 2]|map('string')|list }}{{ ['a']|map('upper')|list }}{{ [1, none, 0, '']|select|list }}{{ [3, 4]|select('gt', 3)|list }}",
        {},
    ),
    (
        "{{ [3, 1]|first }}{{ [3, 1]|last }}{{ 'abc'|first }}{{ 'abc'|last }}{{ []|first }}|{{ {'k': 1}|first }}{{ x|default('d') }}{{ none|default('d') }}{{ none|default('d', true) }}{{ ''|default('d', true) }}{{ false|default('d') }}{{ u|d('e') }}",
        {},
    ),
    (
        "{{ {'a': 1}|items|list }}{{ u|items|list }}{{ [1, 1, 2, 'a', 'A']|unique|list }}{{ ['a', 'A']|unique(case_sensitive=true)|list }}{{ [1, 2]|reverse|list }}{{ 'abc'|reverse }}",
        {},
    ),
    (
        "{{ [3, 1, 2]|sort }}{{ ['b', 'A', 'a']|sort }}{{ ['b', 'A', 'a']|sort(case_sensitive=true) }}{{ [3, 1]|sort(reverse=true) }}{{ xs|sort(attribute='a') }}{{ xs|sort(attribute='a,b', reverse=true) }}{{ [[2], [1, 5], [1]]|sort }}",
        {"xs": [{"a": 2, "b": 1}, {"a": 1, "b": 2}, {"a": 2, "b": 0}]},
    ),
    ("{{ [1, 'a']|sort }}", {}),
    ("{{ [none, 1]|sort }}", {}),
    ("{{ xs|sort(attribute='a') }}", {"xs": [{"a": 2}, {"a": "x"}]}),
    (
        "{{ [3, 1]|max }}{{ [3, 1]|min }}{{ ['b', 'A']|max }}{{ ['b', 'A']|max(case_sensitive=true) }}{{ xs|max(attribute='a') }}{{ []|max }}|",
        {"xs": [{"a": 2}, {"a": 5}]},
    ),
    ("{{ [1, 'a']|max }}", {}),
    (
        "{{ {'b': 1, 'a': 2, 'C': 0}|dictsort }}{{ {'b': 1, 'a': 2}|dictsort(by='value') }}{{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}{{ {'b': 1, 'B': 2}|dictsort(case_sensitive=true) }}",
        {},
    ),
    (
        "{{ xs|groupby('a') }}{% for k, v in xs|groupby('a') %}{{ k }}{{ v|length }}{% endfor %}{% for g in xs|groupby('a') %}{{ g.grouper }}{{ g.list|length }}{% endfor %}",
        {"xs": [{"a": 2}, {"a": 1}, {"a": 2}]},
    ),
    (
        "{{ xs|groupby('a', default='z') }}{{ ys|groupby('a') }}",
        {"xs": [{"a": 1}, {"b": 1}], "ys": [{"a": "X"}, {"a": "x"}]},
    ),
    (
        "{{ [1, 2]|sum }}{{ [0.1, 0.2]|sum }}{{ xs|sum(attribute='a') }}{{ [[1], [2]]|sum(start=[]) }}{{ -3|abs }}{{ -3.5|abs }}",
        {"xs": [{"a": 1}, {"a": 2.5}]},
    ),
    (
        "{{ 'x'|int }}{{ '3.7'|int }}{{ ' 42 '|int }}{{ '0x1A'|int(0, 16) }}{{ '0b11'|int(base=0) }}{{ '1_000'|int }}{{ 3.7|int }}{{ -3.7|int }}{{ true|int }}{{ none|int(5) }}{{ '12'|int(base=8) }}{{ 2**70|int }}",
        {},
    ),
    (
        "{{ 3|float }}{{ '3.5'|float }}{{ 'x'|float }}{{ '1e3'|float }}{{ ' -2 '|float }}{{ 'inf'|float }}{{ none|float(1.5) }}{{ true|float }}",
        {},
    ),
    (
        "{{ 2.5|round }}{{ 3.5|round }}{{ 2.567|round(2) }}{{ 2.5|round(0, 'floor') }}{{ 2.1|round(method='ceil') }}{{ 5|round }}{{ -2.5|round }}{{ 0.125|round(2) }}{{ 1234.5|round(-2) }}{{ 5|round(1, 'floor') }}",
        {},
    ),
    ("{{ 'a'|round }}", {}),
    (
        "{{ 1e-05|upper }}|{{ 5|replace('5', '6') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'aaa'|replace('a', 'b') }}|{{ 'abc'|replace('', '-') }}|{{ none|lower }}|{{ 1.0|capitalize }}",
        {},
    ),
    (
        "{{ 'hello world'|title }}|{{ 'hELLO wORLD'|capitalize }}|{{ 'ab'|upper }}{{ 'AB'|lower }}|{{ \"they're\"|title }}|{{ 'a-b c_d (e) [f] {g} <h>'|title }}|{{ 'ß'|upper }}",
        {},
    ),
    ("{{ '  a  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 5|trim }}|{{ '\\x1c x \\x85'|trim }}", {}),
    (
        "{{ [1, 2, 3]|batch(2)|list }}{{ [1, 2, 3]|batch(2, 0)|list }}{{ [1, 2, 3]|slice(2)|list }}{{ 'Hello'|list }}{{ {'a': 1}|list }}",
        {},
    ),
    ("{{ 'a b'|wordcount }}{{ 'a-b_c, d'|wordcount }}|{{ 'abc'|center(7) }}|{{ 'abc'|center }}|", {}),
    (
        "{{ 'a\\nb'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2) }}|{{ 'a\\nb'|indent('> ') }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'a\\nb'|indent(first=true) }}|{{ 'a\\r\\nb\\n'|indent(1) }}",
        {},
    ),
    ("{{ 'x'|e }}{{ '<a&\\'\">'|e }}{{ '<'|escape }}{{ '<'|e|e }}{{ '<'|forceescape }}{{ '<'|safe }}{{ 5|e }}", {}),
    ("{{ 'a b&c/d'|urlencode }}|{{ {'a': 'b c', 'd': 1}|urlencode }}|{{ 'é'|urlencode }}", {}),
    (
        "{{ 'abcdefghij klmnop qrstuvwxyz'|truncate(12) }}|{{ 'abc'|truncate(5) }}|{{ 'abcdefghijkl'|truncate(5, true) }}|{{ 'abcdefghijkl'|truncate(5, end='!') }}|{{ 'abcdefgh'|truncate(5, leeway=0) }}",
        {},
    ),
    (
        "{{ 1234567|filesizeformat }}|{{ 1|filesizeformat }}|{{ 100|filesizeformat }}|{{ 1048576|filesizeformat(true) }}|{{ 1e30|filesizeformat }}",
        {},
    ),
    ("{{ {'a': 1, 'b': none, 'c': 'x<y'}|xmlattr }}|{{ {'a': 1}|xmlattr(false) }}", {}),
    ("{{ 'a'|xmlattr }}", {}),
    ("{{ x|split(',') }}", {"x": "a,b"}),
    ("{{ x|lines }}", {"x": "a\nb"}),
    ("{{ 'a'|bool }}", {}),
    ("{% if false %}{{ x|split(',') }}{% endif %}ok", {"x": "a"}),
    ("{{ x|split(',') if false else 'ok' }}", {"x": "a"}),
    ("{% if true %}{{ x|split(',') }}{% endif %}", {"x": "a"}),
    ("{% filter upper %}ab{{ 'c' }}{% endfilter %}{% set s | upper %}x{% endset %}{{ s }}", {}),
)

GLOBALS = cases(
    (
        "{% set ns = namespace(a=1) %}{% set ns.b = 2 %}{{ ns.a }}{{ ns.b }}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}",
        {},
    ),
    ("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.missing is defined }}", {}),
    ("{% set ns = namespace(_a=1) %}{{ ns._a }}", {}),
    ("{% set ns = namespace({'_a': 1}) %}", {}),
    ("{% set ns = namespace(a=1) %}{% set ns._b = 2 %}{{ ns._b }}", {}),
    ("{% set ns = namespace(a=1) %}{% if false %}{% set ns._b = 2 %}{% endif %}{{ ns.a }}", {}),
    ("{% set ns = namespace(k=1) %}{{ 'k' in ns }}", {}),
    ("{% set ns = namespace(k=1) %}{{ 'z' not in ns }}", {}),
    ("{% set ns = namespace(k=1) %}{% set key = 'k' %}{{ key in ns }}", {}),
    (
        "{% set ns = namespace() %}{{ ns }}{% set ns2 = namespace(a=1) %}{{ ns2 }}{{ ns2 is mapping }}{{ ns2 is iterable }}",
        {},
    ),
    (
        "{{ dict(a=1, b=2) }}{{ dict(a=1)['a'] }}{{ dict([('a', 1)]) }}{{ dict({'a': 1}, b=2) }}{{ dict() }}{{ dict(x, c=3) }}",
        {"x": {"a": 1}},
    ),
    ("{{ dict(1, 2) }}", {}),
    ("{{ dict([1]) }}", {}),
    (
        "{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(5, 0, -2)|list }}{{ range(3)|length }}{% for i in range(2, 4) %}{{ i }}{% endfor %}",
        {},
    ),
    ("{{ range(0, 3, 0)|list }}", {}),
    ("{{ range(200000)|length }}", {}),
    (
        "{% set j = joiner('|') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}{% set k = joiner() %}{{ k() }}{{ k() }}",
        {},
    ),
    (
        "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{{ c.reset() }}{{ c.current }}",
        {},
    ),
    ("{{ raise_exception('bad: ' ~ 1) }}", {}),
    (
        "{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%d %B %Y') }}|{{ strftime_now('%A %a %b %j %p %I %y %%') }}",
        {},
    ),
    (
        "{{ strftime_now('%Q|%-d|%^a|%Ey|%k|%P|%:z|%z|%Z|%f|%+|%c|%x|%X|%D|%F|%T|%r|%e|%_d|%0e|%#b|%3d|%-I %p|%U %W %V %G %u %w %C %h') }}",
        {},
    ),
    ("{{ debug() }}", {}),
    ("{{ lipsum is defined }}", {}),
)

LOOPS = cases(
    (
        "{% for c in 'abc' %}{{ loop.index }}/{{ loop.length }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.last }}/{{ loop.first }} {% endfor %}",
        {},
    ),
    ("{% for c in s %}{{ c }}{{ loop.length }}{{ loop.last }}{% endfor %}", {"s": "hé😀"}),
    (
        "{% for k in d %}{{ k }}{{ loop.length }}{{ loop.revindex }}{{ loop.last }} {% endfor %}",
        {"d": {"a": 1, "b": 2}},
    ),
    (
        "{% for k, v in d.items() %}{{ k }}{{ v }}{{ loop.length }}{{ loop.revindex }}{{ loop.last }} {% endfor %}",
        {"d": {"a": 1, "b": 2}},
    ),
    (
        "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{{ loop.last }}{{ loop.index }} {% endfor %}",
        {"xs": [1, 2, 3]},
    ),
    (
        "{% for x in xs %}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}{{ loop.depth }}{{ loop.changed(x) }} {% endfor %}",
        {"xs": [1, 2, 2]},
    ),
    (
        "{% for x in range(3) %}{{ x }}{% else %}none{% endfor %}{% for x in [] %}{{ x }}{% else %}none{% endfor %}{% for x in '' %}{{ x }}{% else %}empty{% endfor %}",
        {},
    ),
    (
        "{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
        {"xs": [1, 2, 3, 4, 5]},
    ),
    ("{% for i in range(3) %}{% set x = i %}{% endfor %}{{ x }}", {}),
    ("{% for x in undefined_var %}{{ x }}{% endfor %}ok", {}),
    ("{% for x in none %}{{ x }}{% endfor %}", {}),
    (
        "{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}{% for a, b in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}",
        {},
    ),
    (
        "{% for m in messages %}{{ loop.index0 }}{{ m.role }}{% for n in messages[loop.index:] %}{{ n.role }}{% endfor %};{% endfor %}",
        {},
    ),
    (
        "{% for a, b in ['ab', 'cd'] %}{{ a }}{{ b }}|{% endfor %}{% set x, y = 'xy' %}{{ x }}{{ y }}{% for k, (v, w) in [('k', 'vw')] %}{{ k }}{{ v }}{{ w }}{% endfor %}",
        {},
    ),
    ("{% for a, b in s %}{{ a }}{{ b }}{% endfor %}", {"s": ["ab", "c"]}),
    ("{% for a, b in 'ab' %}{{ a }}{{ b }}{% endfor %}", {}),
    ("{% set a, b = 'xyz' %}{{ a }}", {}),
    (
        "{% for x in [[1, [2]], [3]] recursive %}[{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}{% endif %}]{% endfor %}",
        {},
    ),
)

# Tuples given in the input stay tuples, as transformers' `_plain_template_data` keeps them.
TUPLE_INPUT = {
    "t": (1, "a", None),
    "one": ({"type": "text", "text": "hi"},),
    "empty": (),
    "nested": {"k": (1.5, [2, (3,)])},
}
TUPLES = cases(
    ("{{ t }}|{{ one }}|{{ empty }}|{{ nested }}|{{ t|string }}|{{ '' ~ t }}|{{ '%s' % (t,) }}|{{ [t] }}", TUPLE_INPUT),
    (
        "{{ t[0] }}{{ t[-1] }}{{ t[1:] }}{{ t[::-1] }}{{ t|length }}{{ t|first }}{{ t|last }}{{ t|list }}{{ t + (2,) }}{{ t * 2 }}{{ empty|length }}",
        TUPLE_INPUT,
    ),
    (
        "{{ t is sequence }}{{ t is iterable }}{{ t is string }}{{ t is mapping }}{{ t == [1, 'a', none] }}{{ t == (1, 'a', none) }}{{ 'a' in t }}{{ 2 in t }}{{ t.count(1) }}{{ t.index('a') }}{{ t.count is defined }}{{ t.append is defined }}",
        TUPLE_INPUT,
    ),
    (
        "{% for x in t %}{{ x }}{{ loop.length }}{{ loop.last }}{% endfor %}{% for p in one %}{{ p.type }}:{{ p['text'] }}{% endfor %}{% if empty %}x{% else %}empty{% endif %}",
        TUPLE_INPUT,
    ),
    ("{{ t|tojson }}{{ nested|tojson }}{{ one|tojson(indent=1) }}{{ empty|tojson }}", TUPLE_INPUT),
    ("{{ t|join(',') }}", TUPLE_INPUT),
    (
        "{{ one|map(attribute='text')|list }}{{ one|selectattr('type', 'equalto', 'text')|list }}{{ (3, 1, 2)|sort }}{{ t|reject('none')|list }}",
        TUPLE_INPUT,
    ),
    ("{% set a, b, c = t %}{{ a }}{{ b }}{{ c }}{% for x, y in [t[:2]] %}{{ x }}{{ y }}{% endfor %}", TUPLE_INPUT),
    ("{{ t < (1, 'b') }}{{ t[:2] < (1, 'b') }}", TUPLE_INPUT),
    ("{{ t < [1] }}", TUPLE_INPUT),
    ("{{ t + [1] }}", TUPLE_INPUT),
    ("{{ t.append(1) }}", TUPLE_INPUT),
    (
        "{% for part in one %}{% if part.type == 'text' %}{{ part.text }}{% endif %}{% endfor %}{{ one[0].text }}{{ one is string }}",
        TUPLE_INPUT,
    ),
)

MACROS_AND_BLOCKS = cases(
    ("{% macro m(a, b=2) %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, b=3) }}{{ m(a=5) }}", {}),
    ("{% macro m(a) %}{{ caller(a) }}{% endmacro %}{% call(x) m(1) %}<{{ x }}>{% endcall %}", {}),
    ("{% macro m() %}{{ x }}{% endmacro %}{% set x = 5 %}{{ m() }}", {}),
    ("{% macro m() %}x{% endmacro %}{{ m(1) }}", {}),
    ("{% with x = 1 %}{{ x }}{% endwith %}{{ x }}", {}),
    ("{% set s %}a{{ 1 }}{% endset %}{{ s }}{{ s|length }}", {}),
    ("{% do x.append(1) %}", {"x": []}),
    ("{%- do x -%}", {"x": []}),
    ("{% if false %}{% do x.append(1) %}{% endif %}", {"x": []}),
    ("{% include 'other.jinja' %}", {}),
    ("{% unknown_tag %}", {}),
    ("{{ messages[0].content }}{{ messages|length }}{{ messages[-1]['role'] }}{{ messages[5] is defined }}", {}),
)

LITERALS = cases(
    ("{{ 007 }}", {}),
    ("{{ 1. }}", {}),
    ("{{ .5 }}", {}),
    ("{{ 1.0/0 }}", {}),
    ("{{ 'abc'[::0] }}", {}),
    ("{{ s[:3] }}|{{ s[-2:] }}|{{ s[1] }}|{{ s|length }}|{{ s|reverse }}", {"s": "h😀é̃x"}),
    ("{% set x = y %}{{ x is defined }}{{ x }}|{% block b %}in block{% endblock %}", {}),
    (
        "{{ '\\n' }}|{{ '\\t' }}|{{ '\\\\' }}|{{ '\\'' }}|{{ \"\\\"\" }}|{{ '\\u00e9' }}|{{ '\\x41' }}|{{ '\\101' }}|{{ '\\d' }}|{{ '\\/' }}|{{ '\\r' }}|{{ '\\b' }}|{{ '\\U0001F600' }}|{{ '\\a' }}|{{ '\\0' }}|{{ '\\v' }}|{{ '\\f' }}",
        {},
    ),
    ("{{ 'a\\\nb' }}|{{ 'é\\é' }}|{{ \"it's\" }}|{{ 'a' 'b' \"c\" }}", {}),
    ("{{ '\\x4' }}", {}),
    ("{{ '\\U00110000' }}", {}),
    ("{{ 1_000 }}{{ 0.5 }}{{ 1e3 }}{{ 10 }}{{ -1 }}", {}),
    ("{{ [1, 2,] }}{{ {'a': 1,} }}{{ (1,) }}", {}),
)

SOURCES = cases(
    ("{% if true %}\r\na\r\n{% endif %}\r\nb", {}),
    ("{% if true %}\ra\r{% endif %}\rb\r", {}),
    ("{{ 'x' }}\r\n{# c\r\n #}\r\ny{{ 'a\r\nb' }}", {}),
    ("{% raw %}\n{{ x }}{% endraw %}\nB", {}),
    ("{% raw -%}\n  A{% endraw %}|{%- raw %} {{ y }} {% endraw -%} |", {}),
    ("a\n{% raw %}\n{% endraw %}\n", {}),
    ("text\n", {}),
    ("text\n\n", {}),
)


def _whitespace_cases():
    items = []
    for left, right in itertools.product(["", "-", "+"], repeat=2):
        items.append((f"<x>\n  {{%{left} if true {right}%}}\n  a\n  {{%{left} endif {right}%}}\n  b\n", {}))
        items.append((f"x  {{{{{left.replace('+', '')} 'v' {right.replace('+', '')}}}}}  y\n", {}))
        items.append((f"a\n  {{#{left} note {right}#}}\n  b\n", {}))
        items.append((f"a\n  {{%{left} set x = 1 {right}%}}\n  {{{{ x }}}}\n", {}))
        items.append((f"{{% for i in [1, 2] {right}%}}\n  {{{{ i }}}}\n{{%{left} endfor %}}\n", {}))
    items.append(("  {% if true %}\nx\n  {% endif %}\ny", {}))
    items.append(("a  {% if true %}x{% endif %}", {}))
    items.append(
        ("  {%- if true %}b{% endif %}\n  {%+ if true %}c{% endif %}\n  {% if true -%}\n  d\n  {%- endif +%}\n  e", {})
    )
    return cases(*items)


WHITESPACE = _whitespace_cases()


@pytest.mark.parametrize(("source", "variables"), TOJSON)
def test_tojson(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), GENERATORS)
def test_generators(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


def test_generators_print_as_python_generators(tokenizer_json):
    """jinja2 prints a generator with its address; fastmask prints a fixed one."""
    source = "{{ xs|map('upper') }}|{{ [xs|select] }}|{{ xs|rejectattr('a') ~ '' }}"
    variables = {"xs": []}
    address = re.compile(r" at 0x[0-9a-f]+>")
    expected = jinja2_render(source, variables)
    actual = fastmask_render(tokenizer_json, source, variables)
    assert expected[0] == actual[0] == "ok"
    assert address.sub(" at ADDRESS>", actual[1]) == address.sub(" at ADDRESS>", expected[1])
    assert actual == fastmask_render(tokenizer_json, source, variables), "the same text on every render"


@pytest.mark.parametrize(("source", "variables"), FLOATS_AND_PRINTING)
def test_printing(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), STR_METHODS)
def test_str_methods(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), CONTAINER_METHODS)
def test_dict_and_list_methods(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), PERCENT)
def test_percent_formatting(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), OPERATORS)
def test_operators(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), TESTS)
def test_tests(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), FILTERS)
def test_filters(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), GLOBALS)
def test_globals(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), LOOPS)
def test_loops(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), TUPLES)
def test_tuples_in_the_input(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), MACROS_AND_BLOCKS)
def test_macros_and_blocks(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@pytest.mark.parametrize(("source", "variables"), LITERALS)
def test_literals(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), SOURCES)
def test_line_endings_and_raw_blocks(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


@pytest.mark.parametrize(("source", "variables"), WHITESPACE)
def test_whitespace_control(tokenizer_json, source, variables):
    check(tokenizer_json, source, variables)


def test_do_is_a_syntax_error_naming_the_line(tokenizer_json):
    with pytest.raises(fastmask.TemplateSyntaxError, match=r"unknown tag 'do'.*line 2"):
        fastmask.ChatTokenizer.from_parts(tokenizer_json, "a\n{% do x.append(1) %}")


def test_raise_exception_message_is_passed_through(tokenizer_json):
    tokenizer = fastmask.ChatTokenizer.from_parts(tokenizer_json, "{{ raise_exception('Roles must alternate ' ~ 1) }}")
    with pytest.raises(fastmask.TemplateError, match="Roles must alternate 1"):
        tokenizer.render(MESSAGES)


def test_method_values_print_like_python_without_an_address(tokenizer_json):
    # jinja2 prints `<built-in method items of dict object at 0x7f...>`; the address cannot be matched.
    tokenizer = fastmask.ChatTokenizer.from_parts(tokenizer_json, "{{ d.items }}|{{ s.upper }}")
    text = tokenizer.render(MESSAGES, template_kwargs={"d": {"items": 1}, "s": "a"})[0]
    assert text == "<built-in method items of dict object>|<built-in method upper of str object>"


# Constructs fastmask refuses with a clear error, where jinja2 renders: a different output would be
# a silent divergence.
UNSUPPORTED = [
    pytest.param("{{ x|random }}", "filter 'random' is not supported", id="random"),
    pytest.param("{% if x %}{{ x|pprint }}{% endif %}", "filter 'pprint' is not supported", id="pprint"),
    pytest.param("{{ x|striptags }}", "filter 'striptags' is not supported", id="striptags"),
    pytest.param("{{ x|wordwrap(5) }}", "filter 'wordwrap' is not supported", id="wordwrap"),
    pytest.param("{{ x|urlize }}", "filter 'urlize' is not supported", id="urlize"),
    pytest.param("{{ '\\N{BULLET}' }}", r"\\N\{\.\.\.\} escapes are not supported", id="named-escape"),
    pytest.param("{% macro m() %}{{ varargs }}{% endmacro %}{{ m(1) }}", "reads `varargs`", id="varargs"),
    pytest.param("{% macro m() %}{{ kwargs }}{% endmacro %}{{ m(a=1) }}", "reads `kwargs`", id="kwargs"),
    pytest.param("{{ +3 }}", "syntax error", id="unary-plus"),
]


@pytest.mark.parametrize(("source", "message"), UNSUPPORTED)
def test_unsupported_constructs_fail_at_compile_time(tokenizer_json, source, message):
    assert jinja2_render(source, {"x": "a"})[0] == "ok"
    with pytest.raises(fastmask.TemplateSyntaxError, match=message):
        fastmask.ChatTokenizer.from_parts(tokenizer_json, source)


def test_integers_beyond_128_bits_fail_clearly(tokenizer_json):
    tokenizer = fastmask.ChatTokenizer.from_parts(tokenizer_json, "{{ 2 ** 130 }}")
    with pytest.raises(fastmask.TemplateError, match=r"2 \*\* 130"):
        tokenizer.render(MESSAGES)
