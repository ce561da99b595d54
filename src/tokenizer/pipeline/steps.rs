//! tokenizers 1.0's encode, step by step: `PipelineTokenizer::encode_into`'s steps called here in
//! its order (added tokens on the raw text, the normalizers, added tokens on the normalized text,
//! the pre-tokenizer, then the model on the pieces, with its word cache), so that two of them can
//! differ where that provably keeps the ids: the normalizers are skipped for a text they would
//! return unchanged (`chars`), and a SentencePiece BPE's segments are cut into words (`words`)
//! instead of reaching the model whole.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

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
    scratches: Slots,
}

/// Scratches kept between encodes, more than threads encode at once.
const SLOTS: usize = 32;

/// Scratches kept without a lock: a process forked while another thread held a lock around
/// them inherited it held, and its first encode waited forever (tests/hardening/test_ffi.py).
/// A slot is emptied or filled by one atomic operation, so a fork at any moment leaves the child
/// at worst a scratch short. Each non-null pointer is a `Box<Scratch>` the slot owns.
struct Slots([AtomicPtr<Scratch>; SLOTS]);

impl Slots {
    fn new() -> Slots {
        Slots(std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())))
    }

    fn take(&self) -> Option<Box<Scratch>> {
        self.0.iter().find_map(|slot| {
            let taken = slot.swap(ptr::null_mut(), Ordering::Acquire);
            // SAFETY: a non-null pointer in a slot is a leaked `Box<Scratch>`, and the swap
            // removed it from the slot, so this is its only owner.
            (!taken.is_null()).then(|| unsafe { Box::from_raw(taken) })
        })
    }

    /// Keeps `scratch` in a free slot; drops it when every slot is full.
    fn put(&self, scratch: Box<Scratch>) {
        let raw = Box::into_raw(scratch);
        let kept = self
            .0
            .iter()
            .any(|slot| slot.compare_exchange(ptr::null_mut(), raw, Ordering::Release, Ordering::Relaxed).is_ok());
        if !kept {
            // SAFETY: no slot took `raw`, so it is still the `Box` made above.
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}

// Scratches move between threads through the slots, which `AtomicPtr` does not check.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Scratch>();
};

impl Drop for Slots {
    fn drop(&mut self) {
        while self.take().is_some() {}
    }
}

struct Scratch {
    model: PipelineModelScratch,
    split: PreTokenizerScratch,
    spans: Vec<Span>,
}

impl Steps {
    pub(super) fn new(split: Split) -> Steps {
        Steps { split, scratches: Slots::new() }
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
        let mut scratch = self.scratches.take().unwrap_or_else(|| {
            Box::new(Scratch {
                model: tokenizer.get_model().init_scratch(),
                split: PreTokenizerScratch::default(),
                spans: Vec::new(),
            })
        });
        let encoded = self.encode(tokenizer, text, normalize, &mut scratch, out);
        self.scratches.put(scratch);
        encoded
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
