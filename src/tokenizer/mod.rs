//! The tokenizer backends: ids and byte offsets of a rendered text, from tokenizers 1.0's pipeline
//! with offsets derived from its ids (`pipeline`) or the fast byte-level BPE (`bpe`) when the
//! tokenizer.json has a shape they reproduce exactly, else from the `tokenizers` 0.23 crate, the
//! reference; all give the same ids and offsets, truncation included.
//!
//! Construction loads only 0.23 (the reference, which every engine falls back to and builds its
//! tables from); the faster engine is built when a call first encodes, or in the background after
//! [`Tokenizer::load_engine_in_background`], so calls that only render never wait for it.

use std::str::FromStr;
use std::sync::Arc;

use tokenizers::{PostProcessor, PostProcessorWrapper};

pub mod bpe;
mod byte_level;
mod components;
pub mod pipeline;
mod trim;
mod types;

use crate::error::{Error, Result};
use crate::runtime::deferred::Deferred;
use crate::runtime::memory;
use bpe::FastBpe;
use components::offset_trims;
use pipeline::Pipeline;
pub use types::{Backend, ByteRange, Side, TokenOffsets, Truncation};

/// A `tokenizer.json` loaded for encoding chat text.
pub struct Tokenizer {
    /// The `tokenizers` pipeline without its post-processor, which runs after truncation (kept
    /// apart so a per-call truncation can sit between them, as in `Tokenizer::post_process`).
    model: Arc<tokenizers::Tokenizer>,
    post_processor: Option<PostProcessorWrapper>,
    engine: Deferred<Engine>,
}

/// What encodes a text before the reference path does.
#[expect(clippy::large_enum_variant, reason = "one per tokenizer, already on the heap (`Deferred` boxes it)")]
enum Engine {
    Pipeline(Pipeline),
    Fast(FastBpe),
    /// `tokenizers` 0.23 encodes every text.
    Reference,
    /// backend='tokenizers1', and tokenizers 1.0 failed to load the whole file although it ran
    /// the stub of it at construction.
    Refused,
}

const REFUSED_TOKENIZERS1: &str = "backend='tokenizers1' but tokenizers 1.0 cannot encode this tokenizer.json, or it is \
                                   not a shape whose offsets are derived from its ids; use backend='auto' or 'tokenizers'";

impl Tokenizer {
    /// Loads a serialized tokenizer. Truncation and padding stored in the JSON are cleared: they
    /// are per-call options here, as in transformers. A backend that cannot apply is refused here,
    /// by cheap checks (tokenizers 1.0 is tried on a stub of the file, `pipeline::runs_stub`); its
    /// engine is built later (see the module comment).
    pub fn from_json(json: &str, backend: Backend) -> Result<Self> {
        let mut model = tokenizers::Tokenizer::from_str(json)
            .map_err(|err| Error::tokenizer(format!("cannot load tokenizer JSON: {err}")))?;
        model.with_truncation(None).map_err(|err| Error::tokenizer(format!("cannot clear truncation: {err}")))?;
        model.with_padding(None);
        let post_processor = model.get_post_processor().cloned();
        // None: a post-processor neither engine reproduces.
        let trims = offset_trims(&model);
        let wants_pipeline = matches!(backend, Backend::Auto | Backend::Tokenizers1)
            && trims.as_ref().is_some_and(|trims| Pipeline::takes_shape(&model, trims))
            && pipeline::runs_stub(&model, post_processor.as_ref());
        if backend == Backend::Tokenizers1 && !wants_pipeline {
            return Err(Error::tokenizer(REFUSED_TOKENIZERS1));
        }
        let fast = match backend {
            Backend::Fast => Some(FastBpe::from_tokenizer(&model).ok_or_else(|| {
                Error::tokenizer(
                    "backend='fast' but this tokenizer.json is not a byte-level BPE shape the fast backend \
                     reproduces exactly; use backend='auto' or 'tokenizers'",
                )
            })?),
            _ => None,
        };
        model.with_post_processor(None::<PostProcessorWrapper>);
        let model = Arc::new(model);
        let engine = match (backend, fast) {
            (_, Some(fast)) => Deferred::ready(Engine::Fast(fast)),
            (Backend::Auto | Backend::Tokenizers1, None) => {
                // Copied only when tokenizers 1.0 is to load it; held until the engine is built.
                let json = wants_pipeline.then(|| json.to_owned());
                let reference = Arc::clone(&model);
                Deferred::new(move || {
                    let engine = build_engine(json.as_deref(), &reference, trims.clone(), backend);
                    memory::release_freed();
                    engine
                })
            }
            _ => Deferred::ready(Engine::Reference),
        };
        Ok(Tokenizer { model, post_processor, engine })
    }

