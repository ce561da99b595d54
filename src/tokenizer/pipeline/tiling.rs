//! Byte offsets derived from ids: each id's piece must cover the next bytes of the text, so the
//! pieces tile it exactly; then every offset is the one `tokenizers` 0.23 gives that token.

use super::pieces::{Kind, Piece, Pieces, Prefix, METASPACE, SPACE_MARK};
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
        let Piece { kind, bytes: piece, mut lead } = pieces.get(id);
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
            Kind::Text | Kind::Spaced => {
                let mut rest = piece;
                if segment_start && prefixed(prefix, text, at) {
                    // The prepended `▁` stands where the segment's first character stands
                    // (`NormalizedString::prepend` aligns it so), and covers no byte of its own.
                    let [SPACE_MARK, after @ ..] = rest else { return false };
                    rest = after;
                    lead = lead.saturating_sub(1);
                    end_at_least = ceil_char(text, at + 1).min(bytes.len());
                }
                let end =
                    if kind == Kind::Text { text_end(bytes, at, lead, rest) } else { spaced_end(bytes, at, rest) };
                let Some(end) = end else { return false };
                at = end;
            }
        }
        segment_start = false;
        offsets.push((floor_char(text, start), ceil_char(text, at.max(end_at_least))));
    }
    at == bytes.len()
}

/// Where a piece of `lead` `▁`s then `rest` ends in `bytes` when it starts at `at`, or None when
/// the text there is not that piece.
fn text_end(bytes: &[u8], mut at: usize, lead: usize, rest: &[u8]) -> Option<usize> {
    for _ in 0..lead {
        at += space_len(bytes, at)?;
    }
    let body = rest.get(lead..)?;
    let end = at + body.len();
    (bytes.get(at..end)? == body).then_some(end)
}

/// As [`text_end`] for a piece with a `▁` anywhere.
fn spaced_end(bytes: &[u8], mut at: usize, piece: &[u8]) -> Option<usize> {
    for &byte in piece {
        at += match byte {
            SPACE_MARK => space_len(bytes, at)?,
            _ if bytes.get(at) == Some(&byte) => 1,
            _ => return None,
        };
    }
    Some(at)
}

/// The bytes of the space or `▁` a `▁` of a piece stands for at `at`.
fn space_len(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at) {
        Some(b' ') => Some(1),
        _ if bytes[at..].starts_with(METASPACE_UTF8) => Some(METASPACE_UTF8.len()),
        _ => None,
    }
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
