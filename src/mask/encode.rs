//! From a rendered conversation to model inputs: tokenize, truncate, mask, label, pad.

use crate::error::{Error, Result};
use crate::jinja::{Rendered, Span};
use crate::mask::align::assistant_mask;
use crate::runtime::phases::{timed, Phase};
use crate::tokenizer::{ByteRange, Side, TokenOffsets, Tokenizer, Truncation};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PaddingStrategy {
    #[default]
    DoNotPad,
    /// Pad to the longest sequence of the batch.
    Longest,
    /// Pad to `max_length`.
    MaxLength,
}

/// Per-call tokenization options, named as in transformers.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    pub max_length: Option<usize>,
    pub truncation: bool,
    pub truncation_side: Side,
    pub padding: PaddingStrategy,
    pub padding_side: Side,
    pub pad_id: Option<u32>,
    /// The label of tokens outside the assistant mask and of padding.
    pub ignore_index: i64,
    /// Control tokens marked in user data are encoded as text (`mask::sanitize`).
    pub sanitize_control_tokens: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            max_length: None,
            truncation: false,
            truncation_side: Side::Right,
            padding: PaddingStrategy::DoNotPad,
            padding_side: Side::Right,
            pad_id: None,
            ignore_index: -100,
            sanitize_control_tokens: false,
        }
    }
}

impl EncodeOptions {
    /// Rejects combinations transformers rejects, before any work is done.
    pub fn validate(&self) -> Result<()> {
        if self.padding != PaddingStrategy::DoNotPad && self.pad_id.is_none() {
            return Err(Error::input(
                "padding needs a pad token, and this tokenizer has none: set special_tokens={'pad_token': ...}",
            ));
        }
        if self.padding == PaddingStrategy::MaxLength && self.max_length.is_none() {
            return Err(Error::input("padding='max_length' needs max_length"));
        }
        if self.truncation && self.max_length.is_none() {
            return Err(Error::input("truncation needs max_length"));
        }
        Ok(())
    }

    /// The truncation to apply, if any: `max_length` tokens with `truncation`.
    pub fn truncation(&self) -> Option<Truncation> {
        match self.max_length {
            Some(max_length) if self.truncation => Some(Truncation { max_length, side: self.truncation_side }),
            _ => None,
        }
    }
}

/// The model inputs of one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    pub input_ids: Vec<u32>,
    pub attention_mask: Vec<u8>,
    pub assistant_masks: Vec<u8>,
    pub labels: Vec<i64>,
    /// How many tokens truncation removed (0 when the conversation fit).
    pub truncated_tokens: usize,
}

/// Tokenizes, truncates and masks one rendered conversation (padding needs the whole batch).
pub fn encode_rendered(rendered: &Rendered, tokenizer: &Tokenizer, options: &EncodeOptions) -> Result<Encoded> {
    let tokens = timed(Phase::Tokenize, || tokenize(&rendered.text, tokenizer, options))?;
    Ok(timed(Phase::Mask, || masked(tokens, &rendered.spans, options)))
}

/// Ids and byte offsets of `text`, control tokens sanitized if asked, truncated.
fn tokenize(text: &str, tokenizer: &Tokenizer, options: &EncodeOptions) -> Result<TokenOffsets> {
    Ok(if options.sanitize_control_tokens {
        let mut tokens = crate::mask::sanitize::encode_marked(tokenizer, text)?;
        // transformers cuts the sanitized ids as they are (`ids[:max_length]` / `ids[-max_length:]`).
        if let Some(truncation) = options.truncation() {
            let before = tokens.ids.len();
            truncation.apply(&mut tokens.ids);
            truncation.apply(&mut tokens.offsets);
            tokens.truncated = before - tokens.ids.len();
        }
        tokens
    } else {
        tokenizer.encode(text, options.truncation())?
    })
}

/// The row of `tokens`: every token overlapping one of `spans` is trained.
fn masked(tokens: TokenOffsets, spans: &[Span], options: &EncodeOptions) -> Encoded {
    let spans: Vec<ByteRange> = spans.iter().map(|s| (s.start_byte, s.end_byte)).collect();
    let assistant_masks = assistant_mask(&tokens.offsets, &spans);
    let labels = tokens
        .ids
        .iter()
        .zip(&assistant_masks)
        .map(|(&id, &mask)| if mask == 1 { i64::from(id) } else { options.ignore_index })
        .collect();
    let attention_mask = vec![1; tokens.ids.len()];
    Encoded { input_ids: tokens.ids, attention_mask, assistant_masks, labels, truncated_tokens: tokens.truncated }
}

/// The length padding brings every sequence of the batch to, or None without padding.
pub fn padded_length(batch: &[Encoded], options: &EncodeOptions) -> Option<usize> {
    options.pad_id?;
    match options.padding {
        PaddingStrategy::DoNotPad => None,
        PaddingStrategy::Longest => Some(batch.iter().map(|e| e.input_ids.len()).max().unwrap_or(0)),
        PaddingStrategy::MaxLength => Some(options.max_length.unwrap_or(0)),
    }
}

