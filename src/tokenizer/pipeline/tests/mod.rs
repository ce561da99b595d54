//! The pipeline engine on small inline tokenizers, each checked against `tokenizers` 0.23; the
//! real vocabularies are in `differential`.

mod differential;

use serde_json::{json, Value};

use super::steps::Split;
use super::{chars, Pipeline};
use crate::tokenizer::bpe::tests::{added, reference, standard_added, tokenizer_json, MERGES, TEXTS};
use crate::tokenizer::{Backend, TokenOffsets, Tokenizer};

fn pipeline(json: &Value) -> Pipeline {
    let reference = tokenizers::Tokenizer::from_str(&json.to_string()).expect("reference loads");
    Pipeline::new(&json.to_string(), &reference).expect("the pipeline applies")
}

use std::str::FromStr;

/// Every text through the engine equals the reference; `taken` texts must be derived, not fall back.
fn assert_same(json: &Value, texts: &[&str], taken: impl Fn(&str) -> bool) {
    let engine = pipeline(json);
    let tokenizer = Tokenizer::from_json(&json.to_string(), Backend::Tokenizers1).expect("loads");
    assert_eq!(tokenizer.backend_name().expect("builds"), "tokenizers1");
    for text in texts {
        let expected = reference(json, text);
        assert_eq!(tokenizer.encode(text, None).expect("encodes"), expected, "text {text:?}");
        match engine.encode_truncated(text, None) {
            Some(got) => assert_eq!(got, expected, "text {text:?}"),
            None => assert!(!taken(text), "text {text:?} fell back"),
        }
    }
}

/// Added tokens that strip whitespace take bytes no piece covers: those texts fall back.
fn strips(text: &str) -> bool {
    ["[L]", "[R]", "<both>", "[W]"].iter().any(|token| text.contains(token))
}

#[test]
fn byte_level_matches_tokenizers_and_falls_back_where_tokens_strip() {
    assert_same(&tokenizer_json(MERGES, standard_added()), TEXTS, |text| !strips(text));
    let engine = pipeline(&tokenizer_json(MERGES, standard_added()));
    assert!(engine.encode_truncated("x   [L]", None).is_none());
    assert_eq!(engine.encode_truncated("", None), Some(TokenOffsets::default()));
}

#[test]
fn byte_level_trim_offsets() {
    for add_prefix_space in [true, false] {
        let mut json = tokenizer_json(MERGES, standard_added());
        json["post_processor"] =
            json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": true, "use_regex": true});
        assert_same(&json, TEXTS, |text| !strips(text));
        assert_same(&json, &[" the", "  the ", "\u{3000}the\u{3000}"], |_| true);
    }
}

#[test]
fn a_normalizer_that_changes_the_text_falls_back() {
    let mut json = tokenizer_json(MERGES, standard_added());
    json["normalizer"] = json!({"type": "NFC"});
    let decomposed = "cafe\u{301} the";
    assert_same(&json, &["café the", decomposed], |text| text != decomposed);
    assert!(pipeline(&json).encode_truncated(decomposed, None).is_none());
}

#[test]
fn truncation_cuts_before_the_trim() {
    use crate::tokenizer::{Side, Truncation};
    let mut json = tokenizer_json(MERGES, standard_added());
    json["post_processor"] =
        json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true});
    let engine = Tokenizer::from_json(&json.to_string(), Backend::Tokenizers1).expect("loads");
    let reference = Tokenizer::from_json(&json.to_string(), Backend::Tokenizers).expect("loads");
    for text in [" the  the hello", "<|im_start|> the<|im_end|>\n the"] {
        for side in [Side::Left, Side::Right] {
            for max_length in 0..10 {
                let truncation = Some(Truncation { max_length, side });
                assert_eq!(
                    engine.encode(text, truncation).expect("encodes"),
                    reference.encode(text, truncation).expect("encodes"),
                    "{text:?} {side:?} {max_length}"
                );
            }
        }
    }
}

/// A SentencePiece BPE with byte fallback: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then
/// single characters and the merges given; `[INST]` as a special added token.
pub(super) fn sentencepiece_json(normalizer: Value, pre_tokenizer: Value) -> Value {
    let mut vocab = serde_json::Map::new();
    for token in ["<unk>", "<s>", "</s>"] {
        vocab.insert(token.to_owned(), json!(vocab.len()));
    }
    for byte in 0..=255u8 {
        vocab.insert(format!("<0x{byte:02X}>"), json!(vocab.len()));
    }
    for c in "\u{2581}abcdehilHxyé".chars() {
        vocab.insert(c.to_string(), json!(vocab.len()));
    }
    let merges =
        [("\u{2581}", "\u{2581}"), ("\u{2581}", "a"), ("H", "i"), ("\u{2581}", "Hi"), ("a", "b"), ("\u{2581}a", "b")];
    for (left, right) in merges {
        vocab.insert(format!("{left}{right}"), json!(vocab.len()));
    }
    let mut inst = added("[INST]", true);
    inst["id"] = json!(vocab.len());
    let mut unk = added("<unk>", true);
    unk["id"] = json!(0);
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [unk, inst],
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}}], "pair": [{"Sequence": {"id": "A", "type_id": 0}},
            {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": null,
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                  "vocab": vocab, "merges": merges.iter().map(|(l, r)| json!([l, r])).collect::<Vec<_>>()}
    })
}

