"""encode_batch(on_error=...): a failing conversation costs only its own row, and each reported
error is the one that conversation raises on its own."""

from __future__ import annotations

import pytest

import fastmask

GOOD = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there, how can I help?"}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
    [{"role": "user", "content": "Name a colour"}, {"role": "assistant", "content": "Blue"}],
]
BAD = {
    1: "not a conversation",  # converting fails
    3: [{"role": "user", "content": "\ud800"}],  # lone surrogate
    4: [{"role": "user", "content": "x"}, 42],  # a message that is not a dict
}


def mixed() -> list:
    batch, good = [], iter(GOOD)
    for index in range(len(GOOD) + len(BAD)):
        batch.append(BAD[index] if index in BAD else next(good))
    return batch


def own_error(tok, conversation) -> fastmask.FastmaskError:
    with pytest.raises(fastmask.FastmaskError) as info:
        tok.encode_batch([conversation])
    return info.value


def test_skip_equals_encoding_the_good_rows(chat_tokenizer):
    out = chat_tokenizer.encode_batch(mixed(), on_error="skip", padding=True)
    expected = chat_tokenizer.encode_batch(GOOD, padding=True)
    assert {name: out[name] for name in expected} == expected
    assert [index for index, _ in out["errors"]] == sorted(BAD)
    for index, error in out["errors"]:
        alone = own_error(chat_tokenizer, BAD[index])
        assert type(error) is type(alone)
        assert str(error) == str(alone).replace("conversation 0:", f"conversation {index}:")


def test_collect_keeps_positions(chat_tokenizer):
    out = chat_tokenizer.encode_batch(mixed(), on_error="collect")
    expected = chat_tokenizer.encode_batch(GOOD)
    good = iter(range(len(GOOD)))
    for index in range(len(GOOD) + len(BAD)):
        row = None if index in BAD else next(good)
        for name in expected:
            assert out[name][index] == (None if row is None else expected[name][row])


def test_raise_names_the_first_failing_index(chat_tokenizer):
    with pytest.raises(fastmask.InputError, match="^conversation 1:"):
        chat_tokenizer.encode_batch(mixed())


def test_skip_with_numpy_and_template_errors(deepseek_json):
    tok = fastmask.ChatTokenizer.from_file(
        deepseek_json,
        chat_template="{% for m in messages %}{% if m.content == 'no' %}{{ raise_exception('refused') }}"
        "{% endif %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}",
        special_tokens={"pad_token": "<｜end▁of▁sentence｜>"},
    )
    batch = [[{"role": "user", "content": text}] for text in ("a b c d", "no", "e")]
    out = tok.encode_batch(batch, on_error="skip", padding=True, return_tensors="np")
    expected = tok.encode_batch([batch[0], batch[2]], padding=True, return_tensors="np")
    for name in expected:
        assert (out[name] == expected[name]).all()
    [(index, error)] = out["errors"]
    assert index == 1 and isinstance(error, fastmask.TemplateError) and "refused" in str(error)


def test_bad_policies(chat_tokenizer):
    with pytest.raises(fastmask.InputError, match="on_error"):
        chat_tokenizer.encode_batch(GOOD, on_error="ignore")
    with pytest.raises(fastmask.InputError, match="collect"):
        chat_tokenizer.encode_batch(GOOD, on_error="collect", padding=True, return_tensors="np")
