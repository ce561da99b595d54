"""`fastmask.MaskOptions`: one value for every option of a call, built once and checked once (in
Rust), equal to the keyword form wherever it is used, and picklable for worker processes and
`datasets`' fingerprints."""

from __future__ import annotations

import copy
import pickle

import pytest

import fastmask
from fastmask import _core

CONV = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Tell me a joke"},
    {"role": "assistant", "content": "Why did the chicken cross the road?"},
]
BATCH = [CONV, CONV[:2], CONV[:1] + [{"role": "assistant", "content": "Short."}]]
UNTAGGED = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Option sets a user builds once; each must encode exactly as the same keywords do.
VARIANTS = {
    "defaults": {},
    "padded_left": {"padding": True, "padding_side": "left", "ignore_index": -1},
    "truncated": {"max_length": 12, "truncation": True, "truncation_side": "left"},
    "max_length_numpy": {"padding": "max_length", "max_length": 24, "truncation": True, "return_tensors": "np"},
    "arrow": {"return_tensors": "arrow", "padding": True},
    "turns": {
        "mask_source": "turns",
        "last_turn_only": True,
        "mask_separator": False,
        "turn_start": "header",
        "num_threads": 1,
    },
    "sanitized": {"sanitize_control_tokens": True, "control_tokens": ["<|im_end|>"]},
}

# Invalid values: each is refused when the options are built, with the keyword form's message.
INVALID = [
    {"padding_side": "middle"},
    {"truncation_side": 3},
    {"padding": "sideways"},
    {"padding": 1},
    {"truncation": "only_second"},
    {"max_length": -1},
    {"max_length": True},
    {"max_length": 2.5},
    {"mask_source": "tags"},
    {"turn_start": "body"},
    {"train_roles": "assistant"},
    {"on_error": "ignore"},
    {"on_error": "collect", "return_tensors": "np"},
    {"return_tensors": "tf"},
    {"num_threads": 0},
    {"control_tokens": ["<|im_end|>"]},
    {"sanitize_control_tokens": True, "control_tokens": "<|im_end|>"},
]


def same(left: dict, right: dict) -> bool:
    """Equal outputs, whatever their type (lists, numpy arrays, pyarrow arrays)."""

    def plain(value):
        return (
            value.tolist() if hasattr(value, "tolist") else value.to_pylist() if hasattr(value, "to_pylist") else value
        )

    return left.keys() == right.keys() and all(plain(left[name]) == plain(right[name]) for name in left)


def test_built_once_and_normalized():
    options = fastmask.MaskOptions(mask_source="turns", padding=True, max_length=2048, train_roles=["assistant"])
    assert (options.mask_source, options.padding, options.max_length) == ("turns", "longest", 2048)
    assert options.train_roles == ("assistant",) and options.padding_side is None and options.on_error == "raise"
    assert repr(options) == "MaskOptions(mask_source='turns', max_length=2048, padding='longest')"
    assert repr(fastmask.MaskOptions()) == "MaskOptions()"
    assert eval(repr(options), {"MaskOptions": fastmask.MaskOptions}) == options
    with pytest.raises(AttributeError):
        options.padding = "max_length"  # frozen


def test_equal_options_compare_hash_and_pickle_equal():
    one = fastmask.MaskOptions(padding=True, max_length=8, train_roles=("assistant",), truncation="longest_first")
    two = fastmask.MaskOptions(truncation=True, max_length=8, padding="longest")
    assert one == two and hash(one) == hash(two) and len({one, two}) == 1
    assert pickle.dumps(one) == pickle.dumps(two)
    assert pickle.loads(pickle.dumps(one)) == one
    assert copy.deepcopy(one) == one and copy.copy(one) == one
    assert one != fastmask.MaskOptions(padding=True, max_length=9, truncation=True)
    everything = fastmask.MaskOptions(**{key: value for variant in VARIANTS.values() for key, value in variant.items()})
    assert pickle.loads(pickle.dumps(everything)) == everything


