//! Loading tokenizers 1.0: the whole tokenizer.json, and first a cheap check on a stub of it.
//!
//! rc.3 reads some Split patterns it cannot run (no regex engine for patterns its native splitter
//! does not know: Qwen3.5/3.6's) and fails only at encode, after a load that takes longer than
//! `tokenizers` 0.23's. The stub has the file's components and added tokens and a BPE model with
//! its settings but only the vocabulary a probe text can reach and no merges: it loads in a
//! millisecond and runs the same normalizer and pre-tokenizer code, so a file that fails there is
//! never loaded whole.

use serde::Serialize;
use serde_json::{json, Map, Value};
use tokenizers::ModelWrapper;
use tokenizers1::pipeline::{EncodeOptions, PipelineTokenizer};

use super::canonical;
use super::pieces::METASPACE;
use crate::tokenizer::byte_level::byte_chars;

/// A text that loads the pipeline's pre-tokenizer and model (see the module comment): digits,
/// punctuation, CJK, an emoji and a newline.
const PROBE: &str = "Probe 12, \u{4f60}\u{597d} \u{1f44d}\n";

/// tokenizers 1.0's load of `json` (upgraded to its canonical format first), when it can also
/// run it; needs nothing of 0.23, so it can run beside 0.23's load.
pub fn load(json: &str) -> Option<PipelineTokenizer> {
    let spliced = canonical::canonicalize(json).and_then(|canonical| tokenizers1::from_json(&canonical).ok());
    let tokenizer = match spliced {
        Some(tokenizer) => tokenizer,
        None => tokenizers1::from_json(&tokenizers1::canonicalize_str(json).ok()?).ok()?,
    };
    tokenizer.encode_into(PROBE, &EncodeOptions::no_specials(), &mut Vec::new()).ok()?;
    Some(tokenizer)
}

/// Whether tokenizers 1.0 loads and runs the stub of the BPE tokenizer `reference` (0.23's load
/// of the file, whose post-processor is `post_processor`).
pub fn runs_stub(reference: &tokenizers::Tokenizer, post_processor: Option<&tokenizers::PostProcessorWrapper>) -> bool {
    stub(reference, post_processor).is_some_and(|stub| load(&stub.to_string()).is_some())
}

/// The stub tokenizer.json, from 0.23's serialization of each component (what tokenizers 1.0's
/// upgrade pass reads: the format 0.23 writes).
fn stub(reference: &tokenizers::Tokenizer, post_processor: Option<&tokenizers::PostProcessorWrapper>) -> Option<Value> {
    let ModelWrapper::BPE(bpe) = reference.get_model() else { return None };
    // Every character the probe's pieces can start as, in either spelling (byte-level's alphabet;
    // SentencePiece's `▁` and byte-fallback tokens), and the unknown token. Renumbered densely:
    // the ids do not matter to whether the stub runs.
    let candidates = byte_chars()
        .into_iter()
        .chain(PROBE.chars())
        .chain([METASPACE])
        .map(String::from)
        .chain((0..=255u8).map(|byte| format!("<0x{byte:02X}>")))
        .chain(bpe.unk_token.clone());
    let mut vocab = Map::new();
    for token in candidates {
        if reference.token_to_id(&token).is_some() && !vocab.contains_key(&token) {
            vocab.insert(token, Value::from(vocab.len()));
        }
    }
    let mut added_tokens = Vec::new();
    for (id, token) in reference.get_added_tokens_decoder() {
        let mut entry = serde_json::to_value(token).ok()?;
        entry.as_object_mut()?.insert("id".into(), Value::from(id));
        added_tokens.push(entry);
    }
    Some(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": component(reference.get_normalizer())?,
        "pre_tokenizer": component(reference.get_pre_tokenizer())?,
        "post_processor": component(post_processor)?,
        "decoder": component(reference.get_decoder())?,
        "model": {
            "type": "BPE",
            "dropout": bpe.dropout,
            "unk_token": bpe.unk_token,
            "continuing_subword_prefix": bpe.continuing_subword_prefix,
            "end_of_word_suffix": bpe.end_of_word_suffix,
            "fuse_unk": bpe.fuse_unk,
            "byte_fallback": bpe.byte_fallback,
            "ignore_merges": bpe.ignore_merges,
            "vocab": vocab,
            "merges": [],
        },
    }))
}

/// A component as 0.23 serializes it; null when absent.
fn component(component: Option<&impl Serialize>) -> Option<Value> {
    component.map_or(Ok(Value::Null), serde_json::to_value).ok()
}
