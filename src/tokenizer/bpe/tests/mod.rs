//! Unit tests of the fast backend on small inline tokenizers, each checked against `tokenizers`.

use std::str::FromStr;

use serde_json::{json, Value};

use crate::tokenizer::bpe::merge::byte_chars;
use crate::tokenizer::bpe::FastBpe;
use crate::tokenizer::TokenOffsets;

pub(in crate::tokenizer) mod differential;

pub(in crate::tokenizer) const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub(in crate::tokenizer) fn added(content: &str, special: bool) -> Value {
    json!({"content": content, "single_word": false, "lstrip": false, "rstrip": false,
           "normalized": !special, "special": special})
}

/// A byte-level BPE tokenizer.json: the 256 byte tokens, the merges given (their results join
/// the vocabulary), a Qwen2-style split, and the added tokens given.
pub(in crate::tokenizer) fn tokenizer_json(merges: &[(&str, &str)], added_tokens: Vec<Value>) -> Value {
    let mut vocab = serde_json::Map::new();
    for (id, c) in byte_chars().iter().enumerate() {
        vocab.insert(c.to_string(), json!(id));
    }
    for (left, right) in merges {
        let merged = format!("{left}{right}");
        if !vocab.contains_key(&merged) {
            let id = vocab.len();
            vocab.insert(merged, json!(id));
        }
    }
    let first_added = vocab.len();
    let added_tokens: Vec<Value> = added_tokens
        .into_iter()
        .enumerate()
        .map(|(i, mut token)| {
            token["id"] = json!(first_added + i);
            token
        })
        .collect();
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added_tokens,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges.iter().map(|(l, r)| json!([l, r])).collect::<Vec<_>>()}
    })
}

pub(in crate::tokenizer) const MERGES: &[(&str, &str)] = &[
    ("Ġ", "t"),
    ("h", "e"),
    ("Ġt", "he"),
    ("a", "a"),
    ("aa", "a"),
    ("a", "aa"),
    ("l", "l"),
    ("e", "ll"),
    ("h", "ell"),
    ("hell", "o"),
    ("Ġ", "Ġ"),
    ("ĠĠ", "ĠĠ"),
    ("Ã", "©"),
    ("c", "af"),
    ("a", "f"),
    ("caf", "Ã©"),
    ("Ċ", "Ċ"),
    ("x", "y"),
    ("y", "z"),
    ("x", "yz"),
];

pub(in crate::tokenizer) fn standard_added() -> Vec<Value> {
    let mut lstrip = added("[L]", true);
    lstrip["lstrip"] = json!(true);
    let mut rstrip = added("[R]", true);
    rstrip["rstrip"] = json!(true);
    let mut word = added("[W]", false);
    word["single_word"] = json!(true);
    let mut both = added("<both>", false);
    both["lstrip"] = json!(true);
    both["rstrip"] = json!(true);
    vec![added("<|im_start|>", true), added("<|im_end|>", true), lstrip, rstrip, word, both, added("caf", false)]
}

pub(in crate::tokenizer) fn reference(json: &Value, text: &str) -> TokenOffsets {
    let mut tokenizer = tokenizers::Tokenizer::from_str(&json.to_string()).expect("reference loads");
    tokenizer.with_truncation(None).expect("no truncation");
    tokenizer.with_padding(None);
    let encoding = tokenizer.encode(text, false).expect("reference encodes");
    TokenOffsets { ids: encoding.get_ids().to_vec(), offsets: encoding.get_offsets().to_vec(), truncated: 0 }
}

fn fast(json: &Value) -> FastBpe {
    FastBpe::from_tokenizer_json(&json.to_string()).expect("supported shape")
}

fn assert_same(json: &Value, texts: &[&str]) {
    let backend = fast(json);
    for text in texts {
        assert_eq!(backend.encode(text), Some(reference(json, text)), "text {text:?}");
    }
}