def test_equal_options_fingerprint_equal_in_datasets(chat_tokenizer):
    hasher = pytest.importorskip("datasets.fingerprint").Hasher
    from fastmask.datasets import encode_map

    assert hasher.hash(fastmask.MaskOptions(padding=True)) == hasher.hash(fastmask.MaskOptions(padding="longest"))
    assert hasher.hash(fastmask.MaskOptions(padding=True)) != hasher.hash(fastmask.MaskOptions())
    one = encode_map(chat_tokenizer, options=fastmask.MaskOptions(max_length=8, truncation=True))
    two = encode_map(chat_tokenizer, options=fastmask.MaskOptions(truncation="longest_first", max_length=8))
    assert hasher.hash(one) == hasher.hash(two)
    batch = {"messages": BATCH}
    mapped = [
        encoded(batch)["input_ids"] for encoded in (one, encode_map(chat_tokenizer, max_length=8, truncation=True))
    ]
    assert [[row.tolist() for row in rows] for rows in mapped] == [[row.tolist() for row in mapped[1]]] * 2


@pytest.mark.parametrize("invalid", INVALID, ids=lambda invalid: "-".join(map(str, invalid.items())))
def test_invalid_values_are_refused_when_built_as_in_a_call(chat_tokenizer, invalid):
    with pytest.raises(fastmask.InputError) as built:
        fastmask.MaskOptions(**invalid)
    with pytest.raises(fastmask.InputError) as called:
        chat_tokenizer.encode_batch([CONV], **invalid)
    assert str(built.value) == str(called.value)


def test_unknown_keywords():
    with pytest.raises(TypeError, match="MaskOptions\\(\\) got an unexpected keyword argument 'paddin'"):
        fastmask.MaskOptions(paddin=True)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_options_object_encodes_as_the_keywords(chat_tokenizer, name):
    keywords = VARIANTS[name]
    options = fastmask.MaskOptions(**keywords)
    assert same(chat_tokenizer.encode_batch(BATCH, options=options), chat_tokenizer.encode_batch(BATCH, **keywords))
    assert same(chat_tokenizer.encode(CONV, options=options), chat_tokenizer.encode(CONV, **keywords))


def test_one_object_serves_every_call(chat_tokenizer):
    # Fields a call does not take are ignored by it: one object for rendering, encoding and texts.
    options = fastmask.MaskOptions(
        padding=True,
        max_length=16,
        truncation=True,
        return_tensors="np",
        ignore_index=-1,
        mask_end_of_turn=False,
        num_threads=2,
    )
    assert chat_tokenizer.render(CONV, options=options) == chat_tokenizer.render(CONV, mask_end_of_turn=False)
    texts = [text for text, _ in chat_tokenizer.render_batch(BATCH)]
    expected = chat_tokenizer.encode_texts(texts, padding=True, max_length=16, truncation=True, return_tensors="np")
    assert same(chat_tokenizer.encode_texts(texts, options=options), expected)


def test_keywords_given_as_well_replace_fields(chat_tokenizer):
    options = fastmask.MaskOptions(padding=True, padding_side="left", max_length=10, truncation=True)
    out = chat_tokenizer.encode_batch(BATCH, options=options, padding_side="right", max_length=20)
    assert same(out, chat_tokenizer.encode_batch(BATCH, padding=True, max_length=20, truncation=True))
    assert options.padding_side == "left"  # the object is unchanged
    # A replaced field is checked like any other, and an invalid one fails the call.
    with pytest.raises(fastmask.InputError, match="^padding_side must be 'left' or 'right', got 'middle'$"):
        chat_tokenizer.encode_batch(BATCH, options=options, padding_side="middle")
    collect = fastmask.MaskOptions(on_error="collect")
    with pytest.raises(fastmask.InputError, match="collect"):
        chat_tokenizer.encode_batch(BATCH, options=collect, return_tensors="np")


