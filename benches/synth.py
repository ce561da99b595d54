"""A deterministic synthetic SFT corpus, sized like real chat data.

Conversations have 1-8 user/assistant turns, an optional system prompt, some tool calls with
tool results, and text that mixes English prose, code, CJK, emoji (with ZWJ sequences) and
whitespace runs. The same seed always gives the same corpus.
"""

from __future__ import annotations

import json
import random

WORDS = (
    "the model learns to answer questions about data training tokens mask assistant user system "
    "batch parallel rust python template render offset span align vocabulary merge byte level "
    "gradient loss epoch schedule warmup checkpoint evaluate prompt response reasoning tool call"
).split()
CJK = "数据训练模型助手用户系统回答问题标记并行模板渲染偏移对齐词汇合并字节"
EMOJI = ["😀", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "🧑‍💻"]
CODE = [
    "def add(a, b):\n    return a + b\n",
    "for (let i = 0; i < n; i++) {\n  total += xs[i];\n}\n",
    "SELECT id, name FROM users WHERE active = 1;\n",
    'fn main() {\n    println!("{}", 1 + 1);\n}\n',
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
            },
        },
    }
]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + rng.choice([".", "?", "!", "..."])


def _text(rng: random.Random, sentences: int) -> str:
    parts = []
    for _ in range(sentences):
        roll = rng.random()
        if roll < 0.08:
            parts.append("```\n" + rng.choice(CODE) + "```")
        elif roll < 0.14:
            parts.append("".join(rng.choice(CJK) for _ in range(rng.randint(8, 30))) + "。")
        elif roll < 0.2:
            parts.append(_sentence(rng) + " " + rng.choice(EMOJI))
        else:
            parts.append(_sentence(rng))
    separator = rng.choice([" ", " ", "\n", "\n\n"])
    return separator.join(parts)


def conversation(rng: random.Random, *, tools: bool = True) -> list[dict]:
    messages: list[dict] = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": _text(rng, rng.randint(1, 3))})
    for _ in range(rng.randint(1, 8)):
        messages.append({"role": "user", "content": _text(rng, rng.randint(1, 5))})
        if tools and rng.random() < 0.1:
            city = rng.choice(["Paris", "東京", "São Paulo"])
            messages.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": city}}}
                    ],
                }
            )
            weather = json.dumps({"city": city, "celsius": rng.randint(-5, 35)})
            messages.append({"role": "tool", "name": "get_weather", "content": weather})
        messages.append({"role": "assistant", "content": _text(rng, rng.randint(2, 10))})
    return messages


def corpus(n: int, seed: int = 0, *, tools: bool = True) -> list[list[dict]]:
    rng = random.Random(seed)
    return [conversation(rng, tools=tools) for _ in range(n)]
