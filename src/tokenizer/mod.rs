//! The tokenizer backends: ids and byte offsets of a rendered text, from tokenizers 1.0's pipeline
//! with offsets derived from its ids (`pipeline`) or the fast byte-level BPE (`bpe`) when the
//! tokenizer.json has a shape they reproduce exactly, else from the `tokenizers` 0.23 crate, the
//! reference; all give the same ids and offsets, truncation included.

use std::str::FromStr;

use tokenizers::{PostProcessor, PostProcessorWrapper};

pub mod bpe;
mod byte_level;
mod components;
pub mod pipeline;
mod trim;
mod types;

use crate::error::{Error, Result};
use bpe::FastBpe;
use pipeline::Pipeline;
pub use types::{Backend, ByteRange, Side, TokenOffsets, Truncation};

/// A `tokenizer.json` loaded for encoding chat text.
pub struct Tokenizer {
    /// The `tokenizers` pipeline without its post-processor, which runs after truncation (kept
    /// apart so a per-call truncation can sit between them, as in `Tokenizer::post_process`).
    model: tokenizers::Tokenizer,
    post_processor: Option<PostProcessorWrapper>,
    pipeline: Option<Pipeline>,
    fast: Option<FastBpe>,
}

impl Tokenizer {
    /// Loads a serialized tokenizer. Truncation and padding stored in the JSON are cleared: they
    /// are per-call options here, as in transformers.
    pub fn from_json(json: &str, backend: Backend) -> Result<Self> {
        let wants_pipeline = matches!(backend, Backend::Auto | Backend::Tokenizers1);
        // The two libraries read the file independently, and each load takes most of a second
        // on a large vocabulary: side by side, construction costs about one load, not two.
        let (model, loaded) = std::thread::scope(|scope| {
            let loaded = wants_pipeline.then(|| scope.spawn(|| pipeline::load(json)));
            let model = tokenizers::Tokenizer::from_str(json);
            (model, loaded.and_then(|handle| handle.join().ok().flatten()))
        });
        let mut model = model.map_err(|err| Error::tokenizer(format!("cannot load tokenizer JSON: {err}")))?;
        model.with_truncation(None).map_err(|err| Error::tokenizer(format!("cannot clear truncation: {err}")))?;
        model.with_padding(None);
        let pipeline = loaded.and_then(|loaded| Pipeline::with_loaded(loaded, &model));
        if backend == Backend::Tokenizers1 && pipeline.is_none() {
            return Err(Error::tokenizer(
                "backend='tokenizers1' but tokenizers 1.0 cannot encode this tokenizer.json, or it is not a shape \
                 whose offsets are derived from its ids; use backend='auto' or 'tokenizers'",
            ));
        }
        let fast = match backend {
            Backend::Tokenizers | Backend::Tokenizers1 => None,
            // Where tokenizers 1.0 applies it is the faster engine, and the texts it leaves go to
            // 0.23: the fast BPE would only cost its construction.
            Backend::Auto if pipeline.is_some() => None,
            Backend::Auto => FastBpe::from_tokenizer(&model),
            Backend::Fast => Some(FastBpe::from_tokenizer(&model).ok_or_else(|| {
                Error::tokenizer(
                    "backend='fast' but this tokenizer.json is not a byte-level BPE shape the fast backend \
                     reproduces exactly; use backend='auto' or 'tokenizers'",
                )
            })?),
        };
        let post_processor = model.get_post_processor().cloned();
        model.with_post_processor(None::<PostProcessorWrapper>);
        Ok(Tokenizer { model, post_processor, pipeline, fast })
    }

