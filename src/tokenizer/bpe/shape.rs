//! Reads a loaded `tokenizers::Tokenizer` into the parts the fast backend runs, or None for any
//! shape it does not reproduce exactly.
//!
//! Components are read from their serialized form (`serde_json::to_value`, or for the BPE model's
//! merges `merge_list`), which is canonical: every field is present with the value `tokenizers`
//! actually uses, whatever the file left to defaults or spelled in a legacy format.

use serde_json::Value;
use tokenizers::{ModelWrapper, NormalizedString, Normalizer, Tokenizer};

use super::added::AddedSpec;
use super::merge::Model;
use super::pretokenize::GPT2_PATTERN;
pub(super) use crate::tokenizer::components::offset_trims;
use crate::tokenizer::components::{normalizer_steps, pre_tokenizer_steps, type_of};

/// Whether the normalizer is NFC (Some(true)), absent or a no-op (Some(false)), or unsupported.
pub(super) fn normalizer_is_nfc(tokenizer: &Tokenizer) -> Option<bool> {
    let steps = normalizer_steps(tokenizer)?;
    steps.iter().all(|step| type_of(step) == Some("NFC")).then_some(!steps.is_empty())
}

/// The split regexes, in order, of `Sequence[Split(Isolated, not inverted)…, ByteLevel]` or a
/// lone `ByteLevel` (whose `use_regex` adds GPT-2's regex last). ByteLevel must be last and must
/// not add a prefix space.
pub(super) fn split_patterns(tokenizer: &Tokenizer) -> Option<Vec<String>> {
    tokenizer.get_pre_tokenizer()?;
    let steps = pre_tokenizer_steps(tokenizer)?;
    let (byte_level, splits) = steps.split_last()?;
    if type_of(byte_level) != Some("ByteLevel") || byte_level["add_prefix_space"] != Value::Bool(false) {
        return None;
    }
    let mut patterns = splits.iter().map(split_pattern).collect::<Option<Vec<_>>>()?;
    match byte_level["use_regex"] {
        Value::Bool(true) => patterns.push(GPT2_PATTERN.to_owned()),
        Value::Bool(false) => {}
        _ => return None,
    }
    Some(patterns)
}

fn split_pattern(step: &Value) -> Option<String> {
    if type_of(step) != Some("Split") || step["behavior"] != "Isolated" || step["invert"] != Value::Bool(false) {
        return None;
    }
    match (&step["pattern"]["Regex"], &step["pattern"]["String"]) {
        (Value::String(regex), Value::Null) => Some(regex.clone()),
        // `Split::new` escapes a string pattern with `regex::escape` and compiles it with onig.
        (Value::Null, Value::String(literal)) => Some(regex::escape(literal)),
        _ => None,
    }
}

/// The BPE model, when it is plain byte-level BPE: no dropout, no byte fallback, no subword
/// prefix or suffix. (`unk_token`/`fuse_unk` never apply: every byte has its token.)
pub(super) fn bpe_model(tokenizer: &Tokenizer) -> Option<Model> {
    let ModelWrapper::BPE(bpe) = tokenizer.get_model() else { return None };
    if bpe.dropout.is_some_and(|p| p != 0.0)
        || bpe.byte_fallback
        || bpe.continuing_subword_prefix.is_some()
        || bpe.end_of_word_suffix.is_some()
    {
        return None;
    }
    Model::new(&bpe.get_vocab(), &super::merge_list::merges(bpe)?, bpe.ignore_merges)
}

/// The added tokens as the loaded tokenizer holds them (ids as it assigned them, which is not
/// always the `id` written in the file).
pub(super) fn added_tokens(tokenizer: &Tokenizer) -> Option<Vec<AddedSpec>> {
    let skip_special = tokenizer.get_encode_special_tokens();
    let mut specs = Vec::new();
    for (id, token) in tokenizer.get_added_tokens_decoder() {
        let pattern = match (token.normalized, tokenizer.get_normalizer()) {
            (true, Some(normalizer)) => {
                let mut normalized = NormalizedString::from(token.content.as_str());
                normalizer.normalize(&mut normalized).ok()?;
                normalized.get().to_owned()
            }
            _ => token.content.clone(),
        };
        specs.push(AddedSpec {
            id,
            pattern,
            normalized: token.normalized,
            single_word: token.single_word,
            lstrip: token.lstrip,
            rstrip: token.rstrip,
            skipped: skip_special && token.special,
        });
    }
    specs.sort_by_key(|spec| spec.id);
    Some(specs)
}
