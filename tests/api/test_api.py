"""The public API's contract: errors, options, output shapes. Equality with transformers is in
test_differential.py; these tests pin down what fastmask promises on its own."""

from __future__ import annotations

import copy
import json
import threading

import pytest

import fastmask

CONV = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Tell me a joke"},
    {"role": "assistant", "content": "Why did the chicken cross the road?"},
]


def tagged(deepseek_json, template: str) -> fastmask.ChatTokenizer:
    return fastmask.ChatTokenizer.from_file(deepseek_json, chat_template=template)


# -- errors ---------------------------------------------------------------------------------------


def test_exception_hierarchy():
    for cls in (fastmask.TemplateSyntaxError, fastmask.TemplateError, fastmask.InputError, fastmask.TokenizerError):
        assert issubclass(cls, fastmask.FastmaskError)
    assert issubclass(fastmask.FastmaskError, ValueError)


def test_syntax_error_names_the_line(deepseek_json):
    with pytest.raises(fastmask.TemplateSyntaxError, match="line 3"):
        tagged(deepseek_json, "a\nb\n{% if %}")


def test_unclosed_generation_block_is_a_syntax_error(deepseek_json):
    with pytest.raises(fastmask.TemplateSyntaxError):
        tagged(deepseek_json, "{% generation %}x")


def test_raise_exception_message_and_index(deepseek_json):
    tok = tagged(
        deepseek_json, "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok"
    )
    batch = [CONV, CONV, [{"role": "system", "content": "x"}], CONV]
    with pytest.raises(fastmask.TemplateError, match=r"^conversation 2: first must be user$"):
        tok.encode_batch(batch)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_an_input_error_wins_over_template_errors_before_it(deepseek_json, num_threads):
    # Conversion overlaps the parallel work (batch::encode_produced), but the call reports what it
    # did when every conversation was converted first: the malformed conversation, not the
    # template error of an earlier one.
    tok = tagged(
        deepseek_json, "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok"
    )
    lone_surrogate = json.loads('"\\udfff"')
    batch = (
        [CONV, [{"role": "system", "content": "x"}]] + [CONV] * 200 + [[{"role": "user", "content": lone_surrogate}]]
    )
    batch += [CONV] * 50
    with pytest.raises(fastmask.InputError, match=r"^conversation 202: .*lone surrogate"):
        tok.encode_batch(batch, num_threads=num_threads)
    with pytest.raises(fastmask.TemplateError, match=r"^conversation 1: first must be user$"):
        tok.encode_batch(batch[:202], num_threads=num_threads)


def test_non_dict_message(chat_tokenizer):
    with pytest.raises(fastmask.InputError, match=r"conversation 1: message 1: must be a dict, got string"):
        chat_tokenizer.encode_batch([CONV, [CONV[0], "hello"]])


def test_empty_conversation(chat_tokenizer, deepseek_json):
    with pytest.raises(fastmask.InputError, match="empty"):
        chat_tokenizer.encode([])
    with pytest.raises(fastmask.InputError, match="empty"):
        chat_tokenizer.render([])
    # Inside a batch transformers renders an empty conversation; the template decides.
    counting = tagged(deepseek_json, "n={{ messages | length }}")
    rendered = counting.render_batch([CONV, []], train_roles=())  # no tags: nothing to infer
    assert [text for text, _ in rendered] == ["n=4", "n=0"]
    with pytest.raises(fastmask.TemplateError, match="conversation 1: undefined"):
        chat_tokenizer.encode_batch([CONV, []])  # this template reads messages[0].role


def test_bad_tools(chat_tokenizer):
    class Callable:
        def __call__(self):
            return 1

    with pytest.raises(fastmask.InputError, match=r"tools\[1\]"):
        chat_tokenizer.render(CONV, tools=[{"name": "f"}, Callable()])


def test_conversation_that_is_not_a_list(chat_tokenizer):
    with pytest.raises(fastmask.InputError, match=r"conversation 1: .*list of messages, got dict"):
        chat_tokenizer.encode_batch([CONV, {"role": "user"}])


def test_lone_surrogate_is_rejected_not_replaced(chat_tokenizer):
    bad = [{"role": "user", "content": json.loads('"a\\ud800b"')}]
    with pytest.raises(fastmask.InputError, match=r"conversation 0: message 0: key \"content\": .*surrogate"):
        chat_tokenizer.encode_batch([bad])


def test_too_deep_input_is_rejected(chat_tokenizer):
    deep: list = []
    node = deep
    for _ in range(1000):
        node.append([])
        node = node[0]
    with pytest.raises(fastmask.LimitError, match="nested deeper"):
        chat_tokenizer.encode_batch([[{"role": "user", "content": "x", "extra": deep}]])


