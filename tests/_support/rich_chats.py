"""Rich chat conversations for the per-template mask test: tools, tool calls with dict and
JSON-string arguments, tool results, reasoning in past assistant turns, content given as parts,
1 to 20 exchanges, with and without a system prompt.

Every text a message carries is unique in the conversation and no text contains another
(`[U03]`, `[A03]`, `[R03]`, `[T03]` tags), so a test can find each message's content in the
rendered text by itself, independently of fastmask.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from fastmask.conformance.corpus import TOOLS

TOPICS = ("herons", "tides", "glaciers", "comets", "lichens", "sonar", "basalt", "monsoons", "owls", "coral")


@dataclass
class RichChat:
    name: str
    messages: list[dict[str, Any]]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def texts(self, index: int) -> list[str]:
        """The texts message `index` carries that a template prints as they are: its content
        (or its parts' texts) and its reasoning."""
        message = self.messages[index]
        content = message.get("content")
        found = [content] if isinstance(content, str) else [p["text"] for p in content or () if "text" in p]
        return [text for text in found + [message.get("reasoning_content")] if text]


def _exchange(rng: random.Random, n: int, tools: bool, reasoning: bool) -> list[dict[str, Any]]:
    topic = rng.choice(TOPICS)
    question = f"[U{n:02d}] What should I know about {topic}?"
    user: dict[str, Any] = {"role": "user", "content": question}
    if rng.random() < 0.2:
        user["content"] = [{"type": "text", "text": question}]
    out = [user]
    answer: dict[str, Any] = {"role": "assistant", "content": f"[A{n:02d}] Here is one fact about {topic}."}
    if reasoning and rng.random() < 0.7:
        answer["reasoning_content"] = f"[R{n:02d}] The user asks about {topic}; answer briefly."
    if tools and rng.random() < 0.4:
        arguments: Any = {"city": f"City{n:02d}", "unit": "celsius"}
        if rng.random() < 0.5:
            arguments = json.dumps(arguments)
        call_id = f"call{n:02d}"
        caller: dict[str, Any] = {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
            ],
        }
        if reasoning and rng.random() < 0.5:
            caller["reasoning_content"] = f"[Q{n:02d}] I need the weather first."
        result = {"role": "tool", "tool_call_id": call_id, "name": "get_weather", "content": f"[T{n:02d}] 21 degrees"}
        out += [caller, result]
    out.append(answer)
    return out


def rich_chats(count: int = 24, seed: int = 14) -> list[RichChat]:
    """`count` conversations of 1 to 20 exchanges, deterministic for a seed; the first few are
    short, the rest spread over the range."""
    rng = random.Random(seed)
    chats = []
    for number in range(count):
        exchanges = 1 + number % 4 if number < 8 else rng.randint(1, 20)
        tools, reasoning = number % 2 == 1, number % 3 != 0
        messages: list[dict[str, Any]] = []
        if number % 4 != 2:
            messages.append({"role": "system", "content": f"[S{number:02d}] You answer in one sentence."})
        for n in range(exchanges):
            messages += _exchange(rng, n, tools, reasoning)
        kwargs = {"tools": TOOLS} if tools else {}
        chats.append(RichChat(f"chat{number:02d}_{exchanges}x", messages, kwargs))
    return chats