pub(in crate::tokenizer) const TEXTS: &[&str] = &[
    "",
    " ",
    "hello the  the   world\n\n\nthe",
    "aaaaaaa aaaa aa a",
    "café cafe\u{301} naïve 日本語 👍🏽",
    "   \t\r\n  \n",
    "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|><|im_start|>",
    "<|im_start|<|im_end|>|>",
    "x   [L]   y",
    "[L][L]  [L]",
    "x   [R]   y[R]",
    "[R]\u{3000}\u{a0} z",
    "a[W]b [W] c,[W]. é[W]",
    "[W]",
    "x  <both>  y <both><both>",
    "café au caf<|im_end|>caffè",
];

#[test]
fn matches_tokenizers_on_a_small_vocabulary() {
    assert_same(&tokenizer_json(MERGES, standard_added()), TEXTS);
}

#[test]
fn ignore_merges_takes_whole_vocabulary_words() {
    let mut json = tokenizer_json(MERGES, standard_added());
    json["model"]["ignore_merges"] = json!(true);
    // "xyz" is in the vocabulary, but merging its bytes stops at "xy" + "z".
    assert_same(&json, &["xyz", "xyzxyz", "aaa", "aaaa", "hello", "café", " the"]);
    let plain = tokenizer_json(MERGES, standard_added());
    assert_same(&plain, &["xyz", "xyzxyz"]);
    assert_eq!(fast(&json).encode("xyz").map(|t| t.ids.len()), Some(1));
    assert_eq!(fast(&plain).encode("xyz").map(|t| t.ids.len()), Some(2));
}

#[test]
fn empty_text_and_only_special_tokens() {
    let backend = fast(&tokenizer_json(MERGES, standard_added()));
    assert_eq!(backend.encode(""), Some(TokenOffsets::default()));
    let only = backend.encode("<|im_start|><|im_end|>").expect("fast path");
    assert_eq!(only.offsets, [(0, 12), (12, 22)]);
}

#[test]
fn lstrip_and_rstrip_take_the_whitespace_into_the_token() {
    let backend = fast(&tokenizer_json(MERGES, standard_added()));
    let out = backend.encode("x   [L]").expect("fast path");
    assert_eq!(out.offsets.last(), Some(&(1, 7)));
    let out = backend.encode("[R]  y").expect("fast path");
    assert_eq!(out.offsets[0], (0, 5));
}

#[test]
fn trim_offsets_as_the_byte_level_post_processor() {
    for add_prefix_space in [true, false] {
        let mut json = tokenizer_json(MERGES, standard_added());
        json["post_processor"] = json!({"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": true, "use_regex": true},
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|im_start|>": {"id": "<|im_start|>", "ids": [256], "tokens": ["<|im_start|>"]}}}]});
        assert_same(&json, TEXTS);
        assert_same(&json, &[" the", "  the ", "x [R] \u{3000}y", "\u{3000}[L]"]);
    }
}

/// Both backends of `crate::tokenizer::Tokenizer` truncate as `tokenizers` does with truncation
/// set: before the post-processor, whose ByteLevel trim treats a left cut's first token as first.
#[test]
fn truncation_equals_tokenizers_with_truncation_set() {
    use crate::tokenizer::Side;
    use crate::tokenizer::{Backend, Tokenizer, Truncation};
    use tokenizers::{TruncationDirection, TruncationParams};

    let mut json = tokenizer_json(MERGES, standard_added());
    json["post_processor"] =
        json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true});
    let mut reference = tokenizers::Tokenizer::from_str(&json.to_string()).expect("reference loads");
    let backends =
        [Backend::Fast, Backend::Tokenizers].map(|b| Tokenizer::from_json(&json.to_string(), b).expect("loads"));
    for text in [" the  the hello", "x [R]  the \u{3000}y", "<|im_start|> the<|im_end|>\n the"] {
        for (side, direction) in [(Side::Right, TruncationDirection::Right), (Side::Left, TruncationDirection::Left)] {
            for max_length in 0..12 {
                let params = TruncationParams { max_length, direction, ..Default::default() };
                reference.with_truncation(Some(params)).expect("truncation");
                let expected = reference.encode(text, false).expect("reference encodes");
                for backend in &backends {
                    let got = backend.encode(text, Some(Truncation { max_length, side })).expect("encodes");
                    let context = format!("{:?} {text:?} {side:?} {max_length}", backend.backend_name());
                    assert_eq!(got.ids, expected.get_ids(), "{context}");
                    assert_eq!(got.offsets, expected.get_offsets(), "{context}");
                }
            }
        }
    }
}