def test_other_keywords_stay_template_variables(deepseek_json):
    tok = fastmask.ChatTokenizer.from_file(deepseek_json, chat_template="{{ greeting }}|{{ padding }}|{{ options }}")
    options = fastmask.MaskOptions(mask_source="turns", train_roles=(), padding=True)
    # `padding` is not an option of render: a template variable, as before.
    assert tok.render(CONV, options=options, greeting="hi", padding="p")[0] == "hi|p|"
    # A variable named like an option (or `options`) goes in template_kwargs.
    kwargs = {"options": "o", "padding": "p"}
    assert tok.render(CONV, options=options, template_kwargs=kwargs)[0] == "|p|o"
    with pytest.raises(fastmask.InputError, match="options must be a fastmask.MaskOptions, got str"):
        tok.render(CONV, options="o")
    with pytest.raises(TypeError, match="encode_texts\\(\\) got an unexpected keyword argument 'greeting'"):
        tok.encode_texts(["a"], greeting="hi")


def test_python_leaves_the_checks_to_the_core(chat_tokenizer, deepseek_json, chatml_template):
    import fastmask._tokenizer as layer

    for helper in ("_side", "_padding_strategy", "_truncation_flag", "_tokenization_options", "_wants_arrays"):
        assert not hasattr(layer, helper)
    assert not hasattr(fastmask.ChatTokenizer, "_masks")
    # The core's message is the user's, for call options and for the tokenizer's own defaults.
    with pytest.raises(fastmask.InputError) as core:
        _core.call_options("encode_batch", None, {"padding_side": "middle"})
    with pytest.raises(fastmask.InputError) as public:
        chat_tokenizer.encode_batch([CONV], padding=True, padding_side="middle")
    assert str(core.value) == str(public.value) == "padding_side must be 'left' or 'right', got 'middle'"
    with pytest.raises(fastmask.InputError, match="^truncation_side must be 'left' or 'right', got 'up'$"):
        fastmask.ChatTokenizer.from_file(deepseek_json, chat_template=chatml_template, truncation_side="up")


def test_the_tokenizer_s_defaults_apply_where_a_call_gives_none(deepseek_json, chatml_template):
    tok = fastmask.ChatTokenizer.from_file(
        deepseek_json,
        chat_template=chatml_template,
        special_tokens={"pad_token": "<｜end▁of▁sentence｜>"},
        padding_side="left",
        truncation_side="left",
        model_max_length=6,
    )
    out = tok.encode_batch(BATCH, options=fastmask.MaskOptions(padding=True, truncation=True))
    assert {len(row) for row in out["input_ids"]} == {6}
    full = tok.encode_batch(BATCH[:1])["input_ids"][0]
    assert out["input_ids"][0] == full[-6:]  # cut on the left
    short = tok.encode_batch(BATCH, padding=True)
    assert short["attention_mask"][2][0] == 0  # padded on the left
    unlimited = fastmask.ChatTokenizer.from_file(deepseek_json, chat_template=chatml_template, model_max_length=10**30)
    assert unlimited.encode(CONV, truncation=True) == unlimited.encode(CONV)
    with pytest.raises(fastmask.InputError, match="^model_max_length must be a non-negative int, got -1$"):
        fastmask.ChatTokenizer.from_file(deepseek_json, chat_template=chatml_template, model_max_length=-1)


def test_generation_without_blocks_is_refused_by_the_core(deepseek_json):
    tok = fastmask.ChatTokenizer.from_file(deepseek_json, chat_template=UNTAGGED)
    options = fastmask.MaskOptions(mask_source="generation")
    for call in (tok.render, tok.encode):
        with pytest.raises(fastmask.InputError, match="no \\{% generation %\\} blocks"):
            call(CONV, options=options)
    assert tok.render(CONV, options=options, mask_source="turns") == tok.render(CONV)


def test_collect_and_skip_from_an_options_object(chat_tokenizer):
    batch = [CONV, [{"role": "user", "content": "x"}, 7], CONV[:2]]
    collected = chat_tokenizer.encode_batch(batch, options=fastmask.MaskOptions(on_error="collect"))
    assert collected["input_ids"][1] is None and [index for index, _ in collected["errors"]] == [1]
    skipped = chat_tokenizer.encode_batch(batch, options=fastmask.MaskOptions(on_error="skip", padding=True))
    assert same(
        {k: v for k, v in skipped.items() if k != "errors"}, chat_tokenizer.encode_batch([CONV, CONV[:2]], padding=True)
    )
