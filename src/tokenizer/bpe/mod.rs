//! A fast byte-level BPE backend: ids and byte offsets identical to
//! `tokenizers::Tokenizer::encode(text, false)` for the tokenizer.json shapes most chat models
//! use (Qwen 2/2.5/3, Llama 3, DeepSeek V3/V4, GPT-2, gpt-oss, Mistral Tekken).
//!
//! Supported, else [`FastBpe::from_tokenizer`] returns None:
//! - model: BPE with every byte's token in the vocabulary, any `ignore_merges`, no dropout, no
//!   `byte_fallback`, no `continuing_subword_prefix`/`end_of_word_suffix`;
//! - normalizer: none, NFC, or Sequences of those (NFC only for text already in NFC: otherwise
//!   [`FastBpe::encode`] returns None and the caller uses `tokenizers`);
//! - pre-tokenizer: `ByteLevel(add_prefix_space=false)`, alone or after `Split(Isolated,
//!   invert=false)` steps (Sequence); split regexes run on a small matcher with onig's semantics
//!   when their syntax allows (`pattern.rs`), else on onig as in `tokenizers`;
//! - post-processor: none, ByteLevel (its `trim_offsets` reproduced), TemplateProcessing (a no-op
//!   without special tokens), Sequences of those;
//! - added tokens: all flags (`special`, `normalized`, `single_word`, `lstrip`, `rstrip`).
//!
//! Truncation and padding are the caller's (it clears them on the `tokenizers` side).

mod added;
mod merge;
mod merge_list;
mod pattern;
mod pretokenize;
mod shape;

#[cfg(test)]
pub(super) mod tests;

use std::str::FromStr;

use onig::Region;

use crate::tokenizer::trim::{ceil_char, floor_char, model_spaces, str_spaces, trim_offsets};
use crate::tokenizer::{TokenOffsets, Truncation};
use added::{AddedTokens, Pass};
use merge::{MergeScratch, Model};
use pretokenize::PreTokenizer;

/// The fast backend of one tokenizer; immutable, `Send + Sync`, shared across worker threads.
pub struct FastBpe {
    added: AddedTokens,
    pre_tokenizer: PreTokenizer,
    model: Model,
    /// The normalizer is NFC: only text already in NFC takes the fast path.
    nfc: bool,
    /// `add_prefix_space` of each ByteLevel post-processor that trims offsets, in order.
    trims: Vec<bool>,
    /// Per model id, the leading and trailing spaces (`Ġ` or whitespace) of its token string,
    /// which ByteLevel's `trim_offsets` removes from offsets; empty when nothing trims.
    model_spaces: Vec<(u32, u32)>,
}

impl FastBpe {
    /// Parses a tokenizer.json with `tokenizers` and builds the fast backend for it, or None
    /// when the file does not load or has an unsupported shape.
    pub fn from_tokenizer_json(json: &str) -> Option<FastBpe> {
        FastBpe::from_tokenizer(&tokenizers::Tokenizer::from_str(json).ok()?)
    }

    /// Builds the fast backend for a loaded tokenizer, or None when its shape is unsupported.
    pub fn from_tokenizer(tokenizer: &tokenizers::Tokenizer) -> Option<FastBpe> {
        FastBpe::with_trims(tokenizer, shape::offset_trims(tokenizer)?)
    }

    /// [`FastBpe::from_tokenizer`] for a tokenizer whose post-processor trims `trims`
    /// (`components::offset_trims`), passed apart: the caller may have taken it off `tokenizer`.
    pub fn with_trims(tokenizer: &tokenizers::Tokenizer, trims: Vec<bool>) -> Option<FastBpe> {
        let nfc = shape::normalizer_is_nfc(tokenizer)?;
        let pre_tokenizer = PreTokenizer::new(&shape::split_patterns(tokenizer)?)?;
        let model = shape::bpe_model(tokenizer)?;
        let added = AddedTokens::new(shape::added_tokens(tokenizer)?)?;
        let model_spaces = if trims.is_empty() { Vec::new() } else { model_spaces(tokenizer) };
        Some(FastBpe { added, pre_tokenizer, model, nfc, trims, model_spaces })
    }

    /// Ids and byte offsets of `text` as `tokenizers::Tokenizer::encode(text, false)` gives them,
    /// or None when this text needs the `tokenizers` path (NFC normalizer, text not in NFC).
    pub fn encode(&self, text: &str) -> Option<TokenOffsets> {
        self.encode_truncated(text, None)
    }

    /// [`FastBpe::encode`] with `tokenizers`' truncation: the model's tokens are cut before the
    /// post-processor trims offsets, as `Tokenizer::post_process` does (ByteLevel's trim treats
    /// the first token kept by a left cut as the first token).
    pub fn encode_truncated(&self, text: &str, truncation: Option<Truncation>) -> Option<TokenOffsets> {
        if self.nfc && !is_nfc(text) {
            return None;
        }
        // About four bytes a token in most text: one allocation each, seldom grown.
        let capacity = text.len() / 4 + 8;
        let mut out =
            TokenOffsets { ids: Vec::with_capacity(capacity), offsets: Vec::with_capacity(capacity), truncated: 0 };
        let mut spaces = Vec::new();
        let mut region = Region::new();
        let mut scratch = MergeScratch::default();
        let bytes = text.as_bytes();
        let push_added = |out: &mut TokenOffsets, spaces: &mut Vec<(u32, u32)>, id, start, end| {
            out.ids.push(id);
            out.offsets.push((start, end));
            if !self.trims.is_empty() {
                spaces.push(str_spaces(&text[start..end]));
            }
        };
        self.added.split(Pass::Raw, text, 0, text.len(), |start, end, id| {
            if let Some(id) = id {
                push_added(&mut out, &mut spaces, id, start, end);
                return;
            }
            self.added.split(Pass::Normalized, text, start, end, |start, end, id| {
                if let Some(id) = id {
                    push_added(&mut out, &mut spaces, id, start, end);
                    return;
                }
                self.pre_tokenizer.for_each_piece(text, start, end, &mut region, &mut |start, end| {
                    self.model.tokenize(&bytes[start..end], &mut scratch, &mut |id, s, e| {
                        // A token covering part of a character's bytes covers the whole character.
                        out.ids.push(id);
                        out.offsets.push((floor_char(text, start + s), ceil_char(text, start + e)));
                        if !self.trims.is_empty() {
                            spaces.push(self.model_spaces.get(id as usize).copied().unwrap_or((0, 0)));
                        }
                    });
                });
            });
        });
        if let Some(truncation) = truncation {
            out.truncated = out.ids.len() - truncation.kept(out.ids.len()).len();
            truncation.apply(&mut out.ids);
            truncation.apply(&mut out.offsets);
            truncation.apply(&mut spaces);
        }
        for &add_prefix_space in &self.trims {
            trim_offsets(&mut out.offsets, &spaces, add_prefix_space);
        }
        Some(out)
    }
}

fn is_nfc(text: &str) -> bool {
    text.is_ascii() || unicode_normalization_alignments::is_nfc(text)
}
