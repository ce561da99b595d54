//! SentencePiece BPE without a pre-tokenizer (Llama 2, Mistral), encoded word by word.
//!
//! With no pre-tokenizer, each text segment between added tokens reaches the BPE model as one
//! word: merges run over a whole message, and no word repeats for tokenizers 1.0's word cache to
//! answer. Most of such a segment can be cut without changing its ids. A merge joins two adjacent
//! symbols into a vocabulary entry (`tokenizers` refuses to load a merge whose result is not one,
//! so checking the vocabulary checks every merge), and every symbol is a substring of the
//! normalized segment.
//! When no vocabulary entry holds a `▁` right after another character, no symbol ever spans a
//! point where a `▁` follows another character: no merge pairs the two sides of it, the merges of
//! each side are the ones it would make alone, in the same order of rank, and so each side
//! encoded apart gives the same ids. Byte fallback and unknown characters keep this: the vocabulary
//! holds `▁` itself, so a `▁` is never a byte or an unknown symbol, and the byte tokens are
//! vocabulary entries checked like the others.
//!
//! The cut points are found here; `steps` calls tokenizers 1.0's steps around them.
//! A pre-tokenizer added to the JSON it loads cannot make these cuts in rc.3: a `Split` on the
//! literal `▁`, with any behavior, inverted or not, also cuts inside runs of `▁` (which merge:
//! "▁▁" is an entry), and its reader compiles no regex its native splitter does not know.

use tokenizers::ModelWrapper;
use tokenizers1::pipeline::{PipelinePreTokenizer, PipelineTokenizer, Span};

use super::pieces::METASPACE;

/// Whether `tokenizer`, a SentencePiece BPE loaded from the same tokenizer.json as `reference`,
/// is encoded word by word: tokenizers 1.0 leaves its segments uncut, and cutting before a `▁`
/// that follows another character provably keeps the ids.
pub(super) fn apply(tokenizer: &PipelineTokenizer, reference: &tokenizers::Tokenizer) -> bool {
    let ModelWrapper::BPE(bpe) = reference.get_model() else { return false };
    // `ignore_merges` emits a word found in the vocabulary whole, which BPE over the longer
    // word would not; dropout makes merges random; a subword prefix or suffix is not a `▁`.
    let plain_bpe = !bpe.ignore_merges
        && bpe.dropout.is_none_or(|p| p == 0.0)
        && bpe.continuing_subword_prefix.is_none()
        && bpe.end_of_word_suffix.is_none();
    let vocab = bpe.get_vocab();
    let separable = vocab.contains_key(METASPACE.encode_utf8(&mut [0; 4])) && vocab.keys().all(|t| !joins(t));
    let unsplit = matches!(tokenizer.get_pre_tokenizer(), PipelinePreTokenizer::None);
    plain_bpe && separable && unsplit
}

/// Whether a vocabulary entry holds a `▁` right after another character, so that BPE could merge
/// across such a point.
fn joins(token: &str) -> bool {
    let mut previous = METASPACE;
    token.chars().any(|c| {
        let joined = c == METASPACE && previous != METASPACE;
        previous = c;
        joined
    })
}

/// Appends to `spans` the words of a normalized segment, whose length fits in u32: cut before
/// each `▁` that follows another character.
pub(super) fn cut(text: &str, spans: &mut Vec<Span>) {
    let end = text.len() as u32;
    let mut start = 0;
    for (at, _) in text.match_indices(METASPACE) {
        if at > 0 && !text[..at].ends_with(METASPACE) {
            spans.push(Span { start, end: at as u32 });
            start = at as u32;
        }
    }
    if start < end {
        spans.push(Span { start, end });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        cut(text, &mut spans);
        spans.iter().map(|span| &text[span.start as usize..span.end as usize]).collect()
    }

    #[test]
    fn cuts_before_each_run_of_metaspace_after_another_character() {
        assert_eq!(words("▁Hello▁▁world▁"), ["▁Hello", "▁▁world", "▁"]);
        assert_eq!(words("a▁b"), ["a", "▁b"]);
        assert_eq!(words("▁▁▁"), ["▁▁▁"]);
        assert_eq!(words("ab\n▁▁x"), ["ab\n", "▁▁x"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn an_entry_with_a_metaspace_inside_joins() {
        assert!(joins("a▁"));
        assert!(joins("▁a▁b"));
        assert!(!joins("▁▁ab"));
        assert!(!joins("<0xE2>"));
    }
}
