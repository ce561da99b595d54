//! Token offsets + generation spans -> assistant mask, exactly as transformers 5.24 computes it.
//! Pure functions: they know neither templates nor tokenizers.

use crate::tokenizer::ByteRange;

/// transformers 5.24's single ordered pass: a token is 1 when it overlaps the current span
/// (`token_end > span_start`), skipping spans that end at or before the token's start.
///
/// Spans are taken in the order the template recorded them, as transformers does: with nested
/// blocks (inner recorded first) the result is the one transformers gives, not a union.
/// Byte offsets give the same mask as transformers' character offsets because every span edge
/// is a character boundary.
pub fn assistant_mask(token_offsets: &[ByteRange], spans: &[ByteRange]) -> Vec<u8> {
    let mut mask = vec![0u8; token_offsets.len()];
    let mut span_index = 0;
    for (token_index, &(token_start, token_end)) in token_offsets.iter().enumerate() {
        while span_index < spans.len() && token_start >= spans[span_index].1 {
            span_index += 1;
        }
        if span_index == spans.len() {
            break;
        }
        if token_end > spans[span_index].0 {
            mask[token_index] = 1;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_inside_a_span() {
        let offsets = [(0, 2), (2, 4), (4, 6), (6, 8)];
        assert_eq!(assistant_mask(&offsets, &[(2, 6)]), [0, 1, 1, 0]);
    }

    #[test]
    fn span_on_token_boundaries_excludes_neighbours() {
        assert_eq!(assistant_mask(&[(0, 3), (3, 5), (5, 9)], &[(3, 5)]), [0, 1, 0]);
    }

    #[test]
    fn tokens_straddling_either_edge_are_in() {
        assert_eq!(assistant_mask(&[(0, 4), (4, 8), (8, 12)], &[(2, 9)]), [1, 1, 1]);
    }

    #[test]
    fn zero_width_tokens() {
        // A zero-width token at a span start is not "overlapping" (end > start fails); inside it is
        // counted only when its end passes the span start, as in transformers.
        assert_eq!(assistant_mask(&[(2, 2), (2, 4), (3, 3), (4, 4)], &[(2, 4)]), [0, 1, 1, 0]);
    }

    #[test]
    fn multi_byte_characters_split_across_tokens() {
        // "é" is bytes 1..3; a byte-level tokenizer may split it as (1,2),(2,3).
        assert_eq!(assistant_mask(&[(0, 1), (1, 2), (2, 3), (3, 4)], &[(1, 3)]), [0, 1, 1, 0]);
    }

    #[test]
    fn several_spans_and_empty_spans() {
        let offsets = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)];
        assert_eq!(assistant_mask(&offsets, &[(1, 1), (1, 2), (3, 5)]), [0, 1, 0, 1, 1]);
    }

    #[test]
    fn no_spans_or_no_tokens() {
        assert_eq!(assistant_mask(&[(0, 1)], &[]), [0]);
        assert!(assistant_mask(&[], &[(0, 1)]).is_empty());
    }

    #[test]
    fn truncated_offsets_keep_the_surviving_part_of_a_span() {
        // Left truncation dropped the tokens before byte 6: the rest of the span stays masked.
        assert_eq!(assistant_mask(&[(6, 8), (8, 10), (10, 12)], &[(2, 10)]), [1, 1, 0]);
    }

    #[test]
    fn nested_spans_follow_transformers_order() {
        // Inner (1,2) recorded before outer (1,4): the scan moves past the inner span and then
        // uses the outer one, so tokens 1..4 are all in.
        assert_eq!(assistant_mask(&[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], &[(1, 2), (1, 4)]), [0, 1, 1, 1, 0]);
    }
}
