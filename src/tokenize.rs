//! The tokenizer backend: ids and byte offsets of a rendered text, via the `tokenizers` crate.

use std::str::FromStr;

use crate::align::ByteRange;
use crate::error::{Error, Result};

/// Ids and the byte range of the rendered text each id covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenOffsets {
    pub ids: Vec<u32>,
    pub offsets: Vec<ByteRange>,
}

/// A `tokenizer.json` loaded for encoding chat text.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    /// Loads a serialized tokenizer. Truncation and padding stored in the JSON are cleared: they
    /// are per-call options here, as in transformers.
    pub fn from_json(json: &str) -> Result<Self> {
        let mut inner = tokenizers::Tokenizer::from_str(json)
            .map_err(|err| Error::tokenizer(format!("cannot load tokenizer JSON: {err}")))?;
        inner
            .with_truncation(None)
            .map_err(|err| Error::tokenizer(format!("cannot clear truncation: {err}")))?;
        inner.with_padding(None);
        Ok(Tokenizer { inner })
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Encodes with `add_special_tokens=False`, as transformers' `apply_chat_template` does.
    pub fn encode(&self, text: &str) -> Result<TokenOffsets> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|err| Error::tokenizer(format!("cannot encode the rendered text: {err}")))?;
        Ok(TokenOffsets { ids: encoding.get_ids().to_vec(), offsets: encoding.get_offsets().to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-level tokenizer small enough to write inline: "a"=0, "b"=1, "[UNK]"=2.
    const WORD_LEVEL: &str = r#"{"version":"1.0","truncation":{"direction":"Right","max_length":1,"strategy":"LongestFirst","stride":0},
        "padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,
        "decoder":null,"model":{"type":"WordLevel","vocab":{"a":0,"b":1,"[UNK]":2},"unk_token":"[UNK]"}}"#;

    #[test]
    fn stored_truncation_is_cleared_and_offsets_are_bytes() {
        let tokenizer = Tokenizer::from_json(WORD_LEVEL).unwrap();
        let out = tokenizer.encode("a é b").unwrap();
        assert_eq!(out.ids, [0, 2, 1]);
        assert_eq!(out.offsets, [(0, 1), (2, 4), (5, 6)]);
    }

    #[test]
    fn bad_json_is_a_tokenizer_error() {
        let err = Tokenizer::from_json("{").err().unwrap();
        assert_eq!(err.kind, crate::ErrorKind::Tokenizer);
    }
}