#[test]
fn nfc_normalizer_defers_text_not_in_nfc() {
    let mut json = tokenizer_json(MERGES, standard_added());
    json["normalizer"] = json!({"type": "NFC"});
    let backend = fast(&json);
    assert_eq!(backend.encode("cafe\u{301}"), None);
    assert_same(&json, &["café", "caf<|im_end|>\u{301}", "plain ascii"]);
}

#[test]
fn gpt2_byte_level_alone_and_several_splits() {
    let mut json = tokenizer_json(MERGES, standard_added());
    json["pre_tokenizer"] =
        json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    assert_same(&json, TEXTS);
    json["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
        {"type": "Split", "pattern": {"String": "ll"}, "behavior": "Isolated", "invert": false},
        {"type": "Split", "pattern": {"Regex": r"\s*"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]});
    assert_same(&json, TEXTS);
    assert_same(&json, &["12345 hello 9", "hellllo"]);
}

#[test]
fn scan_and_heap_merges_agree() {
    let json = tokenizer_json(MERGES, Vec::new());
    let backend = fast(&json);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..500 {
        let len = 1 + (next(&mut state) % 150) as usize;
        let alphabet = b"aahel o\xc3\xa9cafxyz";
        let piece: Vec<u8> = (0..len).map(|_| alphabet[(next(&mut state) % alphabet.len() as u64) as usize]).collect();
        let [scan, heap] = backend.model.merge_both_ways(&piece);
        assert_eq!(scan, heap, "piece {piece:?}");
    }
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn long_pieces_take_the_heap_path() {
    let json = tokenizer_json(MERGES, standard_added());
    let long_word = "aaahello".repeat(40);
    let long_space = " ".repeat(300) + "the";
    assert_same(&json, &[long_word.as_str(), long_space.as_str()]);
}

#[test]
fn unsupported_shapes_are_declined() {
    let base = tokenizer_json(MERGES, standard_added());
    let edits: Vec<(&str, Value)> = vec![
        ("/model/byte_fallback", json!(true)),
        ("/model/dropout", json!(0.5)),
        // (A non-empty prefix makes `tokenizers` itself overflow on these single-character merges.)
        ("/model/continuing_subword_prefix", json!("")),
        ("/model/end_of_word_suffix", json!("</w>")),
        ("/normalizer", json!({"type": "NFKC"})),
        ("/normalizer", json!({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]})),
        (
            "/pre_tokenizer",
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        ),
        ("/pre_tokenizer", json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true})),
        ("/pre_tokenizer", json!(null)),
        ("/pre_tokenizer/pretokenizers/0/behavior", json!("Removed")),
        ("/pre_tokenizer/pretokenizers/0/invert", json!(true)),
        (
            "/post_processor",
            json!({"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                                   "trim_offsets": true, "add_prefix_space": true}),
        ),
    ];
    for (pointer, value) in edits {
        let mut json = base.clone();
        *json.pointer_mut(pointer).expect("pointer exists") = value;
        assert!(tokenizers::Tokenizer::from_str(&json.to_string()).is_ok(), "{pointer} loads in tokenizers");
        assert!(FastBpe::from_tokenizer_json(&json.to_string()).is_none(), "{pointer} is declined");
    }
    // Split after ByteLevel, a byte without its token, not BPE, not JSON.
    let mut json = base.clone();
    json["pre_tokenizer"]["pretokenizers"].as_array_mut().expect("sequence").reverse();
    assert!(FastBpe::from_tokenizer_json(&json.to_string()).is_none());
    let mut json = tokenizer_json(&[], Vec::new());
    json["model"]["vocab"].as_object_mut().expect("vocab").remove("Ā");
    assert!(FastBpe::from_tokenizer_json(&json.to_string()).is_none());
    let word_level = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
        "pre_tokenizer":null,"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]"}}"#;
    assert!(FastBpe::from_tokenizer_json(word_level).is_none());
    assert!(FastBpe::from_tokenizer_json("{").is_none());
}

