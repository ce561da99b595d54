//! fastmask: chat templates rendered with minijinja, tokenized with the `tokenizers` crate, and
//! assistant-token masks aligned exactly as transformers 5.24 computes them.
//!
//! The modules follow the data path (ARCHITECTURE.md): conversation -> template value (`mask`)
//! -> rendered text + spans (`jinja`) -> ids + byte offsets (`tokenizer`) -> masks (`mask`) ->
//! numpy/Arrow (`arrow`), run in parallel by `runtime`, exposed to Python by `python`.

pub mod arrow;
mod error;
pub mod jinja;
mod limits;
pub mod mask;
pub mod pack;
pub mod runtime;
pub mod tokenizer;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, ErrorKind, Result};
pub use jinja::{ChatTemplate, Clock, Rendered, Span};
pub use limits::Limits;
pub use mask::{
    CallOptions, ChatEncoder, Conversation, EncodeOptions, Encoded, EncodedBatch, ErrorPolicy, Layout, MaskPlan,
    MaskSource, PaddingStrategy, RenderInputs, TokenOptions, TokenizerDefaults, TurnStart,
};
pub use tokenizer::{Backend, Side, TokenOffsets, Tokenizer, Truncation};