    /// "tokenizers1" when tokenizers 1.0's pipeline encodes, "fast" when the fast BPE does (texts
    /// either declines still go to `tokenizers` 0.23), else "tokenizers".
    pub fn backend_name(&self) -> &'static str {
        if self.pipeline.is_some() {
            "tokenizers1"
        } else if self.fast.is_some() {
            "fast"
        } else {
            "tokenizers"
        }
    }

    /// One past the largest id of the vocabulary, added tokens included.
    pub fn id_end(&self) -> usize {
        self.model.get_vocab(true).values().max().map_or(0, |&id| id as usize + 1)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.model.token_to_id(token)
    }

    /// Encodes with `add_special_tokens=False`, as transformers' `apply_chat_template` does, then
    /// truncates as `tokenizers` would with these truncation parameters set.
    pub fn encode(&self, text: &str, truncation: Option<Truncation>) -> Result<TokenOffsets> {
        if let Some(tokens) = self.pipeline.as_ref().and_then(|pipeline| pipeline.encode_truncated(text, truncation)) {
            return Ok(tokens);
        }
        if let Some(tokens) = self.fast.as_ref().and_then(|fast| fast.encode_truncated(text, truncation)) {
            return Ok(tokens);
        }
        self.encode_with_tokenizers(text, truncation)
    }

    fn encode_with_tokenizers(&self, text: &str, truncation: Option<Truncation>) -> Result<TokenOffsets> {
        let failed = |err: tokenizers::Error| Error::tokenizer(format!("cannot encode the rendered text: {err}"));
        let mut encoding = self.model.encode(text, false).map_err(failed)?;
        let mut truncated = 0;
        if let Some(truncation) = truncation {
            if encoding.len() > truncation.max_length {
                truncated = encoding.len() - truncation.max_length;
                encoding.truncate(truncation.max_length, 0, truncation.direction());
            }
        }
        if let Some(processor) = &self.post_processor {
            encoding = processor.process(encoding, None, false).map_err(failed)?;
        }
        Ok(TokenOffsets { ids: encoding.get_ids().to_vec(), offsets: encoding.get_offsets().to_vec(), truncated })
    }

    /// Encodes without matching any added token, special or not: normalizer, pre-tokenizer and
    /// model only, as transformers' fast `_encode_without_added_tokens` runs them.
    pub fn encode_without_added_tokens(&self, text: &str) -> Result<TokenOffsets> {
        use tokenizers::{Model, Normalizer, OffsetType, PreTokenizedString, PreTokenizer};
        let failed = |err: tokenizers::Error| Error::tokenizer(format!("cannot encode a control token as text: {err}"));
        let mut normalized = tokenizers::NormalizedString::from(text);
        if let Some(normalizer) = self.model.get_normalizer() {
            normalizer.normalize(&mut normalized).map_err(failed)?;
        }
        let mut pieces = PreTokenizedString::from(normalized);
        if let Some(pre_tokenizer) = self.model.get_pre_tokenizer() {
            pre_tokenizer.pre_tokenize(&mut pieces).map_err(failed)?;
        }
        let model = self.model.get_model();
        pieces.tokenize(|piece| model.tokenize(piece.get())).map_err(failed)?;
        let encoding = pieces.into_encoding(None, 0, OffsetType::Byte).map_err(failed)?;
        Ok(TokenOffsets { ids: encoding.get_ids().to_vec(), offsets: encoding.get_offsets().to_vec(), truncated: 0 })
    }

    /// Every added token, special or not, as (content, special) in id order.
    pub fn added_tokens(&self) -> Vec<(String, bool)> {
        let mut tokens: Vec<(u32, tokenizers::AddedToken)> =
            self.model.get_added_tokens_decoder().into_iter().collect();
        tokens.sort_by_key(|(id, _)| *id);
        tokens.into_iter().map(|(_, token)| (token.content, token.special)).collect()
    }

    /// The contents of every added token, longest first.
    pub fn added_tokens_longest_first(&self) -> Vec<String> {
        let mut tokens: Vec<String> = self.added_tokens().into_iter().map(|(content, _)| content).collect();
        tokens.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        tokens
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
        let tokenizer = Tokenizer::from_json(WORD_LEVEL, Backend::Auto).unwrap();
        let out = tokenizer.encode("a é b", None).unwrap();
        assert_eq!(out.ids, [0, 2, 1]);
        assert_eq!(out.offsets, [(0, 1), (2, 4), (5, 6)]);
        assert_eq!(tokenizer.backend_name(), "tokenizers");
    }

    #[test]
    fn fast_backend_refuses_an_unsupported_shape() {
        let err = Tokenizer::from_json(WORD_LEVEL, Backend::Fast).err().unwrap();
        assert!(err.message.contains("backend='fast'"), "{}", err.message);
        assert!("bpe".parse::<Backend>().is_err());
    }

    #[test]
    fn bad_json_is_a_tokenizer_error() {
        let err = Tokenizer::from_json("{", Backend::Auto).err().unwrap();
        assert_eq!(err.kind, crate::ErrorKind::Tokenizer);
    }
}