const SENTENCEPIECE_TEXTS: &[&str] = &[
    "",
    " ",
    "  ",
    "Hi",
    " Hi",
    "ab  ab\tab\n",
    "[INST] Hi[INST]Hi [INST]",
    "[INST][INST]  ",
    "\u{2581}ab \u{2581}\u{2581}x",
    "é👍🏽 y 中文",
    "\u{0}\u{7f}\r\n",
    "abab ab  Hi\u{2581}ab x\u{e9} ab\u{2581} \u{2581}",
];

fn replace() -> Value {
    json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"})
}

fn prepend_and_replace() -> Value {
    json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u{2581}"}, replace()]})
}

#[test]
fn sentencepiece_legacy_prepend_and_replace() {
    let json = sentencepiece_json(prepend_and_replace(), Value::Null);
    assert_same(&json, SENTENCEPIECE_TEXTS, |_| true);
    assert!(pipeline(&json).steps.split == Split::Words, "encoded word by word");
}

/// An entry with a `▁` after another character, merged first: BPE over the whole segment joins
/// across the point the word cut would split at ("▁ab▁ab" is "▁a", "b▁", "ab", where the words
/// "▁ab" and "▁ab" would give "▁ab" twice), so the engine must not cut there.
#[test]
fn a_vocabulary_that_merges_across_a_metaspace_is_not_cut() {
    let mut json = sentencepiece_json(prepend_and_replace(), Value::Null);
    let next_id = json["added_tokens"].as_array().map_or(0, |tokens| tokens.len())
        + json["model"]["vocab"].as_object().map_or(0, |vocab| vocab.len());
    json["model"]["vocab"]["b\u{2581}"] = json!(next_id);
    if let Some(merges) = json["model"]["merges"].as_array_mut() {
        merges.insert(0, json!(["b", "\u{2581}"]));
    }
    let reference = tokenizers::Tokenizer::from_str(&json.to_string()).expect("reference loads");
    let across = reference.token_to_id("b\u{2581}").expect("in the vocabulary");
    assert!(reference.encode("ab ab", false).expect("encodes").get_ids().contains(&across));
    assert!(pipeline(&json).steps.split == Split::PreTokenizer, "not cut");
    assert_same(&json, SENTENCEPIECE_TEXTS, |_| true);
    assert_same(&json, &["ab ab", "xab  ab"], |_| true);
}

#[test]
fn sentencepiece_replace_only_as_gemma() {
    let json = sentencepiece_json(replace(), Value::Null);
    assert_same(&json, SENTENCEPIECE_TEXTS, |_| true);
    assert!(pipeline(&json).steps.split == Split::Words, "encoded word by word");
}

#[test]
fn sentencepiece_metaspace_pre_tokenizer() {
    for scheme in ["first", "always", "never"] {
        for split in [false, true] {
            let metaspace =
                json!({"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": scheme, "split": split});
            let json = sentencepiece_json(Value::Null, metaspace);
            assert_same(&json, SENTENCEPIECE_TEXTS, |_| true);
            // tokenizers 1.0 runs `split: true` as a Split pre-tokenizer, whose words stand.
            assert_eq!(pipeline(&json).steps.split == Split::Words, !split, "{scheme} {split}");
        }
    }
}

#[test]
fn the_unknown_token_falls_back() {
    let mut json = sentencepiece_json(replace(), Value::Null);
    json["model"]["byte_fallback"] = json!(false);
    assert_same(&json, &["ab", "a\u{1f44d}b"], |text| text == "ab");
}

#[test]
fn unsupported_shapes_are_refused() {
    let mut json = tokenizer_json(MERGES, standard_added());
    json["normalizer"] = json!({"type": "Lowercase"});
    let reference = tokenizers::Tokenizer::from_str(&json.to_string()).expect("loads");
    assert!(Pipeline::new(&json.to_string(), &reference).is_none());
    let err = Tokenizer::from_json(&json.to_string(), Backend::Tokenizers1).err().expect("refused");
    assert!(err.message.contains("backend='tokenizers1'"), "{}", err.message);
    assert_eq!(
        Tokenizer::from_json(&json.to_string(), Backend::Auto).expect("loads").backend_name().expect("builds"),
        "tokenizers"
    );
}

/// A character Unicode 17 assigned and 16 did not: tokenizers 1.0 splits by the newer tables,
/// 0.23 (onig) by the older, so the engine must leave such text to the reference.
#[test]
fn characters_new_in_unicode_17_fall_back() {
    let json = tokenizer_json(MERGES, standard_added());
    let landslide = "x \u{1f6d8}\u{5e8} y";
    assert_same(&json, &[landslide, "x \u{1f6d7}\u{5e8} y"], |text| text != landslide);
    assert!(pipeline(&json).encode_truncated(landslide, None).is_none());
}

