"""A deterministic conversation corpus and hypothesis strategies for the differential suite.

Each `Case` is a conversation plus the keyword arguments `apply_chat_template` receives with it
(`add_generation_prompt`, `tools`, `documents` and template variables such as `enable_thinking`).
The corpus is written to reach the places where a Jinja port tends to differ from jinja2 and
where masks tend to go wrong: turn boundaries, whitespace that templates trim, characters that
are several code points or several UTF-8 bytes, tool calls rendered through `tojson`, reasoning
fields and their aliases, content given as parts, and inputs some templates reject.

Templates differ in what they accept (a system message, non-alternating roles, tool shapes); a
case that transformers rejects for a template is compared as "both raise".
"""

from __future__ import annotations

import copy
import datetime
import math
from dataclasses import dataclass, field
from typing import Any

# The date `strftime_now` reads in conformance runs and the differential tests: both engines are
# pinned to it (transformers reads `datetime.now()`, fastmask takes `now=`), so templates that
# print today's date render reproducibly.
PINNED_NOW = datetime.datetime(2025, 3, 14, 15, 9, 26)

# -- building blocks ------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
            },
            "required": ["city"],
        },
    },
}

ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "number", "description": "First addend"},
                "b": {"type": "number", "description": "Second addend"},
            },
            "required": ["a", "b"],
        },
        "return": {"type": "number", "description": "The sum"},
    },
}

# Non-ASCII descriptions, nested schemas, defaults and numbers that `tojson` must print as Python does.
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_web",
        "description": "Recherche sur le web — 検索する. Returns <b>snippets</b> & links; 'quoted' \"text\".",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Requête / クエリ 🔍"},
                "limit": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
                "threshold": {"type": "number", "default": 0.5},
                "filters": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"site": {"type": "string"}, "lang": {"type": "string"}}},
                },
                "safe": {"type": "boolean", "default": True},
                # mixed-case keys: `dictsort` and `items` order them differently
                "Zeta": {"type": "string"},
                "alpha": {"type": "string"},
                "Beta": {"type": "string", "nullable": True},
                "_private": {"type": "string"},
            },
            "required": ["query"],
        },
    },
}

TOOLS = [WEATHER_TOOL, ADD_TOOL]


# Tools given as Python functions: transformers converts them with `get_json_schema` (docstring
# and type hints), and so does fastmask.
def get_current_time(timezone: str, format: str = "iso", include_seconds: bool = True) -> str:
    """
    Get the current time in a time zone, e.g. "Europe/Paris" or 'Asia/Tokyo' (<b>IANA</b> names & aliases).

    Args:
        timezone: An IANA time zone name — "Europe/Paris", 東京 → "Asia/Tokyo".
        format: The output format, either "iso" or "unix".
        include_seconds: Whether the time shows seconds.

    Returns:
        The current time in that zone.
    """
    raise NotImplementedError("a schema source, never called")


class Calculator:
    """Holds a bound method, which transformers also accepts as a tool."""

    def scale(self, values: list[float], factor: float, labels: dict[str, int]) -> list[float]:
        """
        Multiply every value by a factor.

        Args:
            values: The numbers to scale.
            factor: The multiplier, e.g. 0.1 or 1e-05.
            labels: Names for the values, mapped to their positions.
        """
        raise NotImplementedError("a schema source, never called")


FUNCTION_TOOLS = [get_current_time, Calculator().scale]


def call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    """An OpenAI-style tool call, as transformers documents it."""
    out: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        out["id"] = call_id
    return out


def tool_result(content: str, name: str, call_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "tool", "name": name, "content": content}
    if call_id is not None:
        out["tool_call_id"] = call_id
    return out


