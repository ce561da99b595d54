//! What each id stands for in the input text: the table the offsets are derived from, and the
//! tokenizer.json shapes it is defined for.
//!
//! Two spellings of a vocabulary are understood:
//! - byte-level BPE: a token's characters spell its bytes in GPT-2's byte-level alphabet;
//! - SentencePiece BPE (Llama 2, Mistral, Gemma): `▁` stands for a space of the input (the
//!   normalizer or Metaspace replaced it, or it is a literal `▁`), `<0xXX>` (byte fallback) for one
//!   byte, any other character for itself; a `▁` the normalizer or Metaspace prepended to a segment
//!   has no input byte.
//!
//! Added tokens stand for their content. Anything else (other models, normalizers that rewrite
//! text, pre-tokenizers that add to it) is not a shape the derivation takes.

use serde_json::Value;
use tokenizers::{ModelWrapper, Tokenizer};

use crate::tokenizer::byte_level::byte_chars;
use crate::tokenizer::components::{normalizer_steps, pre_tokenizer_steps, type_of};

/// SentencePiece's word boundary, U+2581.
pub(super) const METASPACE: char = '\u{2581}';
/// How a `▁` is stored in a piece: 0xFF never occurs in UTF-8, so it cannot be an input byte.
pub(super) const SPACE_MARK: u8 = 0xFF;

/// Which text segments start with a `▁` that has no input byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prefix {
    /// Nothing is prepended (byte-level BPE; Gemma's Replace-only normalizer; `prepend_scheme: never`).
    None,
    /// A `Prepend("▁")` normalizer: every non-empty segment between added tokens matched on the raw text.
    EverySegment,
    /// Metaspace `prepend_scheme: always`: every segment between added tokens that does not start
    /// with a space.
    Always,
    /// Metaspace `prepend_scheme: first`: the segment at the start of the text, when it does not
    /// start with a space.
    First,
}

/// How to read the vocabulary, and what is prepended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spelling {
    pub(super) sentencepiece: bool,
    pub(super) prefix: Prefix,
}

/// What one id covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Not derivable (the unknown token, an id outside the vocabulary): the text falls back.
    Missing,
    /// Model output (or an added token matched after normalization): its bytes, `SPACE_MARK` for
    /// `▁`, where every `▁` leads (`Piece::lead` of them), so the rest matches as one slice.
    Text,
    /// As `Text`, with a `▁` after another character: matched byte by byte.
    Spaced,
    /// A byte-fallback token: exactly one input byte.
    Byte,
    /// An added token matched on the raw text: its content, and the end of a segment.
    Added,
}

/// What one id covers, read from [`Pieces`].
pub(super) struct Piece<'a> {
    pub(super) kind: Kind,
    pub(super) bytes: &'a [u8],
    /// How many `SPACE_MARK`s `bytes` starts with (for `Kind::Text`).
    pub(super) lead: usize,
}

/// Per id, an [`Entry`] of its piece, whose bytes are a range of one flat buffer.
pub(super) struct Pieces {
    entries: Vec<Entry>,
    bytes: Vec<u8>,
}

/// One id's piece in a single 12-byte record: reading a token costs one load of the table, not one
/// per field (this lookup is most of the time the offsets take).
#[derive(Clone, Copy)]
struct Entry {
    start: u32,
    end: u32,
    kind: Kind,
    lead: u8,
}

impl Pieces {
    #[inline]
    pub(super) fn get(&self, id: u32) -> Piece<'_> {
        match self.entries.get(id as usize) {
            Some(&Entry { start, end, kind, lead }) => {
                let bytes = self.bytes.get(start as usize..end as usize).unwrap_or_default();
                Piece { kind, bytes, lead: usize::from(lead) }
            }
            None => Piece { kind: Kind::Missing, bytes: &[], lead: 0 },
        }
    }

    /// The table of a loaded tokenizer with this spelling.
    pub(super) fn new(tokenizer: &Tokenizer, spelling: Spelling) -> Option<Pieces> {
        let ModelWrapper::BPE(bpe) = tokenizer.get_model() else { return None };
        let unk = bpe.unk_token.as_deref();
        let mut entries: Vec<Option<(Kind, Vec<u8>)>> = Vec::new();
        let mut put = |id: u32, entry: (Kind, Vec<u8>)| {
            let id = id as usize;
            if entries.len() <= id {
                entries.resize(id + 1, None);
            }
            entries[id] = Some(entry);
        };
        let byte_of = byte_level_inverse();
        for (token, id) in tokenizers::Model::get_vocab(bpe) {
            let entry = if Some(token.as_str()) == unk {
                (Kind::Missing, Vec::new())
            } else if spelling.sentencepiece {
                match byte_fallback(&token).filter(|_| bpe.byte_fallback) {
                    Some(byte) => (Kind::Byte, vec![byte]),
                    None => (Kind::Text, sentencepiece_bytes(&token)),
                }
            } else {
                let bytes: Option<Vec<u8>> = token.chars().map(&byte_of).collect();
                bytes.map_or((Kind::Missing, Vec::new()), |bytes| (Kind::Text, bytes))
            };
            put(id, entry);
        }
        // Added tokens win over a model token of the same id (Tekken's specials are both).
        for (id, token) in tokenizer.get_added_tokens_decoder() {
            let entry = match (token.normalized, spelling.sentencepiece) {
                (false, _) => (Kind::Added, token.content.into_bytes()),
                (true, true) => (Kind::Text, sentencepiece_bytes(&token.content)),
                (true, false) => (Kind::Text, token.content.into_bytes()),
            };
            put(id, entry);
        }
        let mut pieces = Pieces { entries: Vec::with_capacity(entries.len()), bytes: Vec::new() };
        for entry in entries {
            let (mut kind, bytes) = entry.unwrap_or((Kind::Missing, Vec::new()));
            let lead = bytes.iter().take_while(|&&byte| byte == SPACE_MARK).count();
            let lead = match u8::try_from(lead) {
                Ok(lead) if !bytes[usize::from(lead)..].contains(&SPACE_MARK) => lead,
                _ => {
                    kind = if kind == Kind::Text { Kind::Spaced } else { kind };
                    0
                }
            };
            let start = u32::try_from(pieces.bytes.len()).ok()?;
            pieces.bytes.extend_from_slice(&bytes);
            let end = u32::try_from(pieces.bytes.len()).ok()?;
            pieces.entries.push(Entry { start, end, kind, lead });
        }
        Some(pieces)
    }
}

