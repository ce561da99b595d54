"""Hypothesis strategies for the differential suite, and the corpus it runs.

The deterministic corpus ships in the package (`fastmask.conformance.corpus`, which users'
conformance runs use too); it is re-exported here for the test modules that import it as `corpus`.
"""

from __future__ import annotations

from typing import Any

from fastmask.conformance.corpus import BY_NAME, CASES, TOOLS, Case, a, case, s, u

__all__ = ["BY_NAME", "CASES", "TOOLS", "Case", "case", "chat_cases", "conversations", "texts"]

# -- hypothesis strategies ------------------------------------------------------------------------

# Pieces that matter at turn boundaries or for tokenization, mixed into random text.
FRAGMENTS = (
    " ",
    "  ",
    "\n",
    "\n\n",
    "\t",
    "\r\n",
    " \n ",
    "你好",
    "世界",
    "👨\u200d👩\u200d👧",
    "🏳️\u200d🌈",
    "e\u0301",
    "\u0301",
    "\u200d",
    "\u00a0",
    "<think>",
    "</think>",
    "{{ x }}",
    "{% raw %}",
    "'",
    '"',
    "\\",
    "<|im_end|>",
)


def texts(min_size: int = 0, max_size: int = 40):
    """Random unicode text (no surrogates) mixed with boundary-sensitive fragments."""
    from hypothesis import strategies as st

    free = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
    piece = st.one_of(free, st.sampled_from(FRAGMENTS), st.text(alphabet=" \n\tab", max_size=6))
    return (
        st.lists(piece, max_size=max(1, max_size // 4))
        .map("".join)
        .filter(lambda text: min_size <= len(text) <= max_size * 4)
    )


def conversations(
    *,
    min_turns: int = 1,
    max_turns: int = 4,
    system: bool | None = None,
    end_with_assistant: bool | None = None,
):
    """Alternating user/assistant conversations, optionally opened by a system message.

    `system=None` draws whether to add one; `end_with_assistant=None` draws whether the last
    user message gets its answer (a conversation always starts with a user turn after the system).
    """
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        turns = draw(st.integers(min_value=min_turns, max_value=max_turns))
        messages: list[dict[str, Any]] = []
        if system if system is not None else draw(st.booleans()):
            messages.append(s(draw(texts())))
        for turn in range(turns):
            messages.append(u(draw(texts())))
            last = turn == turns - 1
            answer = (
                True if not last else (end_with_assistant if end_with_assistant is not None else draw(st.booleans()))
            )
            if answer:
                messages.append(a(draw(texts())))
        return messages

    return build()


def chat_cases(**options: Any):
    """`Case`s built from `conversations()`, with add_generation_prompt drawn when the chat ends on a user turn."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        conversation = draw(conversations(**options))
        kwargs: dict[str, Any] = {}
        if conversation[-1]["role"] == "user" and draw(st.booleans()):
            kwargs["add_generation_prompt"] = True
        return Case("generated", conversation, kwargs)

    return build()