def u(content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": "user", "content": content, **extra}


def a(content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, **extra}


def s(content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": "system", "content": content, **extra}


def parts(*texts: str) -> list[dict[str, str]]:
    """Content given as a list of text parts."""
    return [{"type": "text", "text": text} for text in texts]


# Strings that are several code points, or several bytes per code point.
CJK = "你好，世界！今日は良い天気ですね。안녕하세요, 반갑습니다. 漢字かなカナ한글"
EMOJI_ZWJ = "Family: 👨\u200d👩\u200d👧\u200d👦, flag: 🇫🇷, skin tone: 👍🏽, rainbow flag: 🏳️\u200d🌈, keycap: 1️⃣"
COMBINING = (
    "Cafe\u0301 (decomposed), café (composed), n\u0303, Z\u0335\u0321a\u0336\u0322l\u0337g\u0338o, "
    "देवनागरी, مرحبا بالعالم"
)
CONTROL = (
    "tab\there, CRLF\r\nline, vertical\x0btab, form\x0cfeed, line\u2028separator, nbsp\u00a0space, zero\u200bwidth"
)
JINJA_LIKE = "Literal {{ messages }} and {% if true %}tags{% endif %} and {# comment #} and {% generation %}."


@dataclass(frozen=True)
class Case:
    """One conversation with the keyword arguments it is rendered with."""

    name: str
    conversation: list[dict[str, Any]]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def fresh(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Deep copies of the conversation and kwargs, so no engine can leak edits into another."""
        return copy.deepcopy(self.conversation), copy.deepcopy(self.kwargs)

    @property
    def add_generation_prompt(self) -> bool:
        return bool(self.kwargs.get("add_generation_prompt", False))

    @property
    def continues_final_message(self) -> bool:
        """`continue_final_message` is an `apply_chat_template` option, not a `ChatTokenizer` one."""
        return bool(self.kwargs.get("continue_final_message", False))


def _cases() -> list[Case]:
    weather_call = call("get_weather", {"city": "Paris", "unit": "celsius"}, "call_1")
    add_call = call("add", {"a": 2, "b": 3.5}, "call_2")
    return [
        # -- basic shapes
        Case("single_turn", [u("Hi there"), a("Hello! How can I help?")]),
        Case("system_single_turn", [s("You are a helpful assistant."), u("What is 2+2?"), a("2+2 equals 4.")]),
        Case(
            "three_turns",
            [
                u("Name a fruit."),
                a("Apple."),
                u("Another one?"),
                a("Banana."),
                u("And a vegetable?"),
                a("Carrot."),
            ],
        ),
        Case(
            "eight_turns_with_system",
            [s("Answer briefly.")]
            + [m for i in range(8) for m in (u(f"Question {i}: what is {i} squared?"), a(f"{i * i}."))],
        ),
        Case("generation_prompt_only_user", [u("Write a haiku about rain.")], {"add_generation_prompt": True}),
        Case(
            "generation_prompt_after_history",
            [s("Be terse."), u("Hi"), a("Hello."), u("Bye")],
            {"add_generation_prompt": True},
        ),
        Case("ends_with_user_no_prompt", [u("Hi"), a("Hello."), u("Are you there?")]),
        Case("user_only", [u("Just a user message.")]),
        Case("system_only", [s("A lone system message.")]),
        Case(
            "multiline_markdown",
            [
                u("Show me Python code for fizzbuzz."),
                a(
                    "Here you go:\n\n```python\nfor i in range(1, 16):\n    if i % 15 == 0:\n"
                    "        print('FizzBuzz')\n    elif i % 3 == 0:\n        print('Fizz')\n    else:\n"
                    "        print(i)\n```\n\n- item one\n- item two\n"
                ),
            ],
        ),
        Case(
            "long_content",
            [u("Repeat a paragraph."), a(("The quick brown fox jumps over the lazy dog. " * 60).strip())],
        ),
        # -- empty strings and whitespace at turn boundaries
        Case("empty_assistant", [u("Say nothing."), a("")]),
        Case("empty_user", [u(""), a("You said nothing.")]),
        Case("empty_system", [s(""), u("Hi"), a("Hello.")]),
        Case("whitespace_only_assistant", [u("Spaces?"), a("   \n\t \n")]),
        Case(
            "whitespace_at_boundaries",
            [
                s("  \nSystem with surrounding whitespace\n\n"),
                u("\n\n  leading and trailing  \n"),
                a("  \n\nAnswer with blank lines around it.\n\n  "),
                u(" x "),
                a("\ny\n"),
            ],
        ),
        Case("newline_only_turns", [u("\n"), a("\n"), u("\n\n"), a("\n\n\n")]),
        Case("trailing_space_assistant", [u("Count"), a("one two three ")]),
        # -- characters
        Case("cjk", [s("请用中文回答。"), u(CJK), a("好的！" + CJK)]),
        Case("emoji_zwj", [u("Describe these: " + EMOJI_ZWJ), a(EMOJI_ZWJ + " 🎉")]),
        Case("combining_marks", [u(COMBINING), a(COMBINING[::-1])]),
        Case("control_characters", [u(CONTROL), a(CONTROL.upper())]),
        Case(
            # Python's str.strip() also strips \x1c-\x1f and \x85; Rust's trim() does not.
            "unicode_whitespace_boundaries",
            [
                u("\u3000\x1c full-width and separators \x1f\x85"),
                a("\u2003em-space answer\u00a0\x1e"),
                u("\x1d\u2029"),
                a("\u205f\u180e ok \ufeff"),
            ],
        ),
        Case("jinja_like_content", [u(JINJA_LIKE), a(JINJA_LIKE)]),
        Case(
            "quotes_and_backslashes",
            [u("He said \"hi\" and 'bye' with a \\ backslash and \\n escape."), a('{"json": "like", "n": 1}')],
        ),
        Case(
            "special_tokens_in_content",
            [
                u("Tokens: <|im_end|> <|im_start|> <｜end▁of▁sentence｜> <eos> </s> <|eot_id|> [INST]"),
                a("Echo: <|im_end|><｜end▁of▁sentence｜><|eot_id|>"),
            ],
        ),
        # -- content as a list of parts
        Case("content_parts", [u(parts("Hello from parts.")), a(parts("Reply from parts."))]),
        Case(
            "content_parts_multi",
            [s(parts("System part.")), u(parts("First part. ", "Second part.")), a(parts("Answer ", "in ", "pieces."))],
        ),
        Case("content_parts_user_only", [u(parts("Parts user.")), a("Plain assistant.")]),
        # transformers keeps tuples as tuples: a template that prints the content shows `(...,)`
        Case("content_parts_tuple", [u(({"type": "text", "text": "Tuple of parts."},)), a("Plain assistant.")]),
        # `'...' + content` raises in Python for non-strings; printing them must look like Python
        Case("non_string_content", [u(42), a(3.5), u(True), a(None)]),
        # (vision templates index `content[0]` and select parts by type, so they need parts everywhere)
        Case(
            "parts_multi_turn_system",
            [s(parts("Be brief.")), u(parts("Q1?")), a(parts("A1.")), u(parts("Q2?")), a(parts("A2."))],
        ),
        Case(
            "parts_with_image",
            [u([{"type": "image"}, {"type": "text", "text": "What is in this image?"}]), a(parts("A cat on a mat."))],
        ),
        Case(
            "parts_two_images_vision_ids",
            [
                u(
                    [
                        {"type": "image", "url": "a.png"},
                        {"type": "image", "url": "b.png"},
                        {"type": "text", "text": "Compare."},
                    ]
                ),
                a(parts("The first is brighter.")),
            ],
            {"add_vision_id": True},
        ),
        Case(
            "parts_whitespace_unicode",
            [u(parts("  \n" + CJK + "\n")), a(parts("\n" + EMOJI_ZWJ + "  ")), u(parts(COMBINING)), a(parts(" \n"))],
        ),
        Case("parts_generation_prompt", [u(parts("Describe the weather."))], {"add_generation_prompt": True}),
        Case("parts_empty_text", [u(parts("")), a(parts(""))]),
        # -- roles that some templates reject
        Case("consecutive_assistant", [u("Hi"), a("First."), a("Second.")]),
        Case("consecutive_user", [u("One"), u("Two"), a("Both received.")]),
        Case("starts_with_assistant", [a("I speak first."), u("OK"), a("Good.")]),
        Case("system_in_middle", [u("Hi"), a("Hello."), s("New instructions."), u("Again"), a("Sure.")]),
        Case("two_system_messages", [s("First system."), s("Second system."), u("Hi"), a("Hello.")]),
        # -- tools
        Case("tools_defined_plain_chat", [u("Hi"), a("Hello.")], {"tools": TOOLS}),
        Case(
            "tools_rich_schema",
            [s("Use tools when needed."), u("Hi"), a("Hello.")],
            {"tools": [SEARCH_TOOL, WEATHER_TOOL]},
        ),
        Case(
            "tool_call_round_trip",
            [
                s("You can call tools."),
                u("What's the weather in Paris?"),
                a("", tool_calls=[weather_call]),
                tool_result('{"temperature": 21, "condition": "sunny"}', "get_weather", "call_1"),
                a("It is 21 °C and sunny in Paris."),
            ],
            {"tools": TOOLS},
        ),
        Case(
            "tool_call_without_content_key",
            [
                u("Add 2 and 3.5"),
                {"role": "assistant", "tool_calls": [add_call]},
                tool_result("5.5", "add", "call_2"),
                a("The sum is 5.5."),
            ],
            {"tools": TOOLS},
        ),
        Case(
            "parallel_tool_calls",
            [
                u("Weather in Paris and Tokyo, and 2+3.5?"),
                a(
                    "Let me check.",
                    tool_calls=[
                        weather_call,
                        call("get_weather", {"city": "東京", "unit": "celsius"}, "call_3"),
                        add_call,
                    ],
                ),
                tool_result('{"temperature": 21}', "get_weather", "call_1"),
                tool_result('{"temperature": 18, "note": "雨"}', "get_weather", "call_3"),
                tool_result("5.5", "add", "call_2"),
                a("Paris 21 °C, Tokyo 18 °C (rain); 2+3.5 = 5.5."),
            ],
            {"tools": TOOLS},
        ),
        Case(
            "tool_call_then_generation_prompt",
            [
                u("Weather in Paris?"),
                a("", tool_calls=[weather_call]),
                tool_result('{"temperature": 21}', "get_weather", "call_1"),
            ],
            {"tools": TOOLS, "add_generation_prompt": True},
        ),
        Case(
            "tool_arguments_numbers_and_unicode",
            [
                u("Search."),
                a(
                    "",
                    tool_calls=[
                        call(
                            "search_web",
                            {
                                "query": "café «naïve» 検索 😀 <tag> & 'q'",
                                "limit": 3,
                                "threshold": 1e-05,
                                "big": 1e16,
                                "ratio": 0.1,
                                "neg": -2.5,
                                "safe": False,
                                "nothing": None,
                                "filters": [{"site": "example.org", "lang": "fr"}, {}],
                                "nested": {"z": 1, "a": [True, None, 2.0]},
                                "Zeta": "upper",
                                "alpha": "lower",
                            },
                            "call_9",
                        )
                    ],
                ),
                tool_result("[]", "search_web", "call_9"),
                a("Nothing found."),
            ],
            {"tools": [SEARCH_TOOL]},
        ),
        Case(
            "tool_arguments_edge_values",
            [
                u("Edge values."),
                a(
                    None,
                    tool_calls=[
                        call(
                            "add",
                            {
                                "huge": 2**70,
                                "negzero": -0.0,
                                "one": 1.0,
                                "precise": 123456789.123456789,
                                "e22": 1e22,
                                "small": 1.5e-7,
                                "inf": math.inf,
                                "ninf": -math.inf,
                                "nan": math.nan,
                                "int_keys": {1: "a", 2: [1, {"x": None}]},
                                "città": "Zürich",
                                "都市": "東京",
                                "emoji🙂": "✓",
                            },
                            "call_5",
                        )
                    ],
                ),
                {"role": "tool", "tool_call_id": "call_5", "name": "add", "content": {"status": "ok", "value": 1.0}},
                a("Done."),
            ],
            {"tools": TOOLS},
        ),
        Case(
            "tool_arguments_as_json_string",
            [
                u("Weather?"),
                a("", tool_calls=[call("get_weather", '{"city": "Paris"}', "call_1")]),
                tool_result("21", "get_weather", "call_1"),
                a("21 degrees."),
            ],
            {"tools": TOOLS},
        ),
        Case(
            "tool_call_with_reasoning",
            [
                u("Weather in Paris?"),
                a("", reasoning_content="I should call the weather tool.", tool_calls=[weather_call]),
                tool_result('{"temperature": 21}', "get_weather", "call_1"),
                a("It is 21 °C.", reasoning_content="The tool said 21."),
            ],
            {"tools": TOOLS},
        ),
        Case(
            "tool_response_without_call",
            [u("Hi"), tool_result("orphan result", "get_weather", "call_x"), a("Hm.")],
            {"tools": TOOLS},
        ),
        # -- reasoning
        Case(
            "reasoning_content",
            [u("What is 17*3?"), a("51.", reasoning_content="17*3 = 51. Double-check: 17*3 = 51.")],
        ),
        Case(
            "reasoning_multi_turn",
            [
                s("Think step by step."),
                u("2+2?"),
                a("4", reasoning_content="Two plus two is four."),
                u("Times 3?"),
                a("12", reasoning_content="\n4*3 = 12\n"),
            ],
        ),
        Case("reasoning_alias_thinking", [u("Hi"), a("Hello.", thinking="Greet back.")]),
        Case("reasoning_alias_reasoning", [u("Hi"), a("Hello.", reasoning="Greet back politely.")]),
        Case("think_tags_in_content", [u("Hi"), a("<think>\nInline reasoning.\n</think>\n\nVisible answer.")]),
        Case("empty_reasoning", [u("Hi"), a("Hello.", reasoning_content="")]),
        Case(
            "enable_thinking_false",
            [u("Quick answer: capital of France?")],
            {"add_generation_prompt": True, "enable_thinking": False},
        ),
        Case(
            "enable_thinking_true_history",
            [u("1+1?"), a("2", reasoning_content="one plus one"), u("2+2?"), a("4")],
            {"enable_thinking": True},
        ),
        Case(
            "thinking_kwargs_variants",
            [u("Explain gravity briefly."), a("Mass attracts mass.", reasoning_content="Keep it short.")],
            {
                "reasoning_effort": "low",
                "truncate_history_thinking": False,
                "preserve_thinking": True,
                "model_identity": "You are FastMask, a test model.",
            },
        ),
        # -- documents and extra keys
        Case(
            "documents",
            [u("What do the documents say?"), a("They talk about cats and dogs.")],
            {"documents": [{"title": "Cats", "text": "Cats purr."}, {"title": "Dogs", "text": "Dogs bark. 🐕"}]},
        ),
        Case(
            "template_kwargs_override_special_tokens",
            [u("Hi"), a("Hello.")],
            {"bos_token": "<BOS-OVERRIDE>", "eos_token": "<EOS-OVERRIDE>", "date_string": "26 Jul 2024"},
        ),
        Case(
            "extra_message_keys",
            [u("Hi", name="alice"), a("Hello Alice.", name="bot", id="msg_1"), u("Bye", metadata={"k": [1, 2]})],
        ),
        # -- tools as Python functions, converted by transformers' get_json_schema
        Case(
            "tools_as_functions",
            [
                u("What time is it in Tokyo? Then scale [1, 2] by 0.5."),
                a("", tool_calls=[call("get_current_time", {"timezone": "Asia/Tokyo"}, "call_t")]),
                tool_result("2025-03-14T15:09:26+09:00", "get_current_time", "call_t"),
                a("", tool_calls=[call("scale", {"values": [1, 2], "factor": 0.5, "labels": {"a": 0}}, "call_s")]),
                tool_result("[0.5, 1.0]", "scale", "call_s"),
                a("It is 15:09 in Tokyo; scaled: [0.5, 1.0]."),
            ],
            {"tools": FUNCTION_TOOLS},
        ),
        Case("tools_functions_and_schemas_mixed", [u("Hi"), a("Hello.")], {"tools": [WEATHER_TOOL, get_current_time]}),
        Case(
            "tool_arguments_escapes",
            [
                u("Store this."),
                a(
                    "",
                    tool_calls=[
                        call(
                            "store",
                            {
                                "text": "He said \"hi\" & 'bye' </script> <tool_call> C:\\path\\file \\n",
                                "controls": "\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\x85\u2028\u2029",
                                "big_ints": [2**63, -(2**63) - 1, 2**64, -(2**70)],
                                "floats": [0.1, 1e-05, 1e16, 1e-7, 3.0, -1.5e300],
                                "flags": [True, False, None],
                                "ключ": {"κλειδί": "値", "": "empty key"},
                            },
                            "call_e",
                        ),
                    ],
                ),
                tool_result('{"stored": true, "path": "C:\\\\tmp"}', "store", "call_e"),
                a("Stored."),
            ],
            {"tools": TOOLS},
        ),
        # (a case of its own: some templates refuse string arguments, others several calls)
        Case(
            "tool_arguments_json_string_escapes",
            [
                u("Store this too."),
                a(
                    "",
                    tool_calls=[
                        call(
                            "store",
                            '{"text": "a \\"quoted\\" \\u00e9 \\n string", "n": 1e-05, "ok": true, "none": null}',
                            "call_f",
                        )
                    ],
                ),
                tool_result("ok", "store", "call_f"),
                a("Stored."),
            ],
            {"tools": TOOLS},
        ),
        Case(
            "tool_calls_tuple",
            [u("Weather?"), a("", tool_calls=(weather_call,)), tool_result("21", "get_weather", "call_1"), a("21.")],
            {"tools": TOOLS},
        ),
        # -- multimodal parts beyond images
        Case(
            "parts_image_video_text",
            [
                s(parts("Describe media.")),
                u(
                    [
                        {"type": "video"},
                        {"type": "text", "text": "and"},
                        {"type": "image", "image": "x.png"},
                        {"type": "text", "text": "What changed?"},
                    ]
                ),
                a(parts("The cat moved.")),
            ],
        ),
        # -- thinking switches on full conversations
        Case(
            "enable_thinking_false_history",
            [u("1+1?"), a("2", reasoning_content="one plus one"), u("2+2?"), a("4", reasoning_content="two plus two")],
            {"enable_thinking": False},
        ),
        Case(
            "thinking_alias_generation_prompt",
            [u("Hi"), a("Hello.", thinking="Be polite."), u("Bye")],
            {"add_generation_prompt": True, "enable_thinking": True},
        ),
        # -- continue_final_message: the last message is left open (apply_chat_template only)
        Case(
            "continue_final_message",
            [u("Write a limerick."), a("There once was a")],
            {"continue_final_message": True},
        ),
        Case(
            "continue_final_message_parts",
            [u(parts("Count to three.")), a(parts("One, ", "two,"))],
            {"continue_final_message": True},
        ),
        Case(
            "continue_final_message_reasoning",
            [u("Solve 6*7."), a("", reasoning_content="Six times seven is")],
            {"continue_final_message": "reasoning_content"},
        ),
        Case(
            "none_values_dropped",
            [u("Hi"), a("Hello.", tool_calls=None, reasoning_content=None), u("Again", name=None), a("Sure.")],
        ),
    ]


CASES: tuple[Case, ...] = tuple(_cases())
BY_NAME: dict[str, Case] = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"


def case(name: str) -> Case:
    return BY_NAME[name]
