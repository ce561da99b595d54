//! tokenizers 1.0's encode-only pipeline as an engine: its ids, with byte offsets derived from
//! them exactly.
//!
//! `PipelineTokenizer` returns ids only. Each id's piece of text is known from the vocabulary
//! (`pieces`), so the offsets follow when the pieces tile the text (`tiling`); every call checks
//! that they do, and when they do not (a normalizer changed the text, an unknown token, an added
//! token that strips whitespace) it returns None and the caller encodes with the reference path,
//! which gives `tokenizers` 0.23's offsets. The ids themselves are 1.0's: the differential tests
//! (tests/, tests/compat/test_pipeline_engine.py) prove them equal to 0.23's on every family.
//! 1.0's steps are called one by one (`steps`): a text an NFC normalizer would leave as it is
//! skips it (`chars`), and a SentencePiece BPE without a pre-tokenizer is handed to 1.0's model
//! word by word (`words`), where the vocabulary proves that gives the same ids.

mod canonical;
mod chars;
mod load;
mod pieces;
mod steps;
mod tiling;
mod words;

#[cfg(test)]
mod tests;

pub use load::{load, runs_stub};
use tokenizers1::pipeline::{PipelineNormalizer, PipelineToken, PipelineTokenizer};

use crate::tokenizer::components::offset_trims;
use crate::tokenizer::trim::{model_spaces, str_spaces, trim_offsets};
use crate::tokenizer::{TokenOffsets, Truncation};
use chars::CharTable;
use pieces::{Pieces, Prefix};
use steps::{Split, Steps};

/// The engine of one tokenizer; immutable, `Send + Sync`, shared across worker threads.
pub struct Pipeline {
    tokenizer: PipelineTokenizer,
    steps: Steps,
    pieces: Pieces,
    prefix: Prefix,
    /// `add_prefix_space` of each ByteLevel post-processor that trims offsets, in order.
    trims: Vec<bool>,
    /// Per id, the leading and trailing spaces ByteLevel's `trim_offsets` removes; empty when
    /// nothing trims.
    spaces: Vec<(u32, u32)>,
    /// The pre-tokenizer splits by Unicode character classes (byte-level BPE's Split regexes).
    splits_by_class: bool,
    /// The normalizers are NFC alone (Qwen's): skipped for a text of NFC-stable characters.
    nfc_only: bool,
    /// What a text's characters allow, where either of the two above asks.
    chars: Option<CharTable>,
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
        let splits_by_class = !spelling.sentencepiece;
        let split = if spelling.sentencepiece && words::apply(&tokenizer, reference) {
            Split::Words
        } else {
            Split::PreTokenizer
        };
        let nfc_only = matches!(tokenizer.get_normalizers(), [PipelineNormalizer::NFC(_)]);
        let steps = Steps::new(split);
        let chars = (splits_by_class || nfc_only).then(CharTable::new);
        Some(Pipeline {
            tokenizer,
            steps,
            pieces,
            prefix: spelling.prefix,
            trims,
            spaces,
            splits_by_class,
            nfc_only,
            chars,
        })
    }

    /// Ids and byte offsets of `text` as `tokenizers::Tokenizer::encode(text, false)` (0.23) gives
    /// them, truncated as it truncates; None when this text needs the reference path.
    pub fn encode_truncated(&self, text: &str, truncation: Option<Truncation>) -> Option<TokenOffsets> {
        let mut normalize = true;
        if let Some(table) = &self.chars {
            let chars = table.scan(text);
            if self.splits_by_class && !chars.assigned {
                return None;
            }
            normalize = !(self.nfc_only && chars.nfc_stable);
        }
        let mut tokens: Vec<PipelineToken> = Vec::with_capacity(text.len() / 4 + 8);
        self.steps.encode_into(&self.tokenizer, text, normalize, &mut tokens).ok()?;
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
