//! tokenizers 1.0's encode-only pipeline as an engine: its ids, with byte offsets derived from
//! them exactly.
//!
//! `PipelineTokenizer` returns ids only. Each id's piece of text is known from the vocabulary
//! (`pieces`), so the offsets follow when the pieces tile the text (`tiling`); every call checks
//! that they do, and when they do not (a normalizer changed the text, an unknown token, an added
//! token that strips whitespace) it returns None and the caller encodes with the reference path,
//! which gives `tokenizers` 0.23's offsets. The ids themselves are 1.0's: the differential tests
//! (tests/, tests/compat/test_pipeline_engine.py) prove them equal to 0.23's on every family.
//! SentencePiece BPE without a pre-tokenizer is handed to 1.0's model word by word (`words`),
//! where the vocabulary proves that gives the same ids.

mod canonical;
mod load;
mod pieces;
mod tiling;
mod words;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use load::{load, runs_stub};
use tokenizers1::pipeline::{EncodeOptions, PipelineToken, PipelineTokenizer};

use crate::tokenizer::components::offset_trims;
use crate::tokenizer::trim::{model_spaces, str_spaces, trim_offsets};
use crate::tokenizer::{TokenOffsets, Truncation};
use pieces::{Pieces, Prefix};
use words::Words;

/// The engine of one tokenizer; immutable, `Send + Sync`, shared across worker threads.
pub struct Pipeline {
    tokenizer: PipelineTokenizer,
    options: EncodeOptions,
    pieces: Pieces,
    prefix: Prefix,
    /// `add_prefix_space` of each ByteLevel post-processor that trims offsets, in order.
    trims: Vec<bool>,
    /// Per id, the leading and trailing spaces ByteLevel's `trim_offsets` removes; empty when
    /// nothing trims.
    spaces: Vec<(u32, u32)>,
    /// The pre-tokenizer splits by Unicode character classes (byte-level BPE's Split regexes).
    splits_by_class: bool,
    /// A SentencePiece BPE encoded word by word, where that provably keeps the ids.
    words: Option<Words>,
}

impl Pipeline {
    /// The engine for `json`, whose `tokenizers` 0.23 load is `reference`; None when tokenizers 1.0
    /// cannot load or run it, or when its shape is one the offsets are not derived for.
    pub fn new(json: &str, reference: &tokenizers::Tokenizer) -> Option<Pipeline> {
        Pipeline::with_loaded(load(json)?, reference, offset_trims(reference)?)
    }

    /// Whether the offsets are derived for the shape of `reference` (a `tokenizers` 0.23 load)
    /// with these post-processor `trims` (`components::offset_trims`); cheap, no table is built.
    pub fn takes_shape(reference: &tokenizers::Tokenizer, trims: &[bool]) -> bool {
        shape(reference, trims).is_some()
    }

    /// The engine for a tokenizer [`load`] returned, whose `tokenizers` 0.23 load is `reference`
    /// and whose post-processor trims `trims` (passed apart: the caller may have taken the
    /// post-processor off `reference`).
    pub fn with_loaded(
        tokenizer: PipelineTokenizer,
        reference: &tokenizers::Tokenizer,
        trims: Vec<bool>,
    ) -> Option<Pipeline> {
        let spelling = shape(reference, &trims)?;
        let pieces = Pieces::new(reference, spelling)?;
        let spaces = if trims.is_empty() { Vec::new() } else { spaces(reference) };
        let options = EncodeOptions::no_specials();
        let splits_by_class = !spelling.sentencepiece;
        let words = if spelling.sentencepiece { Words::new(&tokenizer, reference) } else { None };
        Some(Pipeline { tokenizer, options, pieces, prefix: spelling.prefix, trims, spaces, splits_by_class, words })
    }