    /// Starts building the encoding engine on a background thread, so the first encode waits
    /// only for what is left of it. Fork-safe: a child forked mid-build builds it when it needs it.
    pub fn load_engine_in_background(&self) {
        self.engine.start();
    }

    /// Whether the encoding engine is built (tests and benchmarks; never waits).
    pub fn engine_is_built(&self) -> bool {
        self.engine.built().is_some()
    }

    /// "tokenizers1" when tokenizers 1.0's pipeline encodes, "fast" when the fast BPE does (texts
    /// either declines still go to `tokenizers` 0.23), else "tokenizers". Waits for the engine.
    pub fn backend_name(&self) -> Result<&'static str> {
        match self.engine.get() {
            Engine::Pipeline(_) => Ok("tokenizers1"),
            Engine::Fast(_) => Ok("fast"),
            Engine::Reference => Ok("tokenizers"),
            Engine::Refused => Err(Error::tokenizer(REFUSED_TOKENIZERS1)),
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
        let tokens = match self.engine.get() {
            Engine::Pipeline(pipeline) => pipeline.encode_truncated(text, truncation),
            Engine::Fast(fast) => fast.encode_truncated(text, truncation),
            Engine::Reference => None,
            Engine::Refused => return Err(Error::tokenizer(REFUSED_TOKENIZERS1)),
        };
        match tokens {
            Some(tokens) => Ok(tokens),
            None => self.encode_with_tokenizers(text, truncation),
        }
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

/// The engine `backend` takes for the tokenizer whose 0.23 load is `reference` (its post-processor
/// taken off, and trimming `trims`): tokenizers 1.0 when `json` is given and it loads, else under
/// "auto" the fast BPE where it applies, else the reference path.
fn build_engine(
    json: Option<&str>,
    reference: &tokenizers::Tokenizer,
    trims: Option<Vec<bool>>,
    backend: Backend,
) -> Engine {
    let Some(trims) = trims else { return Engine::Reference };
    // A panic in tokenizers 1.0 (a release candidate) on some file falls back like a failed load.
    let pipeline = json.and_then(|json| {
        let load = || Pipeline::with_loaded(pipeline::load(json)?, reference, trims.clone());
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)).ok().flatten()
    });
    match (pipeline, backend) {
        (Some(pipeline), _) => Engine::Pipeline(pipeline),
        (None, Backend::Tokenizers1) => Engine::Refused,
        // Where tokenizers 1.0 applies it is the faster engine, and the texts it leaves go to
        // 0.23: the fast BPE is built only where it does not.
        (None, Backend::Auto) => FastBpe::with_trims(reference, trims).map_or(Engine::Reference, Engine::Fast),
        (None, _) => Engine::Reference,
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
        assert_eq!(tokenizer.backend_name().unwrap(), "tokenizers");
    }

    #[test]
    fn fast_backend_refuses_an_unsupported_shape() {
        let err = Tokenizer::from_json(WORD_LEVEL, Backend::Fast).err().unwrap();
        assert!(err.message.contains("backend='fast'"), "{}", err.message);
        assert!("bpe".parse::<Backend>().is_err());
    }

    /// Qwen3.5/3.6's split pattern, which tokenizers 1.0.0-rc.3 reads but cannot run.
    const QWEN3_5_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    const TEXTS: &[&str] = &["the hello <|im_start|>world 12, \u{4f60}\u{597d}\n", "", " the  the "];

