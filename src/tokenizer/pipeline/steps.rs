//! tokenizers 1.0's encode, step by step: `PipelineTokenizer::encode_into`'s steps called here in
//! its order (added tokens on the raw text, the normalizers, added tokens on the normalized text,
//! the pre-tokenizer, then the model on the pieces, with its word cache), so that two of them can
//! differ where that provably keeps the ids: the normalizers are skipped for a text they would
//! return unchanged (`chars`), and a SentencePiece BPE's segments are cut into words (`words`)
//! instead of reaching the model whole.

use std::sync::{Mutex, PoisonError};

use tokenizers1::pipeline::{
    normalize_all, Model, PipelineModelScratch, PipelineToken, PipelineTokenizer, PreTokenizer, PreTokenizerScratch,
    Segment, Span, SpecialSegmentIterator,
};
use tokenizers1::tokenizer::Result;

use super::words;

/// What splits a normalized segment into the pieces the model encodes one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    /// The tokenizer's own pre-tokenizer.
    PreTokenizer,
    /// A SentencePiece BPE without a pre-tokenizer, cut into words (`words`).
    Words,
}

/// The steps of one tokenizer, with the scratch of each thread that encoded (the model's
/// buffers and its word cache, which must outlive a call to be of use).
pub(super) struct Steps {
    pub(super) split: Split,
    scratches: Mutex<Vec<Scratch>>,
}

struct Scratch {
    model: PipelineModelScratch,
    split: PreTokenizerScratch,
    spans: Vec<Span>,
}

impl Steps {
    pub(super) fn new(split: Split) -> Steps {
        Steps { split, scratches: Mutex::new(Vec::new()) }
    }

    /// Appends the ids of `text` to `out`, as `tokenizer.encode_into` with no special tokens;
    /// without its normalizers when `normalize` is false (for texts they return unchanged).
    pub(super) fn encode_into(
        &self,
        tokenizer: &PipelineTokenizer,
        text: &str,
        normalize: bool,
        out: &mut Vec<PipelineToken>,
    ) -> Result<()> {
        let mut scratch = self.take().unwrap_or_else(|| Scratch {
            model: tokenizer.get_model().init_scratch(),
            split: PreTokenizerScratch::default(),
            spans: Vec::new(),
        });
        let encoded = self.encode(tokenizer, text, normalize, &mut scratch, out);
        self.put(scratch);
        encoded
    }

    fn take(&self) -> Option<Scratch> {
        self.scratches.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    fn put(&self, scratch: Scratch) {
        self.scratches.lock().unwrap_or_else(PoisonError::into_inner).push(scratch);
    }

    fn encode(
        &self,
        tokenizer: &PipelineTokenizer,
        text: &str,
        normalize: bool,
        scratch: &mut Scratch,
        out: &mut Vec<PipelineToken>,
    ) -> Result<()> {
        let added = tokenizer.get_added_vocabulary();
        let normalizers = if normalize { tokenizer.get_normalizers() } else { &[] };
        for segment in SpecialSegmentIterator::new(text, added, false, false) {
            match segment {
                Segment::SpecialToken(id) => out.push(PipelineToken::from(id)),
                Segment::Text { text: chunk, input_offset } => {
                    let normalized = normalize_all(normalizers, chunk, input_offset)?;
                    for segment in SpecialSegmentIterator::new(&normalized, added, true, false) {
                        match segment {
                            Segment::SpecialToken(id) => out.push(PipelineToken::from(id)),
                            Segment::Text { text: piece, .. } => self.encode_piece(tokenizer, piece, scratch, out)?,
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The model's ids of one normalized segment between added tokens.
    fn encode_piece(
        &self,
        tokenizer: &PipelineTokenizer,
        piece: &str,
        scratch: &mut Scratch,
        out: &mut Vec<PipelineToken>,
    ) -> Result<()> {
        // `Span` holds u32 offsets; the pre-tokenizer relies on them fitting.
        if u32::try_from(piece.len()).is_err() {
            return Err("a text segment past 4 GiB".into());
        }
        scratch.spans.clear();
        match self.split {
            Split::PreTokenizer => {
                tokenizer.get_pre_tokenizer().pre_tokenize(piece, &mut scratch.split, &mut scratch.spans)?
            }
            Split::Words => words::cut(piece, &mut scratch.spans),
        }
        out.reserve(scratch.spans.len());
        tokenizer.get_model().tokenize_spans(piece, &scratch.spans, &mut scratch.model, out)
    }
}
