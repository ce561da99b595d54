"""Masks inferred from stock templates (mask_source="turns") against TRL's hand-tagged twins.

For every stock template in trl 1.16.0 that has a `*_training` twin, the masks inferred from the
stock template are compared with the masks of the twin's `{% generation %}` blocks on the corpus.
The tokenizer has one token per byte, so equal masks here mean equal spans to the byte, and so
equal masks under any tokenizer.

Each pair agrees under the options listed in OPTIONS, except where a template behaves in a way
documented in README.md ("Per-template notes") and pinned below: conversations a stock template
renders in a way turn inference refuses (REFUSED), conversations the twin renders differently
from the stock template (RENDERS), and spans the twin draws differently on the same text (SPANS).
Each of those is asserted exactly, by a predicate on the conversation or a check of the texts
and spans: an undocumented difference fails, and so does a documented refusal that no longer
happens.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from _support.corpus import CASES
from _support.trl_templates import all_templates

import fastmask

TEMPLATES = dict(all_templates())
if not TEMPLATES:
    pytest.fail("trl's templates are not installed: pip install --no-deps trl==1.16.0")

PAIRS = sorted(
    name[: -len("_training")]
    for name in TEMPLATES
    if name.endswith("_training") and name[: -len("_training")] in TEMPLATES
)
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}

HEADER = {"turn_start": "header"}
PREFILL = {"turn_start": "prefill"}
# stock template -> the turn options under which its turns equal the twin's generation blocks
OPTIONS: dict[str, dict] = {
    "cohere": {},
    "cohere2": {},
    "deepseek_r1_distill": HEADER,
    "deepseekv3": HEADER,
    "diffusion_gemma": {},
    "gemma": {},
    "gemma3": {},
    "glm4moe": {},
    "gptoss": HEADER,
    "idefics3": {},
    "lfm2": {},
    "lfm2_v2": {},
    "llama3": {},
    "llava_next": {"mask_separator": False},
    "muse_glimmer": HEADER,
    "nemotron_3_5_lightning": PREFILL,
    "nemotron_3_nano": PREFILL,
    "nemotron_3_super": PREFILL,
    "nemotron_3_ultra": PREFILL,
    "phi3": {},
    "phi3_5": {},
    "qwen2_5": {"mask_header_whitespace": True},
    "qwen2_5_vl": {},
    "qwen3": PREFILL,
    "qwen3_5_nothink": PREFILL,
    "qwen3_5_think": PREFILL,
    "qwen3_6": PREFILL,
    "qwen3_8": PREFILL,
    "qwen3_instruct_2507": {},
    "qwen3_vl": {},
    "smolvlm": {},
}

# Conversations refused with an error naming the message, as a predicate on the messages (so new
# corpus cases are classified too). Every template refuses a conversation that opens with an
# assistant turn (no prefix to infer its start from).
Messages = list[dict]


def has_reasoning(message: dict) -> bool:
    return any(
        isinstance(message.get(key), str) and message[key] for key in ("reasoning_content", "thinking", "reasoning")
    )


def assistant_indices(conv: Messages) -> list[int]:
    return [i for i, m in enumerate(conv) if m.get("role") == "assistant"]


def system_after_a_turn(conv: Messages) -> bool:
    """The template moves a later system message into the opening block, changing earlier text."""
    first = next(iter(assistant_indices(conv)), len(conv))
    return any(m.get("role") == "system" for m in conv[first:])


def reasoning_before_a_query(conv: Messages) -> bool:
    """The template drops an assistant turn's reasoning once a user message follows."""
    return any(
        has_reasoning(conv[i]) and any(m.get("role") == "user" for m in conv[i + 1 :]) for i in assistant_indices(conv)
    )


def consecutive_assistants(conv: Messages) -> bool:
    return any(a.get("role") == b.get("role") == "assistant" for a, b in zip(conv, conv[1:]))


def parallel_tool_calls(conv: Messages) -> bool:
    return any(len(m.get("tool_calls") or ()) > 1 for m in conv)


