//! Byte offsets derived from ids: each id's piece must cover the next bytes of the text, so the
//! pieces tile it exactly; then every offset is the one `tokenizers` 0.23 gives that token.

use super::pieces::{Kind, Pieces, Prefix, METASPACE, SPACE_MARK};
use crate::tokenizer::trim::{ceil_char, floor_char};
use crate::tokenizer::ByteRange;

const METASPACE_UTF8: &[u8] = "\u{2581}".as_bytes();

/// Appends the byte offset of each id to `offsets`, as `tokenizers` 0.23 gives them before any
/// post-processor, and returns true; false (with `offsets` partly filled) when the pieces do not
/// tile `text` exactly, which means the text needs the reference path.
pub(super) fn derive(pieces: &Pieces, prefix: Prefix, text: &str, ids: &[u32], offsets: &mut Vec<ByteRange>) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    // At the start of the text or after an added token matched on the raw text: where a `▁` with
    // no input byte may have been prepended.
    let mut segment_start = true;
    for &id in ids {
        let (kind, piece) = pieces.get(id);
        let start = at;
        let mut end_at_least = at;
        match kind {
            Kind::Missing => return false,
            Kind::Added => {
                if !bytes[at..].starts_with(piece) {
                    return false;
                }
                at += piece.len();
                offsets.push((start, at));
                segment_start = true;
                continue;
            }
            Kind::Byte => {
                if bytes.get(at) != piece.first() {
                    return false;
                }
                at += 1;
            }
            Kind::Text => {
                let mut rest = piece;
                if segment_start && prefixed(prefix, text, at) {
                    // The prepended `▁` stands where the segment's first character stands
                    // (`NormalizedString::prepend` aligns it so), and covers no byte of its own.
                    let [SPACE_MARK, after @ ..] = rest else { return false };
                    rest = after;
                    end_at_least = ceil_char(text, at + 1).min(bytes.len());
                }
                // Byte-level pieces, and SentencePiece pieces over a text that spells `▁` as
                // itself, match byte for byte: one comparison. Otherwise each `▁` may stand for a space.
                if bytes[at..].starts_with(rest) {
                    at += rest.len();
                    rest = &[];
                }
                for &byte in rest {
                    let step = match byte {
                        SPACE_MARK if bytes.get(at) == Some(&b' ') => 1,
                        SPACE_MARK if bytes[at..].starts_with(METASPACE_UTF8) => METASPACE_UTF8.len(),
                        _ if bytes.get(at) == Some(&byte) => 1,
                        _ => return false,
                    };
                    at += step;
                }
            }
        }
        segment_start = false;
        offsets.push((floor_char(text, start), ceil_char(text, at.max(end_at_least))));
    }
    at == bytes.len()
}

/// Whether a `▁` was prepended to the segment that starts at `at` (which is not empty: a token
/// of it follows).
fn prefixed(prefix: Prefix, text: &str, at: usize) -> bool {
    let starts_with_space = || text[at..].starts_with([' ', METASPACE]);
    match prefix {
        Prefix::None => false,
        Prefix::EverySegment => true,
        Prefix::Always => !starts_with_space(),
        Prefix::First => at == 0 && !starts_with_space(),
    }
}
