"""Sandbox escapes: templates reach no Python object, no file, and never change the caller's data."""

from __future__ import annotations

import copy
import os

import pytest

import fastmask

CONV = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]

# Each renders nothing that names a Python internal, or fails with a FastmaskError.
ESCAPES = [
    "{{ messages.__class__ }}",
    "{{ messages.__class__.__mro__[1].__subclasses__() }}",
    "{{ raise_exception.__globals__ }}",
    "{{ messages | attr('__class__') }}",
    "{{ (messages | attr('__class__')) | attr('__base__') }}",
    "{{ '{0.__class__}'.format(messages) }}",
    "{{ '{0.__class__.__mro__}'.format('x') }}",
    "{{ '{0[0].__class__}'.format(messages) }}",
    "{{ '%s' % messages.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler(1, 2).__class__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ namespace(_x=1) }}",
    "{{ self.__init__.__globals__ }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ config }}{{ request }}{{ self }}",
    "{{ range.__self__ }}",
    "{{ dict.__class__ }}",
    "{% include '/etc/passwd' %}",
    "{% import '/etc/passwd' as x %}",
    "{% extends '/etc/passwd' %}",
    "{% from '/etc/hostname' import x %}",
    "{% include 'CANARY' %}",
    "{{ strftime_now.__globals__ }}",
]
FORBIDDEN = ("class", "mro", "subclasses", "globals", "builtins", "root:", "module", "function", "uid=", "SECRET")


@pytest.fixture
def canary(tmp_path, monkeypatch):
    (tmp_path / "CANARY").write_text("SECRET", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("template", ESCAPES)
def test_escape_attempts_render_nothing_dangerous(deepseek_json, canary, template):
    before = sorted(os.listdir(canary))
    try:
        tok = fastmask.ChatTokenizer.from_file(deepseek_json, chat_template=template)
        text, _ = tok.render(CONV, mask_source="turns", train_roles=())
    except fastmask.FastmaskError as err:
        text = ""
        assert "SECRET" not in str(err) and "root:" not in str(err)
    assert not any(word in text for word in FORBIDDEN), text
    assert sorted(os.listdir(canary)) == before


MUTATIONS = [
    "{% set _ = messages.append({'role': 'x'}) %}",
    "{% set _ = messages[0].update({'content': 'changed'}) %}",
    "{% set _ = messages[0].pop('content') %}",
    "{% set _ = messages.pop() %}",
    "{% set _ = messages[0].clear() %}",
    "{% set _ = messages.reverse() %}",
    "{% set _ = messages[1].content.parts.append(1) %}",
    "{% set _ = tools.append(1) %}",
    "{% set _ = messages[0].setdefault('new', 1) %}",
    "{% set m = messages[0] %}{% set m.content = 'changed' %}",
]


@pytest.mark.parametrize("statement", MUTATIONS)
def test_caller_objects_are_unchanged(deepseek_json, statement):
    conversation = [
        {"role": "user", "content": "Hi", "meta": {"k": [1, 2]}},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
    ]
    tools = [{"name": "f"}]
    before = copy.deepcopy((conversation, tools))
    tok = fastmask.ChatTokenizer.from_file(
        deepseek_json, chat_template=statement + "{{ messages | length }}{{ messages[0] }}"
    )
    try:
        text, _ = tok.render(conversation, tools=tools, mask_source="turns", train_roles=())
    except fastmask.FastmaskError:
        pass
    else:
        assert "changed" not in text
    assert (conversation, tools) == before