/// The least memory one padded token costs in any output layout: four int64 values, or four
/// list pointers with the padded row vectors behind them.
const PADDED_TOKEN_BYTES: u128 = 32;

/// Refuses padding whose outputs cannot fit in this machine's memory (such as
/// `padding='max_length'` with `max_length=10**12`): allocating them would get the process
/// killed instead of raising.
pub fn check_padded_size(rows: usize, length: usize) -> Result<()> {
    let needed = rows as u128 * length as u128 * PADDED_TOKEN_BYTES;
    match physical_memory_bytes() {
        Some(total) if needed > u128::from(total) => Err(Error::limit(format!(
            "padding {rows} sequences to {length} tokens needs {} GiB, more than this machine's {} GiB of memory",
            needed >> 30,
            total >> 30
        ))),
        _ => Ok(()),
    }
}

fn physical_memory_bytes() -> Option<u64> {
    // SAFETY: sysconf only reads system configuration.
    let (pages, page_bytes) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    u64::try_from(pages).ok()?.checked_mul(u64::try_from(page_bytes).ok()?)
}

/// Pads every sequence to the batch's target length; padding never enters the mask or labels.
/// (`matrix::matrices` pads the same way while it fills arrays.)
pub fn pad_batch(batch: &mut [Encoded], options: &EncodeOptions) -> Result<()> {
    let (Some(target), Some(pad_id)) = (padded_length(batch, options), options.pad_id) else {
        return Ok(());
    };
    check_padded_size(batch.len(), target)?;
    for encoded in batch {
        let missing = target.saturating_sub(encoded.input_ids.len());
        pad(&mut encoded.input_ids, missing, pad_id, options.padding_side);
        pad(&mut encoded.attention_mask, missing, 0, options.padding_side);
        pad(&mut encoded.assistant_masks, missing, 0, options.padding_side);
        pad(&mut encoded.labels, missing, options.ignore_index, options.padding_side);
    }
    Ok(())
}

fn pad<T: Copy>(values: &mut Vec<T>, missing: usize, fill: T, side: Side) {
    match side {
        Side::Right => values.extend(std::iter::repeat_n(fill, missing)),
        Side::Left => {
            values.splice(0..0, std::iter::repeat_n(fill, missing));
        }
    }
}

/// An unpadded row of `ids` with assistant mask `mask`, for tests.
#[cfg(test)]
pub(crate) fn test_row(ids: &[u32], mask: &[u8], ignore_index: i64) -> Encoded {
    Encoded {
        input_ids: ids.to_vec(),
        attention_mask: vec![1; ids.len()],
        assistant_masks: mask.to_vec(),
        labels: ids.iter().zip(mask).map(|(&i, &m)| if m == 1 { i64::from(i) } else { ignore_index }).collect(),
        truncated_tokens: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(ids: &[u32], mask: &[u8]) -> Encoded {
        test_row(ids, mask, -100)
    }

    #[test]
    fn truncation_sides() {
        let mut options = EncodeOptions { max_length: Some(2), truncation: true, ..Default::default() };
        assert_eq!(options.truncation().map(|t| t.kept(4)), Some(0..2));
        options.truncation_side = Side::Left;
        assert_eq!(options.truncation().map(|t| t.kept(4)), Some(2..4));
        assert_eq!(options.truncation().map(|t| t.kept(1)), Some(0..1));
        options.truncation = false;
        assert_eq!(options.truncation(), None);
    }

    #[test]
    fn left_padding_to_longest() {
        let mut batch = vec![encoded(&[5], &[1]), encoded(&[6, 7, 8], &[0, 1, 0])];
        let options = EncodeOptions {
            padding: PaddingStrategy::Longest,
            padding_side: Side::Left,
            pad_id: Some(0),
            ..Default::default()
        };
        pad_batch(&mut batch, &options).unwrap();
        assert_eq!(batch[0].input_ids, [0, 0, 5]);
        assert_eq!(batch[0].attention_mask, [0, 0, 1]);
        assert_eq!(batch[0].assistant_masks, [0, 0, 1]);
        assert_eq!(batch[0].labels, [-100, -100, 5]);
        assert_eq!(batch[1], encoded(&[6, 7, 8], &[0, 1, 0]));
    }

    #[test]
    fn max_length_padding_leaves_longer_sequences_alone() {
        let mut batch = vec![encoded(&[5], &[0]), encoded(&[1, 2, 3, 4], &[0, 0, 0, 0])];
        let options = EncodeOptions {
            padding: PaddingStrategy::MaxLength,
            max_length: Some(3),
            pad_id: Some(9),
            ..Default::default()
        };
        pad_batch(&mut batch, &options).unwrap();
        assert_eq!(batch[0].input_ids, [5, 9, 9]);
        assert_eq!(batch[1].input_ids.len(), 4);
    }

    #[test]
    fn padding_without_pad_token_is_rejected() {
        let options = EncodeOptions { padding: PaddingStrategy::Longest, ..Default::default() };
        assert!(options.validate().is_err());
    }
}
