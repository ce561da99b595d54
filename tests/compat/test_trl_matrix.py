"""All 72 TRL templates (stock and `*_training`) x the whole corpus x three tokenizer families.

Each (family, template) pair runs the conformance comparison (`fastmask.conformance`): for every
corpus case, `transformers`' `apply_chat_template` and `fastmask.apply_chat_template` give the
same rendered text (or both raise), the same `input_ids` and `attention_mask`, and, for
templates with generation blocks, the same `assistant_masks`. Both engines read the same pinned
clock.

Three families with different tokenizer models and special tokens: DeepSeek (byte-level BPE,
128k), Qwen2 (tiktoken-converted byte-level BPE, 150k) and Mistral's SentencePiece BPE
(Metaspace). A family's vocabulary is loaded once: the drop-in derives each template's
ChatTokenizer from it (`ChatTokenizer.with_chat_template`), so the cost is transformers' own
rendering and tokenization. `tests/compat/test_differential.py` goes deeper on the training templates
(batches, padding, truncation, spans, generated conversations).
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

pytest.importorskip("transformers")
tokenizer_zoo = pytest.importorskip("_support.tokenizer_zoo")

from _support.trl_templates import all_templates  # noqa: E402

from fastmask.conformance import IDENTICAL, check_template  # noqa: E402
from fastmask.conformance.corpus import CASES, PINNED_NOW  # noqa: E402
from fastmask.conformance.report import pinned_clock  # noqa: E402

TEMPLATES = dict(all_templates())
if not TEMPLATES:
    pytest.skip("TRL's chat templates are not installed (pip install --no-deps trl)", allow_module_level=True)
FAMILIES = ("deepseek", "qwen2", "mistral_spm")


@functools.cache
def _hf(family: str) -> Any:
    return tokenizer_zoo.load_hf(family)


@pytest.fixture(scope="module", autouse=True)
def quiet_transformers():
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    with pinned_clock(PINNED_NOW):
        yield
    logging.set_verbosity(verbosity)


def test_all_72_templates_are_checked():
    # trl 1.16.0: 41 stock templates and the 31 `*_training` variants TRL patched with generation tags.
    assert len(TEMPLATES) == 72
    assert sum(name.endswith("_training") for name in TEMPLATES) == 31


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("family", FAMILIES)
def test_template_matches_transformers(family: str, template: str):
    report = check_template(template, TEMPLATES[template], _hf(family), CASES)
    if report.status != IDENTICAL:
        details = "\n".join(difference.describe() for difference in report.differences) or report.reason
        pytest.fail(f"{report.line()}\n{details}")
    # A template that rejects nearly everything would prove little.
    assert report.both_raised < report.cases