/// The spelling of a tokenizer.json whose offsets the derivation reproduces, or None.
pub(super) fn spelling(tokenizer: &Tokenizer) -> Option<Spelling> {
    let ModelWrapper::BPE(bpe) = tokenizer.get_model() else { return None };
    if bpe.dropout.is_some_and(|p| p != 0.0)
        || bpe.continuing_subword_prefix.is_some()
        || bpe.end_of_word_suffix.is_some()
    {
        return None;
    }
    let normalizers = normalizer_steps(tokenizer)?;
    let pre_tokenizers = pre_tokenizer_steps(tokenizer)?;
    match pre_tokenizers.last() {
        Some(last) if type_of(last) == Some("ByteLevel") => {
            byte_level(&normalizers, &pre_tokenizers, last, bpe.byte_fallback)
        }
        _ => sentencepiece(&normalizers, &pre_tokenizers),
    }
}

/// Byte-level BPE: splits only, then ByteLevel without a prefix space; normalizers that leave
/// text they do not change aligned one to one (the derived offsets check the text is unchanged).
fn byte_level(normalizers: &[Value], pre_tokenizers: &[Value], last: &Value, byte_fallback: bool) -> Option<Spelling> {
    let splits_only = pre_tokenizers[..pre_tokenizers.len() - 1]
        .iter()
        .all(|step| matches!(type_of(step), Some("Split" | "Digits" | "Punctuation")));
    let unchanged_aligned = normalizers.iter().all(|step| matches!(type_of(step), Some("NFC" | "NFKC")));
    (splits_only && unchanged_aligned && !byte_fallback && last["add_prefix_space"] == Value::Bool(false))
        .then_some(Spelling { sentencepiece: false, prefix: Prefix::None })
}

/// SentencePiece BPE in the layouts `tokenizers` writes for it: the legacy normalizer
/// `[Prepend("▁"), Replace(" ", "▁")]` (Llama 2, Mistral), `Replace(" ", "▁")` alone (Gemma), or
/// a Metaspace pre-tokenizer with no normalizer.
fn sentencepiece(normalizers: &[Value], pre_tokenizers: &[Value]) -> Option<Spelling> {
    let metaspace = METASPACE.to_string();
    let is_replace = |step: &Value| {
        type_of(step) == Some("Replace") && step["pattern"]["String"] == " " && step["content"] == metaspace.as_str()
    };
    let is_prepend = |step: &Value| type_of(step) == Some("Prepend") && step["prepend"] == metaspace.as_str();
    match (normalizers, pre_tokenizers) {
        ([replace], []) if is_replace(replace) => Some(Spelling { sentencepiece: true, prefix: Prefix::None }),
        ([first, second], [])
            if (is_prepend(first) && is_replace(second)) || (is_replace(first) && is_prepend(second)) =>
        {
            Some(Spelling { sentencepiece: true, prefix: Prefix::EverySegment })
        }
        ([], [step]) if type_of(step) == Some("Metaspace") && step["replacement"] == metaspace.as_str() => {
            let prefix = match step["prepend_scheme"].as_str()? {
                "always" => Prefix::Always,
                "first" => Prefix::First,
                "never" => Prefix::None,
                _ => return None,
            };
            Some(Spelling { sentencepiece: true, prefix })
        }
        _ => None,
    }
}

/// The byte of a `<0xXX>` byte-fallback token.
fn byte_fallback(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2).then(|| u8::from_str_radix(hex, 16).ok()).flatten()
}

fn sentencepiece_bytes(token: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(token.len());
    let mut buffer = [0; 4];
    for c in token.chars() {
        if c == METASPACE {
            bytes.push(SPACE_MARK);
        } else {
            bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
        }
    }
    bytes
}

fn byte_level_inverse() -> impl Fn(char) -> Option<u8> {
    let chars = byte_chars();
    let mut inverse = [0u8; 512];
    let mut known = [false; 512];
    for (byte, c) in chars.iter().enumerate() {
        inverse[*c as usize] = byte as u8;
        known[*c as usize] = true;
    }
    move |c| {
        let code = c as usize;
        (code < 512 && known[code]).then(|| inverse[code])
    }
}