/// The kept bits of the Basic Multilingual Plane say what the category lookup says, for every
/// character of it and a few beyond (new in Unicode 17 in the BMP too: U+A7CE..).
#[test]
fn assigned_bits_agree_with_the_category_lookup() {
    use unicode_general_category::{get_general_category, GeneralCategory};
    let table = chars::CharTable::new();
    let probes = (0..0x10000u32).chain([0x1f6d7, 0x1f6d8, 0x10ffff, 0xe0001]).filter_map(char::from_u32);
    for c in probes {
        let expected = get_general_category(c) != GeneralCategory::Unassigned;
        assert_eq!(table.properties(c).0, expected, "U+{:04X}", c as u32);
    }
}

/// The text check skips ASCII runs and looks up every other character, wherever it stands.
#[test]
fn the_text_check_finds_an_unassigned_character_anywhere() {
    let table = chars::CharTable::new();
    let new_in_17 = '\u{1f6d8}';
    for text in ["", "abc", "é", "日本語 and ascii", "x\u{1f6d7}y"] {
        assert!(table.scan(text).assigned, "{text:?}");
    }
    for text in
        [format!("{new_in_17}"), format!("ab{new_in_17}"), format!("é{new_in_17}z"), format!("abc é {new_in_17}")]
    {
        assert!(!table.scan(&text).assigned, "{text:?}");
    }
}

/// A character the scan calls NFC-stable is one tokenizers 1.0's NFC normalizer returns as it
/// is, alone and after a starter that could compose with what follows (every character of the
/// Basic Multilingual Plane and some beyond); and the skip is taken where it applies.
#[test]
fn nfc_stable_characters_are_ones_the_normalizer_leaves() {
    use std::borrow::Cow;
    let table = chars::CharTable::new();
    use tokenizers1::normalizers::NFC;
    use tokenizers1::pipeline::Normalizer;
    let probes = (0..0x10000u32).chain(0x1f300..0x1f400).chain([0x1d15e, 0x1112f, 0x10ffff]).filter_map(char::from_u32);
    let mut stable = 0;
    for c in probes {
        if !table.properties(c).1 {
            assert!(!chars::nfc_stable(c), "U+{:04X}", c as u32);
            continue;
        }
        stable += 1;
        for text in [format!("{c}"), format!("a{c}"), format!("\u{1100}{c}"), format!("{c}x")] {
            let normalized = NFC.normalize(&text, 0).expect("normalizes");
            assert!(matches!(normalized, Cow::Borrowed(_)), "U+{:04X} in {text:?}", c as u32);
        }
        assert!(table.scan(&format!("ab{c}cd")).nfc_stable || !chars::assigned(c), "U+{:04X}", c as u32);
    }
    // Most characters are stable; combining marks, Hangul jamo vowels and singletons are not.
    assert!(stable > 50_000, "{stable}");
    for c in ['\u{301}', '\u{1161}', '\u{212b}', '\u{0958}'] {
        assert!(!chars::nfc_stable(c), "U+{:04X}", c as u32);
        assert!(!table.scan(&format!("ab{c}")).nfc_stable, "U+{:04X}", c as u32);
    }
    assert_eq!(table.scan("plain ascii, then 日本語 and 👍"), chars::TextChars { assigned: true, nfc_stable: true });
}

/// With Qwen's NFC normalizer: texts that skip it, texts it leaves although they hold a
/// combining mark, and texts it changes (which fall back) all equal the reference.
#[test]
fn nfc_skipped_or_run_equals_the_reference() {
    let mut json = tokenizer_json(MERGES, standard_added());
    json["normalizer"] = json!({"type": "NFC"});
    assert!(pipeline(&json).nfc_only);
    let changed = ["cafe\u{301} the", "\u{1100}\u{1161} the", "\u{212b}", "<|im_start|>e\u{301}<|im_end|>"];
    let kept = ["the café 日本", "x\u{301} the", "\u{301}", "<|im_start|>the<|im_end|>\n\u{0300}"];
    let texts: Vec<&str> = changed.iter().chain(&kept).chain(TEXTS).copied().collect();
    let in_nfc = |text: &str| unicode_normalization::UnicodeNormalization::nfc(text).eq(text.chars());
    assert!(changed.iter().all(|text| !in_nfc(text)) && kept.iter().all(|text| in_nfc(text)));
    assert_same(&json, &texts, |text| in_nfc(text) && !strips(text));
}

/// More threads than the engine keeps scratches for, encoding at once, get the ids one thread
/// gets (scratches are taken and put back without a lock, and dropped when every slot is full).
#[test]
fn many_threads_share_the_scratches() {
    let engine = pipeline(&tokenizer_json(MERGES, standard_added()));
    let expected: Vec<_> = TEXTS.iter().map(|text| engine.encode_truncated(text, None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..40 {
            scope.spawn(|| {
                for _ in 0..20 {
                    let got: Vec<_> = TEXTS.iter().map(|text| engine.encode_truncated(text, None)).collect();
                    assert_eq!(got, expected);
                }
            });
        }
    });
}
