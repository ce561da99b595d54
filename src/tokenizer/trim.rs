//! Offset rules of `tokenizers` that every engine reproducing its offsets shares: a token that
//! covers part of a character's bytes covers the whole character, and ByteLevel's `trim_offsets`.

pub(crate) fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

pub(crate) fn ceil_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Leading and trailing characters that ByteLevel's `process_offsets` counts as spaces.
pub(crate) fn str_spaces(token: &str) -> (u32, u32) {
    let is_space = |c: &char| *c == '\u{120}' || c.is_whitespace();
    let leading = token.chars().take_while(is_space).count();
    let trailing = token.chars().rev().take_while(is_space).count();
    (leading as u32, trailing as u32)
}

/// Per model id, the leading and trailing spaces of its token string (see [`str_spaces`]).
pub(crate) fn model_spaces(tokenizer: &tokenizers::Tokenizer) -> Vec<(u32, u32)> {
    let vocab = tokenizers::Model::get_vocab(tokenizer.get_model());
    let mut spaces = vec![(0, 0); vocab.values().max().map_or(0, |&id| id as usize + 1)];
    for (token, id) in vocab {
        spaces[id as usize] = str_spaces(&token);
    }
    spaces
}

/// ByteLevel's `process_offsets`: the unit mix (characters counted, subtracted from byte
/// offsets) is `tokenizers`' own and kept as is.
pub(crate) fn trim_offsets(offsets: &mut [(usize, usize)], spaces: &[(u32, u32)], add_prefix_space: bool) {
    for (i, (offset, &(leading, trailing))) in offsets.iter_mut().zip(spaces).enumerate() {
        let (mut leading, trailing) = (leading as usize, trailing as usize);
        if leading > 0 {
            let is_first = i == 0 || offset.0 == 0;
            if is_first && add_prefix_space && leading == 1 {
                leading = 0;
            }
            offset.0 = (offset.0 + leading).min(offset.1);
        }
        if trailing > 0 && offset.1 >= trailing {
            offset.1 = (offset.1 - trailing).max(offset.0);
        }
    }
}