def gptoss_rewrites(conv: Messages) -> bool:
    """GPT-OSS renders each parallel call as its own message and moves a tool-calling turn's
    reasoning, so the turns after them cannot be verified by their contents. (Its other rewrites,
    `<|return|>` only on the final turn and reasoning dropped before a later turn, are trained
    with expand_turns=True.)"""
    return parallel_tool_calls(conv) or any(has_reasoning(m) and m.get("tool_calls") for m in conv)


REFUSED: dict[str, Callable[[Messages], bool]] = {
    "gptoss": gptoss_rewrites,
}


def opens_with_assistant(conv: Messages) -> bool:
    return bool(conv) and conv[0].get("role") == "assistant"


THINK_BLOCK = re.compile(r"<think>.*?</think>\n\n", re.S)


def without_think_blocks(text: str) -> str:
    return THINK_BLOCK.sub("", text)


def without_final_user_marker(text: str) -> str:
    return text.removesuffix("<|user|>")


def string_tool_arguments(conv: Messages) -> bool:
    return any(
        isinstance(call.get("function", {}).get("arguments"), str) for m in conv for call in m.get("tool_calls") or ()
    )


def think_tags_in_content(conv: Messages) -> bool:
    return any(m.get("role") == "assistant" and "</think>" in str(m.get("content")) for m in conv)


def orphan_tool_result(conv: Messages) -> bool:
    """A tool message whose nearest earlier non-tool message made no tool call."""
    for i, m in enumerate(conv):
        if m.get("role") == "tool":
            caller = next((n for n in reversed(conv[:i]) if n.get("role") != "tool"), {})
            if not caller.get("tool_calls"):
                return True
    return False


def tool_result_last_or_orphan(conv: Messages) -> bool:
    return (bool(conv) and conv[-1].get("role") == "tool") or orphan_tool_result(conv)


# Stock templates that rewrite a turn once later messages follow (they drop its reasoning, or its
# empty reasoning block, or end it with another token): conversations with such a turn are trained
# with expand_turns=True, row by row against the twin's rows.
REWRITES_TURNS = {
    "diffusion_gemma",
    "glm4moe",
    "gptoss",
    "nemotron_3_5_lightning",
    "nemotron_3_nano",
    "nemotron_3_super",
    "nemotron_3_ultra",
    "qwen3",
    "qwen3_5_nothink",
    "qwen3_5_think",
    "qwen3_6",
}


def prefill_shared_with_the_turn(ours: str, twin: str) -> bool:
    """A generation prompt that prefills `<think></think>` (thinking off) shares `<think>` with a
    turn written with reasoning, so the inferred turn starts after it; the twin's block starts at
    the line before."""
    return twin.endswith(ours) and twin[: len(twin) - len(ours)].strip() == "<think>"


# Expanded rows whose trained text differs from the twin's row in a documented way.
EXPANDED_SPANS: dict[str, Callable[[str, str], bool]] = {
    "glm4moe": prefill_shared_with_the_turn,
    # The twin's row for a final answer after parallel tool calls keeps only the block that closes
    # the turn: the twin renders the calling turn with more blocks once its tool responses follow,
    # so counting the earlier turns' blocks takes the answer's block as theirs. The inferred row
    # trains the reopened model turn and the answer.
    "diffusion_gemma": lambda ours, twin: ours.startswith("<|turn>model\n") and ours.endswith(twin),
    # A turn right after another assistant turn, with turn_start="header": the generation prompt
    # writes the earlier turn's `<|end|>` (where that turn, when last, ends with `<|return|>`)
    # just before the header, and the inferred header takes it in; the twin starts at `<|start|>`.
    "gptoss": lambda ours, twin: ours == "<|end|>" + twin,
}

