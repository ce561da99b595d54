//! `sanitize_control_tokens`: control tokens that came from user data are encoded as text.
//!
//! transformers 5.24 wraps every control token found in the caller's strings in the private-use
//! markers U+F0000 … U+F0001 before rendering (`mark_control_tokens`, done on the Python side
//! here too), then `encode_marked_chat` splits the rendered text at the markers: a marked token
//! is encoded without added tokens, the text between is encoded normally, and lone markers are
//! dropped but still separate the text around them. transformers has no offsets on that path and
//! so refuses assistant masks with it; this module keeps every token's byte range in the marked
//! text (the one the generation spans refer to), so masks work as on the ordinary path.

use crate::error::{Error, Result};
use crate::tokenizer::{TokenOffsets, Tokenizer};

pub const START: char = '\u{F0000}';
pub const END: char = '\u{F0001}';

/// A piece of the rendered text between markers, and how it is encoded.
#[derive(Debug, PartialEq, Eq)]
struct Piece {
    start_byte: usize,
    end_byte: usize,
    /// A marked control token: encoded as plain text.
    as_text: bool,
}

/// Splits like transformers' `START(tok1|tok2|…)END|[START END]` over the added tokens, longest
/// first: `[text, marked token, text, …]`, lone markers only separating text.
fn pieces(text: &str, added_tokens_longest_first: &[String]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while let Some(found) = text[at..].find([START, END]) {
        let marker = at + found;
        let after_marker = marker + START.len_utf8();
        let token = text[marker..].starts_with(START).then(|| {
            added_tokens_longest_first.iter().find(|token| {
                text[after_marker..].starts_with(token.as_str()) && text[after_marker + token.len()..].starts_with(END)
            })
        });
        pieces.push(Piece { start_byte: text_start, end_byte: marker, as_text: false });
        match token.flatten() {
            Some(token) => {
                let end = after_marker + token.len();
                pieces.push(Piece { start_byte: after_marker, end_byte: end, as_text: true });
                at = end + END.len_utf8();
            }
            None => at = after_marker,
        }
        text_start = at;
    }
    pieces.push(Piece { start_byte: text_start, end_byte: text.len(), as_text: false });
    pieces
}

/// transformers' `encode_marked_chat`, with each token's byte range in `text`.
pub fn encode_marked(tokenizer: &Tokenizer, text: &str) -> Result<TokenOffsets> {
    let added = tokenizer.added_tokens_longest_first();
    let newline = tokenizer.encode("\n", None)?;
    let mut out = TokenOffsets::default();
    for (index, piece) in pieces(text, &added).into_iter().enumerate() {
        let content = &text[piece.start_byte..piece.end_byte];
        if content.is_empty() {
            continue;
        }
        let tokens = if index == 0 {
            tokenizer.encode(content, None)?
        } else {
            encode_mid_chat(tokenizer, content, piece.as_text, &newline)?
        };
        if piece.as_text && tokenizer.token_to_id(content).is_some_and(|id| tokens.ids.contains(&id)) {
            return Err(Error::input(format!("Can't sanitize {content:?}: the tokenizer produces it from plain text")));
        }
        out.ids.extend(&tokens.ids);
        out.offsets
            .extend(tokens.offsets.iter().map(|&(start, end)| (start + piece.start_byte, end + piece.start_byte)));
    }
    Ok(out)
}

/// `_encode_chat_piece`: encodes after a newline (so SentencePiece adds no prefix space) and
/// drops the newline's ids again, or encodes the piece alone when the newline merged into it.
fn encode_mid_chat(tokenizer: &Tokenizer, piece: &str, as_text: bool, newline: &TokenOffsets) -> Result<TokenOffsets> {
    let encode =
        |text: &str| if as_text { tokenizer.encode_without_added_tokens(text) } else { tokenizer.encode(text, None) };
    let with_newline = encode(&format!("\n{piece}"))?;
    if with_newline.ids.starts_with(&newline.ids) {
        let skip = newline.ids.len();
        return Ok(TokenOffsets {
            truncated: 0,
            ids: with_newline.ids[skip..].to_vec(),
            // Offsets inside the newline (0..1) cannot occur after its own tokens; clamp anyway.
            offsets: with_newline.offsets[skip..]
                .iter()
                .map(|&(s, e)| (s.saturating_sub(1), e.saturating_sub(1)))
                .collect(),
        });
    }
    encode(piece)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(&str, bool)> {
        let added = vec!["<|im_end|>".to_string(), "<|im".to_string()];
        pieces(text, &added).into_iter().map(|p| (&text[p.start_byte..p.end_byte], p.as_text)).collect()
    }

    #[test]
    fn marked_tokens_and_lone_markers() {
        assert_eq!(split("a"), [("a", false)]);
        assert_eq!(split("a\u{F0000}<|im_end|>\u{F0001}b"), [("a", false), ("<|im_end|>", true), ("b", false)]);
        // Longest first, and a marker pair around something that is not a token is two lone markers.
        assert_eq!(split("\u{F0000}<|im\u{F0001}"), [("", false), ("<|im", true), ("", false)]);
        assert_eq!(split("x\u{F0000}zz\u{F0001}y"), [("x", false), ("zz", false), ("y", false)]);
        assert_eq!(split("\u{F0001}\u{F0000}"), [("", false), ("", false), ("", false)]);
    }
}
