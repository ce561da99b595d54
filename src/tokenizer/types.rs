//! The types every tokenizer backend shares and the mask pipeline reads: ids with byte offsets,
//! truncation, and the option enums of tokenization. A leaf: it uses nothing else of the crate but
//! the error type.

use std::ops::Range;
use std::str::FromStr;

use tokenizers::TruncationDirection;

use crate::error::{Error, Result};

/// A half-open byte range `[start_byte, end_byte)`.
pub type ByteRange = (usize, usize);

/// Which end of a sequence truncation cuts or padding fills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Side {
    Left,
    #[default]
    Right,
}

/// Ids and the byte range of the rendered text each id covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenOffsets {
    pub ids: Vec<u32>,
    pub offsets: Vec<ByteRange>,
    /// How many tokens truncation removed.
    pub truncated: usize,
}

/// `tokenizers`' truncation of a single sequence with stride 0: keep `max_length` tokens, cutting
/// from `side`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub max_length: usize,
    pub side: Side,
}

impl Truncation {
    /// The indices kept out of `len` tokens.
    pub fn kept(&self, len: usize) -> Range<usize> {
        let keep = len.min(self.max_length);
        match self.side {
            Side::Right => 0..keep,
            Side::Left => len - keep..len,
        }
    }

    /// Cuts `values`, one per token, to the kept tokens.
    pub fn apply<T>(&self, values: &mut Vec<T>) {
        let kept = self.kept(values.len());
        values.truncate(kept.end);
        values.drain(..kept.start);
    }

    pub(crate) fn direction(&self) -> TruncationDirection {
        match self.side {
            Side::Right => TruncationDirection::Right,
            Side::Left => TruncationDirection::Left,
        }
    }
}

/// Which backend encodes: `Auto` takes tokenizers 1.0's pipeline where it applies, else the fast
/// BPE where the tokenizer's shape is supported, else `tokenizers` 0.23; `Tokenizers` always uses
/// `tokenizers` 0.23; `Fast` is the fast BPE, refusing an unsupported shape; `Tokenizers1` is the
/// pipeline, refusing a tokenizer.json it does not apply to. Texts an engine declines (its
/// offsets would not be exact) always go to `tokenizers` 0.23.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    #[default]
    Auto,
    Tokenizers,
    Fast,
    Tokenizers1,
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "auto" => Ok(Backend::Auto),
            "tokenizers" => Ok(Backend::Tokenizers),
            "fast" => Ok(Backend::Fast),
            "tokenizers1" => Ok(Backend::Tokenizers1),
            other => Err(Error::input(format!(
                "backend must be 'auto', 'tokenizers', 'fast' or 'tokenizers1', got {other:?}"
            ))),
        }
    }
}
