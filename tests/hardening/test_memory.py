"""Memory: encoding, including calls that fail at every stage, does not leak."""

from __future__ import annotations

import contextlib
import os

import pytest

import fastmask

CONV = [{"role": "user", "content": "Hi " * 20}, {"role": "assistant", "content": "Hello " * 20}]
ITERATIONS = 10_000
MIB = 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc (Linux)")
def test_ten_thousand_encodes_do_not_grow_rss(chat_tokenizer, deepseek_json):
    failing = fastmask.ChatTokenizer.from_file(
        deepseek_json,
        chat_template="{% if messages[0].content == 'raise' %}{{ raise_exception('bad') }}{% endif %}"
        "{% if messages[0].content == 'loop' %}{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}{% endif %}x",
        limits=fastmask.Limits(fuel=20_000),
    )
    cyclic: dict = {"role": "user", "content": "x"}
    cyclic["self"] = cyclic
    calls = [
        lambda: chat_tokenizer.encode(CONV),
        lambda: chat_tokenizer.encode_batch([CONV, CONV], padding=True, return_tensors="np"),
        lambda: chat_tokenizer.encode([{"role": "user", "content": "\ud800"}]),  # InputError
        lambda: chat_tokenizer.encode([cyclic]),  # LimitError in conversion
        lambda: failing.encode([{"role": "user", "content": "raise"}], mask_source="turns", train_roles=()),
        lambda: failing.encode([{"role": "user", "content": "loop"}], mask_source="turns", train_roles=()),
        lambda: chat_tokenizer.encode(CONV, sanitize_control_tokens=True),
    ]

    def run(n: int) -> None:
        for i in range(n):
            with contextlib.suppress(fastmask.FastmaskError):
                calls[i % len(calls)]()

    run(2_000)  # warm-up: pools, caches, allocator arenas
    before = rss_bytes()
    run(ITERATIONS)
    grown = rss_bytes() - before
    assert grown <= MIB, f"RSS grew by {grown / MIB:.2f} MiB over {ITERATIONS} calls"