# The twin renders differently: a normalisation that makes both texts equal (the documented
# behaviour), or a predicate saying which conversations the twin renders otherwise.
RENDERS: dict[str, tuple[Callable[[str], str] | None, Callable[[Messages], bool]]] = {
    # The twin keeps every assistant turn's reasoning; the stock template only after the last query.
    # Qwen3's twin also keeps the newlines of a content made only of newlines.
    "qwen3": (without_think_blocks, lambda conv: any(m.get("content") == "\n\n\n" for m in conv)),
    "qwen3_5_nothink": (without_think_blocks, lambda conv: False),
    "qwen3_5_think": (without_think_blocks, lambda conv: False),
    "qwen3_6": (without_think_blocks, lambda conv: False),
    # The twin closes each assistant turn with the next role marker, so a final one gets `<|user|>`.
    "glm4moe": (without_final_user_marker, lambda conv: consecutive_assistants(conv) or orphan_tool_result(conv)),
    # The stock template closes a tool turn followed by a generation prompt with <|END_OF_TURN_TOKEN|>.
    "cohere2": (None, tool_result_last_or_orphan),
    # The stock template drops an assistant content's text up to `</think>`.
    "deepseek_r1_distill": (None, think_tags_in_content),
    # The twin applies `tojson` to tool-call arguments given as a string.
    "deepseekv3": (None, string_tool_arguments),
}

TOOL_OUTPUTS_END = "<｜tool▁outputs▁end｜>"


def twin_adds_tool_outputs_end(text: str, ours: list[tuple[int, int]], twin: list[tuple[int, int]]) -> bool:
    """DeepSeek twins also train the `<｜tool▁outputs▁end｜>` that closes tool outputs before a turn."""
    moved = [(s - len(TOOL_OUTPUTS_END), e) if text[:s].endswith(TOOL_OUTPUTS_END) else (s, e) for s, e in ours]
    return moved == twin


def twin_skips_tool_responses(text: str, ours: list[tuple[int, int]], twin: list[tuple[int, int]]) -> bool:
    """DiffusionGemma renders a tool call's response inside the assistant turn: the stock template's
    turn takes in the `<|tool_response>` that closes the call and the `<|turn>model\n` that
    reopens the turn after the response; the twin trains neither."""
    covered = {i for s, e in twin for i in range(s, e)}
    ours_covered = {i for s, e in ours for i in range(s, e)}
    gaps = merged([(i, i + 1) for i in sorted(ours_covered - covered)])
    return covered <= ours_covered and all(text[s:e] in ("<|tool_response>", "<|turn>model\n") for s, e in gaps)


def twin_trains_next_role_marker(text: str, ours: list[tuple[int, int]], twin: list[tuple[int, int]]) -> bool:
    """GLM-4's twin ends a turn with the next message's role marker (GLM has no end-of-turn token)."""
    extended = [
        (s, e + len(m.group())) if (m := re.match(r"<\|(user|observation|system)\|>", text[e:])) else (s, e)
        for s, e in ours
    ]
    return extended == twin


# Same text, other spans: a check that the twin's spans are ours changed in the documented way.
SPANS: dict[str, Callable[..., bool]] = {
    "deepseek_r1_distill": twin_adds_tool_outputs_end,
    "deepseekv3": twin_adds_tool_outputs_end,
    "diffusion_gemma": twin_skips_tool_responses,
    "glm4moe": twin_trains_next_role_marker,
}


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent or overlapping spans as one: twins may close and reopen a block mid-turn."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif end > start:
            out.append((start, end))
    return out


