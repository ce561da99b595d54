"""Bounded fuzzing of template + conversation -> ids and mask, run by tests/hardening/test_fuzz.py.

`python fuzz_render.py SECONDS SEED CRASH_FILE` mutates real chat templates (TRL's
`chat_templates`, the package's demo template) and generates hostile conversations for SECONDS,
then prints a JSON summary. Before each case it writes the case to CRASH_FILE, so when the
process dies (abort, stack overflow, a panic escaping as BaseException) the reproducer is there;
a case that raises anything but a FastmaskError, or breaks a limit, is reported as a failure.
cargo-fuzz needs a nightly toolchain, which CI does not have; this runs on the stable build.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from importlib import resources
from pathlib import Path

from trl_templates import template_dir  # run as a script: its folder is on sys.path

import fastmask

LIMITS = fastmask.Limits(
    fuel=2_000_000, output_bytes=1 << 20, string_bytes=1 << 20, input_bytes=1 << 20, input_depth=50
)
TOKENIZER_JSON = json.dumps(
    {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": 3,
                "content": "<|im_end|>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            },
            {
                "id": 4,
                "content": "<|im_start|>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            },
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": None,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {**{chr(c): i + 5 for i, c in enumerate(range(33, 127))}, "Ġ": 200, "Ċ": 201, "ĉ": 202},
            "merges": [],
        },
    }
)

FRAGMENTS = [
    "{{ x }}",
    "{% for m in messages %}",
    "{% endfor %}",
    "{% if true %}",
    "{% endif %}",
    "{% else %}",
    "{% generation %}",
    "{% endgeneration %}",
    "{%- generation -%}",
    "{{ messages[0]['content'] }}",
    "{{ m.content | indent(4) }}",
    "{{ 'a' * 1000 }}",
    "{{ range(10) | join(',') }}",
    "{{ loop.index }}",
    "{% set ns = namespace(a=1) %}",
    "{% set ns.a = ns.a + 1 %}",
    "{{ ns.a }}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}",
    "{{ f(1) }}",
    "{{ '%s' % m }}",
    "{{ '{0}'.format(m) }}",
    "{{ m | tojson(indent=2) }}",
    "{{ raise_exception('x') }}",
    "{{ messages | length }}",
    "{% raw %}",
    "{% endraw %}",
    "{#",
    "#}",
    "{{",
    "}}",
    "{%",
    "%}",
    "(",
    ")",
    "[",
    "]",
    "{{ m.__class__ }}",
    "{% include 'x' %}",
    "{{ cycler(1, 2).next() }}",
    "{{ 'x'.center(100) }}",
    "\r\n",
    "\u0000",
    "{{ m.content[::-1] }}",
    "{{ m.content.split(' ') }}",
    "{{ (m.content ~ '') * 3 }}",
    "{{ tools | tojson }}",
    "{% for k, v in m.items() %}{{ k }}{% endfor %}",
    "{{ strftime_now('%Y') }}",
    "{{ m.content is string }}",
]
HOSTILE_VALUES = [
    None,
    0,
    -1,
    2**70,
    -(2**70),
    1.5,
    math.nan,
    math.inf,
    True,
    "",
    "x",
    "<|im_end|>",
    "\u202e\ue000\U0010fffe",
    "\x00",
    "a" * 5000,
    [],
    {},
    [{"type": "text", "text": "t"}],
    {"nested": [1, [2, [3]]]},
    ("t", 1),
    b"bytes",
    "{{ 7 * 7 }}",
    "\U000f0000<|im_start|>\U000f0001",
]


def seeds() -> list[str]:
    sources = [resources.files("fastmask.data").joinpath("chatml_training.jinja").read_text(encoding="utf-8")]
    folder = template_dir()
    if folder is not None:
        sources += [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.jinja"))]
    return sources


def mutate_template(rng: random.Random, source: str) -> str:
    for _ in range(rng.randint(0, 4)):
        at = rng.randint(0, len(source))
        roll = rng.random()
        if roll < 0.45:
            source = source[:at] + rng.choice(FRAGMENTS) + source[at:]
        elif roll < 0.7 and source:
            end = min(len(source), at + rng.randint(1, 40))
            source = source[:at] + source[end:]
        elif roll < 0.85 and source:
            start = rng.randint(0, len(source) - 1)
            source = source[:at] + source[start : start + rng.randint(1, 80)] + source[at:]
        else:
            source = (
                source[:at]
                + chr(rng.choice([0, 10, 123, 125, 37, 35, 45, 0x202E, 0xF0000, rng.randint(32, 0x10FFFF)]))
                + source[at:]
            )
    return source.encode("utf-8", "replace").decode("utf-8")


def value(rng: random.Random, depth: int = 0):
    if depth < 3 and rng.random() < 0.15:
        return {rng.choice(["type", "text", "a", 1]): value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and rng.random() < 0.1:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(HOSTILE_VALUES)


def conversation(rng: random.Random) -> list:
    messages = []
    for index in range(rng.randint(0, 6)):
        message = {
            "role": rng.choice(["user", "assistant", "system", "tool", "", 5])
            if rng.random() < 0.2
            else ("user", "assistant")[index % 2]
        }
        message["content"] = (
            value(rng) if rng.random() < 0.3 else rng.choice(["Hi", "Hello there", "<|im_end|>x", "é 👋"])
        )
        if rng.random() < 0.1:
            message[rng.choice(["reasoning_content", "tool_calls", "thinking", "train"])] = value(rng)
        messages.append(message)
    if rng.random() < 0.02:
        messages.append(messages)  # contains itself
    return messages


def check_one(template: str, conv: list, rng: random.Random) -> str:
    try:
        tok = fastmask.ChatTokenizer.from_parts(
            TOKENIZER_JSON, template, special_tokens={"eos_token": "<|im_end|>"}, limits=LIMITS
        )
    except fastmask.FastmaskError:
        return "compile-error"
    options = {
        "mask_source": rng.choice(["auto", "turns", "generation"])
        if tok.has_generation
        else rng.choice(["auto", "turns"]),
        "sanitize_control_tokens": rng.random() < 0.3,
        "add_generation_prompt": rng.random() < 0.3,
    }
    try:
        text, spans = tok.render(
            conv, mask_source=options["mask_source"], add_generation_prompt=options["add_generation_prompt"]
        )
        out = tok.encode_batch([conv, conv], num_threads=rng.choice([1, 2]), **options)
    except fastmask.FastmaskError:
        return "error"
    if len(text.encode("utf-8", "surrogatepass")) > LIMITS.output_bytes:
        raise AssertionError("output limit broken")
    if any(not (0 <= start <= end <= len(text)) for start, end in spans):
        raise AssertionError(f"span outside the text: {spans}")
    rows = out["input_ids"]
    if rows[0] != rows[1] or out["assistant_masks"][0] != out["assistant_masks"][1]:
        raise AssertionError("the same conversation encoded differently within a batch")
    if len(out["assistant_masks"][0]) != len(rows[0]):
        raise AssertionError("mask and ids differ in length")
    return "ok"


def main(seconds: float, seed: int, crash_file: Path) -> None:
    rng = random.Random(seed)
    sources = seeds()
    counts: dict[str, int] = {}
    failures = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        template = mutate_template(rng, rng.choice(sources))
        conv = conversation(rng)
        case_seed = rng.randrange(1 << 30)
        crash_file.write_text(
            json.dumps({"template": template, "conversation": repr(conv), "case_seed": case_seed}), encoding="utf-8"
        )
        try:
            outcome = check_one(template, conv, random.Random(case_seed))
        except Exception as err:  # noqa: BLE001 - anything but FastmaskError is a finding
            outcome = "failure"
            failures.append({"template": template, "conversation": repr(conv), "error": repr(err)[:500]})
        counts[outcome] = counts.get(outcome, 0) + 1
    crash_file.unlink(missing_ok=True)
    print(json.dumps({"counts": counts, "failures": failures[:5]}))


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