#[test]
fn fast_bpe_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<FastBpe>();
}

/// Real split patterns: Qwen2, Qwen3.5, Llama 3 (cl100k), gpt-oss (o200k), Tekken, DeepSeek's
/// three, GPT-2's ByteLevel regex.
const REAL_PATTERNS: &[&str] = &[
    QWEN2_PATTERN,
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"\p{N}{1,3}",
    "[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
    super::pretokenize::GPT2_PATTERN,
];

/// Patterns the fast matcher must handle like onig, or decline: quantified groups, look-aheads,
/// empty matches, literal runs.
const TRICKY_PATTERNS: &[&str] = &[
    r"a*",
    r"\s*",
    r"x?",
    r"(?=a)[a-c]{2}|b",
    r"(ab|a)(c|bcd)(?!e)",
    r"(?:a|b){2,3}c?",
    r"(?i:ab|k|s)+",
    r"[^\S\r]+",
    r"\P{L}{0,2}\p{Lu}",
    r"a{,2}b",
    r"a+?",
    r"^a|b$",
    r"(?i:st)",
];

const ALPHABET: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "e",
    "x",
    "A",
    "'",
    "s",
    "S",
    "\u{17f}",
    "K",
    "\u{212a}",
    "k",
    "l",
    "L",
    "t",
    "re",
    "1",
    "\u{661}",
    "\u{ff11}",
    " ",
    " ",
    "  ",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\u{3000}",
    "\u{a0}",
    "\u{85}",
    "é",
    "e\u{301}",
    "\u{301}",
    "中",
    "ア",
    "😀",
    "-",
    "/",
    ".",
    "!",
    "[",
    "\u{0}",
    "\u{10ffff}",
    "\u{e000}",
    "Ǆ",
    "ǅ",
    "ʰ",
];

fn pieces(pre: &super::pretokenize::PreTokenizer, text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut region = onig::Region::new();
    pre.for_each_piece(text, 0, text.len(), &mut region, &mut |s, e| out.push((s, e)));
    out
}

#[test]
fn fast_matcher_splits_as_onig() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for pattern in REAL_PATTERNS.iter().chain(TRICKY_PATTERNS) {
        let patterns = vec![pattern.to_string()];
        let fast = super::pretokenize::PreTokenizer::new(&patterns).expect("compiles");
        let onig = super::pretokenize::PreTokenizer::onig_only(&patterns).expect("compiles");
        if REAL_PATTERNS.contains(pattern) {
            assert_eq!(fast.fast_splits(), 1, "{pattern} runs on the fast matcher");
        }
        for _ in 0..400 {
            let len = next(&mut state) % 24;
            let text: String =
                (0..len).map(|_| ALPHABET[(next(&mut state) % ALPHABET.len() as u64) as usize]).collect();
            assert_eq!(pieces(&fast, &text), pieces(&onig, &text), "pattern {pattern} text {text:?}");
        }
    }
}

#[test]
fn unsupported_syntax_falls_back_to_onig() {
    for pattern in [r"a+?", r"^a|b$", r"(?i:st)", r"\d+", r"[[:alpha:]]", r"(?<name>a)", r"\bx", r"."] {
        let pre = super::pretokenize::PreTokenizer::new(&[pattern.to_string()]).expect("compiles");
        assert_eq!(pre.fast_splits(), 0, "{pattern}");
    }
}

#[test]
fn encode_special_tokens_leaves_special_tokens_as_text() {
    let json = tokenizer_json(MERGES, standard_added());
    let mut tokenizer = tokenizers::Tokenizer::from_str(&json.to_string()).expect("loads");
    tokenizer.set_encode_special_tokens(true);
    let backend = FastBpe::from_tokenizer(&tokenizer).expect("supported shape");
    for text in TEXTS {
        let encoding = tokenizer.encode(*text, false).expect("encodes");
        let expected =
            TokenOffsets { ids: encoding.get_ids().to_vec(), offsets: encoding.get_offsets().to_vec(), truncated: 0 };
        assert_eq!(backend.encode(text), Some(expected), "text {text:?}");
    }
}