def test_self_referencing_dict_is_rejected(chat_tokenizer):
    message = {"role": "user", "content": "x"}
    message["self"] = message
    with pytest.raises(fastmask.LimitError, match="contains itself"):
        chat_tokenizer.encode_batch([[message]])


def test_bad_tokenizer_json():
    with pytest.raises(fastmask.TokenizerError):
        fastmask.ChatTokenizer.from_parts("{not json", "x")


def test_unknown_pad_token(deepseek_json):
    with pytest.raises(fastmask.TokenizerError, match="pad token"):
        fastmask.ChatTokenizer.from_file(
            deepseek_json, chat_template="x", special_tokens={"pad_token": "<nope-not-a-token>"}
        )


def test_padding_without_pad_token(deepseek_json, chatml_template):
    tok = tagged(deepseek_json, chatml_template)
    with pytest.raises(fastmask.InputError, match="pad token"):
        tok.encode_batch([CONV], padding=True)


def test_bad_options(chat_tokenizer):
    with pytest.raises(fastmask.InputError, match="padding_side"):
        chat_tokenizer.encode_batch([CONV], padding=True, padding_side="middle")
    with pytest.raises(fastmask.InputError, match="return_tensors"):
        chat_tokenizer.encode_batch([CONV], return_tensors="tf")
    with pytest.raises(fastmask.InputError, match="max_length"):
        chat_tokenizer.encode_batch([CONV], max_length=-1, truncation=True)


def test_every_error_is_an_exception(chat_tokenizer):
    for bad in ([["x"]], "nope", [[{"role": "user", "content": json.loads('"\\udfff"')}]]):
        with pytest.raises(Exception):
            chat_tokenizer.encode_batch(bad)


# -- results --------------------------------------------------------------------------------------


def test_spans_cover_the_assistant_text(chat_tokenizer):
    text, spans = chat_tokenizer.render(CONV)
    assert [text[s:e] for s, e in spans] == [
        "Hello! How can I help?<|im_end|>",
        "Why did the chicken cross the road?<|im_end|>",
    ]


def test_encode_with_default_options_is_the_batch_row(chat_tokenizer):
    # `encode()` without options takes a shorter path to the core than `encode_batch`.
    short = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    batch = chat_tokenizer.encode_batch([CONV, short])
    for index, conversation in enumerate([CONV, short]):
        assert chat_tokenizer.encode(conversation) == {name: rows[index] for name, rows in batch.items()}
        assert chat_tokenizer.encode(conversation) == chat_tokenizer.encode(conversation, num_threads=1)
    with pytest.raises(fastmask.InputError, match=r"^conversation 0: a conversation must be a list"):
        chat_tokenizer.encode("not a conversation")
    with pytest.raises(fastmask.InputError, match=r"^conversation 0: message 0: must be a dict"):
        chat_tokenizer.encode([3])


def test_labels_follow_the_mask(chat_tokenizer):
    out = chat_tokenizer.encode(CONV, ignore_index=-1)
    assert len(out["input_ids"]) == len(out["assistant_masks"]) == len(out["labels"])
    assert 0 < sum(out["assistant_masks"]) < len(out["input_ids"])
    for token, mask, label in zip(out["input_ids"], out["assistant_masks"], out["labels"]):
        assert label == (token if mask else -1)