    /// Ids and byte offsets of `text` as `tokenizers::Tokenizer::encode(text, false)` (0.23) gives
    /// them, truncated as it truncates; None when this text needs the reference path.
    pub fn encode_truncated(&self, text: &str, truncation: Option<Truncation>) -> Option<TokenOffsets> {
        if self.splits_by_class && !assigned_in_onig(text) {
            return None;
        }
        let mut tokens: Vec<PipelineToken> = Vec::with_capacity(text.len() / 4 + 8);
        match &self.words {
            Some(words) => words.encode_into(&self.tokenizer, text, &mut tokens),
            None => self.tokenizer.encode_into(text, &self.options, &mut tokens),
        }
        .ok()?;
        // Same size and alignment (`PipelineToken` is a transparent u32): collected in place.
        let mut ids: Vec<u32> = tokens.into_iter().map(u32::from).collect();
        let mut offsets = Vec::with_capacity(ids.len());
        if !tiling::derive(&self.pieces, self.prefix, text, &ids, &mut offsets) {
            return None;
        }
        let mut truncated = 0;
        let mut spaces: Vec<(u32, u32)> = if self.trims.is_empty() {
            Vec::new()
        } else {
            ids.iter().map(|&id| self.spaces.get(id as usize).copied().unwrap_or((0, 0))).collect()
        };
        if let Some(truncation) = truncation {
            // Cut before the post-processor trims, as `Tokenizer::post_process` does.
            truncated = ids.len() - truncation.kept(ids.len()).len();
            truncation.apply(&mut ids);
            truncation.apply(&mut offsets);
            truncation.apply(&mut spaces);
        }
        for &add_prefix_space in &self.trims {
            trim_offsets(&mut offsets, &spaces, add_prefix_space);
        }
        Some(TokenOffsets { ids, offsets, truncated })
    }
}

/// The spelling of a shape the offsets are derived for: SentencePiece vocabularies with a
/// trimming post-processor are not.
fn shape(reference: &tokenizers::Tokenizer, trims: &[bool]) -> Option<pieces::Spelling> {
    let spelling = pieces::spelling(reference)?;
    (!spelling.sentencepiece || trims.is_empty()).then_some(spelling)
}

/// Whether every character of `text` is assigned in the Unicode version of 0.23's regex engine
/// (onig, Unicode 16.0, as `unicode-general-category` 1.1). tokenizers 1.0's splitter classifies
/// by Unicode 17, where characters new in 17 have a category and in 16 are unassigned (`Cn`):
/// U+1F6D8 is a symbol to one and not the other, so the two split "🛘ר" differently and their ids
/// differ while the pieces of each still tile the text. Such texts take the reference path.
fn assigned_in_onig(text: &str) -> bool {
    text.is_ascii() || text.chars().all(|c| c.is_ascii() || assigned(c))
}

fn assigned(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory};
    // The category lookup is a search over ranges; every text with a non-ASCII character asks it
    // per character, so the Basic Multilingual Plane's answers are kept as one bit each (8 KiB).
    static BMP_ASSIGNED: OnceLock<Vec<u64>> = OnceLock::new();
    let code = c as usize;
    if code >= 0x10000 {
        return get_general_category(c) != GeneralCategory::Unassigned;
    }
    let bits = BMP_ASSIGNED.get_or_init(|| {
        let mut bits = vec![0u64; 0x10000 / 64];
        for c in (0..0x10000u32).filter_map(char::from_u32) {
            if get_general_category(c) != GeneralCategory::Unassigned {
                bits[c as usize / 64] |= 1 << (c as usize % 64);
            }
        }
        bits
    });
    bits[code / 64] & (1 << (code % 64)) != 0
}

/// Per id, ByteLevel's spaces: of the token string for model tokens, of the content for added ones.
fn spaces(reference: &tokenizers::Tokenizer) -> Vec<(u32, u32)> {
    let mut spaces = model_spaces(reference);
    for (id, token) in reference.get_added_tokens_decoder() {
        let id = id as usize;
        if spaces.len() <= id {
            spaces.resize(id + 1, (0, 0));
        }
        spaces[id] = str_spaces(&token.content);
    }
    spaces
}