@pytest.fixture(scope="module")
def byte_tokenizer() -> str:
    """A tokenizer.json with one token per byte and no merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {symbol: i for i, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Tokenizer(models.BPE(vocab, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer.to_str()


def chat(tokenizer_json: str, template: str) -> fastmask.ChatTokenizer:
    return fastmask.ChatTokenizer.from_parts(tokenizer_json, template, special_tokens=SPECIAL_TOKENS)


def test_every_trl_pair_is_covered():
    assert sorted(OPTIONS) == PAIRS


def compare_texts(stock: str, conv: Messages, text: str, twin_text: str) -> bool:
    """Whether the texts are equal; when they are not, asserts the documented difference."""
    normalise, renders_otherwise = RENDERS.get(stock, (None, lambda conv: False))
    if text != twin_text:
        if not renders_otherwise(conv):
            assert normalise is not None, "the twin renders differently"
            assert normalise(text) == normalise(twin_text)
        return False
    assert not renders_otherwise(conv), "the documented rendering difference is gone"
    return True


def compare_spans(stock: str, text: str, spans: list, twin_spans: list) -> bool:
    """Whether the spans are equal; when they are not, asserts the documented difference."""
    if merged(spans) != merged(twin_spans):
        check_spans = SPANS.get(stock)
        assert check_spans is not None and check_spans(text, merged(spans), merged(twin_spans))
        return False
    return True


def trained_text(text: str, spans: list) -> str:
    return "".join(text[s:e] for s, e in merged(spans))


@pytest.mark.parametrize("stock", PAIRS)
def test_turns_agree_with_trl_twin(byte_tokenizer, stock):
    """Each conversation gets masks equal to the twin's, or, when the stock template rewrites a
    turn once later messages follow (the error points to expand_turns=True), expanded rows equal
    to the twin's expanded rows: the same turns, and in each row the same trained text."""
    turns, tagged = chat(byte_tokenizer, TEMPLATES[stock]), chat(byte_tokenizer, TEMPLATES[stock + "_training"])
    assert not turns.has_generation and tagged.has_generation
    refuses = REFUSED.get(stock, lambda conv: False)
    refused, expected_refused, agreed, expanded = set(), set(), 0, set()
    for case in CASES:
        conv = case.conversation
        try:
            twin_text, twin_spans = tagged.render(conv, mask_source="generation", **case.kwargs)
            turns.render(conv, mask_source="turns", train_roles=[], **case.kwargs)
        except fastmask.FastmaskError:
            continue  # one of the templates rejects this conversation
        if opens_with_assistant(conv) or refuses(conv):
            expected_refused.add(case.name)
        try:
            text, spans = turns.render(conv, mask_source="turns", **OPTIONS[stock], **case.kwargs)
        except fastmask.FastmaskError as err:
            assert re.search(r"message \d+: ", str(err)), f"{case.name}: {err}"
            if "expand_turns=True" not in str(err):
                refused.add(case.name)
                continue
            expanded.add(case.name)
            if case.kwargs.get("add_generation_prompt"):
                continue  # expanded rows end with their trained turn, never with a prompt
            try:
                rows = turns.render_batch(
                    [conv], mask_source="turns", expand_turns=True, **OPTIONS[stock], **case.kwargs
                )
            except fastmask.FastmaskError as err:
                assert re.search(r"message \d+: ", str(err)), f"{case.name}: {err}"
                refused.add(case.name)
                continue
            twin_rows = tagged.render_batch([conv], mask_source="generation", expand_turns=True, **case.kwargs)
            assert [row[3] for row in rows] == [row[3] for row in twin_rows], case.name
            for (text, spans, _, turn), (twin_text, twin_spans, *_) in zip(rows, twin_rows):
                same_text = compare_texts(stock, conv[: turn + 1], text, twin_text)
                check_spans = SPANS.get(stock, lambda *spans: False)
                if same_text and check_spans(text, merged(spans), merged(twin_spans)):
                    continue
                normalise = RENDERS.get(stock, (None,))[0] or (lambda text: text)
                ours, twin = normalise(trained_text(text, spans)), normalise(trained_text(twin_text, twin_spans))
                if ours != twin:
                    assert EXPANDED_SPANS.get(stock, lambda ours, twin: False)(ours, twin), (case.name, ours, twin)
            continue
        if not compare_texts(stock, conv, text, twin_text) or not compare_spans(stock, text, spans, twin_spans):
            continue
        inferred = turns.encode(conv, mask_source="turns", **OPTIONS[stock], **case.kwargs)
        expected = tagged.encode(conv, mask_source="generation", **case.kwargs)
        assert inferred["assistant_masks"] == expected["assistant_masks"], case.name
        agreed += 1
    assert refused == expected_refused
    assert agreed >= 5, f"only {agreed} conversations agree"
    assert bool(expanded) == (stock in REWRITES_TURNS), sorted(expanded)


def test_auto_uses_tags_when_present(byte_tokenizer):
    tagged = chat(byte_tokenizer, TEMPLATES["qwen2_5_training"])
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert tagged.render(conv) == tagged.render(conv, mask_source="generation")
    stock = chat(byte_tokenizer, TEMPLATES["qwen2_5"])
    text, spans = stock.render(conv)
    assert [text[s:e] for s, e in spans] == ["a<|im_end|>\n"]
    with pytest.raises(fastmask.InputError, match="no \\{% generation %\\} blocks"):
        stock.render(conv, mask_source="generation")