def test_masked_tokens_decode_to_the_assistant_text(chat_tokenizer, deepseek_json):
    from tokenizers import Tokenizer

    out = chat_tokenizer.encode(CONV)
    decoded = Tokenizer.from_file(str(deepseek_json)).decode(
        [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    )
    # "<|im_end|>" is plain text for this vocabulary, so its ">" merges with the newline after the
    # span into one token that overlaps the span: that newline is masked too, as in transformers.
    assert decoded == "Hello! How can I help?<|im_end|>\nWhy did the chicken cross the road?<|im_end|>\n"


def test_padding_and_truncation_sides(chat_tokenizer):
    short = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    full = chat_tokenizer.encode_batch([CONV, short])
    n_short = len(full["input_ids"][1])
    right = chat_tokenizer.encode_batch([CONV, short], padding=True)
    left = chat_tokenizer.encode_batch([CONV, short], padding="longest", padding_side="left")
    width = len(full["input_ids"][0])
    assert [len(r) for r in right["input_ids"]] == [width, width]
    assert right["input_ids"][1][:n_short] == full["input_ids"][1]
    assert left["input_ids"][1][width - n_short :] == full["input_ids"][1]
    assert left["attention_mask"][1] == [0] * (width - n_short) + [1] * n_short
    assert left["labels"][1][: width - n_short] == [-100] * (width - n_short)
    cut = chat_tokenizer.encode_batch([CONV], max_length=10, truncation=True, truncation_side="left")
    assert cut["input_ids"][0] == full["input_ids"][0][-10:]
    assert cut["assistant_masks"][0] == full["assistant_masks"][0][-10:]
    padded = chat_tokenizer.encode_batch([short], max_length=n_short + 3, padding="max_length")
    assert len(padded["input_ids"][0]) == n_short + 3


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("padding", [{"padding": True}, {"padding": "max_length", "max_length": 512}])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_numpy_output_equals_lists(chat_tokenizer, num_threads, padding, padding_side):
    # Arrays are padded while they are filled (src/matrix.rs), lists row by row: the same values.
    np = pytest.importorskip("numpy")
    batch = [CONV, CONV[:2], CONV[:1]] * 12  # more rows than one fill task takes
    kwargs = {**padding, "padding_side": padding_side, "num_threads": num_threads, "ignore_index": -5}
    lists = chat_tokenizer.encode_batch(batch, **kwargs)
    arrays = chat_tokenizer.encode_batch(batch, return_tensors="np", **kwargs)
    for name in fastmask._tokenizer.OUTPUT_NAMES:
        assert arrays[name].dtype == np.int64
        assert arrays[name].tolist() == lists[name]
    # Errors skipped: the rows that succeed, padded among themselves.
    bad = [{"role": "user", "content": "x"}, 7]
    skipped = chat_tokenizer.encode_batch(batch[:3] + [bad], return_tensors="np", on_error="skip", **kwargs)
    for name in fastmask._tokenizer.OUTPUT_NAMES:
        assert skipped[name].tolist() == chat_tokenizer.encode_batch(batch[:3], **kwargs)[name]
    with pytest.raises(fastmask.InputError, match="padding=True"):
        chat_tokenizer.encode_batch(batch, return_tensors="np")


def test_list_outputs_share_one_int_object_per_token_id(chat_tokenizer):
    # src/py/id_objects.rs: lists are built from the vocabulary's shared ints (ints above 256 are
    # distinct objects in CPython otherwise); values are what they were.
    first = chat_tokenizer.encode(CONV)
    second = chat_tokenizer.encode_batch([CONV, CONV], ignore_index=-1000)
    big = [k for k, token in enumerate(first["input_ids"]) if token > 256]
    assert big
    for k in big:
        assert second["input_ids"][0][k] is second["input_ids"][1][k] is first["input_ids"][k]
    assert second["input_ids"][0] == first["input_ids"]
    assert second["labels"][0] == [t if m else -1000 for t, m in zip(first["input_ids"], first["assistant_masks"])]


@pytest.mark.parametrize("return_tensors", [None, "np"])
def test_padding_beyond_memory_raises_instead_of_exhausting_it(chat_tokenizer, return_tensors):
    with pytest.raises(fastmask.LimitError, match="more than this machine's"):
        chat_tokenizer.encode_batch(
            [CONV, CONV], padding="max_length", max_length=10**12, return_tensors=return_tensors
        )


def test_torch_output(chat_tokenizer):
    try:
        import torch
    except ImportError:
        pytest.skip("torch is not installed (CI does not install a multi-GB torch)")
    out = chat_tokenizer.encode_batch([CONV], return_tensors="pt")
    assert isinstance(out["input_ids"], torch.Tensor)


def test_caller_objects_are_not_modified(chat_tokenizer):
    conv = [{"role": "user", "content": "x", "reasoning": None}, {"role": "assistant", "content": "y", "thinking": "t"}]
    before = copy.deepcopy(conv)
    chat_tokenizer.encode_batch([conv])
    assert conv == before


def test_threads_share_one_tokenizer(chat_tokenizer):
    batch = [CONV[: 2 * (i % 2 + 1)] for i in range(64)]
    expected = chat_tokenizer.encode_batch(batch)
    results: list = [None] * 8

    def work(slot: int) -> None:
        results[slot] = chat_tokenizer.encode_batch(batch)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


def test_immutable(chat_tokenizer):
    with pytest.raises(AttributeError):
        chat_tokenizer._core = None
    with pytest.raises(TypeError):
        fastmask.ChatTokenizer()


# Templates below print no messages, so there are no turns to infer: train_roles=() asks for none.


def test_pinned_clock(deepseek_json):
    import datetime

    tok = fastmask.ChatTokenizer.from_file(
        deepseek_json, chat_template="{{ strftime_now('%d %B %Y') }}", now=datetime.datetime(2024, 2, 29, 12, 0)
    )
    assert tok.render(CONV, train_roles=())[0] == "29 February 2024"


def test_clock_pinned_by_environment(deepseek_json, monkeypatch):
    monkeypatch.setenv("FASTMASK_NOW", "2023-12-31T23:59:00")
    tok = fastmask.ChatTokenizer.from_file(deepseek_json, chat_template="{{ strftime_now('%Y-%m-%d %H:%M') }}")
    assert tok.render(CONV, train_roles=())[0] == "2023-12-31 23:59"
    monkeypatch.setenv("FASTMASK_NOW", "yesterday")
    with pytest.raises(fastmask.InputError, match="FASTMASK_NOW must be an ISO date-time"):
        fastmask.ChatTokenizer.from_file(deepseek_json, chat_template="x")


def test_with_chat_template_shares_the_tokenizer(chat_tokenizer):
    import datetime

    other = chat_tokenizer.with_chat_template(
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{{ strftime_now('%Y') }}",
        now=datetime.datetime(2001, 1, 1),
    )
    expected = "".join(f"<{m['role']}>{m['content']}" for m in CONV) + "2001"
    assert other.render(CONV, train_roles=())[0] == expected
    # Same vocabulary and pad token; the original keeps its template.
    assert other.encode_texts(["Hello!"])["input_ids"] == chat_tokenizer.encode_texts(["Hello!"])["input_ids"]
    assert other.pad_token_id == chat_tokenizer.pad_token_id
    assert chat_tokenizer.has_generation and not other.has_generation
    with pytest.raises(fastmask.TemplateSyntaxError):
        chat_tokenizer.with_chat_template("{% if %}")
    # It pickles as its own parts: the shared tokenizer with the new template.
    import pickle

    again = pickle.loads(pickle.dumps(other))
    assert again.render(CONV, train_roles=())[0] == expected


def test_function_tools_without_transformers_fail_clearly(chat_tokenizer, monkeypatch):
    import sys

    def lookup(city: str) -> str:
        """
        Look a city up.

        Args:
            city: The city.
        """
        return city

    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` raises ImportError
    monkeypatch.setitem(sys.modules, "transformers.utils", None)
    with pytest.raises(
        fastmask.InputError, match=r"tools\[0\] is the function 'lookup'.*transformers is not installed"
    ):
        chat_tokenizer.render(CONV, tools=[lookup])


def test_from_pretrained_reads_a_model_directory(tmp_path, deepseek_json):
    (tmp_path / "tokenizer.json").write_bytes(deepseek_json.read_bytes())
    config = {
        "bos_token": {"content": "<｜begin▁of▁sentence｜>", "lstrip": False, "rstrip": False, "special": True},
        "eos_token": "<｜end▁of▁sentence｜>",
        "chat_template": [
            {"name": "default", "template": "D{{ bos_token }}{{ eos_token }}"},
            {"name": "tool_use", "template": "T{{ tools | length }}"},
        ],
        "padding_side": "left",
    }
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (tmp_path / "special_tokens_map.json").write_text(
        json.dumps({"pad_token": "<｜end▁of▁sentence｜>"}), encoding="utf-8"
    )
    tok = fastmask.ChatTokenizer.from_pretrained(tmp_path)
    assert tok.render(CONV, train_roles=())[0] == "D<｜begin▁of▁sentence｜><｜end▁of▁sentence｜>"
    assert tok.pad_token_id is not None
    tool = fastmask.ChatTokenizer.from_pretrained(tmp_path, chat_template="tool_use")
    assert tool.render(CONV, tools=[{"name": "f"}], train_roles=())[0] == "T1"
    (tmp_path / "chat_template.jinja").write_text("J{{ messages | length }}", encoding="utf-8")
    assert fastmask.ChatTokenizer.from_pretrained(tmp_path).render(CONV, train_roles=())[0] == "J4"


def test_template_kwargs_and_reserved_names(chat_tokenizer, deepseek_json):
    tok = tagged(deepseek_json, "{{ greeting }}{{ add_generation_prompt }}")
    assert tok.render(CONV, greeting="hey", add_generation_prompt=True, train_roles=())[0] == "heyTrue"
    with pytest.raises(fastmask.InputError, match="reserved"):
        tok.render(CONV, messages=[])
    # A template variable named like an option goes through template_kwargs.
    assert (
        tagged(deepseek_json, "{{ padding_side }}").render(CONV, template_kwargs={"padding_side": "v"}, train_roles=())[
            0
        ]
        == "v"
    )


def test_num_threads(chat_tokenizer):
    batch = [CONV[: 2 * (i % 2 + 1)] for i in range(40)]
    assert chat_tokenizer.encode_batch(batch, num_threads=1) == chat_tokenizer.encode_batch(batch, num_threads=3)
    with pytest.raises(fastmask.InputError, match="num_threads"):
        chat_tokenizer.encode_batch(batch, num_threads=0)


def test_fork_after_use_does_not_deadlock(chat_tokenizer):
    import multiprocessing

    expected = chat_tokenizer.encode_batch([CONV] * 8)  # the parent's pool now exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_encode_in_child, args=(chat_tokenizer, [CONV] * 8, queue))
    child.start()
    result = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert result == expected


def _encode_in_child(tokenizer, batch, queue):
    queue.put(tokenizer.encode_batch(batch))