    fn byte_level_json(pattern: Option<&str>) -> String {
        let mut json = bpe::tests::tokenizer_json(bpe::tests::MERGES, bpe::tests::standard_added());
        if let Some(pattern) = pattern {
            json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = pattern.into();
        }
        json.to_string()
    }

    fn assert_encodes_as_reference(tokenizer: &Tokenizer, json: &str) {
        let reference = Tokenizer::from_json(json, Backend::Tokenizers).unwrap();
        for text in TEXTS {
            assert_eq!(tokenizer.encode(text, None).unwrap(), reference.encode(text, None).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn the_engine_is_built_by_the_first_encode_not_by_construction() {
        let json = byte_level_json(None);
        let tokenizer = Tokenizer::from_json(&json, Backend::Auto).unwrap();
        assert!(!tokenizer.engine_is_built());
        // What rendering and construction ask of the tokenizer needs no engine.
        assert!(tokenizer.token_to_id("<|im_start|>").is_some());
        assert!(!tokenizer.added_tokens().is_empty());
        tokenizer.encode_without_added_tokens("<|im_start|>").unwrap();
        assert!(tokenizer.id_end() > 256);
        assert!(!tokenizer.engine_is_built());
        assert_encodes_as_reference(&tokenizer, &json);
        assert!(tokenizer.engine_is_built());
        assert_eq!(tokenizer.backend_name().unwrap(), "tokenizers1");
    }

    #[test]
    fn a_background_build_gives_the_same_engine() {
        let json = byte_level_json(None);
        let tokenizer = Tokenizer::from_json(&json, Backend::Auto).unwrap();
        tokenizer.load_engine_in_background();
        assert_eq!(tokenizer.backend_name().unwrap(), "tokenizers1");
        assert_encodes_as_reference(&tokenizer, &json);
    }

    #[test]
    fn a_split_tokenizers1_cannot_run_is_refused_by_its_stub() {
        let json = byte_level_json(Some(QWEN3_5_PATTERN));
        let reference = tokenizers::Tokenizer::from_str(&json).unwrap();
        assert!(!pipeline::runs_stub(&reference, reference.get_post_processor()));
        assert!(pipeline::load(&json).is_none(), "the whole file agrees with its stub");
        assert!(pipeline::runs_stub(&tokenizers::Tokenizer::from_str(&byte_level_json(None)).unwrap(), None));
        let err = Tokenizer::from_json(&json, Backend::Tokenizers1).err().unwrap();
        assert!(err.message.contains("backend='tokenizers1'"), "{}", err.message);
        let tokenizer = Tokenizer::from_json(&json, Backend::Auto).unwrap();
        assert_eq!(tokenizer.backend_name().unwrap(), "fast");
        assert_encodes_as_reference(&tokenizer, &json);
    }

    #[test]
    fn a_failed_load_after_the_stub_ran_refuses_tokenizers1_and_falls_back_under_auto() {
        let json = byte_level_json(None);
        // As if tokenizers 1.0 then failed on the whole file (its stub ran at construction).
        let failing = |backend| {
            let mut tokenizer = Tokenizer::from_json(&json, backend).unwrap();
            let reference = Arc::clone(&tokenizer.model);
            tokenizer.engine = Deferred::new(move || build_engine(Some("{"), &reference, Some(Vec::new()), backend));
            tokenizer
        };
        let forced = failing(Backend::Tokenizers1);
        assert!(forced.backend_name().unwrap_err().message.contains("backend='tokenizers1'"));
        assert!(forced.encode("the", None).is_err());
        let auto = failing(Backend::Auto);
        assert_eq!(auto.backend_name().unwrap(), "fast");
        assert_encodes_as_reference(&auto, &json);
    }

    #[test]
    fn bad_json_is_a_tokenizer_error() {
        let err = Tokenizer::from_json("{", Backend::Auto).err().unwrap();
        assert_eq!(err.kind, crate::ErrorKind::Tokenizer);
    }
}
